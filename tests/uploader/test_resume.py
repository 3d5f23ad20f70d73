"""Restarts: the queue resumes from the last acknowledged part and never re-sends one."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState, UploadQueue
from c2c_hub.uploader.queue import NewPart, PartState
from tests.uploader.conftest import (
    MiB,
    Recorder,
    UploaderFactory,
    fast_config,
    make_file,
    sha256_of,
    until,
)


async def test_a_restart_mid_file_resumes_without_resending_acked_parts(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path, tmp_path: Path
) -> None:
    path = make_file(media, "long.wav", 15 * MiB)
    config = fast_config(max_in_flight=1, basic_part_size=5 * MiB)
    first = uploaders(config=config)
    events = Recorder()
    first.on_event(events)
    emulator.fault("part", kind="stall", seconds=2.0, part_number=3)
    await first.start()
    file_id = await first.enqueue(path)
    await until(
        lambda: len(events.of("part_acked")) >= 2 and first.snapshot()["parts_in_flight"] > 0
    )
    asset_id = first.file(file_id)["asset_id"]
    # part 3's body has reached the emulator, which holds its answer (the stall)
    await until(lambda: emulator.asset(asset_id)["parts"][2]["attempts"] == 1)
    await first.stop()  # mid-part 3: as a power cut would, minus the kill

    second = uploaders(config=config)
    await second.start()
    assert second.file(file_id)["state"] in ("queued", "uploading")
    async with asyncio.timeout(9):
        record = await second.wait_for(file_id)
    assert record.state is FileState.DONE
    assert record.asset_id == asset_id
    asset = emulator.asset(record.asset_id or "")
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    attempts = [p["attempts"] for p in asset["parts"]]
    assert attempts[:2] == [1, 1]  # acknowledged parts were never sent again
    assert attempts[2] == 2
    assert len(emulator.assets()) == 1  # the asset was not created twice
    parts = await second.parts(file_id)
    assert [p["state"] for p in parts] == ["acked"] * 3


async def test_recovery_returns_in_flight_work_and_reports_lost_creates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = UploadQueue(tmp_path / "q.sqlite3")
    await queue.open(1000.0)
    record = await queue.add(
        path="/m/a.wav",
        name="a.wav",
        filetype="audio/wav",
        channel=0,
        size=20,
        mtime_ns=1,
        inode=1,
        capture_time=900.0,
        now=1000.0,
    )
    other = await queue.add(
        path="/m/b.wav",
        name="b.wav",
        filetype="audio/wav",
        channel=0,
        size=20,
        mtime_ns=1,
        inode=2,
        capture_time=900.0,
        now=1000.0,
    )
    claimed = await queue.claim(1001.0, manual=False)
    assert claimed is not None and claimed.id == record.id
    await queue.asset_created(
        record.id,
        "asset-1",
        [NewPart(1, 0, 10, "https://x/1"), NewPart(2, 10, 10, "https://x/2")],
        1002.0,
    )
    await queue.part_sending(record.id, 1)
    await queue.part_acked(record.id, 1, 1003.0)
    await queue.part_sending(record.id, 2)
    await queue.claim(1004.0, manual=False)
    await queue.begin_create(other.id, 1005.0)
    # a kill -9 here: nothing more is written
    await queue.close()

    again = UploadQueue(tmp_path / "q.sqlite3")
    await again.open(2000.0)
    assert again.recovered == {"files_requeued": 2, "parts_returned": 1, "lost_creates": 1}
    assert again.files[record.id].state is FileState.QUEUED
    assert again.files[record.id].bytes_acked == 10
    assert [p.state for p in await again.parts(record.id)] == [PartState.ACKED, PartState.PENDING]
    assert again.files[other.id].info["lost_creates"] == 1
    # Frame.io may now hold an asset the hub cannot look up (devices do not read): the operator
    # is told which file, and when its create was sent, in the status and in the log.
    assert again.possible_duplicates() == [
        {
            "id": other.id,
            "name": "b.wav",
            "at": 1005.0,
            "why": "stopped before the answer was stored",
        }
    ]
    assert any(
        "b.wav" in r.getMessage() and "duplicate" in r.getMessage() and r.levelname == "WARNING"
        for r in caplog.records
    )
    assert again.files[record.id].capture_time == 900.0  # offset stays true after a restart
    await again.close()


async def test_a_stop_whose_give_back_fails_still_closes_the_queue(
    emulator: EmulatorHandle, uploaders: UploaderFactory
) -> None:
    """Another writer holds the queue's database past the busy timeout as the uploader stops:
    the give-back fails (the next open's recovery does it instead), and the stop says so, but
    the queue is closed all the same: its connection's thread is not a daemon, and one left
    running keeps the process from ending."""
    uploader = uploaders()
    await uploader.start()
    worker = uploader.queue.db._thread  # aiosqlite's own (pinned in constraints.txt)
    with closing(sqlite3.connect(uploader.queue.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await uploader.stop()
        other.execute("ROLLBACK")
    assert not uploader.queue.is_open
    worker.join(timeout=10)
    assert not worker.is_alive(), "the queue's connection thread is still running"
