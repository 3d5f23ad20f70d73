"""A burst of 409 Channel Paused answers confirms the pause with /v2/devices/me, coalesced
through the session's gate: not one call per refused file (Frame.io's status guide: at most one a
minute,
except once right after a 409)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState, FlagPause
from tests.uploader.conftest import UploaderFactory, fast_config, make_file


async def test_a_burst_of_channel_paused_costs_at_most_two_me_calls(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    # The hub's pause source (presence) notifies: the uploader need not poll /me itself.
    uploader = uploaders(config=fast_config(files_in_parallel=2), pause=FlagPause(False))
    await uploader.start()
    emulator.pause()
    before = len(emulator.requests("/v2/devices/me"))
    now = time.time()
    ids = [
        await uploader.enqueue(make_file(media, f"in{n}.wav", 1000), capture_time=now + 1)
        for n in range(6)
    ]
    async with asyncio.timeout(30):
        records = [await uploader.wait_for(i) for i in ids]
    assert all(r.state is FileState.SKIPPED_PAUSED for r in records)
    assert 1 <= len(emulator.requests("/v2/devices/me")) - before <= 2
