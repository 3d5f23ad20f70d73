"""A network change cuts the uploader's backoff short: a part that failed on the old network is
sent again at once on the new one, not after its backoff."""

from __future__ import annotations

import asyncio
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from c2c_hub.uploader.policy import RetryPolicy
from tests.uploader.conftest import (
    MiB,
    Recorder,
    UploaderFactory,
    fast_config,
    make_file,
    sha256_of,
    until,
)


async def test_a_network_change_sends_a_backed_off_part_again_at_once(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    path = make_file(media, "switch.wav", 6 * MiB)
    slow = RetryPolicy(initial=120.0, max=120.0, jitter=0.0)  # a backoff no test waits out
    uploader = uploaders(config=fast_config(retry=slow))
    events = Recorder()
    uploader.on_event(events)
    emulator.fault("part", kind="reset", part_number=1)  # the old network drops the transfer
    await uploader.start()
    file_id = await uploader.enqueue(path)
    await until(lambda: events.of("retry"))
    assert events.of("retry")[0]["delay"] >= 100
    uploader.network_changed()
    async with asyncio.timeout(30):
        record = await uploader.wait_for(file_id)
    assert record.state is FileState.DONE
    asset = emulator.asset(record.asset_id or "")
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    await uploader.stop()
