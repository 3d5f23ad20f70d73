"""Takes on a jammed timecode: LTC from libltc's encoder on one source's input, two microphones
beside it; every track starts at the same timecode sample, the LTC recorded in the file lines up
with the file's bext stamp, nothing moves inside a take, and record-run follows the LTC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from wavinfo import WavInfoReader

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.devices import DeviceRegistry
from c2c_hub.recorder.record_run import RecordRun
from c2c_hub.recorder.takes import Recorder, Take
from c2c_hub.session import Session
from c2c_hub.subdevices import AudioBlock, AudioFormat, SubDevice
from c2c_hub.timecode import FPS_25, Timecode
from c2c_hub.timecode.ltc import LtcDecoder, LtcEncoder
from c2c_hub.timecode.timeline import HubTimecode
from tests.recorder.conftest import MIC_MODEL, MODELS, RATE, SRC, signal
from tests.uploader.conftest import UploaderFactory

JAM = Timecode.from_string("10:00:00:00", FPS_25)
SPF = RATE // 25  # samples per frame at 25 fps
BLOCK = 480


@dataclass
class TcRig:
    recorder: Recorder
    registry: DeviceRegistry
    timecode: HubTimecode
    clock: ManualClock
    origin: int  # the reference position where the LTC's first frame (10:00:00:00) starts
    ltc: np.ndarray  # the LTC as int32, from ``origin`` on
    at: int = 0  # the reference position fed up to
    block: int = BLOCK  # samples a block (48: an AES67 packet of 1 ms)

    def feed(self, seconds: float, *, ltc: bool = True) -> None:
        """Every source's samples up to ``seconds`` more, each block once it is in the past."""
        end = self.at + round(seconds * RATE)
        while self.at < end:
            n = min(self.block, end - self.at)
            position = self.origin + self.at
            self.clock.advance(n / RATE)
            for serial, freq in (("mic-a", 440.0), ("mic-b", 440.0)):
                self.registry.audio(SRC, serial, AudioBlock(position, signal(position, n, freq)))
            chunk = self.ltc[self.at : self.at + n] if ltc else np.zeros(n, dtype=np.int32)
            if len(chunk) < n:
                chunk = np.concatenate([chunk, np.zeros(n - len(chunk), dtype=np.int32)])
            self.registry.audio(SRC, "ltc-box", AudioBlock(position, chunk))
            self.at += n


def ltc_int32(seconds: float, start: Timecode = JAM) -> np.ndarray:
    floats = LtcEncoder(RATE, FPS_25, start, user_bits=0xC0FFEE42).frames(round(25 * seconds))
    return (np.round(floats * (2**23 - 1)).astype(np.int32)) << 8


def jump_ltc(ltc: np.ndarray, at_s: float, to: str) -> np.ndarray:
    """The LTC from ``at_s`` on replaced by LTC from another timecode (a jump)."""
    cut = round(at_s * 25) * SPF
    rest = ltc_int32((len(ltc) - cut) / RATE, Timecode.from_string(to, FPS_25))
    return np.concatenate([ltc[:cut], rest[: len(ltc) - cut]])


@pytest.fixture
async def make_rig(
    session: Session, uploaders: UploaderFactory, tmp_path: Path
) -> AsyncIterator[Callable[..., TcRig]]:
    stops: list[Callable[[], object]] = []
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    await uploader.start()

    async def build(ltc: np.ndarray, *, preroll_s: float = 0.0) -> TcRig:
        clock = ManualClock(1_767_225_600.0 + 3600 * 9)  # 09:00 UTC
        tc = HubTimecode(
            clock,
            FPS_25,
            sample_rate=RATE,
            source="ltc",
            data_dir=tmp_path,
            ltc_device="ltc-box",
            tz=UTC,
        )
        recorder = Recorder(
            registry,
            uploader,
            directory=tmp_path / "recordings",
            data_dir=tmp_path,
            clock=clock,
            timecode=tc,
            stop_grace_s=0,
            preroll_s=preroll_s,
        )
        await tc.start(registry.on_audio)
        await recorder.start()
        stops.extend([recorder.stop, tc.stop])
        for serial in ("mic-a", "mic-b", "ltc-box"):
            assert registry.attach(SRC, SubDevice(serial, MIC_MODEL, serial, audio=AudioFormat()))
        origin = tc.reference.sample_position(RATE) + 4800  # the LTC starts 0.1 s from now
        rig = TcRig(recorder, registry, tc, clock, origin, ltc)
        rig.at = -4800
        return rig

    yield build  # type: ignore[misc]
    for stop in stops:
        await stop()  # type: ignore[misc]


