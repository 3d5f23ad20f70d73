"""Timecode: SMPTE labels (drop frame included), rates, Frame.io's shape, and the hub's clock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from c2c_hub.frameio.models import SmpteTime
from c2c_hub.timecode import (
    FPS_23_976,
    FPS_24,
    FPS_25,
    FPS_29_97,
    FPS_29_97_DF,
    FPS_30,
    FPS_48,
    FPS_50,
    FPS_59_94,
    FPS_59_94_DF,
    FPS_60,
    FrameRate,
    Timecode,
    TimecodeClock,
    to_frameio,
)

ALL_RATES = [
    FPS_23_976,
    FPS_24,
    FPS_25,
    FPS_29_97,
    FPS_29_97_DF,
    FPS_30,
    FPS_48,
    FPS_50,
    FPS_59_94,
    FPS_59_94_DF,
    FPS_60,
]


class FakeClock:
    """Anything with ``now()``: here a settable epoch time."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def epoch(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0
) -> float:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


# -- drop frame ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "frames", "label"),
    [
        (FPS_29_97_DF, 0, "00:00:00;00"),
        (FPS_29_97_DF, 1799, "00:00:59;29"),
        (FPS_29_97_DF, 1800, "00:01:00;02"),  # ;00 and ;01 do not exist at minute 1
        (FPS_29_97_DF, 3597, "00:01:59;29"),
        (FPS_29_97_DF, 3598, "00:02:00;02"),
        (FPS_29_97_DF, 17981, "00:09:59;29"),
        (FPS_29_97_DF, 17982, "00:10:00;00"),  # minutes divisible by 10 keep ;00 and ;01
        (FPS_29_97_DF, 17983, "00:10:00;01"),
        (FPS_29_97_DF, 19782, "00:11:00;02"),
        (FPS_29_97_DF, 107892, "01:00:00;00"),
        (FPS_29_97_DF, 2589407, "23:59:59;29"),
        (FPS_59_94_DF, 3599, "00:00:59;59"),
        (FPS_59_94_DF, 3600, "00:01:00;04"),  # 0 to 3 dropped at 59.94
        (FPS_59_94_DF, 35964, "00:10:00;00"),
        (FPS_59_94_DF, 215784, "01:00:00;00"),
        (FPS_29_97, 107892, "00:59:56:12"),  # the same frame, non-drop, lags the wall clock
        (FPS_23_976, 86400, "01:00:00:00"),
        (FPS_25, 90000, "01:00:00:00"),
    ],
)
def test_known_labels(rate: FrameRate, frames: int, label: str) -> None:
    assert str(Timecode(frames, rate)) == label
    assert Timecode.from_string(label, rate).frames == frames


def test_drop_frame_keeps_up_with_the_wall_clock() -> None:
    """An hour of 29.97 DF labels is an hour of real time to 3.6 ms; non-drop is 3.6 s slow."""
    df = Timecode.from_string("01:00:00;00", FPS_29_97_DF)
    nd = Timecode.from_string("01:00:00:00", FPS_29_97)
    assert df.to_seconds() == pytest.approx(3600.0, abs=0.004)
    assert nd.to_seconds() == pytest.approx(3603.6, abs=1e-9)


def test_labels_a_drop_frame_count_skips_are_refused() -> None:
    with pytest.raises(ValueError, match=r"does not exist at 29\.97 DF"):
        Timecode.from_string("00:01:00;01", FPS_29_97_DF)
    with pytest.raises(ValueError, match=r"does not exist at 59\.94 DF"):
        Timecode.from_string("00:01:00;03", FPS_59_94_DF)
    assert str(Timecode.from_string("00:10:00;01", FPS_29_97_DF)) == "00:10:00;01"


# -- round trips and wrapping --------------------------------------------------------------------


