"""A remote's identity: the ``client_id`` its Frame.io channel keeps across power cycles.

A Bluetooth LE address is one of four kinds (Core Specification, Vol 6, Part B, §1.3):
*public* (the maker's, for good), *static random* (chosen at manufacture or at each power
cycle, then fixed: the two top bits are ``11``), *resolvable private* (``01``: changes every
few minutes, only a bonded host can resolve it to the identity address) and *non-resolvable
private* (``00``: changes at will). Only the first two identify a remote; when a remote uses a
private address, its serial number (Device Information, 0x2A25) is used if it has one, else
the remote is refused and the status says why. Once a remote is paired, BlueZ reports its
identity address instead, so pairing it is the fix.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from c2c_hub import kit


class AddressKind(StrEnum):
    PUBLIC = "public"
    STATIC = "static random"
    RESOLVABLE = "resolvable private"
    NON_RESOLVABLE = "non-resolvable private"


class NoIdentity(kit.HubError):
    """The remote has nothing stable to be known by; the message says what to do."""


def address_kind(address: str, address_type: str | None) -> AddressKind:
    """The kind of ``address``; ``address_type`` is BlueZ's (``"public"``/``"random"``)."""
    if address_type != "random":
        return AddressKind.PUBLIC
    top = int(address.split(":")[0], 16) >> 6
    if top == 0b11:
        return AddressKind.STATIC
    if top == 0b01:
        return AddressKind.RESOLVABLE
    return AddressKind.NON_RESOLVABLE


def client_id(address: str, address_type: str | None, serial: str | None = None) -> str:
    """The remote's stable id, from its identity address (else its serial); :class:`NoIdentity`.

    The id becomes the channel's ``client_id`` at Frame.io, which must not be a MAC address,
    so it is a digest of the address: stable, and the same on every hub.
    """
    kind = address_kind(address, address_type)
    if kind in (AddressKind.PUBLIC, AddressKind.STATIC):
        digest = hashlib.sha256(f"c2c-hub ble identity {address.upper()}".encode()).hexdigest()
        return f"hid-{digest[:16]}"
    if serial is not None and kit.SERIAL_RE.match(f"hid-sn-{serial}"):
        return f"hid-sn-{serial}"
    raise NoIdentity(
        f"{address} is a {kind} address, which changes, and the remote reports no serial "
        "number: pair it once (bluetoothctl pair), so BlueZ reports its identity address"
    )
