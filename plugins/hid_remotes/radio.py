"""The seam between the plugin's logic and a radio that speaks HID over GATT.

Two radios implement :class:`HidRadio`:
:class:`~c2c_hub_plugins.hid_remotes.bleak_radio.BleakHidRadio` (bleak on BlueZ, or on the BlueZ
D-Bus mock of ``c2c_hub.emulation.bluez`` in tests) and
:class:`~c2c_hub_plugins.hid_remotes.emulated.EmulatedHidRadio` (in process, for the demo).

Contract (as the ble-remotes plugin's seam): callbacks run on the event loop that scanned or
connected and must not block; failures are the typed errors below, whose message is advice.

Errors::

    HidRadioError                   anything a radio reports
     ├── RadioUnavailable           no D-Bus, no BlueZ, no adapter (retry slowly)
     └── ConnectFailed              one attempt to connect or to read the HID service failed
          └── NotHid                connected, but it has no usable HID service (no retry)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from c2c_hub.kit import HubError

#: The HID service and its characteristics (Bluetooth SIG assigned numbers).
HID_SERVICE_UUID = "00001812-0000-1000-8000-00805f9b34fb"
REPORT_MAP_UUID = "00002a4b-0000-1000-8000-00805f9b34fb"
REPORT_UUID = "00002a4d-0000-1000-8000-00805f9b34fb"
REPORT_REFERENCE_UUID = "00002908-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
INPUT_REPORT = 1  # the Report Reference's report type of an Input Report


@dataclass(frozen=True)
class Advertisement:
    address: str
    name: str | None = None
    service_uuids: tuple[str, ...] = ()
    #: BlueZ's ``AddressType``: ``"public"`` or ``"random"`` (None: not said)
    address_type: str | None = None
    rssi: int | None = None


AdvertisementCallback = Callable[[Advertisement], None]
ReportCallback = Callable[[int, bytes], None]  # (report id from its Report Reference, value)
DisconnectCallback = Callable[[], None]


class HidRadioError(HubError):
    """A radio failure; the message says what happened and what to do about it."""


class RadioUnavailable(HidRadioError):
    """No radio to use: no system bus, no BlueZ on it, or no adapter."""


class ConnectFailed(HidRadioError):
    """One attempt to connect, or to read the HID service, failed."""

    retry = True


class NotHid(ConnectFailed):
    """The device has no HID service the hub can use (no Report Map, no Input Report)."""

    retry = False


@runtime_checkable
class HidLink(Protocol):
    """A live link to one HID remote."""

    @property
    def address(self) -> str: ...

    async def read_report_map(self) -> bytes:
        """The Report Map (0x2A4B): the report descriptor. Raises :class:`ConnectFailed`."""
        ...

    async def read_serial(self) -> str | None:
        """The Device Information service's serial number (0x2A25), if it has one."""
        ...

    async def subscribe_inputs(self, callback: ReportCallback) -> list[int]:
        """Subscribe to every Input Report (0x2A4D with a Report Reference of type input);
        ``callback(report_id, value)`` per notification. Returns the report ids."""
        ...

    async def disconnect(self) -> None:
        """Close the link (never raises)."""
        ...


@runtime_checkable
class HidRadio(Protocol):
    @property
    def description(self) -> str: ...

    async def start_scan(self, callback: AdvertisementCallback) -> None: ...

    async def stop_scan(self) -> None: ...

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> HidLink: ...
