"""From an AES67 media clock index to the hub's timeline: samples since local midnight.

An AES67 sender's RTP timestamps count samples of PTP time (TAI since 1970), plus the SDP's
``mediaclk`` offset, modulo 2**32 (about 24.9 hours at 48 kHz). This machine's clock (UTC,
kept by NTP or PTP) says what the media clock reads now, which resolves the wrap-around of a
stream's first packet (:meth:`MediaTimeline.anchor`); later packets follow by their
timestamps alone. :meth:`MediaTimeline.position` turns an index into the BWF time reference
the recorder uses: samples since the local midnight of the day the index falls in.

Integer arithmetic throughout, so two streams carrying the same PTP instant land on exactly
the same position. No hub imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class MediaTimeline:
    """One sample rate's media clock, read against ``clock`` (epoch seconds, UTC)."""

    def __init__(
        self,
        sample_rate: int,
        *,
        tai_offset_s: int = 37,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
    ) -> None:
        self.rate = sample_rate
        self.tai_offset_s = tai_offset_s
        self.clock = clock
        self.tz = tz
        self._day: tuple[int, int] | None = None  # [start, end) of the cached day, as indexes

    def index_now(self) -> int:
        return round((self.clock() + self.tai_offset_s) * self.rate)

    def anchor(self, value: int) -> int:
        """The 64-bit index whose low 32 bits are ``value`` and which is closest to now."""
        now = self.index_now()
        return now + _signed32(value - now)

    def epoch_index(self, epoch: int) -> int:
        return (epoch + self.tai_offset_s) * self.rate

    def position(self, index: int) -> int:
        """Samples from the local midnight of the day of ``index`` to ``index``."""
        day = self._day
        if day is None or not day[0] <= index < day[1]:
            seconds = index // self.rate - self.tai_offset_s
            local = datetime.fromtimestamp(seconds, self.tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            following = (midnight + timedelta(days=1, hours=2)).replace(hour=0)
            start = self.epoch_index(int(midnight.timestamp()))
            end = self.epoch_index(int(following.timestamp()))
            self._day = day = (start, end)
        return index - day[0]