@pytest.mark.parametrize("rate", ALL_RATES, ids=str)
def test_string_and_seconds_round_trip_over_the_whole_day(rate: FrameRate) -> None:
    day = rate.frames_per_day
    frames = {*range(0, day, 997), day - 1}
    # Every frame around the first minutes, where drop frame skips labels.
    frames |= set(range(rate.nominal * 60 - 8, rate.nominal * 60 + 8))
    frames |= set(range(rate.nominal * 600 - 30, rate.nominal * 600 + 8))
    labels = set()
    for n in sorted(frames):
        tc = Timecode(n, rate)
        label = str(tc)
        labels.add(label)
        assert Timecode.from_string(label, rate) == tc, label
        assert Timecode.from_seconds(tc.to_seconds(), rate) == tc, label
        assert (";" in label) == rate.drop_frame
    assert len(labels) == len(frames)  # no two frames share a label


@pytest.mark.parametrize("rate", ALL_RATES, ids=str)
def test_the_day_wraps_at_24_hours(rate: FrameRate) -> None:
    last = Timecode(rate.frames_per_day - 1, rate)
    assert str(last).startswith("23:59:59")
    assert str(last)[-2:] == f"{rate.nominal - 1:02d}"
    assert last + 1 == Timecode(0, rate)
    assert Timecode(0, rate) - 1 == last
    assert Timecode.from_frames(rate.frames_per_day + 5, rate).frames == 5
    with pytest.raises(ValueError, match="outside one day"):
        Timecode(rate.frames_per_day, rate)


def test_seconds_floor_to_the_frame_and_wrap() -> None:
    assert str(Timecode.from_seconds(3600.039, FPS_25)) == "01:00:00:00"
    assert str(Timecode.from_seconds(3600.04, FPS_25)) == "01:00:00:01"
    assert str(Timecode.from_seconds(86_401.0, FPS_25)) == "00:00:01:00"
    assert str(Timecode.from_seconds(-0.01, FPS_25)) == "23:59:59:24"
    # 3603.6 s is exactly frame 86,400 at 23.976, despite 3603.6 not being exact in binary.
    assert str(Timecode.from_seconds(3603.6, FPS_23_976)) == "01:00:00:00"


# -- rates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("23.976", FPS_23_976),
        ("23.98", FPS_23_976),
        ("24000/1001", FPS_23_976),
        ("24", FPS_24),
        ("25", FPS_25),
        ("25fps", FPS_25),
        ("29.97", FPS_29_97),
        ("29.97ndf", FPS_29_97),
        ("29.97df", FPS_29_97_DF),
        ("29.97 DF", FPS_29_97_DF),
        ("30000/1001 drop", FPS_29_97_DF),
        ("30", FPS_30),
        ("48", FPS_48),
        ("50", FPS_50),
        ("59.94", FPS_59_94),
        ("59.94df", FPS_59_94_DF),
        ("60/1", FPS_60),
    ],
)
def test_parse(text: str, rate: FrameRate) -> None:
    assert FrameRate.parse(text) == rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30df", "drop frame is only defined for 29.97 and 59.94, not 30"),
        ("23.976df", "drop frame is only defined for 29.97 and 59.94, not 23.976"),
        ("24.5", "neither a whole rate nor an NTSC rate"),
        ("fast", "cannot read 'fast'; expected e.g. '25', '23.976', '29.97df' or '24000/1001'"),
        ("0", "not a positive rate"),
        ("24/0", "not a positive rate"),
        ("25/3", "the denominator must be 1 or 1001"),
        ("500", "outside 1..120"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^frame rate: ") as info:
        FrameRate.parse(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "rate", "message"),
    [
        ("1:00:00:00", FPS_25, "expected HH:MM:SS:FF"),
        ("01:00:00;00", FPS_25, "is drop-frame (';' before the frames) but the rate 25 is"),
        ("24:00:00:00", FPS_25, "not a time of day"),
        ("00:00:00:25", FPS_25, "frame 25 does not exist at 25 (0..24)"),
    ],
)
def test_timecode_string_errors(text: str, rate: FrameRate, message: str) -> None:
    with pytest.raises(ValueError, match=r"^timecode: ") as info:
        Timecode.from_string(text, rate)
    assert message in str(info.value)


def test_drop_frame_rates_accept_colons_too() -> None:
    """Many displays show DF timecode with colons; the rate says how to count."""
    tc = Timecode.from_string("00:10:00:00", FPS_29_97_DF)
    assert str(tc) == "00:10:00;00"


