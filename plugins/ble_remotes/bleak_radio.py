"""The real radio: bleak's ``BleakScanner`` (detection callback) and ``BleakClient`` on BlueZ.

bleak talks to BlueZ over the system D-Bus (dbus-fast, which reads ``DBUS_SYSTEM_BUS_ADDRESS``
at every connection), so the same code runs against ``bluetoothd`` and against the D-Bus mock
of :mod:`c2c_hub.emulation.bluez`. bleak's exceptions never leave this module: they become the
seam's typed errors (:mod:`c2c_hub_plugins.ble_remotes.radio`) with a reason a person can act on.

bleak keeps one BlueZ manager (and its bus connection) per event loop; the hub gives each
source a loop of its own, so this radio's manager lives and dies with the source's loop.
"""

from __future__ import annotations

import logging

from bleak import BleakClient
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
from dbus_fast.errors import DBusFastError

from c2c_hub import kit
from c2c_hub_plugins.ble_remotes.radio import (
    Advertisement,
    AdvertisementCallback,
    ConnectFailed,
    DeviceGone,
    DisconnectCallback,
    NotifyCallback,
    RadioUnavailable,
    RemoteConnection,
)

log = logging.getLogger(__name__)

_NO_SERVICE = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)


def _unavailable(exc: BaseException, adapter: str | None) -> RadioUnavailable:
    """A scanner that cannot start, as advice."""
    if isinstance(exc, OSError | EOFError):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        return RadioUnavailable(
            f"no BlueZ on the system bus: cannot connect to {kit.system_bus_address()} ({reason}); "
            "is dbus running?"
        )
    if isinstance(exc, BleakDBusError) and exc.dbus_error in _NO_SERVICE:
        return RadioUnavailable(
            "no BlueZ on the system bus: org.bluez is not running (start bluetoothd)"
        )
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return RadioUnavailable(f"no Bluetooth adapter: {exc.args[0]}")
    if isinstance(exc, BleakError) and "not found" in str(exc) and adapter is not None:
        return RadioUnavailable(f"no Bluetooth adapter {adapter} in BlueZ ({exc})")
    if isinstance(exc, TimeoutError):
        return RadioUnavailable("no BlueZ on the system bus: it did not answer in time")
    return RadioUnavailable(f"no BlueZ on the system bus: {type(exc).__name__}: {exc}")


def _connect_failed(exc: BaseException, address: str) -> ConnectFailed:
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceGone(f"{address}: BlueZ does not know the device (any more)")
    if isinstance(exc, BleakDBusError):
        detail = exc.dbus_error_details
        return ConnectFailed(f"{address}: {exc.dbus_error}{f': {detail}' if detail else ''}")
    if isinstance(exc, TimeoutError):
        return ConnectFailed(f"{address}: no connection within the timeout")
    if isinstance(exc, OSError | EOFError | DBusFastError):
        return ConnectFailed(f"{address}: the system bus failed ({exc!r})")
    return ConnectFailed(f"{address}: {exc}")


class _BleakConnection:
    def __init__(self, client: BleakClient) -> None:
        self._client = client

    @property
    def address(self) -> str:
        return self._client.address

    @property
    def is_connected(self) -> bool:
        return self._client.is_connected

    async def start_notify(self, characteristic_uuid: str, callback: NotifyCallback) -> None:
        def on_notify(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            callback(bytes(data))

        try:
            await self._client.start_notify(characteristic_uuid, on_notify)
        except BleakCharacteristicNotFoundError:
            failed = ConnectFailed(
                f"{self.address}: no characteristic {characteristic_uuid} (not this model?)"
            )
            failed.retry = False
            raise failed from None
        except kit.BLE_ERRORS as exc:
            raise _connect_failed(exc, self.address) from exc

    async def disconnect(self) -> None:
        await kit.ble_disconnect(self._client)


class BleakRadio:
    """:class:`~c2c_hub_plugins.ble_remotes.radio.RemoteRadio` on BlueZ through bleak (the
    kit's :class:`~c2c_hub.kit.BleakCentral`: its scan, device cache and connects).

    :param adapter: the adapter (``"hci0"``); None: bleak's default (the first powered one).
    """

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._central = kit.BleakCentral(adapter)

    @property
    def description(self) -> str:
        return self._central.description

    async def start_scan(self, callback: AdvertisementCallback) -> None:
        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            callback(
                Advertisement(
                    address=device.address,
                    name=adv.local_name or device.name,
                    service_uuids=tuple(adv.service_uuids),
                    manufacturer_data=dict(adv.manufacturer_data),
                    rssi=adv.rssi,
                )
            )

        try:
            await self._central.start_scan(detected)
        except kit.BLE_ERRORS as exc:
            raise _unavailable(exc, self.adapter) from exc

    async def stop_scan(self) -> None:
        await self._central.stop_scan()

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> RemoteConnection:
        try:
            client = await self._central.connect(
                address, on_disconnect=on_disconnect, timeout_s=timeout_s
            )
        except kit.BLE_ERRORS as exc:
            raise _connect_failed(exc, address) from exc
        return _BleakConnection(client)
