"""Real-time uploads of a growing WAV: parts go up while recording, part 1 (the header) last."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.session import Session
from c2c_hub.uploader import FileState, Uploader
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, fast_config, sha256_of, until

CHANNELS = 8
FRAME_BYTES = CHANNELS * 3  # PCM_24


async def _record(
    uploader: Uploader, path: Path, total: int, *, step: int = MiB, between: object = None
) -> int:
    """Write a 48 kHz 8-track PCM_24 WAV in steps, telling the uploader as it grows."""
    rng = np.random.default_rng(1)
    frames_per_step = step // FRAME_BYTES
    with sf.SoundFile(path, "w", samplerate=48000, channels=CHANNELS, subtype="PCM_24") as wav:
        file_id = await uploader.begin_recording(path, capture_time=time.time())
        written = 0
        while written < total:
            block = rng.uniform(-0.5, 0.5, size=(frames_per_step, CHANNELS))
            await asyncio.to_thread(wav.write, block)
            await asyncio.to_thread(wav.flush)
            written += frames_per_step * FRAME_BYTES
            uploader.recording_grew(file_id)
            if callable(between):
                await between(written)
            await asyncio.sleep(0.01)
    return file_id


async def test_a_growing_wav_arrives_byte_identical_with_its_rewritten_header(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "take.wav"
    file_id = await _record(uploader, path, 18 * MiB)
    acked_while_recording = {e["part"] for e in events.of("part_acked", file_id=file_id)}
    assert acked_while_recording and 1 not in acked_while_recording  # the header waits
    stopped = time.monotonic()
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    gap = time.monotonic() - stopped
    assert record.state is FileState.DONE, record
    asset = emulator.asset(record.asset_id or "")
    assert asset["realtime"] and asset["complete"]
    assert asset["sha256"] == sha256_of(path)  # header rewritten at close, and still identical
    assert len(asset["parts"]) >= 3 and asset["parts"][-1]["is_final"]
    assert all(p["attempts"] == 1 for p in asset["parts"])  # part 1 sent once, at the end
    assert asset["filesize"] == path.stat().st_size
    assert emulator.violations() == []
    assert gap < 3.0
    with sf.SoundFile(path) as wav:  # an independent reader agrees the file is whole
        assert wav.frames * FRAME_BYTES > 17 * MiB


async def test_at_stop_the_header_part_goes_without_waiting_for_a_part_url(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """Issue 20, the tail of a take: part 1 (the header, rewritten at stop) had its URL asked
    for while the take recorded, so at stop it is sent at once; only the final part's URL is
    asked for then. Proved with that request failing: part 1 is stored meanwhile, once."""
    uploader = uploaders()
    await uploader.start()
    path = media / "take.wav"
    file_id = await _record(uploader, path, 18 * MiB)
    asset_id = uploader.file(file_id)["asset_id"]
    header = next(p for p in emulator.asset(asset_id)["parts"] if p["number"] == 1)
    assert not header["stored"] and not header["is_final"]  # its URL is at hand, unused
    emulator.fault(
        "api", status=503, count=10_000, path_prefix=f"/v2/devices/assets/{asset_id}/realtime"
    )
    await uploader.end_recording(file_id)
    stored = lambda: {p["number"] for p in emulator.asset(asset_id)["parts"] if p["stored"]}  # noqa: E731
    await until(lambda: 1 in stored(), within=30)
    final = -(-path.stat().st_size // (5 * MiB))  # the final part: its URL still refused
    assert final not in {p["number"] for p in emulator.asset(asset_id)["parts"]}
    assert uploader.file(file_id)["state"] == "uploading"
    emulator.clear_faults()
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    asset = emulator.asset(asset_id)
    assert asset["sha256"] == sha256_of(path)  # the header as rewritten at stop
    assert [p["attempts"] for p in asset["parts"]] == [1] * len(asset["parts"])  # once each
    assert emulator.violations() == []


async def test_the_stop_wakes_the_upload_no_timer_does(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """The tail starts when the recorder says the take stopped: with the size poll set to an
    hour, the recording's parts go up as the recorder reports growth, and the stop alone
    sends part 1 and the final part."""
    uploader = uploaders(config=fast_config(realtime_poll_s=3600.0))
    await uploader.start()
    path = media / "take.wav"
    file_id = await _record(uploader, path, 12 * MiB)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)


async def test_a_token_expiring_mid_recording_is_refreshed_on_401(
    emulator: EmulatorHandle, session: Session, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    before = session.refreshes
    expired = False

    async def expire(written: int) -> None:
        nonlocal expired
        if written > 8 * MiB and not expired:
            expired = True
            await asyncio.to_thread(emulator.advance, 8 * 3600 + 1)

    path = media / "long.wav"
    file_id = await _record(uploader, path, 18 * MiB, between=expire)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE
    assert session.refreshes == before + 1
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)


async def test_bytes_changed_after_they_were_sent_make_the_file_corrupt(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "take.raw"
    path.write_bytes(b"")
    file_id = await uploader.begin_recording(path, filetype="audio/wav", name="take.wav")
    with path.open("ab") as fh:
        for _ in range(16):
            fh.write(os.urandom(MiB))
            fh.flush()
            uploader.recording_grew(file_id)
            await asyncio.sleep(0.02)
    await until(lambda: events.of("part_acked", file_id=file_id, part=2))
    with path.open("r+b") as fh:  # someone rewrites bytes of part 2 (not the header)
        fh.seek(6 * MiB)
        fh.write(b"\0" * 100)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.CORRUPT
    assert "parts 2" in (record.reason or "") and "changed" in (record.reason or "")


async def test_a_recording_that_shrinks_is_corrupt(uploaders: UploaderFactory, media: Path) -> None:
    uploader = uploaders(config=fast_config())
    await uploader.start()
    path = media / "take.wav"
    path.write_bytes(os.urandom(3 * MiB))
    file_id = await uploader.begin_recording(path)
    await asyncio.sleep(0.2)
    os.truncate(path, MiB)
    uploader.recording_grew(file_id)
    async with asyncio.timeout(5):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.CORRUPT and "shrank" in (record.reason or "")


async def test_manual_mode_uploads_a_recording_once_it_is_started(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    path = media / "take.wav"
    path.write_bytes(os.urandom(2 * MiB))
    file_id = await uploader.begin_recording(path)
    with path.open("ab") as fh:
        fh.write(os.urandom(MiB))
    await uploader.end_recording(file_id)
    assert uploader.file(file_id)["state"] == "queued"
    await uploader.start_file(file_id)
    async with asyncio.timeout(5):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)


async def test_killed_after_its_last_part_was_acknowledged_a_recording_still_ends_done(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path, tmp_path: Path
) -> None:
    """Found by the whole-hub chaos run: a kill after every part of a real-time file was
    acknowledged, before the file was marked done. After the restart there was nothing left to
    send, so the check of the parts sent earlier was cancelled before it had read them, and its
    CancelledError ended the upload silently: the file stayed ``uploading`` for ever."""
    import contextlib
    import sqlite3

    db = tmp_path / "queue.sqlite3"
    first = uploaders(db=db)
    await first.start()
    path = media / "take.wav"
    file_id = await _record(first, path, 18 * MiB)
    await first.end_recording(file_id)
    async with asyncio.timeout(30):
        assert (await first.wait_for(file_id)).state is FileState.DONE
    await first.stop()
    # What the kill left: every part acknowledged, the file not yet marked done.
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "UPDATE files SET state = 'uploading', finished_at = NULL WHERE id = ?", (file_id,)
        )
    attempts = [p["attempts"] for p in emulator.assets()[0]["parts"]]

    again = uploaders(db=db)
    await again.start()
    async with asyncio.timeout(30):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    (asset,) = emulator.assets()
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    assert [p["attempts"] for p in asset["parts"]] == attempts  # nothing sent again
    assert emulator.violations() == []


@pytest.mark.parametrize("retry_during_take", [False, True])
async def test_a_file_cancelled_while_recording_then_retried_has_its_size(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path, retry_during_take: bool
) -> None:
    """Issue 21: a take's file cancelled while it recorded, then retried, showed "size
    unknown" (its size was never taken: the end of the take skipped a file no longer
    recording); it has its size once the take ends, and the retry uploads all of it. Retried
    while the take still records it, it records on, and goes up whole when the take ends."""
    uploader = uploaders()
    await uploader.start()
    path = media / "take.wav"
    ids: list[int] = []
    real_begin = uploader.begin_recording

    async def begin(*args: object, **kwargs: object) -> int:
        ids.append(await real_begin(*args, **kwargs))  # type: ignore[arg-type]
        return ids[-1]

    async def cancel(written: int) -> None:
        if written >= 2 * MiB and len(ids) == 1:
            assert await uploader.cancel(ids[0])
            ids.append(-1)
            if retry_during_take:
                assert await uploader.retry(ids[0])
                shown = next(f for f in uploader.files() if f["id"] == ids[0])
                assert shown["state"] == "recording", shown

    uploader.begin_recording = begin  # type: ignore[method-assign]
    file_id = await _record(uploader, path, 4 * MiB, between=cancel)
    assert ids == [file_id, -1], "cancelled while recording"
    await uploader.end_recording(file_id)
    shown = next(f for f in uploader.files() if f["id"] == file_id)
    assert shown["size"] == path.stat().st_size, shown
    if not retry_during_take:
        assert shown["state"] == "cancelled", shown
        assert await uploader.retry(file_id)
    shown = next(f for f in uploader.files() if f["id"] == file_id)
    assert shown["size"] == path.stat().st_size, shown
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)


async def _append(uploader: Uploader, path: Path, file_id: int, mib: int) -> None:
    with path.open("ab") as fh:
        for _ in range(mib):
            fh.write(os.urandom(MiB))
            fh.flush()
            uploader.recording_grew(file_id)
            await asyncio.sleep(0.02)


async def test_an_append_only_recording_sends_part_1_while_it_grows(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """A producer that never changes a written byte (the recorder's MP3 proxies): part 1 goes
    up while it grows, once, and at the end only the tail is left to send. (With the tail
    bound off: with it, the last part sent is sent again as the file grows; see below.)"""
    uploader = uploaders(config=fast_config(realtime_tail_limit=0))
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "proxy.mp3"
    path.write_bytes(b"")
    file_id = await uploader.begin_recording(path, filetype="audio/mpeg", append_only=True)
    await _append(uploader, path, file_id, 11)
    await until(lambda: {1, 2} <= {e["part"] for e in events.of("part_acked", file_id=file_id)})
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    asset = emulator.asset(record.asset_id or "")
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    assert [p["attempts"] for p in asset["parts"]] == [1, 1, 1]  # nothing sent twice
    assert emulator.violations() == []


async def test_an_append_only_recording_whose_part_1_changes_after_it_was_sent_is_corrupt(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """Its part 1 is held to what was sent, like every other part: Frame.io's copy would
    differ from the file, and the file says so rather than ending done."""
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "proxy.mp3"
    path.write_bytes(b"")
    file_id = await uploader.begin_recording(path, filetype="audio/mpeg", append_only=True)
    await _append(uploader, path, file_id, 6)
    await until(lambda: events.of("part_acked", file_id=file_id, part=1))
    with path.open("r+b") as fh:
        fh.write(b"\0" * 100)  # a header rewritten at close, which it said it would never do
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.CORRUPT
    assert "parts 1" in (record.reason or "") and "changed" in (record.reason or "")
