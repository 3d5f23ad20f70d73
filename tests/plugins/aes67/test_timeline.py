"""The media clock on the hub's timeline: integers, the wrap of 32-bit timestamps, midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from c2c_hub.timecode import FPS_25, TimecodeClock
from c2c_hub_plugins.aes67.timeline import MediaTimeline

RATE = 48000


class FixedClock:
    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch


def test_a_position_agrees_with_the_recorders_timecode_clock() -> None:
    """The take's start is TimecodeClock.sample_position of now; a sender's sample of now
    (PTP = UTC + 37 s) must land on the same position."""
    tz = timezone(timedelta(hours=-7))
    epoch = datetime(2026, 3, 14, 15, 9, 26, 500000, tzinfo=UTC).timestamp()
    timeline = MediaTimeline(RATE, clock=lambda: epoch, tz=tz)
    index = round((epoch + 37) * RATE)
    hub = TimecodeClock(FixedClock(epoch), FPS_25, tz=tz)
    assert timeline.position(index) == hub.sample_position(RATE, at=epoch)


def test_the_first_packet_is_anchored_near_now_whatever_the_wrap() -> None:
    epoch = 1_790_000_000.25
    timeline = MediaTimeline(RATE, clock=lambda: epoch)
    now = round((epoch + 37) * RATE)
    for delta in (-RATE * 3600, -1, 0, 1, RATE * 3600):  # an hour either side
        assert timeline.anchor((now + delta) & 0xFFFFFFFF) == now + delta


def test_positions_count_from_the_midnight_of_their_own_day() -> None:
    tz = UTC
    midnight = datetime(2026, 12, 2, tzinfo=tz).timestamp()
    timeline = MediaTimeline(RATE, tz=tz)
    at_midnight = round((midnight + 37) * RATE)
    assert timeline.position(at_midnight) == 0
    assert timeline.position(at_midnight - 1) == 86400 * RATE - 1  # the day before
    assert timeline.position(at_midnight + RATE * 3600) == RATE * 3600
