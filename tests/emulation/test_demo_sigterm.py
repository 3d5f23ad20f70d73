"""``c2c-hub demo`` stopped by SIGTERM, as a service manager stops a process: the hub stops in
order, the rolling take closed first, whole, and its upload ended; the demo ends with 143.

Here the demo's own handling of the signal around a real hub (no plugins; one microphone
attached by hand); the whole demo, SIGTERMed mid-take, is in ``tests/ui/test_commands.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
import soundfile as sf

from c2c_hub.emulation import demo
from c2c_hub.recorder.takes import Take
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.subdevices import AudioFormat, SubDevice
from tests.recorder.conftest import MIC_MODEL


def test_sigterm_mid_take_stops_the_hub_in_order_and_closes_the_take_whole(
    frameio_settings: FrameioSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The signal lands where it most often does, in the event loop outside every task (the
    loop idles while a take rolls). Raising SystemExit there, as the demo's handler once did,
    made asyncio.run cancel every task at once, the take's writer among them: the hub's stop
    was cut short and the take left open, to the next start's recovery."""
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "rec"),
        plugins=PluginSettings(allow=[]),
    )
    takes: list[Take] = []

    async def main() -> int:
        async with Hub(settings) as hub:
            await hub.start(presence=False, status_file=False, plugins=False)
            mic = SubDevice("MIC-1", MIC_MODEL, "Boom", audio=AudioFormat())
            assert hub.devices.attach("test:feed", mic)
            takes.append(await hub.recorder.start_take(scene="1"))
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
            await asyncio.Event().wait()
        return 0

    termination = demo._Termination()
    previous = signal.signal(signal.SIGTERM, termination.handle)
    caplog.set_level(logging.WARNING)
    try:
        code = asyncio.run(termination.run(main(), lambda: demo.EXIT_TERMINATED))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == demo.EXIT_TERMINATED == 143
    assert [r.getMessage() for r in caplog.records if "cut short" in r.getMessage()] == []
    (take,) = takes
    (track,) = take.tracks.values()
    assert take.frames and sf.info(str(track.path)).frames == take.frames, "closed at its length"
    assert not (tmp_path / "hub" / "recording.json").exists(), "the take's journal is cleared"

    async def after() -> None:  # the next start: nothing to recover, the upload ended whole
        async with Hub(settings) as hub:
            await hub.start(presence=False, status_file=False, plugins=False)
            assert not hub.recorder.snapshot()["recovered"]
            assert track.file_id is not None
            record = hub.uploader.file(track.file_id)
            assert record["state"] != "recording", record
            assert record["size"] == track.path.stat().st_size, record
            assert "interrupted" not in (record.get("reason") or ""), record

    asyncio.run(after())
