"""Emulated HID-over-GATT remotes, in process, for the demo (no D-Bus, no Bluetooth).

:class:`EmulatedHidRadio` implements the plugin's radio seam; the plugin uses it with
``radio = "emulated"`` and ``emulated_radio = "<name>"`` (a process-wide registry, so the
demo and the plugin find the same one). A remote has a real Report Map and sends real input
reports; :data:`SHUTTER_REPORT_MAP` is a two-button shutter remote's (keyboard report 1 with
Enter, consumer report 2 with Volume Up/Down)::

    remote = EmulatedHidRemote("F1:22:33:44:55:66", "AB Shutter3", radio="demo")
    remote.tap(VOLUME_UP)          # key down, then key up: one press
    remote.send(2, b"\\x01")        # a raw input report (report id 2: Volume Up down)

For bleak's real BlueZ path, ``c2c_hub.emulation.bluez.BlueZMock.add_hid_remote`` instead.
"""

from __future__ import annotations

import asyncio
import threading

from c2c_hub_plugins.hid_remotes.radio import (
    HID_SERVICE_UUID,
    Advertisement,
    AdvertisementCallback,
    ConnectFailed,
    DisconnectCallback,
    HidLink,
    ReportCallback,
)

#: A two-button BLE shutter remote's Report Map: keyboard (report 1: modifiers, reserved,
#: six keys) and consumer control (report 2: Volume Up, Volume Down, six bits of padding).
SHUTTER_REPORT_MAP = bytes.fromhex(
    "05 01 09 06 A1 01 85 01 05 07 19 E0 29 E7 15 00 25 01 75 01 95 08 81 02"
    " 95 01 75 08 81 01 95 06 75 08 15 00 25 65 05 07 19 00 29 65 81 00 C0"
    " 05 0C 09 01 A1 01 85 02 15 00 25 01 75 01 95 02 09 E9 09 EA 81 02 95 06 81 01 C0"
)
VOLUME_UP = (0x0C, 0xE9)
ENTER = (0x07, 0x28)


def shutter_report(usage: tuple[int, int] | None) -> tuple[int, bytes]:
    """(report id, value without the id) of :data:`SHUTTER_REPORT_MAP` with ``usage`` down
    (None: everything up, on the consumer report)."""
    if usage == ENTER:
        return 1, bytes([0, 0, 0x28, 0, 0, 0, 0, 0])
    if usage == VOLUME_UP:
        return 2, b"\x01"
    if usage == (0x0C, 0xEA):
        return 2, b"\x02"
    return 2, b"\x00"


_RADIOS: dict[str, EmulatedHidRadio] = {}
_LOCK = threading.Lock()


def radio(name: str = "default") -> EmulatedHidRadio:
    with _LOCK:
        found = _RADIOS.get(name)
        if found is None:
            found = _RADIOS[name] = EmulatedHidRadio(name)
        return found


def forget(name: str) -> None:
    with _LOCK:
        _RADIOS.pop(name, None)


class EmulatedHidRemote:
    """A HID remote on an emulated radio: driven from any thread."""

    def __init__(
        self,
        address: str,
        name: str = "AB Shutter3",
        *,
        radio: EmulatedHidRadio | str = "default",
        report_map: bytes = SHUTTER_REPORT_MAP,
        report_ids: tuple[int, ...] = (1, 2),
        address_type: str = "public",
    ) -> None:
        self.address = address
        self.name = name
        self.report_map = report_map
        self.report_ids = report_ids
        self.address_type = address_type
        self.radio = globals()["radio"](radio) if isinstance(radio, str) else radio
        self.radio.add(self)

    def advertisement(self) -> Advertisement:
        return Advertisement(
            address=self.address,
            name=self.name,
            service_uuids=(HID_SERVICE_UUID,),
            address_type=self.address_type,
            rssi=-55,
        )

    def send(self, report_id: int, value: bytes) -> bool:
        """An input report on ``report_id``; False when nobody is subscribed."""
        return self.radio.notify(self, report_id, value)

    def tap(self, usage: tuple[int, int]) -> bool:
        """Key down, then up, as a shutter remote sends a press."""
        down = self.send(*shutter_report(usage))
        self.send(*shutter_report(None))
        return down

    def disconnect(self) -> None:
        self.radio.drop(self)

    @property
    def subscribed(self) -> bool:
        link = self.radio.link(self)
        return link is not None and link.callback is not None


class _Link:
    def __init__(
        self, radio: EmulatedHidRadio, remote: EmulatedHidRemote, on_disconnect: DisconnectCallback
    ) -> None:
        self._radio = radio
        self.remote = remote
        self.loop = asyncio.get_running_loop()
        self.on_disconnect = on_disconnect
        self.callback: ReportCallback | None = None
        self.open = True

    @property
    def address(self) -> str:
        return self.remote.address

    async def read_report_map(self) -> bytes:
        return self.remote.report_map

    async def read_serial(self) -> str | None:
        return None

    async def subscribe_inputs(self, callback: ReportCallback) -> list[int]:
        self.callback = callback
        return list(self.remote.report_ids)

    async def disconnect(self) -> None:
        self._radio.end(self)


class EmulatedHidRadio:
    def __init__(self, name: str = "default") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._remotes: dict[str, EmulatedHidRemote] = {}
        self._links: dict[str, _Link] = {}
        self._scan: tuple[asyncio.AbstractEventLoop, AdvertisementCallback] | None = None

    @property
    def description(self) -> str:
        return f"emulated HID radio {self.name!r}"

    async def start_scan(self, callback: AdvertisementCallback) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._scan = (loop, callback)
            remotes = list(self._remotes.values())
        for remote in remotes:
            callback(remote.advertisement())

    async def stop_scan(self) -> None:
        with self._lock:
            self._scan = None

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> HidLink:
        with self._lock:
            remote = self._remotes.get(address)
            if remote is None:
                raise ConnectFailed(f"{address}: not in range")
            link = _Link(self, remote, on_disconnect)
            self._links[address] = link
        return link

    def add(self, remote: EmulatedHidRemote) -> None:
        with self._lock:
            self._remotes[remote.address] = remote
            scan = self._scan
        if scan is not None:
            scan[0].call_soon_threadsafe(scan[1], remote.advertisement())

    def notify(self, remote: EmulatedHidRemote, report_id: int, value: bytes) -> bool:
        with self._lock:
            link = self._links.get(remote.address)
        if link is None or link.callback is None or not link.open:
            return False
        link.loop.call_soon_threadsafe(link.callback, report_id, value)
        return True

    def drop(self, remote: EmulatedHidRemote) -> None:
        with self._lock:
            link = self._links.pop(remote.address, None)
        if link is not None and link.open:
            link.open = False
            link.loop.call_soon_threadsafe(link.on_disconnect)

    def end(self, link: _Link) -> None:
        with self._lock:
            if self._links.get(link.address) is link:
                del self._links[link.address]
        link.open = False

    def link(self, remote: EmulatedHidRemote) -> _Link | None:
        with self._lock:
            return self._links.get(remote.address)

    def remotes(self) -> list[EmulatedHidRemote]:
        with self._lock:
            return list(self._remotes.values())
