"""What the hub knows of its networks, as plain values (JSON-ready through ``to_json``).

Nothing here holds a PSK: a saved network says only whether it has one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

from c2c_hub.network.errors import NetworkRefused

# NetworkManager's NMDeviceType values the hub names (everything else is "other").
DEVICE_KINDS = {1: "ethernet", 2: "wifi", 8: "cellular", 14: "other", 32: "loopback"}
# NMDeviceState
DEVICE_STATES = {
    0: "unknown",
    10: "unmanaged",
    20: "unavailable",
    30: "disconnected",
    40: "preparing",
    50: "configuring",
    60: "needs authentication",
    70: "getting an address",
    80: "checking",
    90: "waiting for secondaries",
    100: "connected",
    110: "disconnecting",
    120: "failed",
}
ACTIVATED = 100
FAILED = 120
# NMDeviceStateReason values an operator meets on set, in words.
STATE_REASONS = {
    0: "",
    1: "",
    7: "the password was refused (or none was given)",
    8: "the Wi-Fi supplicant disconnected",
    11: "the Wi-Fi supplicant timed out",
    5: "no address was given (DHCP failed)",
    6: "the address configuration expired",
    36: "the connection was removed",
    38: "the carrier (cable or signal) was lost",
    39: "the connection was taken over by another",
    53: "the network is not in range",
    64: "another host on the network already holds this address",
}
# NMActiveConnectionState
ACTIVE_STATES = {0: "unknown", 1: "activating", 2: "activated", 3: "deactivating", 4: "deactivated"}
# NM80211ApSecurityFlags
_KEY_MGMT_PSK = 0x100
_KEY_MGMT_8021X = 0x200
_KEY_MGMT_SAE = 0x400
_KEY_MGMT_OWE = 0x800
# MMModemAccessTechnology bits, best first
ACCESS_TECHNOLOGIES = [
    (0x8000, "5G"),
    (0x4000, "LTE"),
    (0x200, "HSPA+"),
    (0x100, "HSPA"),
    (0x80, "HSUPA"),
    (0x40, "HSDPA"),
    (0x20, "UMTS"),
    (0x10, "EDGE"),
    (0x8, "GPRS"),
    (0x2, "GSM"),
]


def reason_text(code: int) -> str:
    return STATE_REASONS.get(code, f"NetworkManager reason {code}")


def security_of(flags: int, wpa_flags: int, rsn_flags: int) -> str:
    """``open``, ``WEP``, ``WPA2``, ``WPA3``, ``WPA2/WPA3``, ``enterprise`` or ``OWE``."""
    both = wpa_flags | rsn_flags
    if both & _KEY_MGMT_8021X:
        return "enterprise"
    if rsn_flags & _KEY_MGMT_SAE:
        return "WPA2/WPA3" if rsn_flags & _KEY_MGMT_PSK else "WPA3"
    if both & _KEY_MGMT_PSK:
        return "WPA2" if rsn_flags & _KEY_MGMT_PSK else "WPA"
    if rsn_flags & _KEY_MGMT_OWE:
        return "OWE"
    return "WEP" if flags & 0x1 else "open"


def band_of(frequency_mhz: int) -> str:
    if 2400 <= frequency_mhz < 2500:
        return "2.4 GHz"
    if 4900 <= frequency_mhz < 5900:
        return "5 GHz"
    if 5925 <= frequency_mhz < 7200:
        return "6 GHz"
    return f"{frequency_mhz} MHz"


def access_technology(bits: int) -> str | None:
    for bit, name in ACCESS_TECHNOLOGIES:
        if bits & bit:
            return name
    return None


@dataclass(frozen=True)
class WifiNetwork:
    """One network in range (the strongest access point of each SSID)."""

    ssid: str
    signal: int  # percent
    security: str
    band: str
    frequency_mhz: int
    max_rate_mbps: float
    bssid: str
    saved: bool = False
    in_use: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Addressing:
    """DHCP, or a static IPv4 address (``192.168.1.50/24``), gateway and DNS servers."""

    method: str = "auto"  # auto (DHCP) | manual (static)
    address: str | None = None
    gateway: str | None = None
    dns: tuple[str, ...] = ()

    @classmethod
    def static(
        cls, address: str, gateway: str | None, dns: list[str] | tuple[str, ...]
    ) -> Addressing:
        """Validated: an interface address with a prefix, a gateway inside it, DNS addresses."""
        try:
            iface = ipaddress.IPv4Interface(address)
        except ValueError:
            raise NetworkRefused(
                f"{address!r} is not an IPv4 address with a prefix (e.g. 192.168.1.50/24)"
            ) from None
        if "/" not in address:
            raise NetworkRefused(f"{address!r} needs a prefix length (e.g. {address}/24)")
        net = iface.network
        if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
            raise NetworkRefused(f"{iface.ip} is the network's own or broadcast address")
        if gateway is not None:
            try:
                gw = ipaddress.IPv4Address(gateway)
            except ValueError:
                raise NetworkRefused(f"gateway {gateway!r} is not an IPv4 address") from None
            if gw not in net:
                raise NetworkRefused(f"gateway {gw} is outside {net}")
            if gw == iface.ip:
                raise NetworkRefused("the gateway cannot be the hub's own address")
        servers: list[str] = []
        for server in dns:
            try:
                servers.append(str(ipaddress.IPv4Address(server)))
            except ValueError:
                raise NetworkRefused(f"DNS server {server!r} is not an IPv4 address") from None
        return cls("manual", str(iface), gateway, tuple(servers))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "dhcp" if self.method == "auto" else "static",
            "address": self.address,
            "gateway": self.gateway,
            "dns": list(self.dns),
        }


@dataclass(frozen=True)
class SavedNetwork:
    """A connection profile NetworkManager keeps (never its secrets)."""

    uuid: str
    name: str
    kind: str  # wifi | ethernet | cellular | other
    ssid: str | None
    priority: int
    autoconnect: bool
    addressing: Addressing
    has_password: bool
    path: str = field(default="", compare=False)
    in_use: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "kind": self.kind,
            "ssid": self.ssid,
            "priority": self.priority,
            "autoconnect": self.autoconnect,
            "addressing": self.addressing.to_json(),
            "has_password": self.has_password,
            "in_use": self.in_use,
        }


@dataclass(frozen=True)
class NetDevice:
    interface: str
    kind: str
    state: str
    state_code: int
    reason: str
    connection: str | None  # the active connection's name
    path: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "kind": self.kind,
            "state": self.state,
            "reason": self.reason or None,
            "connection": self.connection,
        }


@dataclass(frozen=True)
class Modem:
    operator: str | None
    technology: str | None
    signal: int | None  # percent
    state: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InUse:
    """The connection carrying the hub's traffic, and why it is that one."""

    name: str
    uuid: str
    kind: str
    interface: str | None
    ssid: str | None
    signal: int | None
    link_rate_mbps: float | None
    why: str
    operator: str | None = None  # cellular: the network operator (ModemManager)
    technology: str | None = None  # cellular: LTE, 5G ...

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