def tc_samples(label: str) -> int:
    return round(Timecode.from_string(label, FPS_25).to_seconds() * RATE)


def first_ltc_frame(path: Path) -> tuple[int, str]:
    """(file index, label) of the first LTC frame recorded in a track."""
    data, _ = sf.read(path, dtype="float32")
    frames = LtcDecoder(RATE, 25).write(data, 0)
    good = [f for f in frames if f.valid and not f.reverse]
    assert good, "no LTC in the file"
    return good[1].start, good[1].label  # the second: the first may have been cut by the start


async def stop(rig: TcRig) -> Take:
    take = await rig.recorder.stop_take()
    return take


async def test_every_track_starts_at_the_jammed_timecode_sample(
    make_rig: Callable[..., object],
) -> None:
    rig: TcRig = await make_rig(ltc_int32(6))  # type: ignore[misc]
    rig.feed(2.0)
    snap = rig.timecode.snapshot()
    assert snap["jammed"] and snap["ltc"]["state"] == "running", snap
    assert snap["timecode"].startswith("10:00:01:")  # the jammed timecode, not 09:00 UTC
    take = await rig.recorder.start_take(scene="7")
    assert take.sync is not None and take.sync.source == "LTC" and take.sync.jammed
    assert take.sync.user_bits == "C0FFEE42"
    # The take starts on the LTC's timeline: its first sample is where 10:00:00:00 + that much.
    expected = tc_samples("10:00:00:00") + (take.start_position - take.shift - rig.origin)
    assert abs(take.start_position - expected) <= 2
    assert take.start_timecode == "10:00:01:22"  # 1.9 s into the LTC
    rig.feed(2.0)
    done = await stop(rig)

    tracks = {t.serial: t for t in done.tracks.values()}
    assert set(tracks) == {"mic-a", "mic-b", "ltc-box"}
    refs = {s: WavInfoReader(str(t.path)).bext.time_reference for s, t in tracks.items()}
    assert set(refs.values()) == {done.start_position}  # one timecode sample for every track
    a, _ = sf.read(tracks["mic-a"].path, dtype="int32")
    b, _ = sf.read(tracks["mic-b"].path, dtype="int32")
    np.testing.assert_array_equal(a, b)  # the same sound, to the sample
    # The LTC recorded in the file says what its bext stamp says, to the sample or two.
    index, label = first_ltc_frame(tracks["ltc-box"].path)
    assert abs(done.start_position + index - tc_samples(label)) <= 2
    info = WavInfoReader(str(tracks["mic-a"].path))
    ixml = info.ixml.raw_xml
    assert ixml.findtext("SPEED/TIMECODE_RATE") == "25/1"
    assert ixml.findtext("SPEED/TIMECODE_FLAG") == "NDF"
    assert "TIMECODE_SOURCE=LTC" in (ixml.findtext("USER") or "")
    assert "UBITS=C0FFEE42" in (ixml.findtext("USER") or "")
    assert "sTCSOURCE=LTC" in info.bext.description


async def test_a_jump_in_the_ltc_never_moves_a_take_and_is_jammed_after_it(
    make_rig: Callable[..., object],
) -> None:
    ltc = jump_ltc(ltc_int32(8), 3.0, "11:00:00:00")
    rig: TcRig = await make_rig(ltc)  # type: ignore[misc]
    rig.feed(2.0)
    take = await rig.recorder.start_take()
    shift = take.shift
    rig.feed(3.0)  # the jump comes at 3 s, inside the take
    snap = rig.timecode.snapshot()
    assert snap["ltc_moved_in_take"] and snap["ltc"]["jumps"] >= 1
    assert rig.timecode.shift(RATE) == shift  # held for the take
    done = await stop(rig)
    for track in done.tracks.values():
        assert track.guard.discontinuities == 0
        assert len(sf.read(track.path, dtype="int32")[0]) == done.frames
    rig.feed(1.5)  # after the take, the LTC is jammed to again
    assert rig.timecode.snapshot()["timecode"].startswith("11:00:0")
    assert rig.timecode.jams == 2


