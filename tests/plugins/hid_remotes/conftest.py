"""Fixtures for the HID remote tests: BlueZ mocked on a private D-Bus (bleak's real BlueZ
backend talks to it), fast options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from c2c_hub.emulation.bluez import BlueZMock

FAST: dict[str, Any] = {
    "reconnect_grace_s": 0.4,
    "retry_s": 0.05,
    "connect_timeout_s": 2.0,
    "unavailable_retry_s": 0.2,
    "evdev": False,
}


@pytest.fixture
def bluez() -> Iterator[BlueZMock]:
    """BlueZ (adapter hci0) on a private bus; ``DBUS_SYSTEM_BUS_ADDRESS`` points at it."""
    with BlueZMock() as mock:
        yield mock


async def release_bleak_manager() -> None:
    """Close bleak's BlueZ manager of this loop while the loop runs (test hygiene: every test
    has a loop and a bus of its own; see tests/plugins/ble_remotes/conftest.py)."""
    from bleak.backends.bluezdbus import manager as bluez_manager

    instance = bluez_manager._global_instances.pop(asyncio.get_running_loop(), None)
    if instance is None:
        return
    bus, watcher = instance._bus, instance._bus_watcher_task
    if bus is not None and bus.connected:
        bus.disconnect()
    if watcher is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await asyncio.gather(watcher, return_exceptions=True)
