"""Nothing lost, ever, on the recorder's side: bytes durable before the uploader may send them,
a take cut short by a power cut recovered into valid tracks that upload, a lying microphone that
harms no other track, and a disk too small or filling up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.recorder.recovery import JOURNAL_FILE
from c2c_hub.recorder.takes import Recorder, TakeError
from c2c_hub.recorder.wav import read_track_metadata
from c2c_hub.uploader import FileState, Uploader
from tests.recorder.conftest import RATE, Rig, attach, signal
from tests.uploader.conftest import UploaderFactory, sha256_of, until

FREQS = {"NM-1": 440.0, "NM-2": 660.0, "NM-3": 330.0}
STEP = RATE // 10  # the clock moves on 100 ms at a time


async def play(rig: Rig, start: int, end: int, serials: list[str]) -> None:
    """The good microphones, in real time: 100 ms of every serial, then the writer's turn."""
    for at in range(start, end, STEP):
        n = min(STEP, end - at)
        for serial in serials:
            rig.feed(serial, at, at + n, FREQS[serial])
        await written(rig.recorder)


async def written(recorder: Recorder) -> None:
    """The writer's turn (it runs every ``flush_s`` on the hub's clock, here a manual one)."""
    await recorder.flush()


def check_valid(path: Path) -> int:
    """A WAV whose header agrees with its size; returns its frames."""
    raw = path.read_bytes()
    meta = read_track_metadata(path)
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    assert len(raw) == meta.data_offset + meta.data_size + meta.data_size % 2
    assert meta.data_size % meta.block_align == 0
    assert sf.info(str(path)).frames == meta.frames
    return meta.frames


async def uploaded(uploader: Uploader, emulator: EmulatorHandle, file_id: int, path: Path) -> None:
    await until(lambda: uploader.file(file_id)["state"] == FileState.DONE, within=30)
    asset = emulator.asset(uploader.file(file_id)["asset_id"])
    assert asset["complete"] and asset["sha256"] == sha256_of(path)


