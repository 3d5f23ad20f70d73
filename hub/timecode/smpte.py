"""SMPTE timecode: frame rates, drop-frame counting, and time of day as timecode and samples.

- :class:`FrameRate` is an exact rate (``24000/1001``) and whether its labels drop frames.
- :class:`Timecode` is a frame count since midnight at a rate; ``str()`` is its SMPTE label
  (``HH:MM:SS:FF``, ``;`` before the frames for drop frame). Counts wrap at 24 hours.
- :class:`TimecodeClock` turns a clock's epoch time into time of day (local time by default, plus
  an adjustable offset), timecode and the BWF time reference (samples since midnight).

Frame counts are the real frames at the real rate: at 23.976 the label ``01:00:00:00`` is frame
86,400, which is 3,603.6 s after midnight (non-drop 1001 rates run slower than the wall clock).
Drop-frame labels skip frames 0 and 1 (0 to 3 at 59.94) at the start of every minute except
minutes 0, 10, 20, 30, 40 and 50, so that the label keeps up with the wall clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from fractions import Fraction
from typing import ClassVar, Literal, Protocol, TypedDict

__all__ = [
    "FPS_23_976",
    "FPS_24",
    "FPS_25",
    "FPS_29_97",
    "FPS_29_97_DF",
    "FPS_30",
    "FPS_48",
    "FPS_50",
    "FPS_59_94",
    "FPS_59_94_DF",
    "FPS_60",
    "FrameRate",
    "FrameioRate",
    "FrameioTimecode",
    "NowClock",
    "Timecode",
    "TimecodeClock",
    "to_frameio",
]

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class FrameRate:
    """An SMPTE frame rate: exactly ``numerator / denominator`` frames per second.

    The denominator is 1 (whole rates) or 1001 (NTSC rates such as 30000/1001); ``drop_frame``
    is only valid for 29.97 and 59.94.
    """

    numerator: int
    denominator: int = 1
    drop_frame: bool = False

    _DROP_FRAME_RATES: ClassVar[frozenset[tuple[int, int]]] = frozenset(
        {(30000, 1001), (60000, 1001)}
    )

    def __post_init__(self) -> None:
        num, den = self.numerator, self.denominator
        if not isinstance(num, int) or not isinstance(den, int) or num <= 0 or den <= 0:
            raise ValueError(f"frame rate: {num}/{den} is not a positive fraction of integers")
        if math.gcd(num, den) != 1:
            g = math.gcd(num, den)
            raise ValueError(
                f"frame rate: {num}/{den} is not reduced (write {num // g}/{den // g})"
            )
        if den == 1001:
            if num % 1000:
                raise ValueError(f"frame rate: {num}/1001 is not an NTSC rate (N*1000/1001)")
        elif den != 1:
            raise ValueError(
                f"frame rate: {num}/{den}: the denominator must be 1 or 1001 (SMPTE rates)"
            )
        if not 1 <= self.nominal <= 120:
            raise ValueError(f"frame rate: {num}/{den} is outside 1..120 frames per second")
        if self.drop_frame and (num, den) not in self._DROP_FRAME_RATES:
            raise ValueError(
                f"frame rate: drop frame is only defined for 29.97 and 59.94, not {self.label()}"
            )

    @property
    def nominal(self) -> int:
        """Frames per labelled second: 30 for 29.97, 24 for 23.976."""
        return self.numerator // 1000 if self.denominator == 1001 else self.numerator

    @property
    def fps(self) -> float:
        return self.numerator / self.denominator

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.numerator, self.denominator)

    @property
    def dropped_per_minute(self) -> int:
        """Labels skipped at each minute not divisible by 10 (2 at 29.97 DF, 4 at 59.94 DF)."""
        return self.nominal // 15 if self.drop_frame else 0

    @property
    def frames_per_day(self) -> int:
        """Labels from 00:00:00:00 to 23:59:59:FF, where frame counts wrap."""
        return self.nominal * SECONDS_PER_DAY - self.dropped_per_minute * 24 * 54

    @property
    def is_ntsc(self) -> bool:
        return self.denominator == 1001

    def ratio(self) -> str:
        """``"24000/1001"``, ``"25/1"``: the iXML ``TIMECODE_RATE`` form."""
        return f"{self.numerator}/{self.denominator}"

    def label(self) -> str:
        """``"23.976"``, ``"29.97 DF"``, ``"25"``."""
        if self.denominator == 1:
            text = str(self.numerator)
        else:
            text = f"{self.numerator / self.denominator:.3f}".rstrip("0").rstrip(".")
        return f"{text} DF" if self.drop_frame else text

    def __str__(self) -> str:
        return self.label()

    @classmethod
    def parse(cls, text: str) -> FrameRate:
        """``"29.97df"``, ``"29.97 DF"``, ``"59.94ndf"``, ``"23.976"``, ``"23.98"``, ``"25"``,
        ``"24000/1001"``, ``"30000/1001 df"``.

        Decimal NTSC rates are recognised to two decimals (29.97, 23.98). A ``df`` / ``drop``
        suffix asks for drop frame, ``nd`` / ``ndf`` / no suffix for non-drop.
        """
        original = text
        match = _RATE_RE.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(
                f"frame rate: cannot read {original!r}; expected e.g. '25', '23.976', "
                f"'29.97df' or '24000/1001'"
            )
        number, suffix = match.group("number"), match.group("suffix") or ""
        drop = suffix in ("df", "drop", "d")
        if "/" in number:
            num_text, den_text = number.split("/")
            num, den = int(num_text), int(den_text)
            if num == 0 or den == 0:
                raise ValueError(f"frame rate: {original!r} is not a positive rate")
            g = math.gcd(num, den)
            num, den = num // g, den // g
        else:
            value = float(number)
            whole = round(value)
            if value <= 0:
                raise ValueError(f"frame rate: {original!r} is not a positive rate")
            if abs(value - whole) < 1e-9:
                num, den = whole, 1
            elif abs(value - whole * 1000 / 1001) < 0.006:
                num, den = whole * 1000, 1001
            else:
                raise ValueError(
                    f"frame rate: {original!r} is neither a whole rate nor an NTSC rate "
                    f"(N*1000/1001 such as 23.976, 29.97, 59.94)"
                )
        return cls(num, den, drop)


_RATE_RE = re.compile(
    r"(?P<number>\d+(?:\.\d+)?|\d+/\d+)\s*(?:fps)?\s*(?P<suffix>df|drop|d|ndf|nd|non[- ]?drop)?"
)

FPS_23_976 = FrameRate(24000, 1001)
FPS_24 = FrameRate(24)
FPS_25 = FrameRate(25)
FPS_29_97 = FrameRate(30000, 1001)
FPS_29_97_DF = FrameRate(30000, 1001, drop_frame=True)
FPS_30 = FrameRate(30)
FPS_48 = FrameRate(48)
FPS_50 = FrameRate(50)
FPS_59_94 = FrameRate(60000, 1001)
FPS_59_94_DF = FrameRate(60000, 1001, drop_frame=True)
FPS_60 = FrameRate(60)

_TIMECODE_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


@dataclass(frozen=True)
class Timecode:
    """``frames`` since midnight (``0 <= frames < rate.frames_per_day``) at ``rate``.

    Build one with :meth:`from_frames` (wraps), :meth:`from_seconds` or :meth:`from_string`.
    """

    frames: int
    rate: FrameRate

    def __post_init__(self) -> None:
        if not 0 <= self.frames < self.rate.frames_per_day:
            raise ValueError(
                f"timecode: frame {self.frames} is outside one day at {self.rate} "
                f"(0..{self.rate.frames_per_day - 1}); use Timecode.from_frames to wrap"
            )

    @classmethod
    def from_frames(cls, frames: int, rate: FrameRate) -> Timecode:
        """Any frame count, wrapped into one day (negative counts wrap back from midnight)."""
        return cls(frames % rate.frames_per_day, rate)

    @classmethod
    def from_seconds(cls, seconds_since_midnight: float, rate: FrameRate) -> Timecode:
        """The frame that contains this instant (floored), wrapped into one day."""
        exact = seconds_since_midnight * rate.numerator / rate.denominator
        nearest = round(exact)
        # An instant computed as frames / rate lands on its frame despite float rounding.
        frames = nearest if abs(exact - nearest) < 1e-6 else math.floor(exact)
        return cls.from_frames(frames, rate)

    @classmethod
    def from_string(cls, text: str, rate: FrameRate) -> Timecode:
        """``"01:00:00:00"`` or ``"01:00:00;00"``.

        ``;`` (or ``.`` / ``,``) before the frames marks drop frame and is refused for a non-drop
        rate; a drop-frame rate also accepts ``:`` (many displays show DF with colons). Labels a
        drop-frame count skips (``00:01:00;00``) are refused.
        """
        match = _TIMECODE_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"timecode: cannot read {text!r}; expected HH:MM:SS:FF")
        hh, mm, ss, ff = (int(match.group(i)) for i in (1, 2, 3, 5))
        separator = match.group(4)
        if separator != ":" and not rate.drop_frame:
            raise ValueError(
                f"timecode: {text!r} is drop-frame ({separator!r} before the frames) but the "
                f"rate {rate} is non-drop"
            )
        if hh > 23 or mm > 59 or ss > 59:
            raise ValueError(f"timecode: {text!r} is not a time of day (HH<24, MM<60, SS<60)")
        if ff >= rate.nominal:
            raise ValueError(
                f"timecode: {text!r}: frame {ff} does not exist at {rate} (0..{rate.nominal - 1})"
            )
        drop = rate.dropped_per_minute
        if drop and ss == 0 and ff < drop and mm % 10:
            raise ValueError(
                f"timecode: {text!r} does not exist at {rate}: frames 00..{drop - 1:02d} are "
                f"dropped at the start of each minute not divisible by 10"
            )
        minutes = 60 * hh + mm
        frames = (3600 * hh + 60 * mm + ss) * rate.nominal + ff
        frames -= drop * (minutes - minutes // 10)
        return cls(frames, rate)

    def fields(self) -> tuple[int, int, int, int]:
        """(hours, minutes, seconds, frames) of the SMPTE label."""
        rate, n = self.rate, self.frames
        drop = rate.dropped_per_minute
        if drop:
            per_minute = rate.nominal * 60 - drop
            per_ten = per_minute * 10 + drop
            tens, rest = divmod(n, per_ten)
            n += 9 * drop * tens
            if rest > drop:
                n += drop * ((rest - drop) // per_minute)
        fps = rate.nominal
        return n // (fps * 3600) % 24, n // (fps * 60) % 60, n // fps % 60, n % fps

    def __str__(self) -> str:
        hh, mm, ss, ff = self.fields()
        separator = ";" if self.rate.drop_frame else ":"
        width = 3 if self.rate.nominal > 100 else 2
        return f"{hh:02d}:{mm:02d}:{ss:02d}{separator}{ff:0{width}d}"

    def to_seconds(self) -> float:
        """The instant this frame starts, in seconds since midnight."""
        return self.frames * self.rate.denominator / self.rate.numerator

    def __add__(self, frames: int) -> Timecode:
        return Timecode.from_frames(self.frames + frames, self.rate)

    def __sub__(self, frames: int) -> Timecode:
        return Timecode.from_frames(self.frames - frames, self.rate)


class FrameioRate(TypedDict):
    playback: list[int]
    ntsc: Literal["non_drop", "drop_frame"] | None


class FrameioTimecode(TypedDict):
    smpte_timecode: str
    rate: FrameioRate


def to_frameio(tc: Timecode) -> FrameioTimecode:
    """What Frame.io's real-time logging accepts as a ``start`` / ``duration``.

    ``ntsc`` is None for whole rates (``[24, 1]``), ``"non_drop"`` for 1001 rates without drop
    frame and ``"drop_frame"`` for drop frame.
    """
    rate = tc.rate
    ntsc: Literal["non_drop", "drop_frame"] | None
    if rate.drop_frame:
        ntsc = "drop_frame"
    elif rate.is_ntsc:
        ntsc = "non_drop"
    else:
        ntsc = None
    return {
        "smpte_timecode": str(tc),
        "rate": {"playback": [rate.numerator, rate.denominator], "ntsc": ntsc},
    }


class NowClock(Protocol):
    """The part of :class:`c2c_hub.clock.Clock` this module uses."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class TimecodeClock:
    """Time of day from ``clock`` as seconds, timecode and sample positions.

    ``offset_s`` is added to the time of day (set it at run time to trim the hub against an
    external timecode source: ``tc_clock.offset_s = -0.5``). ``tz`` is the time zone whose
    midnight starts the day; None (the default) is the machine's local time, DST included.

    Positions are not wrapped at midnight: pass the take's start as ``midnight_of`` and every
    position of the take is counted from the midnight before it, so a take that crosses midnight
    keeps counting (``> 86400 s``) instead of jumping back to zero. Without ``midnight_of`` the
    midnight is that of ``at`` itself.
    """

    def __init__(
        self,
        clock: NowClock,
        rate: FrameRate,
        offset_s: float = 0.0,
        tz: tzinfo | None = None,
    ) -> None:
        self.clock = clock
        self.rate = rate
        self.offset_s = offset_s
        self.tz = tz

    def _time_of_day(self, epoch: float) -> float:
        whole = math.floor(epoch)
        local = datetime.fromtimestamp(whole, self.tz)
        return local.hour * 3600 + local.minute * 60 + local.second + (epoch - whole)

    def seconds_since_midnight(
        self, at: float | None = None, *, midnight_of: float | None = None
    ) -> float:
        """Seconds from the local midnight before ``midnight_of`` (default: ``at``) to ``at``
        (default: now), plus ``offset_s``. Not wrapped: may be negative or past 86,400."""
        t = self.clock.now() if at is None else at
        origin = t if midnight_of is None else midnight_of
        return self._time_of_day(origin) + (t - origin) + self.offset_s

    def timecode(self, at: float | None = None) -> Timecode:
        """The timecode of ``at`` (default now), wrapped into one day."""
        return Timecode.from_seconds(self.seconds_since_midnight(at), self.rate)

    def sample_position(
        self, sample_rate: int, at: float | None = None, *, midnight_of: float | None = None
    ) -> int:
        """``round(seconds_since_midnight * sample_rate)``: the BWF time reference (samples
        since midnight) of ``at``. Not wrapped (see the class docstring)."""
        return round(self.seconds_since_midnight(at, midnight_of=midnight_of) * sample_rate)
