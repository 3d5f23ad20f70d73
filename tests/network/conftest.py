"""NetworkManager and ModemManager on a private D-Bus per test (python-dbusmock's templates, as
:class:`c2c_hub.emulation.networkmanager.NetworkManagerMock` completes them): a Wi-Fi adapter,
two WPA2 networks in range and an LTE modem."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from c2c_hub.emulation.networkmanager import NetworkManagerMock
from c2c_hub.network import NetworkControl

STUDIO_PSK = "correct horse battery"
HOTSPOT_PSK = "hotspot-pass-42"


@pytest.fixture
def nm_mock() -> Iterator[NetworkManagerMock]:
    with NetworkManagerMock() as mock:
        mock.add_wifi_device("wlan0")
        mock.add_access_point("StudioNet", psk=STUDIO_PSK, strength=82, frequency=2437)
        mock.add_access_point("Hotspot", psk=HOTSPOT_PSK, strength=40, frequency=5180)
        mock.add_modem(operator="SetCell", technology="lte", signal=64)
        yield mock


@pytest.fixture
async def control(nm_mock: NetworkManagerMock) -> AsyncIterator[NetworkControl]:
    made = NetworkControl(fallback_s=0.3, activation_timeout_s=15)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {within} s")
