"""Media durability on the uploader's side: parts only from durable bytes, and what a power cut
leaves behind (a file shorter than, or different from, what was acknowledged) uploaded as it is.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, until

P = 5 * MiB  # the real-time part size


async def test_a_growing_file_sends_no_byte_at_or_beyond_the_durable_size(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "take.raw"
    path.write_bytes(b"")
    file_id = await uploader.begin_recording(path, filetype="audio/wav", name="take.wav")
    uploader.recording_grew(file_id, durable_size=0)  # nothing is durable yet
    with path.open("ab") as fh:  # 21 MiB written: by size alone parts 2, 3 and 4 could go
        fh.write(os.urandom(21 * MiB))
    durable = 2 * P + MiB  # part 2 (bytes 5..10 MiB) is durable, part 3 is not
    uploader.recording_grew(file_id, durable_size=durable)
    await until(lambda: events.of("part_acked", file_id=file_id, part=2), within=9)
    asset_id = uploader.file(file_id)["asset_id"]
    # Parts 2, 3 and 4 would have been asked for together; only part 2 was.
    assert [p["number"] for p in emulator.asset(asset_id)["parts"]] == [2]

    uploader.recording_grew(file_id, durable_size=3 * P + 1)  # now part 3 is durable too
    await until(lambda: events.of("part_acked", file_id=file_id, part=3), within=9)
    assert [p["number"] for p in emulator.asset(asset_id)["parts"]] == [2, 3]

    await uploader.end_recording(file_id)  # complete and whole: everything goes
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert emulator.violations() == []


async def test_a_negative_durable_size_is_refused_with_a_clear_error(
    uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    path = media / "take.wav"
    path.write_bytes(b"RIFF")
    file_id = await uploader.begin_recording(path)
    with pytest.raises(ValueError, match="durable_size must not be negative"):
        uploader.recording_grew(file_id, durable_size=-1)
    assert uploader.file(file_id)["state"] == "recording"  # the recording goes on
