"""The tail of a real-time take (issue 20): what a stop leaves to send is kept small.

While the link is idle, the last part sent is sent again, longer, once ``realtime_tail_bytes``
(2.5 MiB) wait after it; so a stop leaves part 1 (the header, rewritten at stop) and only
the bytes since. When the next part is due, the longer part goes back to 5 MiB. Whatever
layout Frame.io is left with is the file on disk, byte for byte, after a stop or a power cut.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState, Uploader
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, until

P = 5 * MiB  # the real-time part size
LONGER = 8 * MiB - 1  # part 2 sent again at 13 MiB recorded: up to the last byte but one


def _parts(emulator: EmulatorHandle, asset_id: str) -> dict[int, dict[str, Any]]:
    return {p["number"]: p for p in emulator.asset(asset_id)["parts"]}


async def _grow(uploader: Uploader, file_id: int, path: Path, upto: int) -> None:
    """Append random bytes in 1 MiB steps until the file holds ``upto`` bytes."""
    with path.open("ab") as fh:
        while fh.tell() < upto:
            fh.write(os.urandom(min(MiB, upto - fh.tell())))
            fh.flush()
            uploader.recording_grew(file_id)
            await asyncio.sleep(0)


def _rewrite_header(path: Path) -> None:
    """What a recorder does at stop (or its recovery after a power cut)."""
    with path.open("r+b") as fh:
        fh.write(b"RIFF" + os.urandom(40))


async def _record_13_mib(
    emulator: EmulatorHandle, uploader: Uploader, path: Path
) -> tuple[int, str]:
    """13 MiB recorded: part 2 (5..10 MiB) sent, then sent again, longer (5..13 MiB - 1)."""
    await uploader.start()
    await asyncio.to_thread(path.write_bytes, b"RIFF" + bytes(40))
    file_id = await uploader.begin_recording(path, filetype="audio/wav", name="take.wav")
    await _grow(uploader, file_id, path, 13 * MiB)
    await until(lambda: uploader.file(file_id)["asset_id"] is not None, within=9)
    asset_id = uploader.file(file_id)["asset_id"]
    longer = lambda: _parts(emulator, asset_id).get(2, {}).get("stored_size") == LONGER  # noqa: E731
    await until(longer, within=9)
    await until(lambda: uploader.snapshot()["parts_in_flight"] == 0)
    return file_id, asset_id


async def test_a_stop_leaves_the_header_part_and_only_the_bytes_since_the_longer_part(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    path = media / "take.wav"
    file_id, asset_id = await _record_13_mib(emulator, uploader, path)
    await _grow(uploader, file_id, path, 13 * MiB + MiB // 2)
    _rewrite_header(path)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    parts = _parts(emulator, asset_id)
    assert sorted(parts) == [1, 2, 3]
    assert parts[1]["stored_size"] == P and parts[1]["attempts"] == 1  # sent once, at stop
    assert parts[2]["stored_size"] == LONGER
    # The final part: half a MiB and a byte, not the 3.5 MiB after part 2's first 5 MiB.
    assert parts[3]["is_final"] and parts[3]["stored_size"] == MiB // 2 + 1
    assert emulator.asset_content(asset_id) == path.read_bytes()  # byte-identical
    assert emulator.violations() == []


async def test_a_part_sent_longer_goes_back_to_5_mib_when_the_next_part_is_due(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    path = media / "take.wav"
    file_id, asset_id = await _record_13_mib(emulator, uploader, path)
    await _grow(uploader, file_id, path, 16 * MiB)  # part 3 (10..15 MiB) is due
    await until(lambda: events.of("part_acked", file_id=file_id, part=3), within=9)
    await until(lambda: uploader.snapshot()["parts_in_flight"] == 0)
    assert _parts(emulator, asset_id)[2]["stored_size"] == P  # back to its place
    _rewrite_header(path)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(9):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    parts = _parts(emulator, asset_id)
    assert [parts[n]["stored_size"] for n in sorted(parts)] == [P, P, P, MiB]
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert record.bytes_acked == path.stat().st_size  # each byte counted once
    assert emulator.violations() == []


async def test_after_a_power_cut_the_longer_part_is_kept_and_the_take_goes_on(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    first = uploaders()
    path = media / "take.wav"
    file_id, asset_id = await _record_13_mib(emulator, first, path)
    await first.stop()  # the power cut: the take never ended
    with path.open("ab") as fh:  # what the recorder had written besides
        fh.write(os.urandom(100_000))
    _rewrite_header(path)  # its recovery
    again = uploaders()
    events = Recorder()
    again.on_event(events)
    await again.start()
    async with asyncio.timeout(9):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id == asset_id and events.of("recovered") == []  # nothing abandoned
    parts = _parts(emulator, asset_id)
    assert parts[2]["stored_size"] == LONGER and parts[2]["attempts"] == 2  # not sent again
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert emulator.violations() == []
