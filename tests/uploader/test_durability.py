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
    await until(lambda: events.of("part_acked", file_id=file_id, part=2), within=30)
    asset_id = uploader.file(file_id)["asset_id"]
    # Parts 2, 3 and 4 would have been asked for together; only part 2 was (with part 1's
    # URL, which waits, unsent, for the header rewritten at stop).
    parts = emulator.asset(asset_id)["parts"]
    assert [p["number"] for p in parts] == [1, 2]
    assert [p["number"] for p in parts if p["stored"]] == [2]

    uploader.recording_grew(file_id, durable_size=3 * P + 1)  # now part 3 is durable too
    await until(lambda: events.of("part_acked", file_id=file_id, part=3), within=30)
    assert [p["number"] for p in emulator.asset(asset_id)["parts"] if p["stored"]] == [2, 3]

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


async def _record_then_power_cut(
    uploaders: UploaderFactory, path: Path, size: int, acked: set[int]
) -> tuple[int, str]:
    """Record ``size`` bytes, wait until ``acked`` parts are acknowledged, stop mid-take."""
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    await asyncio.to_thread(path.write_bytes, b"")
    file_id = await uploader.begin_recording(path, filetype="audio/wav", name=path.name)
    with path.open("ab") as fh:
        for _ in range(size // MiB):
            fh.write(os.urandom(MiB))
            fh.flush()
            uploader.recording_grew(file_id)
    await until(lambda: {e["part"] for e in events.of("part_acked")} >= acked, within=30)
    await until(lambda: uploader.snapshot()["parts_in_flight"] == 0)
    asset_id = uploader.file(file_id)["asset_id"]
    assert uploader.file(file_id)["state"] == "recording"
    await uploader.stop()  # the power cut: the take never ended
    return file_id, asset_id


def _rewrite_header(path: Path) -> None:
    """What a recovery does: a new header describing what survived."""
    with path.open("r+b") as fh:
        fh.write(b"RIFF" + os.urandom(40))


async def test_after_a_power_cut_a_take_shorter_than_its_acked_parts_goes_up_as_it_now_is(
    emulator: EmulatorHandle,
    uploaders: UploaderFactory,
    media: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = media / "take.wav"
    file_id, old_asset = await _record_then_power_cut(uploaders, path, 16 * MiB, {2, 3})
    os.truncate(path, 7 * MiB)  # the disk kept less than Frame.io acknowledged (15 MiB)
    _rewrite_header(path)

    again = uploaders()
    events = Recorder()
    again.on_event(events)
    with caplog.at_level("WARNING", logger="c2c_hub.uploader"):
        await again.start()
        async with asyncio.timeout(9):
            record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id is not None and record.asset_id != old_asset
    assert emulator.asset_content(record.asset_id) == path.read_bytes()  # byte-identical
    assert emulator.asset(record.asset_id)["complete"]
    # What it cost, said in the log, the events and the file's own record.
    (recovered,) = events.of("recovered", file_id=file_id)
    assert recovered["bytes_abandoned"] == 10 * MiB and recovered["bytes_resent"] == 7 * MiB
    assert recovered["abandoned_asset"] == old_asset
    assert "no longer fit" in recovered["reason"]
    info = again.file(file_id)["info"]
    assert info["recovered_mismatch"]["bytes_resent"] == 7 * MiB
    assert old_asset in info["abandoned_assets"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("7340032 bytes sent a second time" in w for w in warnings), warnings
    assert emulator.violations() == []


async def test_after_a_power_cut_acked_bytes_that_differ_on_disk_start_a_new_asset(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = media / "take.wav"
    file_id, old_asset = await _record_then_power_cut(uploaders, path, 16 * MiB, {2, 3})
    with path.open("r+b") as fh:  # same size, but part 2's bytes are not what was sent
        fh.seek(6 * MiB)
        fh.write(b"\0" * 4096)

    again = uploaders()
    events = Recorder()
    again.on_event(events)
    await again.start()
    async with asyncio.timeout(9):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id != old_asset
    assert emulator.asset_content(record.asset_id or "") == path.read_bytes()
    (recovered,) = events.of("recovered", file_id=file_id)
    assert "parts 2 changed" in recovered["reason"]


async def test_after_a_power_cut_that_spared_the_acked_parts_the_asset_is_kept(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = media / "take.wav"
    file_id, old_asset = await _record_then_power_cut(uploaders, path, 16 * MiB, {2, 3})
    os.truncate(path, 15 * MiB + 512 * 1024)  # cut back, but after the acknowledged parts
    _rewrite_header(path)  # part 1 was never sent: a new header costs nothing

    again = uploaders()
    events = Recorder()
    again.on_event(events)
    await again.start()
    async with asyncio.timeout(9):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id == old_asset
    assert emulator.asset_content(old_asset) == path.read_bytes()
    assert events.of("recovered") == []
    attempts = {p["number"]: p["attempts"] for p in emulator.asset(old_asset)["parts"]}
    assert attempts[2] == attempts[3] == 1  # acknowledged parts were not sent again
