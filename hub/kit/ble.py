"""bleak on BlueZ for plugins: one scanner with a bounded cache of what it saw, and connects.

:class:`BleakCentral` is what every plugin that follows BLE devices through bleak needs and
would otherwise write again (the ``ble_remotes`` and ``hid_remotes`` plugins both did):

- **scan**: :meth:`~BleakCentral.start_scan` starts bleak's ``BleakScanner`` on the adapter;
  each device it reports is remembered (the last :data:`DEVICE_CACHE_SIZE`, since a busy room
  advertises many rotating addresses in a day), so :meth:`~BleakCentral.connect` needs no
  discovery of its own. A scan given up on stays inert: its callback no longer reaches the
  plugin.
- **stop**: :meth:`~BleakCentral.stop_scan` never raises. bleak's ``stop()`` sends
  ``StopDiscovery`` on its manager's bus; if the system bus died under the scan, that write
  fails inside dbus-fast and leaves "Future exception was never retrieved" behind. Asking for
  the manager first reconnects it when the bus is back; when it is not, there is nothing to stop
  (BlueZ ends a discovery when its client's connection goes).
- **connect**: bleak's own timeout with a backstop one second later, and a client that failed
  to connect is disconnected, so nothing is left half-open on BlueZ.

bleak keeps one BlueZ manager (and its bus connection) per event loop; the hub gives each source
a loop of its own, so a central's manager lives and dies with its source's loop.

What bleak and the bus raise is left to the plugin (one of :data:`BLE_ERRORS`), whose radio turns
it into its own typed error with advice: the words differ from plugin to plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import BlueZClientArgs, BlueZScannerArgs
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from dbus_fast.errors import DBusFastError

log = logging.getLogger(__name__)

#: What bleak and the system bus raise when a scan, a connection or a GATT operation fails.
BLE_ERRORS = (
    BleakError,
    OSError,
    EOFError,
    DBusFastError,
    TimeoutError,
)
#: How many devices a central remembers between a sighting and a connect.
DEVICE_CACHE_SIZE = 512
_DEFAULT_BUS = "unix:path=/var/run/dbus/system_bus_socket"

DeviceCallback = Callable[[BLEDevice, AdvertisementData], None]


def system_bus_address() -> str:
    """Where bleak will look for the system bus (dbus-fast's rule), for advice in errors."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or _DEFAULT_BUS


class BleakCentral:
    """One adapter through bleak: a scan that remembers what it saw, and connects.

    :param adapter: the adapter (``"hci0"``); None: bleak's default (the first powered one).
    """

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._scanner: BleakScanner | None = None
        self._devices: OrderedDict[str, BLEDevice] = OrderedDict()

    @property
    def description(self) -> str:
        """For a health line: ``"BlueZ hci0 (bleak)"``."""
        return f"BlueZ {self.adapter or 'default adapter'} (bleak)"

    @property
    def scanning(self) -> bool:
        return self._scanner is not None

    async def start_scan(self, on_device: DeviceCallback) -> None:
        """Scan; ``on_device(device, advertisement)`` for each report, on this loop.

        Raises what bleak raises (one of :data:`BLE_ERRORS`) when the scan cannot start.
        """
        if self._scanner is not None:
            raise RuntimeError("already scanning")

        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            if self._scanner is not scanner:
                return  # a scan given up on while the bus was dead (see stop_scan): inert
            self._devices[device.address] = device
            self._devices.move_to_end(device.address)
            if len(self._devices) > DEVICE_CACHE_SIZE:
                self._devices.popitem(last=False)
            on_device(device, adv)

        args: BlueZScannerArgs = {} if self.adapter is None else {"adapter": self.adapter}
        scanner = BleakScanner(detected, bluez=args)
        self._scanner = scanner
        try:
            await scanner.start()
        except BaseException:
            self._scanner = None
            raise

    async def stop_scan(self) -> None:
        """Stop scanning (never raises; a no-op when not scanning)."""
        scanner, self._scanner = self._scanner, None
        if scanner is None:
            return
        try:
            await get_global_bluez_manager()
        except BLE_ERRORS as exc:
            log.debug("not stopping the scan: the system bus is gone (%r)", exc)
            return
        try:
            await scanner.stop()
        except (*BLE_ERRORS, KeyError) as exc:
            log.debug("stopping the scan failed: %r", exc)

    async def connect(
        self, address: str, *, on_disconnect: Callable[[], None], timeout_s: float
    ) -> BleakClient:
        """A connected client for ``address`` (the scanned device if there is one).

        ``on_disconnect`` runs when the link ends, whoever ends it. Raises what bleak raises
        (one of :data:`BLE_ERRORS`); the client is then disconnected.
        """
        args: BlueZClientArgs = {} if self.adapter is None else {"adapter": self.adapter}

        def disconnected(_client: BleakClient) -> None:
            on_disconnect()

        client = BleakClient(
            self._devices.get(address, address),
            disconnected_callback=disconnected,
            timeout=timeout_s,
            bluez=args,
        )
        try:
            async with asyncio.timeout(timeout_s + 1.0):  # bleak's own timeout, with a backstop
                await client.connect()
        except BLE_ERRORS:
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        return client


async def disconnect(client: BleakClient) -> None:
    """Disconnect ``client`` (never raises: a failure is logged at debug level)."""
    try:
        await client.disconnect()
    except BLE_ERRORS as exc:
        log.debug("%s: disconnect failed: %r", client.address, exc)
