"""A HID shutter remote on BlueZ (mocked on a private D-Bus, with a real Report Map), bleak's
real BlueZ backend, the plugin in the hub's own source thread, the press log, and the
emulator's trigger endpoint: each key-down is one trigger on the remote's channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import c2c_hub_plugins.hid_remotes as hid_plugin
from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub_plugins.hid_remotes.identity import client_id
from tests.plugins.hid_remotes.conftest import FAST, release_bleak_manager
from tests.plugins.hid_remotes.descriptors import SHUTTER

ADDRESS = "F1:22:33:44:55:66"  # a static random address (top bits 11): an identity
UP, DOWN, ENTER, RELEASE_KEYS, RELEASE = (
    (2, b"\x01"),
    (2, b"\x02"),
    (1, bytes([0, 0, 0x28, 0, 0, 0, 0, 0])),
    (1, bytes(8)),
    (2, b"\x00"),
)


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


async def test_hid_shutter_presses_arrive_at_frameio_in_order_at_their_timecode(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, bluez: BlueZMock
) -> None:
    bluez.add_hid_remote(ADDRESS, "AB Shutter3", SHUTTER, (1, 2, 3), address_type="random")
    serial = client_id(ADDRESS, "random")
    try:
        async with plugin_hub(hid_plugin, options={"hid_remotes": FAST}) as hub:
            await until(lambda: hub.channels.channel_id_of(serial))
            (device,) = emulator.devices()
            assert serial in device["channel_client_ids"].values()

            befores = []
            # Volume Up (Good take), Enter (Problem), Volume Down (Problem), Volume Up again.
            for report in (UP, ENTER, DOWN, UP):
                befores.append(time.time())
                assert bluez.hid_report(ADDRESS, *report)
                # A key held: the same report again is no new press; then the release.
                assert bluez.hid_report(ADDRESS, *report)
                bluez.hid_report(ADDRESS, *(RELEASE_KEYS if report[0] == 1 else RELEASE))
                count = len(befores)
                await until(lambda n=count: len(emulator.log_events()) == n)
            events = emulator.log_events()
            assert [e["input_index"] for e in events] == [0, 1, 1, 0]
            assert [e["input_name"] for e in events] == [
                "Good take",
                "Problem",
                "Problem",
                "Good take",
            ]
            recorded = await hub.presses.presses()
            for event, record, before in zip(events, recorded, befores, strict=True):
                assert event["start"]["smpte_timecode"] == record.timecode
                assert event["channel_client_id"] == serial
                assert before - 0.05 <= record.pressed_at <= before + 1.0

            # A report that does not fit (report 1 is 9 bytes with its id), and a usage the
            # model does not declare (Play/Pause on the 16-bit consumer report): no press.
            assert bluez.hid_report(ADDRESS, 1, b"\x00\x28")
            assert bluez.hid_report(ADDRESS, 3, b"\xcd\x00")
            bluez.hid_report(ADDRESS, 3, b"\x00\x00")
            await asyncio.sleep(0.3)
            assert len(emulator.log_events()) == 4
    finally:
        await release_bleak_manager()
    assert emulator.violations() == []


async def test_a_remote_that_drops_mid_press_makes_no_phantom_and_loses_no_press(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, bluez: BlueZMock
) -> None:
    bluez.add_hid_remote(ADDRESS, "AB Shutter3", SHUTTER, (1, 2, 3), address_type="random")
    serial = client_id(ADDRESS, "random")
    try:
        async with plugin_hub(hid_plugin, options={"hid_remotes": FAST}) as hub:
            await until(lambda: hub.channels.channel_id_of(serial))
            assert bluez.hid_report(ADDRESS, *UP)  # down ... and the link drops
            await until(lambda: len(emulator.log_events()) == 1)
            bluez.disconnect(ADDRESS)
            await asyncio.sleep(0.1)
            bluez.advertise(ADDRESS)  # back within the grace: reconnects, still attached
            await until(lambda: bluez.is_notifying(ADDRESS), within=10)
            assert bluez.hid_report(ADDRESS, *RELEASE)  # the release: no press
            assert bluez.hid_report(ADDRESS, *ENTER)  # a new press: counted
            await until(lambda: len(emulator.log_events()) == 2)
            await asyncio.sleep(0.3)
            events = emulator.log_events()
            assert [e["input_index"] for e in events] == [0, 1]
            assert hub.channels.channel_id_of(serial)
    finally:
        await release_bleak_manager()