def test_rate_texts() -> None:
    assert [str(r) for r in (FPS_23_976, FPS_29_97_DF, FPS_59_94, FPS_25)] == [
        "23.976",
        "29.97 DF",
        "59.94",
        "25",
    ]
    assert FPS_23_976.ratio() == "24000/1001"
    assert FPS_25.ratio() == "25/1"


# -- Frame.io ------------------------------------------------------------------------------------


def test_to_frameio_shapes() -> None:
    assert to_frameio(Timecode.from_string("01:00:00:00", FPS_24)) == {
        "smpte_timecode": "01:00:00:00",
        "rate": {"playback": [24, 1], "ntsc": None},
    }
    assert to_frameio(Timecode.from_string("01:00:00:00", FPS_23_976)) == {
        "smpte_timecode": "01:00:00:00",
        "rate": {"playback": [24000, 1001], "ntsc": "non_drop"},
    }
    assert to_frameio(Timecode.from_string("01:00:00;00", FPS_29_97_DF)) == {
        "smpte_timecode": "01:00:00;00",
        "rate": {"playback": [30000, 1001], "ntsc": "drop_frame"},
    }


@pytest.mark.parametrize("rate", ALL_RATES, ids=str)
def test_to_frameio_is_accepted_by_the_hubs_frameio_model(rate: FrameRate) -> None:
    body = to_frameio(Timecode(12345, rate))
    assert SmpteTime.model_validate(body).model_dump(mode="json") == body


# -- the clock -----------------------------------------------------------------------------------


def test_clock_gives_time_of_day_timecode_and_samples_since_midnight() -> None:
    fake = FakeClock(epoch(2026, 3, 14, 1, 0, 0, micro=500_000))
    clock = TimecodeClock(fake, FPS_25, tz=UTC)
    assert clock.seconds_since_midnight() == pytest.approx(3600.5)
    assert str(clock.timecode()) == "01:00:00:12"
    assert clock.sample_position(48_000) == 3600 * 48_000 + 24_000
    fake.t += 10.0  # the clock object is read every time
    assert str(clock.timecode()) == "01:00:10:12"
    at = epoch(2026, 3, 14, 13, 30, 0)
    assert str(clock.timecode(at)) == "13:30:00:00"  # an explicit instant


def test_offset_is_adjustable_while_running() -> None:
    fake = FakeClock(epoch(2026, 3, 14, 1, 0, 0, micro=500_000))
    clock = TimecodeClock(fake, FPS_25, offset_s=0.25, tz=UTC)
    assert str(clock.timecode()) == "01:00:00:18"
    clock.offset_s = -0.5
    assert str(clock.timecode()) == "01:00:00:00"
    assert clock.sample_position(48_000) == 3600 * 48_000
    clock.offset_s = -3600.6  # before midnight: timecode wraps, the position does not
    assert str(clock.timecode()) == "23:59:59:22"
    assert clock.sample_position(48_000) == -4800


def test_a_take_crossing_midnight_keeps_counting() -> None:
    start = epoch(2026, 3, 14, 23, 59, 59)
    clock = TimecodeClock(FakeClock(start), FPS_25, tz=UTC)
    assert clock.sample_position(48_000, at=start) == 86_399 * 48_000
    after = start + 2.0
    assert clock.sample_position(48_000, at=after, midnight_of=start) == 86_401 * 48_000
    assert clock.sample_position(48_000, at=after) == 1 * 48_000  # its own day
    assert str(clock.timecode(after)) == "00:00:01:00"


@pytest.fixture
def india_time() -> Iterator[None]:
    """The machine's local zone set to UTC+05:30 (a POSIX TZ rule, no tzdata needed)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "IST-05:30"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.usefixtures("india_time")
def test_default_time_zone_is_the_machines() -> None:
    local_midnight = epoch(2026, 3, 13, 18, 30, 0)  # 00:00 on the 14th at UTC+05:30
    clock = TimecodeClock(FakeClock(local_midnight + 10.0), FPS_24)
    assert clock.seconds_since_midnight() == pytest.approx(10.0)
    assert str(clock.timecode()) == "00:00:10:00"
