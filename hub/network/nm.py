"""NetworkManager's D-Bus API, read and written the few ways the hub needs.

Reading builds one :class:`NmView` (devices, networks in range, saved connections, active
connections, the primary one) from ``GetAll`` calls; writing adds, updates, deletes, activates and
deactivates connection profiles. Settings go out as ``a{sa{sv}}`` with explicit signatures; a
profile read back keeps its own Variants, so an update changes only the keys the hub means to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Variant

from c2c_hub.network.bus import SystemBus, unwrap
from c2c_hub.network.errors import NetworkUnavailable
from c2c_hub.network.model import (
    ACTIVATED,
    DEVICE_KINDS,
    DEVICE_STATES,
    Addressing,
    NetDevice,
    SavedNetwork,
    WifiNetwork,
    band_of,
    reason_text,
    security_of,
)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = "/org/freedesktop/NetworkManager/Settings"
SETTINGS_IFACE = "org.freedesktop.NetworkManager.Settings"
CONNECTION_IFACE = "org.freedesktop.NetworkManager.Settings.Connection"
DEVICE_IFACE = "org.freedesktop.NetworkManager.Device"
WIRELESS_IFACE = "org.freedesktop.NetworkManager.Device.Wireless"
WIRED_IFACE = "org.freedesktop.NetworkManager.Device.Wired"
AP_IFACE = "org.freedesktop.NetworkManager.AccessPoint"
ACTIVE_IFACE = "org.freedesktop.NetworkManager.Connection.Active"
NO_PATH = "/"
_TYPES = {"802-11-wireless": "wifi", "802-3-ethernet": "ethernet", "gsm": "cellular"}

Raw = dict[str, dict[str, Variant]]


@dataclass
class Active:
    path: str
    uuid: str
    name: str
    kind: str
    state: int
    devices: list[str]
    specific_object: str


@dataclass
class NmView:
    """One consistent read of NetworkManager."""

    devices: list[NetDevice] = field(default_factory=list)
    networks: list[WifiNetwork] = field(default_factory=list)
    saved: list[SavedNetwork] = field(default_factory=list)
    active: list[Active] = field(default_factory=list)
    primary: str = NO_PATH
    state: int = 0
    connectivity: int = 0
    link_kbps: dict[str, int] = field(default_factory=dict)  # device path -> link rate, kbit/s
    ap_by_path: dict[str, WifiNetwork] = field(default_factory=dict)

    def wifi_device(self) -> NetDevice | None:
        return next((d for d in self.devices if d.kind == "wifi"), None)

    def in_use(self) -> Active | None:
        """NetworkManager's primary connection, else the first activated one."""
        for active in self.active:
            if active.path == self.primary and active.state == 2:
                return active
        return next((a for a in self.active if a.state == 2), None)


