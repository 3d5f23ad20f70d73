"""NetworkManager and ModemManager on a private D-Bus: python-dbusmock's templates, made to fail.

There is no NetworkManager in CI (and no Wi-Fi), so the hub's network code is tested against
NetworkManager's D-Bus API instead: a private ``dbus-daemon`` and its helper thread (the
:class:`~c2c_hub.emulation.private_bus.PrivateBus` the BlueZ mock stands on too),
python-dbusmock's ``networkmanager`` and ``modemmanager`` templates on it, and what those
templates lack added here::

    with NetworkManagerMock() as nm:             # sets DBUS_SYSTEM_BUS_ADDRESS (restored on stop)
        wlan = nm.add_wifi_device("wlan0")
        nm.add_access_point("StudioNet", psk="correct horse", strength=82)
        nm.add_access_point("Hotspot", psk="hotspot-pass", strength=40, frequency=5180)
        nm.add_modem(operator="TheOperator", signal=70)
        ...                                      # the hub scans, connects, saves, forgets
        nm.vanish("StudioNet")                   # the network goes out of range
        nm.clash("192.168.1.50")                 # another host holds this address
        nm.restart()                             # NetworkManager restarts: off the bus, then back

What the templates get wrong or leave out (each one is handled here):

- ``ActivateConnection`` never fails and never deactivates the device's previous connection: it
  is replaced by one that checks the PSK against the access point's (:meth:`add_access_point`),
  needs the SSID in range, refuses a static address another host holds (:meth:`clash`), and
  otherwise tears the device's old connection down first, as NetworkManager does. A failure is
  what NetworkManager shows: the device ``FAILED`` with its reason (7 no secrets, 53 SSID not
  found, 64 duplicate address) and an active connection that is ``DEACTIVATED``;
- there is no ``PrimaryConnection``: it is added and kept to the newest activated connection;
- a restart of the real service keeps its saved connections (they are files): :meth:`restart`
  reads them, kills the mock, starts a new one and adds them back.

The mock's own log (``dbusmock.log`` in its temporary directory) records every call with its
arguments, PSKs included, as a bus monitor would: it belongs to the test, never to the hub.
"""

from __future__ import annotations

import atexit
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from c2c_hub.emulation.errors import EmulationError
from c2c_hub.emulation.private_bus import (
    CALL_TIMEOUT_S,
    START_CALL_TIMEOUT_S,
    START_TIMEOUT_S,
    PrivateBus,
)

try:
    import dbus  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - a test dependency, not the hub's
    raise ImportError(
        "c2c_hub.emulation.networkmanager needs dbus-python and python-dbusmock"
    ) from exc

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
MAIN_PATH = "/org/freedesktop"
SETTINGS_PATH = "/org/freedesktop/NetworkManager/Settings"
DEVICE_IFACE = "org.freedesktop.NetworkManager.Device"
WIRELESS_IFACE = "org.freedesktop.NetworkManager.Device.Wireless"
CONNECTION_IFACE = "org.freedesktop.NetworkManager.Settings.Connection"
ACTIVE_IFACE = "org.freedesktop.NetworkManager.Connection.Active"
MM = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MODEM_IFACE = "org.freedesktop.ModemManager1.Modem"
MODEM_3GPP_IFACE = "org.freedesktop.ModemManager1.Modem.Modem3gpp"
MOCK_IFACE = "org.freedesktop.DBus.Mock"

SECURITY = {"open": 0x0, "wpa2": 0x188, "wpa3": 0x400 | 0x88}  # 0x400: KEY_MGMT_SAE
ACCESS_TECHNOLOGY = {"gsm": 0x2, "umts": 0x20, "hspa": 0x200, "lte": 0x4000, "5gnr": 0x8000}

T = TypeVar("T")

