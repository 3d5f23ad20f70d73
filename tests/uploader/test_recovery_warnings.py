"""A recovery is logged as a warning that says what it cost: an expired part URL renewed (a
real-time file), an asset re-created for expired URLs (a basic file, its sent parts abandoned)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from tests.uploader.conftest import MiB, UploaderFactory, fast_config, make_file, sha256_of


async def test_a_recreated_asset_is_a_warning_with_what_it_cost(
    emulator: EmulatorHandle,
    uploaders: UploaderFactory,
    media: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = make_file(media, "clip.mov", 15 * MiB)
    uploader = uploaders(config=fast_config(max_in_flight=1, basic_part_size=5 * MiB))
    # Part 1 goes up; part 2's URL has expired by the time it is sent (S3's own answer).
    emulator.fault("part", code="AccessDenied", part_number=2)
    await uploader.start()
    file_id = await uploader.enqueue(path)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)
    (old,) = record.info["abandoned_assets"]
    (warning,) = [
        r for r in caplog.records if r.levelno == logging.WARNING and "abandoned" in r.message
    ]
    assert f"asset {old} abandoned" in warning.message
    assert f"1 of 3 parts, {5 * MiB} bytes, already sent go up again" in warning.message
    assert "re-creation 1 of at most 3" in warning.message


async def test_a_renewed_part_url_is_a_warning_with_what_it_cost(
    emulator: EmulatorHandle,
    uploaders: UploaderFactory,
    media: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uploader = uploaders()
    await uploader.start()
    path = media / "take.wav"
    path.write_bytes(b"\1" * (6 * MiB))
    emulator.fault("part", code="AccessDenied", part_number=1)
    file_id = await uploader.begin_recording(path, filetype="audio/wav")
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE
    assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)
    (warning,) = [
        r for r in caplog.records if r.levelno == logging.WARNING and "fresh one" in r.message
    ]
    assert "part 1's upload URL expired" in warning.message
    assert "one extra request" in warning.message and "nothing re-created" in warning.message
