"""The whole path of a press: a remote on BlueZ (mocked on a private D-Bus), bleak's real BlueZ
backend, the plugin in the hub's own source thread, the press log, and the emulator's trigger
endpoint, which gets the press's timecode on the remote's channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import c2c_hub_plugins.ble_remotes as ble_plugin
from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from tests.plugins.ble_remotes.conftest import FAST


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


async def test_a_press_on_a_bluez_remote_is_logged_in_frameio_at_its_timecode(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, bluez: BlueZMock
) -> None:
    bluez.add_remote("AA:BB:CC:00:00:07", "C2C-Remote 7", "RMT007")
    async with plugin_hub(ble_plugin, options={"ble_remotes": FAST}) as hub:
        await until(lambda: hub.channels.channel_id_of("RMT007"))
        (device,) = emulator.devices()
        assert "RMT007" in device["channel_client_ids"].values()

        presses = []
        for code in (1, 3, 2):  # Good take, Problem, Circle take
            before = time.time()
            assert bluez.press("AA:BB:CC:00:00:07", code)
            presses.append(before)
            count = len(presses)
            await until(lambda n=count: len(emulator.log_events()) == n)
        # Frame.io has logged all three; the hub records each 204 a moment later.
        await until(lambda: hub.presses.counts.get("sent", 0) == 3)
        events = emulator.log_events()
        assert [e["input_index"] for e in events] == [0, 2, 1]
        assert [e["input_name"] for e in events] == ["Good take", "Problem", "Circle take"]
        recorded = await hub.presses.presses()
        for event, record, before in zip(events, recorded, presses, strict=True):
            assert event["start"]["smpte_timecode"] == record.timecode
            assert event["channel_client_id"] == "RMT007"
            assert before - 0.05 <= record.pressed_at <= before + 1.0
            assert record.state == "sent"
        # Nothing the model does not declare gets through (code 9 is no input of it).
        bluez.press("AA:BB:CC:00:00:07", 9)
        await asyncio.sleep(0.3)
        assert len(emulator.log_events()) == 3
        status = hub.status()
        assert status["presses"]["counts"]["sent"] == 3
    assert emulator.violations() == []
