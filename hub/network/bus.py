"""A thin, typed seam over dbus-fast for the system bus: calls, ``GetAll``, signals.

Properties are read with ``org.freedesktop.DBus.Properties.GetAll`` (never through a proxy's
introspection, which some services, mocks among them, declare wrongly), and signals are heard
through a raw ``AddMatch`` (a proxy only hears the signals its introspection names).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from c2c_hub.network.errors import NetworkUnavailable

PROPERTIES = "org.freedesktop.DBus.Properties"
DBUS = "org.freedesktop.DBus"


class BusCallError(NetworkUnavailable):
    """A D-Bus call answered with an error (``name`` is the D-Bus error name)."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


def unwrap(value: Any) -> Any:
    """Variants (at any depth) to plain values; byte arrays stay ``bytes``."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


class SystemBus:
    """One connection to the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` when set)."""

    def __init__(self) -> None:
        self._bus: MessageBus | None = None
        self._handlers: list[Callable[[Message], None]] = []

    @property
    def connected(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def connect(self) -> None:
        try:
            self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as exc:
            raise NetworkUnavailable(f"no system D-Bus ({exc})") from None
        except Exception as exc:  # dbus-fast's own AuthError and the like
            raise NetworkUnavailable(f"no system D-Bus ({type(exc).__name__}: {exc})") from None
        self._bus.add_message_handler(self._dispatch)

    def disconnect(self) -> None:
        """Close the connection; the signal handlers go with it (a new start adds its own)."""
        self._handlers.clear()
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.disconnect()

    def on_signal(self, handler: Callable[[Message], None]) -> None:
        self._handlers.append(handler)

    def _dispatch(self, message: Message) -> None:
        if message.message_type is not MessageType.SIGNAL:
            return
        for handler in list(self._handlers):
            handler(message)

    async def call(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
    ) -> list[Any]:
        if self._bus is None:
            raise NetworkUnavailable("not connected to the system D-Bus")
        try:
            reply = await self._bus.call(
                Message(
                    destination=destination,
                    path=path,
                    interface=interface,
                    member=member,
                    signature=signature,
                    body=body or [],
                )
            )
        except Exception as exc:  # the bus went away under the call (EOF, reset ...)
            raise NetworkUnavailable(f"the system D-Bus failed: {type(exc).__name__}") from None
        if reply is None:
            raise NetworkUnavailable(f"no reply to {interface}.{member}")
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body else reply.error_name or "error"
            raise BusCallError(reply.error_name or "", str(text))
        return list(reply.body)

    async def get_all(self, destination: str, path: str, interface: str) -> dict[str, Any]:
        body = await self.call(destination, path, PROPERTIES, "GetAll", "s", [interface])
        result: dict[str, Any] = unwrap(body[0])
        return result

    async def add_match(self, rule: str) -> None:
        await self.call(DBUS, "/org/freedesktop/DBus", DBUS, "AddMatch", "s", [rule])

    async def name_has_owner(self, name: str) -> bool:
        body = await self.call(DBUS, "/org/freedesktop/DBus", DBUS, "NameHasOwner", "s", [name])
        return bool(body[0])
