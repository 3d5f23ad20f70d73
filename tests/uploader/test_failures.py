"""Every failure class the policy knows, injected by the emulator: retried, renewed or reported."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.session import Session
from c2c_hub.uploader import FileState
from tests.uploader.conftest import (
    MiB,
    Recorder,
    UploaderFactory,
    fast_config,
    make_file,
    sha256_of,
    until,
)


async def _upload_one(uploaders: UploaderFactory, path: Path, **config: object) -> Recorder:
    uploader = uploaders(config=fast_config(**config))
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    file_id = await uploader.enqueue(path)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    events.events.append({"type": "record", "asset_id": record.asset_id, "id": file_id})
    return events


def _asset_id(events: Recorder) -> str:
    return str(events.of("record")[0]["asset_id"])


@pytest.mark.parametrize(
    "code", ["SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable"]
)
async def test_s3_non_fatal_errors_are_retried_until_the_part_is_stored(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path, code: str
) -> None:
    path = make_file(media, "clip.mov", 6 * MiB)
    emulator.fault("part", code=code, count=2, part_number=1)
    events = await _upload_one(uploaders, path)
    asset = emulator.asset(_asset_id(events))
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    assert asset["parts"][0]["attempts"] == 3  # two refusals, then stored
    retries = events.of("retry")
    assert len(retries) == 2 and all(code in r["reason"] for r in retries)


async def test_a_connection_reset_mid_body_is_retried(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "clip.mov", 6 * MiB)
    emulator.fault("part", kind="reset", part_number=1)
    events = await _upload_one(uploaders, path)
    asset = emulator.asset(_asset_id(events))
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    assert asset["parts"][0]["attempts"] == 2
    assert "network error" in events.of("retry")[0]["reason"]


async def test_a_stall_beyond_the_client_timeout_is_retried(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "clip.mov", 6 * MiB)
    emulator.fault("part", kind="stall", seconds=20.0, part_number=1)
    started = time.monotonic()
    events = await _upload_one(uploaders, path, part_timeout_s=0.5)
    assert time.monotonic() - started < 15.0  # did not wait the 20 s stall out
    assert "timed out" in events.of("retry")[0]["reason"]
    asset = emulator.asset(_asset_id(events))
    assert asset["complete"] and asset["sha256"] == sha256_of(path)


async def test_429_on_asset_create_backs_off_at_least_a_second(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "clip.mov", 1000)
    emulator.fault("api", status=429, count=1, path_prefix="/v2/devices/assets")
    events = await _upload_one(uploaders, path)
    (retry,) = events.of("retry")
    assert "rate limited" in retry["reason"] and retry["delay"] >= 1.0
    assert emulator.asset(_asset_id(events))["complete"]


async def test_asset_creates_are_paced_under_five_per_second(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders(config=fast_config(files_in_parallel=4))
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    for i in range(8):
        await uploader.enqueue(make_file(media, f"n{i}.txt", 100 + i))
    async with asyncio.timeout(9):
        await uploader.wait_idle()
    assert uploader.snapshot()["counts"]["done"] == 8
    assert events.of("retry") == []  # the emulator never answered 429


async def test_an_expired_token_mid_session_is_refreshed_on_401(
    emulator: EmulatorHandle, session: Session, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "clip.mov", 6 * MiB)
    emulator.advance(8 * 3600 + 1)  # the access token died; the session's clock does not know
    before = session.refreshes
    events = await _upload_one(uploaders, path)
    assert session.refreshes == before + 1
    assert emulator.asset(_asset_id(events))["complete"]


async def test_expired_upload_urls_recreate_a_basic_asset(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "clip.mov", 15 * MiB)
    uploader = uploaders(config=fast_config(max_in_flight=1, basic_part_size=5 * MiB))
    events = Recorder()
    uploader.on_event(events)
    # Part 2's answer is held for a second: meanwhile 24 h pass, so part 3's URL has expired.
    emulator.fault("part", kind="stall", seconds=1.0, part_number=2)
    await uploader.start()
    file_id = await uploader.enqueue(path)
    async with asyncio.timeout(9):
        await until(lambda: events.of("part_acked", part=1))
        await asyncio.to_thread(emulator.advance, 24 * 3600 + 1)
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.info["recreated_for_expiry"] == 1
    (old_id,) = record.info["abandoned_assets"]
    assert not emulator.asset(old_id)["complete"]
    asset = emulator.asset(record.asset_id or "")
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    assert [e["recreated"] for e in events.of("asset")] == [False, True]


async def test_a_corrupt_file_between_good_ones_does_not_block_them(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    good1 = make_file(media, "good1.wav", 2000)
    truncated = make_file(media, "truncated.wav", 6 * MiB)
    gone = make_file(media, "gone.wav", 3000)
    touched = make_file(media, "touched.wav", 4000)
    good2 = make_file(media, "good2.wav", 5000)
    uploader = uploaders(config=fast_config(files_in_parallel=1))
    await uploader.start()
    await uploader.set_mode("manual")
    ids = {p.name: await uploader.enqueue(p) for p in (good1, truncated, gone, touched, good2)}
    os.truncate(truncated, 5 * MiB)
    gone.unlink()
    os.utime(touched, (time.time() + 5, time.time() + 5))
    await uploader.set_mode("auto")
    async with asyncio.timeout(9):
        await uploader.wait_idle()
    states = {name: uploader.file(i) for name, i in ids.items()}
    assert states["good1.wav"]["state"] == states["good2.wav"]["state"] == "done"
    assert states["truncated.wav"]["state"] == "corrupt"
    assert "size changed from 6291456 to 5242880" in states["truncated.wav"]["reason"]
    assert states["gone.wav"]["state"] == "corrupt"
    assert "cannot be read" in states["gone.wav"]["reason"]
    assert states["touched.wav"]["state"] == "corrupt"
    assert "modified" in states["touched.wav"]["reason"]
    assert uploader.snapshot()["counts"]["corrupt"] == 3


async def test_a_file_truncated_while_its_part_is_read_is_corrupt_not_acked(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "shrinks.wav", 12 * MiB)
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    file_id = await uploader.enqueue(path)
    # Same size and mtime as queued, different bytes count: simulate a read error by truncating
    # and restoring the mtime (the size check then catches it).
    st = path.stat()
    os.truncate(path, 3 * MiB)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    await uploader.start_file(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.CORRUPT and "size changed" in (record.reason or "")