# ---------------------------------------------------------------- code run inside the mock
# ``self`` is the NetworkManager object; ``objects`` every object; ``dbus`` dbus-python.
_FIND_AP = """
def c2c_find_ap(dev, ssid):
    for ap in objects[dev].access_points:
        if bytes(objects[ap].Get('org.freedesktop.NetworkManager.AccessPoint', 'Ssid')) == ssid:
            return ap
    return None

def c2c_deactivate_device(nm, dev):
    for ac in list(nm.Get('org.freedesktop.NetworkManager', 'ActiveConnections')):
        if dev in objects[ac].Get('org.freedesktop.NetworkManager.Connection.Active', 'Devices'):
            nm.RemoveActiveConnection(dev, ac)
    nm.SetProperty('/org/freedesktop/NetworkManager', 'org.freedesktop.NetworkManager',
                   'PrimaryConnection', dbus.ObjectPath(c2c_primary(nm)))

def c2c_primary(nm):
    active = nm.Get('org.freedesktop.NetworkManager', 'ActiveConnections')
    return str(active[-1]) if active else '/'

def c2c_fail(nm, dev, conn, reason):
    c2c_deactivate_device(nm, dev)
    device = objects[dev]
    old = device.Get('org.freedesktop.NetworkManager.Device', 'State')
    device.Set('org.freedesktop.NetworkManager.Device', 'State', dbus.UInt32(120))
    device.Set('org.freedesktop.NetworkManager.Device', 'StateReason',
               (dbus.UInt32(120), dbus.UInt32(reason)))
    device.EmitSignal('org.freedesktop.NetworkManager.Device', 'StateChanged', 'uuu',
                      [dbus.UInt32(120), old, dbus.UInt32(reason)])
    nm.c2c_failures = getattr(nm, 'c2c_failures', 0) + 1
    path = '/org/freedesktop/NetworkManager/ActiveConnection/failed%d' % nm.c2c_failures
    settings = objects[conn].settings['connection']
    nm.AddObject(path, 'org.freedesktop.NetworkManager.Connection.Active', {
        'Devices': dbus.Array([dbus.ObjectPath(dev)], signature='o'),
        'Connection': dbus.ObjectPath(conn), 'SpecificObject': dbus.ObjectPath('/'),
        'Id': settings['id'], 'Uuid': settings['uuid'], 'Type': settings['type'],
        'State': dbus.UInt32(4), 'Default': False, 'Default6': False, 'Vpn': False,
        'Master': dbus.ObjectPath('/')}, [])
    return dbus.ObjectPath(path)

globals().update(c2c_find_ap=c2c_find_ap, c2c_deactivate_device=c2c_deactivate_device,
                 c2c_primary=c2c_primary, c2c_fail=c2c_fail)
"""

_ACTIVATE = (
    _FIND_AP
    + """
conn, dev, ap = str(args[0]), str(args[1]), str(args[2])
if conn not in objects or not hasattr(objects[conn], 'settings'):
    raise dbus.exceptions.DBusException(
        'Connection %s does not exist' % conn,
        name='org.freedesktop.NetworkManager.UnknownConnection')
settings = objects[conn].settings
if dev == '/':
    dev = str(self.GetDevices()[0])
wifi = settings.get('802-11-wireless')
ret = None
if wifi is not None:
    ap = c2c_find_ap(dev, bytes(wifi.get('ssid', b'')))
    if ap is None:
        ret = c2c_fail(self, dev, conn, 53)
    else:
        want = getattr(objects[ap], 'c2c_psk', None)
        given = settings.get('802-11-wireless-security', {}).get('psk')
        if want is not None and str(given) != want:
            ret = c2c_fail(self, dev, conn, 7)
if ret is None:
    ipv4 = settings.get('ipv4', {})
    clashes = getattr(self, 'c2c_clashes', set())
    entries = ipv4.get('address-data', []) if ipv4.get('method') == 'manual' else []
    for entry in entries:
        if str(entry.get('address')) in clashes:
            ret = c2c_fail(self, dev, conn, 64)
if ret is None:
    c2c_deactivate_device(self, dev)
    ret = self.activate_connection(self, conn, dev, ap if wifi is not None else '/')
    self.SetProperty('/org/freedesktop/NetworkManager', 'org.freedesktop.NetworkManager',
                     'PrimaryConnection', dbus.ObjectPath(ret))
"""
)

_DEACTIVATE = (
    _FIND_AP
    + """
self.deactivate_connection(self, args[0])
self.SetProperty('/org/freedesktop/NetworkManager', 'org.freedesktop.NetworkManager',
                 'PrimaryConnection', dbus.ObjectPath(c2c_primary(self)))
"""
)

_VANISH = (
    _FIND_AP
    + """
dev, ssid = str(args[0]), bytes(args[1])
ap = c2c_find_ap(dev, ssid)
if ap is not None:
    for ac in list(self.Get('org.freedesktop.NetworkManager', 'ActiveConnections')):
        if str(objects[ac].Get('org.freedesktop.NetworkManager.Connection.Active',
                               'SpecificObject')) == ap:
            self.RemoveActiveConnection(dev, ac)
    self.SetProperty('/org/freedesktop/NetworkManager', 'org.freedesktop.NetworkManager',
                     'PrimaryConnection', dbus.ObjectPath(c2c_primary(self)))
    self.RemoveAccessPoint(dev, ap)
"""
)

