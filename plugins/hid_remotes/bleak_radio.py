"""HID over GATT through bleak on BlueZ: scan for 0x1812, read the Report Map, subscribe to
the Input Reports, each with its Report Reference (0x2908) read for its report id.

BlueZ's own ``input`` plugin claims the HID service of a paired remote (HOGP) and hides it
from D-Bus clients; the recorder's BlueZ is configured so the hub gets it instead
(``docs/remotes.md``). bleak's exceptions never leave this module.
"""

from __future__ import annotations

import logging
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDBusError, BleakDeviceNotFoundError

from c2c_hub import kit
from c2c_hub_plugins.hid_remotes.radio import (
    HID_SERVICE_UUID,
    INPUT_REPORT,
    REPORT_MAP_UUID,
    REPORT_REFERENCE_UUID,
    REPORT_UUID,
    SERIAL_NUMBER_UUID,
    Advertisement,
    AdvertisementCallback,
    ConnectFailed,
    DisconnectCallback,
    HidLink,
    NotHid,
    RadioUnavailable,
    ReportCallback,
)

log = logging.getLogger(__name__)
_ERRORS = kit.BLE_ERRORS
_NO_SERVICE = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)


def _failed(exc: BaseException, address: str) -> ConnectFailed:
    if isinstance(exc, BleakDeviceNotFoundError):
        failed = ConnectFailed(f"{address}: BlueZ does not know the device (any more)")
        failed.retry = False
        return failed
    if isinstance(exc, BleakDBusError):
        return ConnectFailed(f"{address}: {exc.dbus_error}")
    if isinstance(exc, TimeoutError):
        return ConnectFailed(f"{address}: no answer within the timeout")
    return ConnectFailed(f"{address}: {exc!r}")


def _unavailable(exc: BaseException) -> RadioUnavailable:
    """A scan that cannot start, as advice."""
    if isinstance(exc, OSError | EOFError):
        return RadioUnavailable(
            f"no BlueZ on the system bus: cannot reach it ({exc}); is dbus running?"
        )
    if isinstance(exc, BleakDBusError) and exc.dbus_error in _NO_SERVICE:
        return RadioUnavailable(
            "no BlueZ on the system bus: org.bluez is not running (start bluetoothd)"
        )
    return RadioUnavailable(f"no BlueZ on the system bus: {type(exc).__name__}: {exc}")


class _BleakHidLink:
    def __init__(self, client: BleakClient) -> None:
        self._client = client

    @property
    def address(self) -> str:
        return self._client.address

    def _hid_service(self) -> Any:
        service = self._client.services.get_service(HID_SERVICE_UUID)
        if service is None:
            raise NotHid(
                f"{self.address}: no HID service on D-Bus (is BlueZ's input plugin holding it? "
                "see docs/remotes.md)"
            )
        return service

    async def read_report_map(self) -> bytes:
        service = self._hid_service()
        char = service.get_characteristic(REPORT_MAP_UUID)
        if char is None:
            raise NotHid(f"{self.address}: the HID service has no Report Map")
        try:
            return bytes(await self._client.read_gatt_char(char))
        except _ERRORS as exc:
            raise _failed(exc, self.address) from exc

    async def read_serial(self) -> str | None:
        for service in self._client.services:
            char = service.get_characteristic(SERIAL_NUMBER_UUID)
            if char is None:
                continue
            try:
                return bytes(await self._client.read_gatt_char(char)).decode().strip("\0 ")
            except (*_ERRORS, UnicodeDecodeError):
                return None
        return None

    async def subscribe_inputs(self, callback: ReportCallback) -> list[int]:
        service = self._hid_service()
        ids: list[int] = []
        for char in service.characteristics:
            if char.uuid != REPORT_UUID or "notify" not in char.properties:
                continue
            report_id = await self._report_id(char)
            if report_id is None:
                continue

            def on_notify(
                _c: BleakGATTCharacteristic, data: bytearray, report_id: int = report_id
            ) -> None:
                callback(report_id, bytes(data))

            try:
                await self._client.start_notify(char, on_notify)
            except _ERRORS as exc:
                raise _failed(exc, self.address) from exc
            ids.append(report_id)
        if not ids:
            raise NotHid(f"{self.address}: the HID service has no Input Report to subscribe to")
        return ids

    async def _report_id(self, char: BleakGATTCharacteristic) -> int | None:
        """The report id of an Input Report; None for an output or feature report."""
        desc = char.get_descriptor(REPORT_REFERENCE_UUID)
        if desc is None:
            return 0  # one report, no Report Reference: a descriptor without report ids
        try:
            ref = bytes(await self._client.read_gatt_descriptor(desc.handle))
        except _ERRORS as exc:
            raise _failed(exc, self.address) from exc
        if len(ref) != 2:
            raise NotHid(f"{self.address}: a Report Reference of {len(ref)} bytes (expected 2)")
        return ref[0] if ref[1] == INPUT_REPORT else None

    async def disconnect(self) -> None:
        await kit.ble_disconnect(self._client)


class BleakHidRadio:
    """:class:`~c2c_hub_plugins.hid_remotes.radio.HidRadio` on BlueZ through bleak (the kit's
    :class:`~c2c_hub.kit.BleakCentral`: its scan, device cache and connects)."""

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._central = kit.BleakCentral(adapter)

    @property
    def description(self) -> str:
        return self._central.description

    async def start_scan(self, callback: AdvertisementCallback) -> None:
        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            props = device.details.get("props", {}) if isinstance(device.details, dict) else {}
            callback(
                Advertisement(
                    address=device.address,
                    name=adv.local_name or device.name,
                    service_uuids=tuple(adv.service_uuids),
                    address_type=props.get("AddressType"),
                    rssi=adv.rssi,
                )
            )

        try:
            await self._central.start_scan(detected)
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    async def stop_scan(self) -> None:
        await self._central.stop_scan()

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> HidLink:
        try:
            client = await self._central.connect(
                address, on_disconnect=on_disconnect, timeout_s=timeout_s
            )
        except _ERRORS as exc:
            raise _failed(exc, address) from exc
        return _BleakHidLink(client)