async def test_the_uploader_is_only_told_of_bytes_already_fsynced(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: dict[int, int] = {}  # inode -> size at its last fsync
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        st = os.fstat(fd)
        synced[st.st_ino] = st.st_size

    monkeypatch.setattr(os, "fsync", fsync)
    reports: list[tuple[int, int]] = []
    uploader = rig.recorder.uploader
    real_grew = uploader.recording_grew

    def grew(file_id: int, *, durable_size: int | None = None) -> None:
        assert durable_size is not None
        path = Path(uploader.file(file_id)["path"])
        on_disk = synced.get(path.stat().st_ino, 0)
        assert durable_size <= on_disk, "reported durable before it was fsynced"
        reports.append((file_id, durable_size))
        real_grew(file_id, durable_size=durable_size)

    monkeypatch.setattr(uploader, "recording_grew", grew)
    attach(rig, "NM-1", "Boom")
    take = await rig.recorder.start_take()
    start = take.start_position
    await play(rig, start, start + 4 * RATE, ["NM-1"])
    done = await rig.recorder.stop_take()
    track = done.tracks["NM-1"]
    sizes = [size for _, size in reports]
    assert sizes == sorted(sizes), "the durable size never goes back"
    header = read_track_metadata(track.path).data_offset
    # About one fsync a second (recorder.fsync_interval_s), not one per write.
    assert len({s for s in sizes if s > header}) in range(3, 7)
    assert sizes[-1] == track.path.stat().st_size == track.durable_size
    assert not (rig.recorder.journal.path).exists()


async def test_a_power_cut_mid_take_leaves_valid_tracks_that_upload_after_the_restart(
    rig: Rig,
    uploaders: UploaderFactory,
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    rng = random.Random(14)
    take = await rig.recorder.start_take(scene="9")
    start = take.start_position
    # Both microphones arrive once the take is rolling: their tracks are noted all the same.
    attach(rig, "NM-1", "Boom")
    attach(rig, "NM-2", "Lav")
    await until(lambda: len(take.tracks) == 2 and all(t.file_id for t in take.tracks.values()))
    await until(lambda: len(rig.channels.available()) == 2, within=10)
    await play(rig, start, start + int(3.55 * RATE), ["NM-1", "NM-2"])
    tracks = sorted(take.tracks.values(), key=lambda t: t.index)
    durable = {t.serial: t.durable_size for t in tracks}
    assert all(size > 100_000 for size in durable.values())

    # The power goes: the writer stops dead, no header is updated, and each file is cut back
    # to anywhere at or after its last durable point (what the page cache had not written).
    old = rig.recorder
    assert old._writer is not None
    old._writer.cancel()
    for track in tracks:
        track.assembler.writer.abandon()
        size = track.path.stat().st_size
        os.truncate(track.path, rng.randint(durable[track.serial], size))
    old.take = None
    await old.uploader.stop()
    assert (tmp_path / JOURNAL_FILE).exists()

    # The restart: recovery first, then the uploader queues what it finds.
    uploader = uploaders(channels=rig.channels)
    rig.channels.on_change(uploader.channels_changed)
    again = Recorder(
        rig.registry,
        uploader,
        directory=rig.directory,
        data_dir=tmp_path,
        clock=rig.clock,
        timecode=old.timecode,
    )
    repairs = await again.recover()
    assert sorted(r.path for r in repairs) == sorted(t.path for t in tracks)
    assert not (tmp_path / JOURNAL_FILE).exists()
    assert again.snapshot()["recovered"]
    await uploader.start()
    for track, repair in zip(tracks, sorted(repairs, key=lambda r: r.path), strict=True):
        frames = check_valid(track.path)
        assert frames == repair.frames
        header = read_track_metadata(track.path).data_offset
        assert frames * 3 >= durable[track.serial] - header, "every durable frame is there"
        samples = sf.read(track.path, dtype="int32")[0]
        np.testing.assert_array_equal(samples, signal(start, frames, FREQS[track.serial]))
        assert track.file_id is not None
        await uploaded(uploader, emulator, track.file_id, track.path)


async def test_one_microphone_jumping_two_hours_ahead_harms_no_track(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    events: list[dict[str, Any]] = []
    rig.recorder.on_event(events.append)
    for serial, name in (("NM-1", "Boom"), ("NM-2", "Lav"), ("NM-3", "Plant")):
        attach(rig, serial, name)
    await until(lambda: len(rig.channels.available()) == 3, within=10)
    take = await rig.recorder.start_take()
    start = take.start_position
    await play(rig, start, start + RATE, ["NM-1", "NM-2", "NM-3"])
    # NM-3's clock jumps two hours ahead; its samples keep coming, in real time.
    jump = 2 * 3600 * RATE
    for at in range(start + RATE, start + 3 * RATE, STEP):
        rig.feed("NM-1", at, at + STEP, FREQS["NM-1"])
        rig.feed("NM-2", at, at + STEP, FREQS["NM-2"])
        for b in range(at, at + STEP, 480):
            rig.send("NM-3", b + jump, signal(b + jump, 480, FREQS["NM-3"]))
        await written(rig.recorder)
    shown = rig.recorder.snapshot()["take"]["tracks"][2]
    assert shown["source"]["discontinuities"] == 1
    assert "discontinuit" in shown["warning"] and "7200.000 s ahead" in shown["warning"]
    rig.advance_to(start + 3 * RATE)
    done = await rig.recorder.stop_take()
    assert done.frames == 3 * RATE

    plant = done.tracks["NM-3"]
    assert plant.path.stat().st_size < 3 * RATE * 3 + 64 * 1024, "not 2 hours of silence"
    samples = sf.read(plant.path, dtype="int32")[0]
    assert len(samples) == 3 * RATE
    # Its samples carry on from where its track was: nothing lost, nothing inserted.
    np.testing.assert_array_equal(samples[:RATE], signal(start, RATE, FREQS["NM-3"]))
    np.testing.assert_array_equal(
        samples[RATE:], signal(start + RATE + jump, 2 * RATE, FREQS["NM-3"])
    )
    assert [e["type"] for e in events].count("discontinuity") == 1
    for serial in ("NM-1", "NM-2"):
        good = sf.read(done.tracks[serial].path, dtype="int32")[0]
        np.testing.assert_array_equal(good, signal(start, 3 * RATE, FREQS[serial]))
    for track in done.tracks.values():
        assert track.file_id is not None and track.error is None
        await uploaded(rig.recorder.uploader, emulator, track.file_id, track.path)


async def test_a_microphone_twenty_times_faster_than_real_time_is_cut_off_and_shown(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    events: list[dict[str, Any]] = []
    rig.recorder.on_event(events.append)
    for serial, name in (("NM-1", "Boom"), ("NM-2", "Lav"), ("NM-3", "Plant")):
        attach(rig, serial, name)
    take = await rig.recorder.start_take()
    start = take.start_position
    sent = start
    for at in range(start, start + 4 * RATE, STEP):
        rig.feed("NM-1", at, at + STEP, FREQS["NM-1"])
        rig.feed("NM-2", at, at + STEP, FREQS["NM-2"])
        for _ in range(20 * STEP // 480):  # 2 s of samples every 100 ms
            rig.send("NM-3", sent, signal(sent, 480, FREQS["NM-3"]))
            sent += 480
        await written(rig.recorder)
    cut = [e for e in events if e["type"] == "cut_off"]
    assert len(cut) == 1 and cut[0]["serial"] == "NM-3"
    assert "faster than real time" in cut[0]["detail"]
    shown = rig.recorder.snapshot()["take"]["tracks"][2]
    assert shown["source"]["cut_off"] and "faster than real time" in shown["warning"]
    done = await rig.recorder.stop_take()
    plant = done.tracks["NM-3"]
    assert sf.info(str(plant.path)).frames == 4 * RATE  # not 80 s of samples
    assert plant.path.stat().st_size < 4 * RATE * 3 + 64 * 1024
    for serial in ("NM-1", "NM-2"):
        good = sf.read(done.tracks[serial].path, dtype="int32")[0]
        np.testing.assert_array_equal(good, signal(start, 4 * RATE, FREQS[serial]))
    for track in done.tracks.values():
        assert track.file_id is not None
        await uploaded(rig.recorder.uploader, emulator, track.file_id, track.path)


async def test_a_take_without_room_for_its_minutes_refuses_to_start(rig: Rig) -> None:
    attach(rig, "NM-1", "Boom")
    attach(rig, "NM-2", "Lav")
    st = os.statvfs(rig.directory.parent)
    free_minutes = st.f_bavail * st.f_frsize / (2 * RATE * 3 * 60)
    rig.recorder.min_free_minutes = free_minutes * 2
    number = rig.recorder.next_take_number()
    with pytest.raises(TakeError, match=r"not enough room to record .* 2 track\(s\)"):
        await rig.recorder.start_take()
    assert rig.recorder.take is None and rig.recorder.next_take_number() == number
    rig.recorder.min_free_minutes = free_minutes / 2
    await rig.recorder.start_take()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A real filesystem that fills up: a tmpfs of ``size`` (needs root and mount(8))."""
    path.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


async def test_a_disk_that_fills_mid_take_leaves_every_track_valid_and_uploaded(
    rig: Rig, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    attach(rig, "NM-1", "Boom")
    attach(rig, "NM-2", "Lav")
    await until(lambda: len(rig.channels.available()) == 2, within=10)
    with small_disk(tmp_path / "small", "1m") as disk:
        recorder = Recorder(
            rig.registry,
            rig.recorder.uploader,
            directory=disk,
            data_dir=tmp_path / "state",
            clock=rig.clock,
            timecode=rig.recorder.timecode,
            stop_grace_s=0,
            min_free_minutes=10,
        )
        (tmp_path / "state").mkdir()
        await recorder.start()
        try:
            with pytest.raises(TakeError, match="not enough room"):
                await recorder.start_take()
            recorder.min_free_minutes = 0.05  # 0.86 MB for two tracks: it starts
            events: list[dict[str, Any]] = []
            recorder.on_event(events.append)
            rig.recorder = recorder
            take = await recorder.start_take()
            start = take.start_position
            at = start
            while recorder.take is take and at < start + 10 * RATE:  # 1 MiB is ~3.6 s
                rig.feed("NM-1", at, at + STEP, FREQS["NM-1"])
                rig.feed("NM-2", at, at + STEP, FREQS["NM-2"])
                at += STEP
                await written(rig.recorder)
            await until(lambda: recorder.take is None, within=30)
            assert take.failure is not None and "disk is full" in take.failure
            assert any(e["type"] == "take_failed" for e in events)
            assert recorder.snapshot()["last_take"]["failure"] == take.failure
            for track in take.tracks.values():
                frames = check_valid(track.path)
                assert frames > RATE and track.sealed is not None
                samples = sf.read(track.path, dtype="int32")[0]
                np.testing.assert_array_equal(samples, signal(start, frames, FREQS[track.serial]))
                assert track.file_id is not None
                await uploaded(recorder.uploader, emulator, track.file_id, track.path)
            assert not (tmp_path / "state" / JOURNAL_FILE).exists()
        finally:
            await recorder.stop()
        await asyncio.sleep(0)