# A scan finishes at once: LastScan moves on (NetworkManager's word that results are fresh).
_REQUEST_SCAN = """
last = self.Get('org.freedesktop.NetworkManager.Device.Wireless', 'LastScan')
self.UpdateProperties('org.freedesktop.NetworkManager.Device.Wireless',
                      {'LastScan': dbus.Int64(last + 1000)})
self.c2c_scans = getattr(self, 'c2c_scans', 0) + 1
"""

_SET_PSK = "objects[args[0]].c2c_psk = str(args[1]) if args[1] else None"
_CLASH = "self.c2c_clashes = getattr(self, 'c2c_clashes', set()) | {str(args[0])}"


class NetworkMockError(EmulationError, RuntimeError):
    """The NetworkManager mock could not start, or a call to it failed (the message says why)."""


@dataclass
class MockAccessPoint:
    ssid: str
    path: str
    psk: str | None
    strength: int
    frequency: int
    security: str


@dataclass
class _Replay:
    """What a restart puts back: devices, access points, saved connections, the active one."""

    devices: list[tuple[str, str]] = field(default_factory=list)
    access_points: list[tuple[str, MockAccessPoint, str]] = field(default_factory=list)


class NetworkManagerMock:
    """A private system bus with mocked NetworkManager (and ModemManager) services on it.

    :param set_environment: point ``DBUS_SYSTEM_BUS_ADDRESS`` at the mock while it runs.
    :param with_modem_manager: start ModemManager's mock too.
    """

    def __init__(self, *, set_environment: bool = True, with_modem_manager: bool = True) -> None:
        self.with_modem_manager = with_modem_manager
        self._private = PrivateBus(
            name="nm-mock",
            error=NetworkMockError,
            what="the NetworkManager mock",
            set_environment=set_environment,
        )
        self._nm: Any = None  # dbusmock's networkmanager process
        self._mm: Any = None  # and its modemmanager one
        self._replay = _Replay()
        self.access_points: dict[str, MockAccessPoint] = {}
        self.modem_path: str | None = None
        self._stopped: tuple[list[tuple[str, dict[str, Any]]], list[str]] | None = None

    @property
    def address(self) -> str:
        return self._private.address

    @property
    def log_dir(self) -> Path | None:
        """Where the mocks' logs are (every call, with its arguments), while running."""
        return self._private.directory

    @property
    def _bus(self) -> Any:
        return self._private.connection

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> NetworkManagerMock:
        atexit.register(self.stop)
        try:
            self._private.start()
            self._call(self._start_nm, timeout=START_CALL_TIMEOUT_S)
            if self.with_modem_manager:
                self._call(self._start_mm, timeout=START_CALL_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the mocks and the bus; idempotent, never raises."""
        atexit.unregister(self.stop)
        self._private.stop()
        self._nm = self._mm = None

    def __enter__(self) -> NetworkManagerMock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop_service(self) -> None:
        """NetworkManager goes away (its name leaves the bus), as when it stops or crashes;
        :meth:`restart` brings it back with what it had (its profiles are files)."""
        if self._stopped is None:
            self._stopped = self._call(self._saved_state)
        self._call(self._stop_nm)

    def restart(self) -> None:
        """NetworkManager restarts: saved connections kept, the active one reactivated."""
        saved, active = self._stopped or self._call(self._saved_state)
        self._stopped = None
        self._call(self._stop_nm)
        self._call(self._start_nm, timeout=START_CALL_TIMEOUT_S)
        self._call(self._restore, saved, active)

    # ------------------------------------------------------------------ the world
    def add_wifi_device(self, interface: str = "wlan0") -> str:
        """A Wi-Fi adapter, disconnected; returns its object path."""
        path: str = self._call(self._add_wifi_device, interface)
        self._replay.devices.append(("wifi", interface))
        return path

    def add_ethernet_device(self, interface: str = "eth0", *, speed_mbps: int = 1000) -> str:
        """A wired port, disconnected, whose link runs at ``speed_mbps``."""
        path: str = self._call(self._add_ethernet_device, interface, speed_mbps)
        self._replay.devices.append(("ethernet", interface))
        return path

    def add_cellular_device(self, interface: str = "wwan0") -> str:
        """A modem's data interface as NetworkManager shows it (device type 8), disconnected."""
        path: str = self._call(self._add_cellular_device, interface)
        self._replay.devices.append(("cellular", interface))
        return path

    def add_cellular_connection(self, name: str = "Cellular", apn: str = "internet") -> str:
        """A saved mobile broadband profile (``gsm``, the APN); returns its path."""
        return self._add_profile(name, "gsm", {"gsm": {"apn": apn}})

    def add_ethernet_connection(self, name: str = "Wired") -> str:
        """A saved wired profile (DHCP); returns its path."""
        return self._add_profile(name, "802-3-ethernet", {"802-3-ethernet": {}})

    def _add_profile(self, name: str, kind: str, sections: dict[str, dict[str, Any]]) -> str:
        values = {
            "connection": {
                "id": name,
                "uuid": str(uuid.uuid4()),
                "type": kind,
                "autoconnect": False,
            },
            "ipv4": {"method": "auto"},
            **sections,
        }
        settings = dbus.Dictionary(
            {k: dbus.Dictionary(v, signature="sv") for k, v in values.items()},
            signature="sa{sv}",
        )
        iface = "org.freedesktop.NetworkManager.Settings"
        return str(
            self._call(
                lambda: dbus.Interface(
                    self._bus.get_object(NM, SETTINGS_PATH), iface
                ).AddConnection(settings)
            )
        )

    def add_access_point(
        self,
        ssid: str,
        psk: str | None = None,
        *,
        strength: int = 70,
        frequency: int = 2437,
        security: str = "wpa2",
        device: str = "wlan0",
        bitrate: int = 54000,
    ) -> MockAccessPoint:
        """A network in range of ``device``; ``psk`` is the one it accepts (None: any)."""
        dev = f"{NM_PATH}/Devices/{device}"
        ap = MockAccessPoint(ssid, "", psk, strength, frequency, security)
        ap.path = self._call(self._add_ap, dev, ap, bitrate)
        self.access_points[ssid] = ap
        self._replay.access_points.append((dev, ap, str(bitrate)))
        return ap

    def vanish(self, ssid: str, device: str = "wlan0") -> None:
        """The network goes out of range; the device drops it if it was connected to it."""
        self._call(
            self._nm_call,
            NM_PATH,
            MOCK_IFACE,
            "C2cVanish",
            f"{NM_PATH}/Devices/{device}",
            dbus.ByteArray(ssid.encode()),
        )
        self.access_points.pop(ssid, None)
        self._replay.access_points = [
            entry for entry in self._replay.access_points if entry[1].ssid != ssid
        ]

    def set_strength(self, ssid: str, strength: int) -> None:
        path = self.access_points[ssid].path
        self._call(
            self._set_property,
            path,
            "org.freedesktop.NetworkManager.AccessPoint",
            "Strength",
            dbus.Byte(strength),
        )

    def clash(self, address: str) -> None:
        """Another host on the network holds ``address``: a static address of it fails (64)."""
        self._call(self._nm_call, NM_PATH, MOCK_IFACE, "C2cClash", address)

    def add_modem(
        self, *, operator: str = "TheOperator", technology: str = "lte", signal: int = 70
    ) -> str:
        path: str = self._call(self._add_modem, operator, technology, signal)
        self.modem_path = path
        return path

    def set_modem(self, *, signal: int | None = None, operator: str | None = None) -> None:
        if self.modem_path is None:
            raise NetworkMockError("no modem (add_modem first)")
        self._call(self._set_modem, self.modem_path, signal, operator)

    # ------------------------------------------------------------------ reading
    def connections(self) -> list[dict[str, Any]]:
        """Every saved connection's settings as NetworkManager holds them (secrets included)."""
        saved, _active = self._call(self._saved_state)
        return [settings for _path, settings in saved]

    def active_ids(self) -> list[str]:
        """The ``Id`` of every active connection."""
        result: list[str] = self._call(self._active_ids)
        return result

    def device_state(self, interface: str = "wlan0") -> tuple[int, int]:
        value = self._call(self._get, f"{NM_PATH}/Devices/{interface}", DEVICE_IFACE, "StateReason")
        return int(value[0]), int(value[1])

    def scans(self, interface: str = "wlan0") -> int:
        """How many scans were asked of the device so far."""
        value = self._call(self._get, f"{NM_PATH}/Devices/{interface}", WIRELESS_IFACE, "LastScan")
        return (int(value) - 1000) // 1000

    def calls(self, method: str) -> int:
        """How many times ``method`` was called on NetworkManager's object so far."""
        proxy = self._bus.get_object(NM, NM_PATH)
        found = self._call(lambda: dbus.Interface(proxy, MOCK_IFACE).GetMethodCalls(method))
        return len(found)

    # ------------------------------------------------------------------ the helper thread
    def _call(self, fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT_S) -> T:
        return self._private.call(fn, *args, timeout=timeout)

    def _start_nm(self) -> None:
        self._nm = self._private.spawn_mock("networkmanager", NM)
        nm = self._mock(NM, NM_PATH)
        nm.AddProperty(NM, "PrimaryConnection", dbus.ObjectPath("/"))
        nm.AddMethod(NM, "ActivateConnection", "ooo", "o", _ACTIVATE)
        nm.AddMethod(NM, "DeactivateConnection", "o", "", _DEACTIVATE)
        nm.AddMethod(MOCK_IFACE, "C2cVanish", "oay", "", _VANISH)
        nm.AddMethod(MOCK_IFACE, "C2cClash", "s", "", _CLASH)
        nm.AddMethod(MOCK_IFACE, "C2cSetPsk", "ss", "", _SET_PSK)

    def _stop_nm(self) -> None:
        self._private.kill(self._nm)
        self._nm = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._bus.name_has_owner(NM) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _start_mm(self) -> None:
        self._mm = self._private.spawn_mock("modemmanager", MM)

    def _mock(self, name: str, path: str) -> Any:
        return dbus.Interface(self._bus.get_object(name, path), MOCK_IFACE)

    def _nm_call(self, path: str, iface: str, method: str, *args: Any) -> Any:
        return getattr(dbus.Interface(self._bus.get_object(NM, path), iface), method)(*args)

    def _get(self, path: str, iface: str, name: str) -> Any:
        proxy = self._bus.get_object(NM, path)
        return proxy.Get(iface, name, dbus_interface="org.freedesktop.DBus.Properties")

    def _set_property(self, path: str, iface: str, name: str, value: Any) -> None:
        self._mock(NM, MAIN_PATH).SetProperty(path, iface, name, value)

    def _add_wifi_device(self, interface: str) -> str:
        path = str(self._mock(NM, MAIN_PATH).AddWiFiDevice(interface, interface, 30))
        device = self._mock(NM, path)
        device.AddProperty(WIRELESS_IFACE, "LastScan", dbus.Int64(1000))
        device.AddMethod(WIRELESS_IFACE, "RequestScan", "a{sv}", "", _REQUEST_SCAN)
        return path

    def _add_cellular_device(self, interface: str) -> str:
        path = str(self._mock(NM, MAIN_PATH).AddEthernetDevice(interface, interface, 30))
        self._set_property(path, DEVICE_IFACE, "DeviceType", dbus.UInt32(8))
        return path

    def _add_ethernet_device(self, interface: str, speed_mbps: int = 1000) -> str:
        path = str(self._mock(NM, MAIN_PATH).AddEthernetDevice(interface, interface, 30))
        self._set_property(
            path, "org.freedesktop.NetworkManager.Device.Wired", "Speed", dbus.UInt32(speed_mbps)
        )
        return path

    def _add_ap(self, dev: str, ap: MockAccessPoint, bitrate: int) -> str:
        name = "ap_" + "".join(c if c.isalnum() else "_" for c in ap.ssid) + f"_{ap.frequency}"
        bssid = f"02:00:00:{len(self.access_points):02x}:{ap.frequency % 256:02x}:01"
        path = str(
            self._mock(NM, MAIN_PATH).AddAccessPoint(
                dev,
                name,
                ap.ssid,
                bssid,
                2,
                ap.frequency,
                bitrate,
                ap.strength,
                SECURITY[ap.security],
            )
        )
        self._nm_call(NM_PATH, MOCK_IFACE, "C2cSetPsk", path, ap.psk or "")
        return path

    def _add_modem(self, operator: str, technology: str, signal: int) -> str:
        root = self._bus.get_object(MM, MM_PATH)
        modem, _sim = dbus.Interface(root, MOCK_IFACE).AddSimpleModem()
        self._set_modem(str(modem), signal, operator)
        proxy = dbus.Interface(self._bus.get_object(MM, str(modem)), MOCK_IFACE)
        proxy.UpdateProperties(
            MODEM_IFACE, {"AccessTechnologies": dbus.UInt32(ACCESS_TECHNOLOGY[technology])}
        )
        return str(modem)

    def _set_modem(self, path: str, signal: int | None, operator: str | None) -> None:
        proxy = dbus.Interface(self._bus.get_object(MM, path), MOCK_IFACE)
        if signal is not None:
            quality = dbus.Struct((dbus.UInt32(signal), dbus.Boolean(True)), signature="ub")
            proxy.UpdateProperties(MODEM_IFACE, {"SignalQuality": quality})
        if operator is not None:
            proxy.UpdateProperties(MODEM_3GPP_IFACE, {"OperatorName": dbus.String(operator)})

    def _saved_state(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        settings = dbus.Interface(
            self._bus.get_object(NM, SETTINGS_PATH), "org.freedesktop.NetworkManager.Settings"
        )
        saved = []
        for path in settings.ListConnections():
            proxy = self._bus.get_object(NM, path)
            got = dbus.Interface(proxy, CONNECTION_IFACE).GetSettings()
            saved.append((str(path), _plain(got)))
        active = []
        nm = self._bus.get_object(NM, NM_PATH)
        for ac in nm.Get(NM, "ActiveConnections", dbus_interface="org.freedesktop.DBus.Properties"):
            proxy = self._bus.get_object(NM, ac)
            active.append(
                str(
                    proxy.Get(
                        ACTIVE_IFACE, "Uuid", dbus_interface="org.freedesktop.DBus.Properties"
                    )
                )
            )
        return saved, active

    def _active_ids(self) -> list[str]:
        nm = self._bus.get_object(NM, NM_PATH)
        props = "org.freedesktop.DBus.Properties"
        return [
            str(self._bus.get_object(NM, ac).Get(ACTIVE_IFACE, "Id", dbus_interface=props))
            for ac in nm.Get(NM, "ActiveConnections", dbus_interface=props)
        ]

    def _restore(self, saved: list[tuple[str, dict[str, Any]]], active: list[str]) -> None:
        main = self._mock(NM, MAIN_PATH)
        for kind, interface in self._replay.devices:
            if kind == "wifi":
                self._add_wifi_device(interface)
            elif kind == "cellular":
                self._add_cellular_device(interface)
            else:
                main.AddEthernetDevice(interface, interface, 30)
        for dev, ap, bitrate in self._replay.access_points:
            ap.path = self._add_ap(dev, ap, int(bitrate))
        settings = dbus.Interface(
            self._bus.get_object(NM, SETTINGS_PATH), "org.freedesktop.NetworkManager.Settings"
        )
        nm = dbus.Interface(self._bus.get_object(NM, NM_PATH), NM)
        for _path, values in saved:
            wanted = values["connection"].get("uuid") in active
            values["connection"]["autoconnect"] = False  # the template would activate it blindly
            new = settings.AddConnection(_wrap(values))
            if wanted:
                dev = self._device_for(values)
                nm.ActivateConnection(new, dbus.ObjectPath(dev), dbus.ObjectPath("/"))

    def _device_for(self, values: dict[str, Any]) -> str:
        kind = (
            "wifi" if "802-11-wireless" in values else "cellular" if "gsm" in values else "ethernet"
        )
        for each, interface in self._replay.devices:
            if each == kind:
                return f"{NM_PATH}/Devices/{interface}"
        raise NetworkMockError("no device for a saved connection")


def _plain(value: Any) -> Any:
    """dbus-python values as plain Python (byte arrays as bytes)."""
    if isinstance(value, dbus.ByteArray | bytes):
        return bytes(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dbus.Byte) for v in value):
            return bytes(int(v) for v in value)
        return [_plain(v) for v in value]
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def _wrap(values: dict[str, Any]) -> Any:
    """Plain settings back into a signature-ready ``a{sa{sv}}``."""
    out = dbus.Dictionary({}, signature="sa{sv}")
    for section, entries in values.items():
        inner = dbus.Dictionary({}, signature="sv")
        for key, value in entries.items():
            if isinstance(value, bytes):
                inner[key] = dbus.ByteArray(value)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                inner[key] = dbus.Array(
                    [dbus.Dictionary(v, signature="sv") for v in value], signature="a{sv}"
                )
            elif isinstance(value, list) and not value:
                inner[key] = dbus.Array([], signature="s")
            else:
                inner[key] = value
        out[section] = inner
    return out
