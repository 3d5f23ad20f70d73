"""The unsent tail of an append-only growing file (the MP3 proxies) is bounded while it records.

Past ``realtime_tail_limit`` unsent bytes, the last part sent is sent again, grown to the durable
end; at the stop only the last bytes (at most the limit) are left. The producer's durable size
says what the uploader may see, so each step below is exact: the file is written whole at once,
and made visible a step at a time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState, Uploader
from c2c_hub.uploader.queue import PartRecord, PartState
from c2c_hub.uploader.verify import realtime_plan
from tests.uploader.conftest import MiB, Recorder, UploaderFactory, fast_config, until

P = 5 * MiB  # the real-time part size
LIMIT = 2 * MiB  # the default realtime_tail_limit


def _acks(events: Recorder, file_id: int) -> list[tuple[int, int]]:
    return [(e["part"], e["part_size"]) for e in events.of("part_acked", file_id=file_id)]


async def _show(
    uploader: Uploader, events: Recorder, file_id: int, durable: int, ack: tuple[int, int]
) -> None:
    """Make ``durable`` bytes visible; wait until part ``ack`` = (number, size) is acked."""
    uploader.recording_grew(file_id, durable_size=durable)
    await until(lambda: ack in _acks(events, file_id), within=20)


async def _proxy(uploader: Uploader, path: Path, total: int) -> tuple[int, Recorder]:
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    await asyncio.to_thread(path.write_bytes, b"")
    file_id = await uploader.begin_recording(path, filetype="audio/mpeg", append_only=True)
    uploader.recording_grew(file_id, durable_size=0)  # nothing visible until told
    await asyncio.to_thread(path.write_bytes, os.urandom(total))
    return file_id, events


async def test_an_append_only_recording_leaves_at_most_the_limit_for_the_stop(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    path = media / "proxy.mp3"
    total = 12 * MiB
    file_id, events = await _proxy(uploader, path, total)
    # 6 MiB: part 1 (5 MiB) goes as for any real-time file; 1 MiB (< the limit) waits.
    await _show(uploader, events, file_id, 6 * MiB, (1, P))
    # 8 MiB: 3 MiB past part 1 (> the limit): part 1 is sent again, grown to the durable end
    # (one byte short of it: the final part is never empty).
    await _show(uploader, events, file_id, 8 * MiB, (1, 8 * MiB - 1))
    # 11 MiB: part 1 would grow to 2 parts' size; it goes back to 5 MiB, part 2 takes the rest.
    await _show(uploader, events, file_id, 11 * MiB, (2, 6 * MiB - 1))
    await until(lambda: (1, P) in _acks(events, file_id)[2:])
    assert uploader.file(file_id)["state"] == "recording"
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record

    parts = await uploader.parts(file_id)
    final = parts[-1]
    assert final["is_final"] and final["number"] == 3
    assert final["size"] == total - (11 * MiB - 1) <= LIMIT  # what was left at the stop
    assert [(p["offset"], p["size"]) for p in parts] == [
        (0, P),
        (P, 6 * MiB - 1),
        (11 * MiB - 1, MiB + 1),
    ]
    asset = emulator.asset(record.asset_id or "")
    assert asset["complete"]
    assert emulator.asset_content(record.asset_id or "") == path.read_bytes()  # the re-sends won
    assert [p["attempts"] for p in asset["parts"]] == [3, 1, 1]
    assert [p["stored_size"] for p in asset["parts"]] == [P, 6 * MiB - 1, MiB + 1]
    info = uploader.file(file_id)["info"]
    assert info["tail_resends"] == 2
    assert info["tail_resent_bytes"] == P + (8 * MiB - 1)  # each re-send's earlier size
    assert record.bytes_acked == total
    assert emulator.violations() == []


async def test_with_the_limit_off_an_append_only_recording_sends_each_part_once(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders(config=fast_config(realtime_tail_limit=0))
    path = media / "proxy.mp3"
    file_id, events = await _proxy(uploader, path, 9 * MiB)
    await _show(uploader, events, file_id, 8 * MiB, (1, P))
    uploader.recording_grew(file_id, durable_size=9 * MiB)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert [p["size"] for p in await uploader.parts(file_id)] == [P, 4 * MiB]
    assert "tail_resends" not in uploader.file(file_id)["info"]
    assert emulator.asset_content(record.asset_id or "") == path.read_bytes()


async def test_a_power_cut_after_a_re_send_resumes_from_the_grown_part(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    path = media / "proxy.mp3"
    file_id, events = await _proxy(uploader, path, 10 * MiB)
    await _show(uploader, events, file_id, 6 * MiB, (1, P))
    await _show(uploader, events, file_id, 8 * MiB, (1, 8 * MiB - 1))
    uploader.recording_grew(file_id, durable_size=9 * MiB)
    asset_id = uploader.file(file_id)["asset_id"]
    await uploader.stop()  # the power cut: the take never ended
    os.truncate(path, 9 * MiB + 512 * 1024)  # what the disk kept: past the acknowledged part

    again = uploaders()
    recovered = Recorder()
    again.on_event(recovered)
    await again.start()
    async with asyncio.timeout(30):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id == asset_id  # the grown part 1 still fits: the asset is kept
    assert recovered.of("recovered") == []
    assert [(p["offset"], p["size"]) for p in await again.parts(file_id)] == [
        (0, 8 * MiB - 1),
        (8 * MiB - 1, 1536 * 1024 + 1),
    ]
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert [p["attempts"] for p in emulator.asset(asset_id)["parts"]] == [2, 1]  # not again
    assert emulator.violations() == []


async def test_a_power_cut_during_a_re_send_sends_that_part_again_and_nothing_is_lost(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """Frame.io may hold the part as first sent or as grown (the answer was lost): after the
    restart the part is sent again as planned now, and the latest upload of its number wins."""
    uploader = uploaders()
    path = media / "proxy.mp3"
    file_id, events = await _proxy(uploader, path, 9 * MiB)
    await _show(uploader, events, file_id, 6 * MiB, (1, P))
    asset_id = uploader.file(file_id)["asset_id"]
    emulator.fault("part", kind="stall", seconds=20, asset_id=asset_id, part_number=1)
    uploader.recording_grew(file_id, durable_size=8 * MiB)  # part 1 goes again, and stalls
    await until(lambda: emulator.state()["faults"]["fired"], within=20)
    assert uploader.file(file_id)["info"]["tail_resends"] == 1
    await uploader.stop()  # the power cut, mid re-send

    again = uploaders()
    await again.start()
    async with asyncio.timeout(30):
        record = await again.wait_for(file_id)
    assert record.state is FileState.DONE, record
    assert record.asset_id == asset_id
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert emulator.violations() == []


async def test_a_stop_during_a_re_send_withdraws_it_and_frameio_keeps_the_earlier_part(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """The stop does not wait for a slow re-send: its last chunk has not gone, so Frame.io
    still holds part 1 as first sent; the part is put back so, and the final part takes the
    bytes after it (3 MiB more than had the re-send landed, 6 MiB less on the link)."""
    uploader = uploaders()
    path = media / "proxy.mp3"
    total = 9 * MiB
    file_id, events = await _proxy(uploader, path, total)
    await _show(uploader, events, file_id, 6 * MiB, (1, P))
    asset_id = uploader.file(file_id)["asset_id"]
    # The re-send crawls: 8 MiB at 256 KiB/s would take 32 s.
    emulator.fault("part", kind="slow", rate=256 * 1024, asset_id=asset_id, part_number=1)
    uploader.recording_grew(file_id, durable_size=8 * MiB)  # part 1 goes again, 8 MiB - 1
    await until(lambda: emulator.state()["faults"]["fired"], within=20)
    assert uploader.file(file_id)["info"]["tail_resends"] == 1
    uploader.recording_grew(file_id, durable_size=total)
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record

    info = uploader.file(file_id)["info"]
    assert info["tail_resends_withdrawn"] == 1
    # what the re-send had handed to the socket (counted by the link, never stored)
    assert 0 < info["tail_withdrawn_bytes"] < 8 * MiB - 1
    parts = await uploader.parts(file_id)
    assert [(p["offset"], p["size"], p["is_final"]) for p in parts] == [
        (0, P, False),  # as Frame.io holds it: the first upload
        (P, total - P, True),
    ]
    asset = emulator.asset(asset_id)
    assert [p["stored_size"] for p in asset["parts"]] == [P, total - P]
    assert asset["parts"][0]["attempts"] == 2  # the withdrawn re-send reached the server
    assert emulator.asset_content(asset_id) == path.read_bytes()
    assert record.bytes_acked == total
    assert emulator.violations() == []


async def test_a_growing_wav_holds_part_1_back_and_sends_nothing_again(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    """The bound is for append-only files: a WAV's header part waits for the stop, and its
    other parts go once each, however far its tail runs past the limit."""
    uploader = uploaders()
    events = Recorder()
    uploader.on_event(events)
    await uploader.start()
    path = media / "take.raw"
    path.write_bytes(b"")
    file_id = await uploader.begin_recording(path, filetype="audio/wav", name="take.wav")
    uploader.recording_grew(file_id, durable_size=0)
    await asyncio.to_thread(path.write_bytes, os.urandom(14 * MiB))
    await _show(uploader, events, file_id, 14 * MiB, (2, P))
    await asyncio.sleep(0.5)  # polls that would re-send, were it append-only (4 MiB unsent)
    assert _acks(events, file_id) == [(2, P)]
    await uploader.end_recording(file_id)
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE, record
    asset = emulator.asset(record.asset_id or "")
    assert [p["attempts"] for p in asset["parts"]] == [1, 1, 1]
    assert [p["size"] for p in await uploader.parts(file_id)] == [P, P, 4 * MiB]
    assert "tail_resends" not in uploader.file(file_id)["info"]
    assert emulator.asset_content(record.asset_id or "") == path.read_bytes()


def _sent(number: int, offset: int, size: int, is_final: bool = False) -> PartRecord:
    return PartRecord(1, number, offset, size, is_final, PartState.ACKED, None, None, 1, "", 0.0)


def test_the_plan_keeps_the_parts_sent_and_cuts_the_rest_from_where_they_end() -> None:
    # A grown part 1 (7 MiB) sent: the rest is cut from 7 MiB on, the last part final.
    plan, misfit = realtime_plan(20 * MiB, P, [_sent(1, 0, 7 * MiB)])
    assert misfit == []
    assert [(p.number, p.offset, p.size, p.is_final) for p in plan] == [
        (1, 0, 7 * MiB, False),
        (2, 7 * MiB, P, False),
        (3, 12 * MiB, P, False),
        (4, 17 * MiB, 3 * MiB, True),
    ]
    # A WAV: part 2 and 3 sent, part 1 (the header) fills the gap before them.
    plan, misfit = realtime_plan(12 * MiB, P, [_sent(2, P, P)])
    assert misfit == [] and [(p.offset, p.size) for p in plan] == [(0, P), (P, P), (2 * P, 2 * MiB)]
    # Sent bytes past the end of the file, or a gap no part fits: misfits, planned afresh.
    assert realtime_plan(6 * MiB, P, [_sent(1, 0, 7 * MiB)])[1] == [1]
    assert realtime_plan(20 * MiB, P, [_sent(2, 3 * MiB, P)])[1] == [2]
    # The file ends where a part sent (not final) ends: that part must be final now.
    plan, misfit = realtime_plan(7 * MiB, P, [_sent(1, 0, 7 * MiB)])
    assert misfit == [1] and [(p.size, p.is_final) for p in plan] == [(P, False), (2 * MiB, True)]


def test_a_tail_limit_out_of_range_is_refused_with_a_clear_error() -> None:
    from c2c_hub.settings import SettingsError, load_settings
    from c2c_hub.uploader import UploadConfig

    with pytest.raises(ValueError, match="realtime_tail_limit must be between 0 and"):
        UploadConfig(realtime_tail_limit=6 * MiB)
    with pytest.raises(SettingsError, match="realtime_tail_limit"):
        load_settings(uploads={"realtime_tail_limit": -1})
    assert load_settings(uploads={"realtime_tail_limit": 0}).uploads.realtime_tail_limit == 0
