"""The hub's timecode without a recorder: sources, jam across midnight, drift and its warnings,
PTP's state in the warnings, the legacy system trim, the offset file."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import numpy as np

from c2c_hub.clock import ManualClock
from c2c_hub.subdevices import AudioBlock
from c2c_hub.timecode import FPS_25, FPS_29_97_DF, Timecode
from c2c_hub.timecode.ltc import LtcEncoder
from c2c_hub.timecode.ptp import PtpMonitor, state_from_pmc
from c2c_hub.timecode.timeline import HubTimecode

SR = 48000
DAY0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
DATA = Path(__file__).parent / "data"


def feed_ltc(tc: HubTimecode, clock: ManualClock, rate: object, start: str, seconds: float) -> int:
    """LTC on "box" from the reference position now; returns that position."""
    first = Timecode.from_string(start, rate)  # type: ignore[arg-type]
    signal = LtcEncoder(SR, rate, first).frames(round(rate.fps * seconds))  # type: ignore[attr-defined]
    pcm = (np.round(signal * (2**23 - 1)).astype(np.int32)) << 8
    origin = tc.reference.sample_position(SR)
    for i in range(0, len(pcm), 480):
        clock.advance(480 / SR)
        tc.audio("box", AudioBlock(origin + i, pcm[i : i + 480]))
    return origin


def test_jam_reads_ltc_across_midnight_and_free_runs_after() -> None:
    clock = ManualClock(DAY0 + 12 * 3600)  # noon by the system clock
    tc = HubTimecode(clock, FPS_29_97_DF, source="ltc", ltc_device="box", tz=UTC)
    assert tc.describe().startswith("LTC absent, never jammed")
    assert any("never jammed" in w for w in tc.warnings())
    feed_ltc(tc, clock, FPS_29_97_DF, "23:59:58;00", 4)
    snap = tc.snapshot()
    assert snap["jammed"] and snap["ltc"]["last"].startswith("00:00:01")
    assert str(tc.timecode()).startswith("00:00:0")  # past midnight, on the LTC's day
    assert not any("never jammed" in w for w in tc.warnings())
    clock.advance(30)
    assert "free-running for" in tc.describe() or "stopped" in tc.describe()
    assert str(tc.timecode()).startswith("00:00:3")  # 30 s later, by the hub's clock


def test_drift_is_measured_per_source_and_warns_beyond_the_threshold() -> None:
    clock = ManualClock(DAY0 + 3600)
    tc = HubTimecode(clock, FPS_25, tz=UTC, drift_warn_ms=20)
    quiet = np.zeros(480, dtype=np.int32)
    for _ in range(800):  # 8 s: three windows or more
        clock.advance(0.01)
        now = tc.reference.sample_position(SR)
        tc.audio("on-time", AudioBlock(now - 480, quiet))
        tc.audio("late", AudioBlock(now - 480 - 2400, quiet))  # 50 ms behind
    drift = {d["serial"]: d for d in tc.snapshot()["drift"]}
    assert abs(drift["on-time"]["offset_ms"]) < 1
    assert drift["late"]["offset_ms"] == -50.0
    assert drift["late"]["drift_ppm"] == 0.0
    warnings = tc.warnings()
    assert len(warnings) == 1 and "late is 50.0 ms off" in warnings[0]


def test_ptp_that_is_not_locked_warns_and_says_why() -> None:
    clock = ManualClock(DAY0)
    monitor = PtpMonitor(clock)
    tc = HubTimecode(clock, FPS_25, source="ptp", ptp=monitor, tz=UTC)
    assert any("no answer from ptp4l yet" in w for w in tc.warnings())
    monitor.state = state_from_pmc((DATA / "pmc-slave.txt").read_text(), phc2sys=True)
    assert any("UNCALIBRATED" in w for w in tc.warnings())
    assert tc.snapshot()["ptp"]["gm_identity"] == "425986.fffe.f3f0b3"
    monitor.state = state_from_pmc((DATA / "pmc-master.txt").read_text(), phc2sys=True)
    assert tc.warnings() == []
    assert tc.describe().startswith("PTP: ptp4l MASTER")


def test_the_system_trim_and_the_offset_shift_every_source_alike(tmp_path: Path) -> None:
    clock = ManualClock(DAY0 + 3600)
    tc = HubTimecode(clock, FPS_25, system_offset_s=0.5, data_dir=tmp_path, tz=UTC)
    assert tc.shift(SR) == SR // 2
    assert str(tc.timecode()) == "01:00:00:12"
    tc.set_offset(25)
    assert tc.shift(SR) == SR // 2 + SR
    assert str(tc.timecode()) == "01:00:01:12"
    sync = tc.take_began(SR)
    assert sync.shift == SR // 2 + SR and sync.source == "SYSTEM"
    tc.take_ended()
    (tmp_path / "timecode.json").write_text("not json")
    again = HubTimecode(clock, FPS_25, data_dir=tmp_path, offset_frames=4)
    assert again.offset_frames == 4  # an unreadable file falls back to the setting
