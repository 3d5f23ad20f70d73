"""Pause windows, the pause gate, cancel, priorities, manual mode, parallel on/off."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState, FlagPause
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, fast_config, make_file, until


async def test_pause_windows_skip_media_captured_inside_and_resume_by_themselves(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders(config=fast_config(files_in_parallel=1))
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    emulator.pause()
    now = time.time()
    # Captured an hour ago, before the pause: Frame.io takes it even while paused.
    before = await uploader.enqueue(
        make_file(media, "before.wav", 1000), capture_time=now - 3600, priority=5
    )
    inside = await uploader.enqueue(make_file(media, "inside.wav", 1000), capture_time=now + 1)
    async with asyncio.timeout(9):
        await uploader.wait_for(before)
        skipped = await uploader.wait_for(inside)
    assert uploader.file(before)["state"] == "done"
    assert skipped.state is FileState.SKIPPED_PAUSED and "Channel Paused" in (skipped.reason or "")
    # The 409 was confirmed with /v2/devices/me: nothing new starts while paused.
    await until(lambda: uploader.paused)
    later = await uploader.enqueue(make_file(media, "later.wav", 1000), capture_time=now - 3600)
    await asyncio.sleep(0.5)
    assert uploader.file(later)["state"] == "queued"
    assert uploader.snapshot()["paused"] is True
    emulator.resume()
    async with asyncio.timeout(5):
        record = await uploader.wait_for(later)
    assert record.state is FileState.DONE
    assert uploader.file(inside)["state"] == "skipped_paused"  # never retried on its own
    assert [e["paused"] for e in events.of("paused")] == [True, False]


async def test_no_upload_starts_while_the_pause_source_says_paused(
    uploaders: UploaderFactory, media: Path
) -> None:
    pause = FlagPause(True)
    uploader = uploaders(pause=pause)
    await uploader.start()
    file_id = await uploader.enqueue(make_file(media, "a.wav", 1000))
    await asyncio.sleep(0.4)
    assert uploader.file(file_id)["state"] == "queued"
    assert uploader.snapshot()["paused_reason"] == "the device is paused in Frame.io"
    pause.set(False)  # RESUMED
    async with asyncio.timeout(5):
        assert (await uploader.wait_for(file_id)).state is FileState.DONE


async def test_a_plain_callable_works_as_a_pause_source(
    uploaders: UploaderFactory, media: Path
) -> None:
    flag = {"paused": True}
    uploader = uploaders(pause=lambda: flag["paused"])
    await uploader.start()
    file_id = await uploader.enqueue(make_file(media, "a.wav", 1000))
    await asyncio.sleep(0.3)
    assert uploader.file(file_id)["state"] == "queued"
    flag["paused"] = False
    async with asyncio.timeout(5):
        assert (await uploader.wait_for(file_id)).state is FileState.DONE


STALL_S = 20.0


async def test_cancel_during_a_part_aborts_it_and_the_others_go_on(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders(config=fast_config(files_in_parallel=1))
    await uploader.start()
    await uploader.set_mode("manual")
    slow = await uploader.enqueue(make_file(media, "slow.wav", 6 * MiB), priority=1)
    other = await uploader.enqueue(make_file(media, "other.wav", 2000))
    # the first PUT hangs after its body, far longer than the other file takes
    emulator.fault("part", kind="stall", seconds=STALL_S)
    await uploader.upload_now([slow, other])
    # The stall must be the slow file's: a PUT counts as in flight before it reaches the
    # emulator, and cancelled that early it left the stall to the other file's PUT (which a
    # loaded machine saw, as the other file taking the whole stall).
    fired = lambda: emulator.state()["faults"]["fired"]  # noqa: E731
    await until(lambda: bool(fired()), within=30)
    assert fired()[0]["asset_id"] == uploader.file(slow)["asset_id"]
    started = time.monotonic()
    assert await uploader.cancel(slow)
    async with asyncio.timeout(STALL_S - 5):
        done = await uploader.wait_for(other)
    assert time.monotonic() - started < STALL_S - 5  # did not wait for the stalled PUT
    assert done.state is FileState.DONE
    record = uploader.file(slow)
    assert record["state"] == "cancelled" and record["reason"] == "cancelled by the user"
    assert not emulator.asset(record["asset_id"])["complete"]
    assert not await uploader.cancel(slow)  # already over
    # and retry puts it back in the queue, to the same asset
    assert await uploader.retry(slow)
    async with asyncio.timeout(60):
        assert (await uploader.wait_for(slow)).state is FileState.DONE


async def test_priority_per_file_and_per_type_decides_the_order(
    uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    await uploader.set_parallel(False)
    await uploader.set_mode("manual")
    ids = {}
    for name in ("a.mov", "b.wav", "c.mov", "d.wav", "e.txt"):
        ids[name] = await uploader.enqueue(make_file(media, name, 1000))
    await uploader.set_type_priority("wav", 10)
    await uploader.set_priority(ids["e.txt"], 20)
    await uploader.set_priority(ids["c.mov"], 5)
    await uploader.set_mode("auto")
    async with asyncio.timeout(9):
        await uploader.wait_idle()
    order = [e["name"] for e in events.of("file", state="uploading")]
    assert order == ["e.txt", "b.wav", "d.wav", "c.mov", "a.mov"]


async def test_manual_mode_waits_for_a_start(uploaders: UploaderFactory, media: Path) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    first = await uploader.enqueue(make_file(media, "first.wav", 1000))
    chosen = await uploader.enqueue(make_file(media, "chosen.wav", 1000))
    await uploader.start_file(chosen)
    async with asyncio.timeout(5):
        assert (await uploader.wait_for(chosen)).state is FileState.DONE
    await asyncio.sleep(0.2)
    assert uploader.file(first)["state"] == "queued"
    assert uploader.snapshot()["mode"] == "manual"
    await uploader.set_mode("auto")
    async with asyncio.timeout(5):
        assert (await uploader.wait_for(first)).state is FileState.DONE


async def test_cancel_all_and_retry_failed(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    for i in range(3):
        await uploader.enqueue(make_file(media, f"f{i}.wav", 1000))
    assert await uploader.cancel_all() == 3
    assert uploader.snapshot()["counts"]["cancelled"] == 3
    # A 422 (unknown channel) fails a file with the reason; retry_failed puts it back.
    bad = await uploader.enqueue(make_file(media, "bad.wav", 1000), channel=7)
    await uploader.start_file(bad)
    async with asyncio.timeout(5):
        failed = await uploader.wait_for(bad)
    assert failed.state is FileState.FAILED and "422" in (failed.reason or "")
    assert await uploader.retry_failed() == 1
    assert uploader.file(bad)["state"] in ("queued", "uploading", "failed")


async def test_the_operators_pause_holds_new_uploads_and_survives_a_restart(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path, tmp_path: Path
) -> None:
    db = tmp_path / "held.sqlite3"
    uploader = uploaders(db=db)
    await uploader.start()
    await uploader.set_held(True)
    file_id = await uploader.enqueue(make_file(media, "held.wav", 1000))
    await asyncio.sleep(0.3)
    assert uploader.file(file_id)["state"] == FileState.QUEUED
    snap = uploader.snapshot()
    assert snap["paused"] is True and "operator" in snap["paused_reason"]
    await uploader.stop()

    again = uploaders(db=db)
    await again.start()
    await asyncio.sleep(0.3)
    assert again.file(file_id)["state"] == FileState.QUEUED  # still held after a restart
    await again.set_held(False)
    async with asyncio.timeout(10):
        await again.wait_idle()
    assert again.file(file_id)["state"] == FileState.DONE
