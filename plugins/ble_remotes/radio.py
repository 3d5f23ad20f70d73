"""The seam between the plugin's logic and a radio (habluetooth's scanner seam, in small).

Everything the plugin does (matching, connecting with retry and backoff, subscribing,
decoding, reconnecting, the scanner watchdog, health) talks to a :class:`RemoteRadio` only.
Two radios implement it:

- :class:`c2c_hub_plugins.ble_remotes.bleak_radio.BleakRadio`: bleak's ``BleakScanner`` and
  ``BleakClient`` on BlueZ, i.e. real Bluetooth (or the BlueZ D-Bus mock of
  :mod:`c2c_hub.emulation.bluez` in tests);
- :class:`c2c_hub_plugins.ble_remotes.emulated.EmulatedRadio`: emulated remotes in process, for the
demo.

Contract: callbacks (advertisements, notifications, disconnects) run on the event loop that
called :meth:`RemoteRadio.start_scan` or :meth:`RemoteRadio.connect`, never on another
thread, and they must not block. Failures are the typed errors below, whose message is
advice a person can act on; nothing else escapes a radio (but cancellation).

Errors::

    RadioError                      anything a radio reports
     ├── RadioUnavailable           no radio at all: no D-Bus, no BlueZ, no adapter (retry slowly)
     └── ConnectFailed              one connection attempt failed (retry with backoff)
          └── DeviceGone            the radio no longer knows the device (wait for it to advertise)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from c2c_hub.kit import HubError


@dataclass(frozen=True)
class Advertisement:
    """What a scan reports about one device (an advertisement, or a change of its data)."""

    address: str
    name: str | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    rssi: int | None = None


AdvertisementCallback = Callable[[Advertisement], None]
NotifyCallback = Callable[[bytes], None]
DisconnectCallback = Callable[[], None]


class RadioError(HubError):
    """A radio failure; the message says what happened and what to do about it."""


class RadioUnavailable(RadioError):
    """There is no radio to use: no system bus, no BlueZ on it, or no (powered) adapter."""


class ConnectFailed(RadioError):
    """One attempt to connect (or to subscribe) failed; ``retry`` says whether trying again
    right away can help."""

    retry = True


class DeviceGone(ConnectFailed):
    """The radio no longer knows the device (it left, or BlueZ forgot it)."""

    retry = False


@runtime_checkable
class RemoteConnection(Protocol):
    """A live link to one remote."""

    @property
    def address(self) -> str: ...

    @property
    def is_connected(self) -> bool: ...

    async def start_notify(self, characteristic_uuid: str, callback: NotifyCallback) -> None:
        """Subscribe to the characteristic; ``callback(payload)`` per notification.

        Raises :class:`ConnectFailed` (the link dropped, or there is no such characteristic).
        """
        ...

    async def disconnect(self) -> None:
        """Close the link (never raises; the disconnect callback runs as for a drop)."""
        ...


@runtime_checkable
class RemoteRadio(Protocol):
    """A scanner plus a way to connect: what the plugin needs from Bluetooth."""

    @property
    def description(self) -> str:
        """For the health line: "BlueZ hci0 (bleak)", "emulated radio 'demo'"."""
        ...

    async def start_scan(self, callback: AdvertisementCallback) -> None:
        """Start scanning; every advertisement (or change of one) calls ``callback``.

        Raises :class:`RadioUnavailable`. A started scan stays started until
        :meth:`stop_scan`, even if it goes quiet.
        """
        ...

    async def stop_scan(self) -> None:
        """Stop scanning (never raises; a no-op when not scanning)."""
        ...

    async def connect(
        self, address: str, *, on_disconnect: DisconnectCallback, timeout_s: float
    ) -> RemoteConnection:
        """Connect to ``address`` within ``timeout_s`` seconds.

        ``on_disconnect`` runs once when the link ends, whoever ends it. Raises
        :class:`ConnectFailed` (or :class:`DeviceGone`) and :class:`RadioUnavailable`.
        """
        ...
