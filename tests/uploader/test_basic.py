"""Finished files, end to end against the emulator: bytes, offset, channel, events, snapshot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, make_file, sha256_of


async def test_files_arrive_byte_identical_with_true_offset_and_channel(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    big = make_file(media, "take1.wav", 21 * MiB + 123)  # 4 parts: one per stream
    small = make_file(media, "note.txt", 1000)
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    captured = time.time() - 3600
    big_id = await uploader.enqueue(big, capture_time=captured)
    small_id = await uploader.enqueue(small)
    async with asyncio.timeout(10):
        await uploader.wait_idle()

    for file_id, path in ((big_id, big), (small_id, small)):
        record = uploader.file(file_id)
        assert record["state"] == FileState.DONE, record
        asset = emulator.asset(record["asset_id"])
        assert asset["complete"] and asset["sha256"] == sha256_of(path)
        assert asset["channel"] == 0
    asset = emulator.asset(uploader.file(big_id)["asset_id"])
    assert asset["filetype"] == "audio/wav"  # the one table, as a take's tracks
    assert 3599 <= asset["offset"] <= 3602  # seconds since the persisted capture time
    assert len(asset["parts"]) == 4 and all(p["attempts"] == 1 for p in asset["parts"])
    assert emulator.violations() == []
    acked = events.of("part_acked", file_id=big_id)
    assert [e["bytes_acked"] for e in acked][-1] == 21 * MiB + 123
    snap = uploader.snapshot()
    assert snap["counts"]["done"] == 2 and snap["files_remaining"] == 0
    assert snap["bytes_remaining"] == 0 and snap["bytes_sent"] >= 21 * MiB


async def test_enqueue_is_idempotent_for_the_same_file(
    uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "a.wav", 100)
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    first = await uploader.enqueue(path)
    assert await uploader.enqueue(path) == first
    assert len(uploader.files()) == 1
