"""Conformance canary: the installed bleak still has what BleakRadio relies on.

bleak-retry-connector style: when a bleak upgrade changes a name, a signature or a data shape
that plugins/ble_remotes/bleak_radio.py uses, this file fails first and says what moved,
instead of remotes silently never connecting. Part of it runs against the BlueZ mock, so the
shapes are the ones bleak really produces from BlueZ's D-Bus data.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version
from typing import Any, get_type_hints

import bleak
import pytest
from bleak import BleakClient, BleakScanner
from bleak.args.bluez import BlueZClientArgs, BlueZScannerArgs
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
)

from c2c_hub.emulation.bluez import BUTTON_CHARACTERISTIC_UUID, REMOTE_SERVICE_UUID, BlueZMock
from c2c_hub_plugins.ble_remotes.bleak_radio import BleakRadio
from c2c_hub_plugins.ble_remotes.radio import Advertisement
from tests.plugins.ble_remotes.conftest import release_bleak_manager

BLEAK = f"bleak {version('bleak')}"
ADDR = "C2:C0:00:00:00:0C"


def params(fn: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(fn).parameters)


def test_bleak_scanner_takes_a_detection_callback_and_bluez_args() -> None:
    p = params(BleakScanner.__init__)
    assert list(p)[1] == "detection_callback", f"{BLEAK}: BleakScanner({list(p)[1:]})"
    assert p["bluez"].kind is inspect.Parameter.KEYWORD_ONLY, BLEAK
    assert "adapter" in get_type_hints(BlueZScannerArgs), BLEAK
    assert inspect.iscoroutinefunction(BleakScanner.start), BLEAK
    assert inspect.iscoroutinefunction(BleakScanner.stop), BLEAK


def test_bleak_client_has_what_the_radio_calls() -> None:
    p = params(BleakClient.__init__)
    assert list(p)[1:3] == ["address_or_ble_device", "disconnected_callback"], BLEAK
    assert {"timeout", "bluez"} <= set(p), BLEAK
    assert "adapter" in get_type_hints(BlueZClientArgs), BLEAK
    for name in ("connect", "disconnect", "start_notify"):
        assert inspect.iscoroutinefunction(getattr(BleakClient, name)), f"{BLEAK}: {name}"
    assert list(params(BleakClient.start_notify))[1:3] == ["char_specifier", "callback"], BLEAK
    assert isinstance(inspect.getattr_static(BleakClient, "is_connected"), property), BLEAK
    assert isinstance(inspect.getattr_static(BleakClient, "address"), property), BLEAK


def test_advertisement_data_and_devices_have_the_fields_we_read() -> None:
    fields = set(AdvertisementData._fields)
    assert {"local_name", "manufacturer_data", "service_uuids", "rssi"} <= fields, BLEAK
    hints = get_type_hints(AdvertisementData)
    assert hints["manufacturer_data"] == dict[int, bytes], f"{BLEAK}: {hints['manufacturer_data']}"
    assert hints["service_uuids"] == list[str], BLEAK
    device = BLEDevice(ADDR, "name", {"path": "/x"})
    assert (device.address, device.name) == (ADDR, "name"), BLEAK


def test_the_exceptions_we_translate_still_exist_and_are_bleak_errors() -> None:
    for exc in (
        BleakBluetoothNotAvailableError,
        BleakCharacteristicNotFoundError,
        BleakDBusError,
        BleakDeviceNotFoundError,
    ):
        assert issubclass(exc, BleakError), f"{BLEAK}: {exc.__name__}"
    error = BleakDBusError("org.bluez.Error.Failed", ["Page Timeout"])
    assert (error.dbus_error, error.dbus_error_details) == (
        "org.bluez.Error.Failed",
        "Page Timeout",
    )
    assert inspect.iscoroutinefunction(get_global_bluez_manager), BLEAK
    assert bleak.BleakScanner is BleakScanner


async def test_a_scan_through_the_mock_gives_manufacturer_data_as_int_to_bytes(
    bluez: BlueZMock,
) -> None:
    reports: list[tuple[BLEDevice, AdvertisementData]] = []
    got = asyncio.Event()

    def detected(device: BLEDevice, adv: AdvertisementData) -> None:
        reports.append((device, adv))
        got.set()

    scanner = BleakScanner(detected, bluez={"adapter": "hci0"})
    await scanner.start()
    try:
        bluez.add_remote(ADDR, name="C2C-Remote C", serial="CANARY")
        async with asyncio.timeout(3):
            await got.wait()
    finally:
        await scanner.stop()
        await release_bleak_manager()
    device, adv = reports[0]
    assert device.address == ADDR and adv.local_name == "C2C-Remote C"
    assert adv.manufacturer_data == {0xFFFF: b"CANARY"}, f"{BLEAK}: {adv.manufacturer_data!r}"
    [(key, value)] = adv.manufacturer_data.items()
    assert type(key) is int and type(value) is bytes, BLEAK
    assert adv.service_uuids == [REMOTE_SERVICE_UUID] and isinstance(adv.rssi, int), BLEAK


async def test_notifications_and_disconnects_arrive_as_the_radio_expects(
    bluez: BlueZMock,
) -> None:
    loop = asyncio.get_running_loop()
    found: asyncio.Future[BLEDevice] = loop.create_future()
    dropped: asyncio.Future[BleakClient] = loop.create_future()

    def detected(device: BLEDevice, _adv: AdvertisementData) -> None:
        if not found.done():
            found.set_result(device)

    def disconnected(client: BleakClient) -> None:
        if not dropped.done():
            dropped.set_result(client)

    scanner = BleakScanner(detected)
    await scanner.start()
    bluez.add_remote(ADDR, name="C2C-Remote C", serial="CANARY")
    notified: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
    try:
        client = BleakClient(
            await asyncio.wait_for(found, 30),
            disconnected_callback=disconnected,
            timeout=30,
        )
        await client.connect()
        await client.start_notify(
            BUTTON_CHARACTERISTIC_UUID, lambda ch, data: notified.put_nowait((ch, data))
        )
        assert bluez.press(ADDR, 2)
        char, data = await asyncio.wait_for(notified.get(), 30)
        assert isinstance(char, BleakGATTCharacteristic) and isinstance(data, bytearray), BLEAK
        assert bytes(data) == b"\x02\x01"
        bluez.disconnect(ADDR)
        assert await asyncio.wait_for(dropped, 30) is client, f"{BLEAK}: callback(client)"
        assert not client.is_connected
        await client.disconnect()  # releases the link's own bus: must not raise when dropped
    finally:
        await scanner.stop()
        await release_bleak_manager()


async def test_bleak_radio_turns_bleak_advertisements_into_ours(bluez: BlueZMock) -> None:
    radio = BleakRadio("hci0")
    seen: list[Advertisement] = []
    got = asyncio.Event()

    def heard(adv: Advertisement) -> None:
        seen.append(adv)
        got.set()

    await radio.start_scan(heard)
    try:
        bluez.add_remote(ADDR, name="C2C-Remote C", serial="CANARY", rssi=-42)
        async with asyncio.timeout(3):
            await got.wait()
    finally:
        await radio.stop_scan()
        await release_bleak_manager()
    assert seen[0] == Advertisement(
        address=ADDR,
        name="C2C-Remote C",
        service_uuids=(REMOTE_SERVICE_UUID,),
        manufacturer_data={0xFFFF: b"CANARY"},
        rssi=-42,
    )


@pytest.mark.parametrize("name", ["BleakScanner", "BleakClient"])
def test_bleak_exports_its_entry_points_at_the_top(name: str) -> None:
    assert hasattr(bleak, name), BLEAK
