"""The real radio: bleak's ``BleakScanner`` (detection callback) and ``BleakClient`` on BlueZ.

bleak talks to BlueZ over the system D-Bus (dbus-fast, which reads ``DBUS_SYSTEM_BUS_ADDRESS``
at every connection), so the same code runs against ``bluetoothd`` and against the D-Bus mock
of :mod:`c2c_hub.emulation.bluez`. bleak's exceptions never leave this module: they become the
seam's typed errors (:mod:`c2c_hub_plugins.ble_remotes.radio`) with a reason a person can act on.

bleak keeps one BlueZ manager (and its bus connection) per event loop; the hub gives each
source a loop of its own, so this radio's manager lives and dies with the source's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict

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
from dbus_fast.errors import DBusFastError

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

DEVICE_CACHE_SIZE = 512
_DEFAULT_BUS = "unix:path=/var/run/dbus/system_bus_socket"
_NO_SERVICE = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)


def system_bus_address() -> str:
    """Where bleak will look for the system bus (dbus-fast's rule)."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or _DEFAULT_BUS


def _unavailable(exc: BaseException, adapter: str | None) -> RadioUnavailable:
    """A scanner that cannot start, as advice."""
    if isinstance(exc, OSError | EOFError):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        return RadioUnavailable(
            f"no BlueZ on the system bus: cannot connect to {system_bus_address()} ({reason}); "
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
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError) as exc:
            raise _connect_failed(exc, self.address) from exc

    async def disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError) as exc:
            log.debug("%s: disconnect failed: %r", self.address, exc)


class BleakRadio:
    """:class:`~c2c_hub_plugins.ble_remotes.radio.RemoteRadio` on BlueZ through bleak.

    :param adapter: the adapter (``"hci0"``); None: bleak's default (the first powered one).
    """

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._scanner: BleakScanner | None = None
        # The last devices seen, so connect() needs no discovery of its own; bounded, since a
        # busy room advertises many (rotating) addresses in a day.
        self._devices: OrderedDict[str, BLEDevice] = OrderedDict()

    @property
    def description(self) -> str:
        return f"BlueZ {self.adapter or 'default adapter'} (bleak)"

    def _scanner_args(self) -> BlueZScannerArgs:
        return {} if self.adapter is None else {"adapter": self.adapter}

    def _client_args(self) -> BlueZClientArgs:
        return {} if self.adapter is None else {"adapter": self.adapter}

    async def start_scan(self, callback: AdvertisementCallback) -> None:
        if self._scanner is not None:
            raise RuntimeError("already scanning")

        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            if self._scanner is not scanner:
                return  # a scan given up on while the bus was dead (see stop_scan): inert
            self._devices[device.address] = device
            self._devices.move_to_end(device.address)
            if len(self._devices) > DEVICE_CACHE_SIZE:
                self._devices.popitem(last=False)
            callback(
                Advertisement(
                    address=device.address,
                    name=adv.local_name or device.name,
                    service_uuids=tuple(adv.service_uuids),
                    manufacturer_data=dict(adv.manufacturer_data),
                    rssi=adv.rssi,
                )
            )

        scanner = BleakScanner(detected, bluez=self._scanner_args())
        self._scanner = scanner
        try:
            await scanner.start()
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError) as exc:
            self._scanner = None
            raise _unavailable(exc, self.adapter) from exc
        except BaseException:
            self._scanner = None
            raise

    async def stop_scan(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is None:
            return
        # bleak's stop() sends StopDiscovery on its manager's bus; if the system bus died under
        # the scan, that write fails inside dbus-fast and leaves "Future exception was never
        # retrieved" behind. Asking for the manager reconnects it when the bus is back; when it
        # is not, there is nothing to stop (BlueZ ends a discovery when its client's connection
        # goes), and the scan's callback stays registered but inert (see ``detected``).
        try:
            await get_global_bluez_manager()
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError) as exc:
            log.debug("not stopping the scan: the system bus is gone (%r)", exc)
            return
        try:
            await scanner.stop()
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError, KeyError) as exc:
            log.debug("stopping the scan failed: %r", exc)

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> RemoteConnection:
        target: BLEDevice | str = self._devices.get(address, address)

        def disconnected(_client: BleakClient) -> None:
            on_disconnect()

        client = BleakClient(
            target, disconnected_callback=disconnected, timeout=timeout_s, bluez=self._client_args()
        )
        try:
            async with asyncio.timeout(timeout_s + 1.0):  # bleak's own timeout, with a backstop
                await client.connect()
        except (BleakError, OSError, EOFError, DBusFastError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise _connect_failed(exc, address) from exc
        return _BleakConnection(client)