class NmClient:
    def __init__(self, bus: SystemBus) -> None:
        self.bus = bus

    async def _get(self, path: str, iface: str) -> dict[str, Any]:
        return await self.bus.get_all(NM, path, iface)

    async def _call(
        self, path: str, iface: str, member: str, sig: str = "", body: list[Any] | None = None
    ) -> list[Any]:
        return await self.bus.call(NM, path, iface, member, sig, body)

    # ------------------------------------------------------------------ reading
    async def read(self) -> NmView:
        view = NmView()
        nm = await self._get(NM_PATH, NM)
        view.state = int(nm.get("State", 0))
        view.connectivity = int(nm.get("Connectivity", 0))
        view.primary = str(nm.get("PrimaryConnection", NO_PATH))
        for path in nm.get("ActiveConnections", []):
            try:
                props = await self._get(path, ACTIVE_IFACE)
            except Exception:
                continue  # gone between the two reads
            view.active.append(
                Active(
                    path=path,
                    uuid=str(props.get("Uuid", "")),
                    name=str(props.get("Id", "")),
                    kind=_TYPES.get(str(props.get("Type", "")), "other"),
                    state=int(props.get("State", 0)),
                    devices=[str(d) for d in props.get("Devices", [])],
                    specific_object=str(props.get("SpecificObject", NO_PATH)),
                )
            )
        names = {a.path: a.name for a in view.active}
        best: dict[str, WifiNetwork] = {}
        for path in nm.get("Devices", []):
            props = await self._get(path, DEVICE_IFACE)
            code = int(props.get("State", 0))
            reason = props.get("StateReason") or [code, 0]
            kind = DEVICE_KINDS.get(int(props.get("DeviceType", 0)), "other")
            view.devices.append(
                NetDevice(
                    interface=str(props.get("Interface", "")),
                    kind=kind,
                    state=DEVICE_STATES.get(code, str(code)),
                    state_code=code,
                    reason=reason_text(int(reason[1])) if code != ACTIVATED else "",
                    connection=names.get(str(props.get("ActiveConnection", NO_PATH))),
                    path=path,
                )
            )
            if kind == "ethernet":
                with contextlib.suppress(NetworkUnavailable):
                    wired = await self._get(path, WIRED_IFACE)
                    view.link_kbps[path] = int(wired.get("Speed", 0)) * 1000
            if kind != "wifi":
                continue
            wireless = await self._get(path, WIRELESS_IFACE)
            view.link_kbps[path] = int(wireless.get("Bitrate", 0))
            for ap_path in wireless.get("AccessPoints", []):
                try:
                    ap = await self._get(ap_path, AP_IFACE)
                except Exception:
                    continue
                seen = _network(ap)
                if seen is None:
                    continue
                view.ap_by_path[ap_path] = seen
                if seen.ssid not in best or seen.signal > best[seen.ssid].signal:
                    best[seen.ssid] = seen
        view.saved = await self.saved(view)
        saved_ssids = {s.ssid for s in view.saved if s.ssid}
        in_use = view.in_use()
        using_ssid = next(
            (s.ssid for s in view.saved if in_use is not None and s.uuid == in_use.uuid), None
        )
        view.networks = sorted(
            (
                WifiNetwork(
                    **{
                        **n.to_json(),
                        "saved": n.ssid in saved_ssids,
                        "in_use": n.ssid == using_ssid,
                    }
                )
                for n in best.values()
            ),
            key=lambda n: (-n.signal, n.ssid),
        )
        return view

    async def saved(self, view: NmView | None = None) -> list[SavedNetwork]:
        paths = (await self._call(SETTINGS_PATH, SETTINGS_IFACE, "ListConnections"))[0]
        using = view.in_use() if view is not None else None
        found: list[SavedNetwork] = []
        for path in paths:
            try:
                raw = await self.raw_settings(path)
            except Exception:
                continue
            found.append(_saved(path, unwrap(raw), using.uuid if using else None))
        return sorted(found, key=lambda s: (-s.priority, s.name))

    async def raw_settings(self, path: str) -> Raw:
        body = await self._call(path, CONNECTION_IFACE, "GetSettings")
        raw: Raw = body[0]
        return raw

    async def active_state(self, path: str) -> int | None:
        """An active connection's state; None once it is gone."""
        try:
            props = await self._get(path, ACTIVE_IFACE)
        except Exception:
            return None
        return int(props.get("State", 0))

    async def device_state(self, path: str) -> tuple[int, int]:
        props = await self._get(path, DEVICE_IFACE)
        code = int(props.get("State", 0))
        reason = props.get("StateReason") or [code, 0]
        return code, int(reason[1])

    # ------------------------------------------------------------------ writing
    async def add(self, settings: Raw) -> str:
        return str(
            (
                await self._call(
                    SETTINGS_PATH, SETTINGS_IFACE, "AddConnection", "a{sa{sv}}", [settings]
                )
            )[0]
        )

    async def update(self, path: str, settings: Raw) -> None:
        """Replace the profile's settings; its PSK carried over (NetworkManager replaces all)."""
        secrets: dict[str, Variant] = {}
        if "802-11-wireless-security" in settings:
            try:
                got = await self._call(
                    path, CONNECTION_IFACE, "GetSecrets", "s", ["802-11-wireless-security"]
                )
                section = got[0].get("802-11-wireless-security", {})
                if "psk" in section:
                    secrets["psk"] = section["psk"]
            except Exception:
                pass  # no agent or no secret: NetworkManager keeps what it has
        if secrets:
            settings = {
                **settings,
                "802-11-wireless-security": {**settings["802-11-wireless-security"], **secrets},
            }
        await self._call(path, CONNECTION_IFACE, "Update", "a{sa{sv}}", [settings])

    async def delete(self, path: str) -> None:
        await self._call(path, CONNECTION_IFACE, "Delete")

    async def activate(self, connection: str, device: str, specific: str = NO_PATH) -> str:
        body = await self._call(
            NM_PATH, NM, "ActivateConnection", "ooo", [connection, device, specific]
        )
        return str(body[0])

    async def deactivate(self, active: str) -> None:
        await self._call(NM_PATH, NM, "DeactivateConnection", "o", [active])

    async def last_scan(self, device: str) -> int | None:
        """When the device last finished a scan (ms, CLOCK_BOOTTIME); None if not told."""
        wireless = await self._get(device, WIRELESS_IFACE)
        value = wireless.get("LastScan")
        return None if value is None else int(value)

    async def request_scan(self, device: str) -> None:
        await self._call(device, WIRELESS_IFACE, "RequestScan", "a{sv}", [{}])


