"""Emulated BLE button remotes, in process, for the demo (no D-Bus, no Bluetooth).

:class:`EmulatedRadio` implements the ble-remotes plugin's radio seam
(:class:`c2c_hub_plugins.ble_remotes.radio.RemoteRadio`); the plugin uses it with the options
``radio = "emulated"`` and ``emulated_radio = "<name>"``. Radios are kept in a process-wide
registry (:func:`radio`), so the demo and the plugin find the same one::

    from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote
    remote = EmulatedRemote("C2:C0:00:00:00:01", "C2C-Remote 1", "RMT001", radio="demo")
    remote.press(1)            # a notification [code, counter], as a real remote sends it
    remote.garbage(b"\\xff")    # a notification that is not one
    remote.disconnect()        # out of range: the link drops, connecting fails
    remote.advertise()         # back: it advertises again

Remotes are driven from any thread (the hub runs each source in a thread of its own): every
callback reaches the plugin through ``call_soon_threadsafe`` on the loop that scanned or
connected. For tests of bleak's real BlueZ path, see :mod:`c2c_hub.emulation.bluez` instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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

# The C2C Button Remote's layout (device_models/c2c-button-remote.toml, docs/ble-remotes.md).
REMOTE_SERVICE_UUID = "7d2ea1b0-5c8e-4f3a-9b61-2a4c6e8f0a1d"
BUTTON_CHARACTERISTIC_UUID = "7d2ea1b1-5c8e-4f3a-9b61-2a4c6e8f0a1d"
MANUFACTURER_ID = 0xFFFF

_RADIOS: dict[str, EmulatedRadio] = {}
_RADIOS_LOCK = threading.Lock()


def radio(name: str = "default") -> EmulatedRadio:
    """The emulated radio registered as ``name`` (created on first use)."""
    with _RADIOS_LOCK:
        found = _RADIOS.get(name)
        if found is None:
            found = _RADIOS[name] = EmulatedRadio(name)
        return found


def forget(name: str) -> None:
    """Drop ``name`` from the registry (the next :func:`radio` call makes a fresh one)."""
    with _RADIOS_LOCK:
        _RADIOS.pop(name, None)


@dataclass(eq=False)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    callback: Callable[..., None]

    def call(self, *args: Any) -> bool:
        try:
            self.loop.call_soon_threadsafe(self.callback, *args)
        except RuntimeError:  # its loop is closed
            return False
        return True


class EmulatedRemote:
    """One remote: advertises (name, service UUID, serial in the manufacturer data), accepts
    one connection, notifies ``[code, counter]`` per press.

    :param radio: the radio it is in range of (an :class:`EmulatedRadio` or a registry name).
    """

    def __init__(
        self,
        address: str,
        name: str = "C2C-Remote",
        serial: str | None = "RMT001",
        *,
        service_uuid: str | None = REMOTE_SERVICE_UUID,
        manufacturer_id: int | None = MANUFACTURER_ID,
        manufacturer_data: bytes | None = None,
        characteristic_uuid: str = BUTTON_CHARACTERISTIC_UUID,
        rssi: int = -60,
        radio: EmulatedRadio | str = "default",
    ) -> None:
        self.address = address.upper()
        self.name = name
        self.serial = serial
        self.service_uuid = service_uuid
        self.manufacturer_id = manufacturer_id
        if manufacturer_data is None and serial is not None:
            manufacturer_data = serial.encode("ascii")
        self.manufacturer_data = manufacturer_data
        self.characteristic_uuid = characteristic_uuid
        self.rssi = rssi
        self.counter = 0
        self.reachable = True
        self.connect_failures = 0  # the next N connection attempts fail
        self.connects = 0
        self.radio = _radio_of(radio)
        self.radio.add(self)

    def advertisement(self) -> Advertisement:
        manufacturer: dict[int, bytes] = {}
        if self.manufacturer_id is not None and self.manufacturer_data is not None:
            manufacturer[self.manufacturer_id] = self.manufacturer_data
        return Advertisement(
            address=self.address,
            name=self.name,
            service_uuids=(self.service_uuid,) if self.service_uuid else (),
            manufacturer_data=manufacturer,
            rssi=self.rssi,
        )

    # ------------------------------------------------------------------ what a test or demo does
    def press(self, code: int) -> bool:
        """Button ``code`` pressed: the counter moves on, ``[code, counter]`` is notified.
        False when nobody is subscribed (the press is lost)."""
        with self.radio.lock:
            self.counter = (self.counter + 1) & 0xFF
            payload = bytes([code & 0xFF, self.counter])
        return self.radio.notify(self, payload)

    def garbage(self, data: bytes) -> bool:
        """Notify ``data`` as is (a repeat, a wrong length, an unknown code)."""
        return self.radio.notify(self, bytes(data))

    def disconnect(self) -> None:
        """Out of range: the link drops, and connecting fails until :meth:`advertise`."""
        self.reachable = False
        self.radio.drop(self)

    def advertise(self, rssi: int | None = None) -> None:
        """In range and advertising (again): the scan reports it."""
        self.reachable = True
        if rssi is not None:
            self.rssi = rssi
        self.radio.advertise(self)

    def fail_connects(self, count: int) -> None:
        self.connect_failures = count

    def remove(self) -> None:
        """Gone for good: the link drops and the radio forgets it."""
        self.reachable = False
        self.radio.drop(self)
        self.radio.discard(self)

    @property
    def connected(self) -> bool:
        return self.radio.link(self) is not None

    @property
    def subscribed(self) -> bool:
        link = self.radio.link(self)
        return link is not None and link.subscriber is not None


def _radio_of(value: EmulatedRadio | str) -> EmulatedRadio:
    return value if isinstance(value, EmulatedRadio) else radio(value)


@dataclass(eq=False)
class _EmulatedConnection:
    radio: EmulatedRadio
    remote: EmulatedRemote
    on_disconnect: _Subscriber
    subscriber: _Subscriber | None = None
    open: bool = True
    _ended: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return self.remote.address

    @property
    def is_connected(self) -> bool:
        return self.open

    async def start_notify(self, characteristic_uuid: str, callback: NotifyCallback) -> None:
        await asyncio.sleep(0)
        if not self.open:
            raise ConnectFailed(f"{self.address}: not connected")
        if characteristic_uuid != self.remote.characteristic_uuid:
            failed = ConnectFailed(f"{self.address}: no characteristic {characteristic_uuid}")
            failed.retry = False
            raise failed
        self.subscriber = _Subscriber(asyncio.get_running_loop(), callback)

    async def disconnect(self) -> None:
        await asyncio.sleep(0)
        self.radio.end(self)

    def ended(self) -> None:
        """The link is over (either side): tell the plugin, once."""
        if not self._ended.is_set():
            self._ended.set()
            self.open = False
            self.subscriber = None
            self.on_disconnect.call()


class EmulatedRadio:
    """The plugin's :class:`~c2c_hub_plugins.ble_remotes.radio.RemoteRadio`, with emulated remotes.

    ``unavailable``: set a reason to make :meth:`start_scan` fail (no radio), None to recover.
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.lock = threading.RLock()
        self.unavailable: str | None = None
        self.scan_starts = 0
        self._remotes: dict[str, EmulatedRemote] = {}
        self._links: dict[str, _EmulatedConnection] = {}
        self._scan: _Subscriber | None = None

    @property
    def description(self) -> str:
        return f"emulated radio {self.name!r}"

    @property
    def remotes(self) -> list[EmulatedRemote]:
        with self.lock:
            return list(self._remotes.values())

    # ------------------------------------------------------------------ the seam
    async def start_scan(self, callback: AdvertisementCallback) -> None:
        await asyncio.sleep(0)
        with self.lock:
            if self.unavailable is not None:
                raise RadioUnavailable(self.unavailable)
            if self._scan is not None:
                raise RuntimeError("already scanning")
            self._scan = scan = _Subscriber(asyncio.get_running_loop(), callback)
            self.scan_starts += 1
            # Remotes in range and not connected advertise: a new scan hears them at once.
            present = [
                r for r in self._remotes.values() if r.reachable and r.address not in self._links
            ]
        for remote in present:
            scan.call(remote.advertisement())

    async def stop_scan(self) -> None:
        with self.lock:
            self._scan = None

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> RemoteConnection:
        await asyncio.sleep(0)
        with self.lock:
            remote = self._remotes.get(address.upper())
            if remote is None:
                raise DeviceGone(f"{address}: no such remote in range")
            if remote.connect_failures > 0:
                remote.connect_failures -= 1
                raise ConnectFailed(f"{address}: connection aborted (emulated failure)")
            if not remote.reachable:
                raise ConnectFailed(f"{address}: page timeout (out of range)")
            if remote.address in self._links:
                raise ConnectFailed(f"{address}: already connected")
            link = _EmulatedConnection(
                self, remote, _Subscriber(asyncio.get_running_loop(), on_disconnect)
            )
            self._links[remote.address] = link
            remote.connects += 1
        return link

    # ------------------------------------------------------------------ what remotes call
    def add(self, remote: EmulatedRemote) -> None:
        with self.lock:
            if remote.address in self._remotes:
                raise ValueError(f"remote {remote.address} already exists on {self.description}")
            self._remotes[remote.address] = remote
        self.advertise(remote)

    def discard(self, remote: EmulatedRemote) -> None:
        with self.lock:
            self._remotes.pop(remote.address, None)

    def advertise(self, remote: EmulatedRemote) -> None:
        with self.lock:
            scan = self._scan
        if scan is not None:
            scan.call(remote.advertisement())

    def notify(self, remote: EmulatedRemote, payload: bytes) -> bool:
        with self.lock:
            link = self._links.get(remote.address)
            subscriber = link.subscriber if link is not None else None
        return subscriber is not None and subscriber.call(payload)

    def drop(self, remote: EmulatedRemote) -> None:
        with self.lock:
            link = self._links.get(remote.address)
        if link is not None:
            self.end(link)

    def end(self, link: _EmulatedConnection) -> None:
        with self.lock:
            if self._links.get(link.remote.address) is link:
                del self._links[link.remote.address]
        link.ended()

    def link(self, remote: EmulatedRemote) -> _EmulatedConnection | None:
        with self.lock:
            return self._links.get(remote.address)