async def test_ltc_that_stops_free_runs_and_the_offset_waits_for_the_next_take(
    make_rig: Callable[..., object],
) -> None:
    rig: TcRig = await make_rig(ltc_int32(2))  # type: ignore[misc]
    rig.feed(2.0)
    first = await rig.recorder.start_take()
    rig.feed(3.0)  # the LTC stopped at 2 s: free-running on the samples
    snap = rig.timecode.snapshot()
    assert snap["ltc"]["state"] == "stopped" and snap["jammed"]
    assert "free-running" in snap["summary"] and snap["since_jam_s"] >= 2
    assert rig.timecode.set_offset(-3)["applies"] == "from the next take"
    done = await stop(rig)
    assert done.frames is not None and len(sf.read(done.tracks["mic-a"].path)[0]) == done.frames
    second = await rig.recorder.start_take()
    rig.feed(0.5, ltc=False)
    await stop(rig)
    # Free-running: the second take's stamp is the first's plus the samples between them,
    # less the 3 frames of offset.
    between = second.start_position - second.shift - (first.start_position - first.shift)
    assert second.start_position == first.start_position + between - 3 * SPF
    assert rig.timecode.offset_frames == -3
    reloaded = HubTimecode(rig.clock, FPS_25, data_dir=rig.recorder.journal.path.parent)
    assert reloaded.offset_frames == -3  # persisted


async def test_record_run_follows_the_ltc_with_pre_roll_from_1_ms_packets(
    make_rig: Callable[..., object],
) -> None:
    ltc = np.concatenate([np.zeros(2 * RATE, dtype=np.int32), ltc_int32(3)])
    rig: TcRig = await make_rig(ltc, preroll_s=2.0)  # type: ignore[misc]
    rig.block = 48  # 1 ms packets: the pre-roll is thousands of blocks
    run = RecordRun(rig.recorder, rig.timecode, preroll_s=2.0)
    try:
        rig.feed(3.5)  # 2 s of no LTC, then it runs
        await until_true(lambda: rig.recorder.take is not None)
        take = rig.recorder.take
        assert take is not None and take.trigger == "record-run"
        rig.feed(3.0)  # the LTC stops at 5 s
        await until_true(lambda: rig.recorder.take is None)
        done = rig.recorder.last_take
        assert done is take and run.started == run.stopped == 1
        # The take starts two seconds before the LTC did: those seconds are there, whole.
        ltc_start = tc_samples("10:00:00:00")
        assert abs(done.start_position - (ltc_start - 2 * RATE)) <= SPF
        a, _ = sf.read(done.tracks["mic-a"].path, dtype="int32")
        assert np.count_nonzero(a[: RATE // 2]) > RATE // 4  # pre-roll audio, not silence
        assert all(t.assembler.dropouts == 0 for t in done.tracks.values())
        index, label = first_ltc_frame(done.tracks["ltc-box"].path)
        assert abs(done.start_position + index - tc_samples(label)) <= 2
    finally:
        await run.stop()


async def until_true(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_an_independent_ltc_reader_agrees_with_the_files_stamp(
    make_rig: Callable[..., object],
) -> None:
    """ltc-reader (pure Python, GPL: a test tool only) reads the LTC recorded in the track: the
    sample where each of its frames starts, plus the bext stamp, is that frame's timecode."""
    ltc_map = pytest.importorskip("ltc_reader.LTCMap")
    channel = pytest.importorskip("ltc_reader.Channel")
    rig: TcRig = await make_rig(ltc_int32(5))  # type: ignore[misc]
    rig.feed(1.5)
    await rig.recorder.start_take()
    rig.feed(2.0)
    done = await stop(rig)
    path = done.tracks["ltc-box"].path
    data, _ = sf.read(path, dtype="int16")
    found = ltc_map.LTCMap.from_channel(
        channel.ByteChannel(data.tobytes(), RATE, 2, "little", True)
    ).get_map()
    assert len(found) >= 45  # 2 s at 25 fps, less the frames cut at either end
    stamp = WavInfoReader(str(path)).bext.time_reference
    for index, frame in found.items():
        label = (
            f"{frame.get_hours():02d}:{frame.get_minutes():02d}:"
            f"{frame.get_seconds():02d}:{frame.get_frame_nr():02d}"
        )
        assert abs(stamp + index - tc_samples(label)) <= 3, (index, label)