# ---------------------------------------------------------------------- settings
def wifi_settings(
    ssid: str,
    psk: str | None,
    *,
    security: str,
    priority: int,
    autoconnect: bool,
    addressing: Addressing,
    name: str | None = None,
    hidden: bool = False,
) -> Raw:
    """A new Wi-Fi profile (WPA2/WPA3-PSK, or open when ``psk`` is None)."""
    settings: Raw = {
        "connection": {
            "id": Variant("s", name or ssid),
            "uuid": Variant("s", str(uuidlib.uuid4())),
            "type": Variant("s", "802-11-wireless"),
            "autoconnect": Variant("b", autoconnect),
            "autoconnect-priority": Variant("i", priority),
        },
        "802-11-wireless": {
            "ssid": Variant("ay", ssid.encode()),
            "mode": Variant("s", "infrastructure"),
            "hidden": Variant("b", hidden),
        },
        "ipv4": ipv4_settings(addressing),
        "ipv6": {"method": Variant("s", "auto")},
    }
    if psk is not None:
        key_mgmt = "sae" if security == "WPA3" else "wpa-psk"
        settings["802-11-wireless"]["security"] = Variant("s", "802-11-wireless-security")
        settings["802-11-wireless-security"] = {
            "key-mgmt": Variant("s", key_mgmt),
            "psk": Variant("s", psk),
        }
    return settings


def ipv4_settings(addressing: Addressing) -> dict[str, Variant]:
    if addressing.method != "manual" or addressing.address is None:
        return {"method": Variant("s", "auto")}
    iface = ipaddress.IPv4Interface(addressing.address)
    section = {
        "method": Variant("s", "manual"),
        "address-data": Variant(
            "aa{sv}",
            [
                {
                    "address": Variant("s", str(iface.ip)),
                    "prefix": Variant("u", iface.network.prefixlen),
                }
            ],
        ),
        "dns": Variant("au", [_dns_u32(s) for s in addressing.dns]),
    }
    if addressing.gateway:
        section["gateway"] = Variant("s", addressing.gateway)
    return section


def with_changes(
    raw: Raw,
    *,
    priority: int | None = None,
    autoconnect: bool | None = None,
    addressing: Addressing | None = None,
) -> Raw:
    """A copy of ``raw`` (secrets dropped: :meth:`NmClient.update` carries them over)."""
    out: Raw = {k: dict(v) for k, v in raw.items()}
    out.get("802-11-wireless-security", {}).pop("psk", None)
    if priority is not None:
        out["connection"]["autoconnect-priority"] = Variant("i", priority)
    if autoconnect is not None:
        out["connection"]["autoconnect"] = Variant("b", autoconnect)
    if addressing is not None:
        kept = {
            k: v
            for k, v in out.get("ipv4", {}).items()
            if k not in {"method", "address-data", "addresses", "gateway", "dns"}
        }
        out["ipv4"] = {**kept, **ipv4_settings(addressing)}
    return out


def _dns_u32(server: str) -> int:
    value: int = struct.unpack("=I", socket.inet_aton(server))[0]
    return value


def _dns_str(value: int) -> str:
    return socket.inet_ntoa(struct.pack("=I", value))


def _network(ap: dict[str, Any]) -> WifiNetwork | None:
    raw_ssid = ap.get("Ssid", b"")
    ssid = bytes(raw_ssid).decode(errors="replace")
    if not ssid:
        return None  # hidden networks announce no name
    freq = int(ap.get("Frequency", 0))
    return WifiNetwork(
        ssid=ssid,
        signal=int(ap.get("Strength", 0)),
        security=security_of(
            int(ap.get("Flags", 0)), int(ap.get("WpaFlags", 0)), int(ap.get("RsnFlags", 0))
        ),
        band=band_of(freq),
        frequency_mhz=freq,
        max_rate_mbps=int(ap.get("MaxBitrate", 0)) / 1000,
        bssid=str(ap.get("HwAddress", "")),
    )


def _saved(path: str, settings: dict[str, Any], using: str | None) -> SavedNetwork:
    conn = settings.get("connection", {})
    wifi = settings.get("802-11-wireless")
    ipv4 = settings.get("ipv4", {})
    addressing = Addressing()
    if ipv4.get("method") == "manual":
        data = ipv4.get("address-data") or []
        address = f"{data[0]['address']}/{data[0]['prefix']}" if data else None
        dns = tuple(_dns_str(int(v)) for v in ipv4.get("dns", []) or [])
        addressing = Addressing("manual", address, ipv4.get("gateway") or None, dns)
    uuid = str(conn.get("uuid", ""))
    security = settings.get("802-11-wireless-security") or {}
    return SavedNetwork(
        uuid=uuid,
        name=str(conn.get("id", "")),
        kind=_TYPES.get(str(conn.get("type", "")), "other"),
        ssid=bytes(wifi["ssid"]).decode(errors="replace") if wifi and wifi.get("ssid") else None,
        priority=int(conn.get("autoconnect-priority", 0)),
        autoconnect=bool(conn.get("autoconnect", True)),
        addressing=addressing,
        has_password=bool(security.get("key-mgmt")) and security.get("key-mgmt") != "none",
        path=path,
        in_use=uuid == using,
    )
