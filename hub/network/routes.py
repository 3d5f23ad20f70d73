"""Default routes, IPv4 and IPv6, straight from the kernel (``/proc/net/route``,
``/proc/net/ipv6_route``): which interface and gateway would carry the hub's traffic."""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC_ROUTE = Path("/proc/net/route")
PROC_ROUTE6 = Path("/proc/net/ipv6_route")
_RTF_UP = 0x1
_RTF_REJECT = 0x200


@dataclass(frozen=True)
class DefaultRoute:
    interface: str
    gateway: str | None
    metric: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ipv4_default_routes(path: Path = PROC_ROUTE) -> list[DefaultRoute]:
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) < 8 or parts[1] != "00000000" or parts[7] != "00000000":
            continue
        if not int(parts[3], 16) & _RTF_UP:
            continue
        gateway = socket.inet_ntoa(struct.pack("<I", int(parts[2], 16)))
        found.append(
            DefaultRoute(parts[0], None if gateway == "0.0.0.0" else gateway, int(parts[6]))
        )
    return sorted(found, key=lambda r: r.metric)


def ipv6_default_routes(path: Path = PROC_ROUTE6) -> list[DefaultRoute]:
    """``::/0`` routes that are up and not rejections (the kernel's ``lo`` "unreachable")."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) < 10 or parts[0] != "0" * 32 or parts[1] != "00":
            continue
        flags = int(parts[8], 16)
        if not flags & _RTF_UP or flags & _RTF_REJECT:
            continue
        gateway = str(ipaddress.IPv6Address(bytes.fromhex(parts[4])))
        found.append(
            DefaultRoute(parts[9], None if gateway == "::" else gateway, int(parts[5], 16))
        )
    return sorted(found, key=lambda r: r.metric)


def default_routes() -> dict[str, list[dict[str, Any]]]:
    return {
        "ipv4": [r.to_json() for r in ipv4_default_routes()],
        "ipv6": [r.to_json() for r in ipv6_default_routes()],
    }
