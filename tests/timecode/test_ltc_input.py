"""LTC judged as the hub needs it: running, stopped, dropouts, jumps, noise, the wrong rate."""

from __future__ import annotations

import numpy as np
import pytest

from c2c_hub.timecode import FPS_23_976, FPS_24, FPS_25, FPS_29_97_DF, FPS_30, FrameRate, Timecode
from c2c_hub.timecode.ltc import LtcEncoder
from c2c_hub.timecode.ltc_input import LtcEvent, LtcInput

SR = 48000
AT = 7_000_000  # the source's position of the first sample


def ltc(rate: FrameRate, start: str, seconds: float) -> np.ndarray:
    first = Timecode.from_string(start, rate)
    return LtcEncoder(SR, rate, first).frames(round(rate.fps * seconds))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(SR * seconds), dtype=np.float32)


def run(reader: LtcInput, signal: np.ndarray, block: int = 480) -> list[LtcEvent]:
    events: list[LtcEvent] = []
    for i in range(0, len(signal), block):
        events += reader.feed(AT + i, signal[i : i + block])
    return events


def kinds(events: list[LtcEvent]) -> list[str]:
    return [e.kind for e in events if e.kind != "frame"]


@pytest.mark.parametrize("rate", [FPS_23_976, FPS_24, FPS_25, FPS_29_97_DF, FPS_30])
def test_ltc_starts_runs_and_stops_at_every_rate(rate: FrameRate) -> None:
    start = "10:00:58;00" if rate.drop_frame else "10:00:58:00"
    signal = np.concatenate([silence(0.5), ltc(rate, start, 3), silence(1)])
    reader = LtcInput(rate, SR)
    events = run(reader, signal)
    assert kinds(events) == ["started", "stopped"]
    assert str(reader.detected) == str(rate)
    frames = [e for e in events if e.kind == "frame"]
    counts = [e.count for e in frames]
    assert counts == list(range(counts[0], counts[0] + len(counts)))
    started = events[0]
    # The run starts at its first frame (before it was confirmed): where the LTC began.
    assert abs(started.position - (AT + SR // 2)) <= SR / rate.fps * 2
    assert reader.state == "stopped"


def test_a_dropout_is_counted_and_the_run_goes_on() -> None:
    signal = np.concatenate([ltc(FPS_25, "01:00:00:00", 3), silence(0.5)])
    signal[SR : SR + 6000] = 0  # 125 ms of nothing in the middle
    reader = LtcInput(FPS_25, SR)
    events = run(reader, signal)
    assert kinds(events) == ["started", "dropout", "stopped"]
    assert reader.dropouts == 1 and reader.jumps == 0


def test_a_jump_restarts_the_run_which_must_be_confirmed_again() -> None:
    signal = np.concatenate([ltc(FPS_25, "01:00:00:00", 2), ltc(FPS_25, "05:00:00:00", 2)])
    reader = LtcInput(FPS_25, SR)
    events = run(reader, signal)
    assert kinds(events)[:3] == ["started", "jump", "stopped"]
    assert "started" in kinds(events)[3:]
    assert reader.jumps == 1
    restarted = [e for e in events if e.kind == "started"][1]
    assert restarted.frame is not None and restarted.frame.label.startswith("05:00:00")


@pytest.mark.parametrize(
    ("signal_rate", "hub_rate"),
    [(FPS_24, FPS_23_976), (FPS_30, FPS_25), (FPS_25, FPS_24), (FPS_29_97_DF, FPS_30)],
)
def test_ltc_at_another_rate_is_named_and_never_runs(
    signal_rate: FrameRate, hub_rate: FrameRate
) -> None:
    start = "10:00:00;00" if signal_rate.drop_frame else "10:00:00:00"
    reader = LtcInput(hub_rate, SR)
    events = run(reader, ltc(signal_rate, start, 3))
    assert "started" not in kinds(events)
    assert "wrong_rate" in kinds(events)
    assert reader.snapshot()["rate_detected"] == str(signal_rate)
    assert str(signal_rate) in (reader.last_problem or "")


def test_noise_never_starts_anything_and_noisy_ltc_still_runs() -> None:
    rng = np.random.default_rng(3)
    reader = LtcInput(FPS_25, SR)
    noise = (rng.standard_normal(SR * 3) * 0.3).astype(np.float32)
    assert kinds(run(reader, noise)) == []
    assert reader.state != "running"
    clean = ltc(FPS_25, "02:00:00:00", 3)
    noisy = clean + (rng.standard_normal(len(clean)) * 0.01).astype(np.float32)  # ~ -22 dB SNR
    reader = LtcInput(FPS_25, SR)
    events = run(reader, noisy)
    assert kinds(events) == ["started"] and reader.jumps == 0


def test_parked_timecode_counts_as_stopped() -> None:
    rate = FPS_25
    running = ltc(rate, "03:00:00:00", 2)
    encoder = LtcEncoder(SR, rate, Timecode.from_string("03:00:02:00", rate))
    parked = []
    for _ in range(25):  # the same frame again and again
        encoder.set_timecode(Timecode.from_string("03:00:02:00", rate))
        parked.append(encoder.frames(1))
    reader = LtcInput(rate, SR)
    events = run(reader, np.concatenate([running, *parked]))
    assert kinds(events) == ["started", "stopped"]
    assert "parked" in (events[-1].detail or "")


def test_ltc_played_backwards_is_shown_never_run() -> None:
    first = Timecode.from_string("04:00:10:00", FPS_25)
    reader = LtcInput(FPS_25, SR)
    events = run(reader, LtcEncoder(SR, FPS_25, first).frames(75, reverse=True))
    assert kinds(events) == []
    assert reader.state == "reverse" and reader.snapshot()["reverse"] is True
