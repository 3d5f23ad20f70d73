"""BlueZ on a private D-Bus: python-dbusmock's ``bluez5`` template, completed for button remotes.

There is no Bluetooth in our kernels (and none in CI), so BLE code is tested against BlueZ's
D-Bus API instead: a private ``dbus-daemon`` on a unix socket in a temporary directory,
python-dbusmock's ``bluez5`` template on it, and what that template lacks added here (see
``docs/ble-remotes.md``, "Testing against the BlueZ mock"). bleak's real BlueZ backend
(dbus-fast) talks to it as it would to ``bluetoothd``::

    with BlueZMock() as bluez:              # sets DBUS_SYSTEM_BUS_ADDRESS (restored on stop)
        bluez.add_remote("C2:C0:00:00:00:01", name="C2C-Remote 1", serial="RMT001")
        ...                                 # bleak scans, connects, subscribes
        bluez.press("C2:C0:00:00:00:01", 1) # a notification: [code, counter]
        bluez.send_raw("C2:C0:00:00:00:01", b"\\xff")   # garbage
        bluez.disconnect("C2:C0:00:00:00:01")           # the link drops; unreachable
        bluez.advertise("C2:C0:00:00:00:01")            # back in range, advertising
        bluez.fail_connects("C2:C0:00:00:00:01", 2)     # the next 2 Connect calls fail
        bluez.add_hid_remote("F1:22:33:44:55:66", "AB Shutter3", report_map, (1, 2),
                             address_type="random")     # HID over GATT: Report Map, reports
        bluez.hid_report("F1:22:33:44:55:66", 2, b"\x01")  # Input Report 2: Volume Up down

What the template gets wrong or leaves out (each one is handled here):

- ``AddDevice`` declares ``ManufacturerData`` as ``aa{qv}``, which bleak cannot parse: devices
  are created with ``AddObject`` and a real ``a{qv}`` dictionary instead;
- it has no GATT at all: the remote's service and button characteristic (``ReadValue``,
  ``WriteValue``, ``StartNotify``, ``StopNotify``; ``UUID``, ``Service``, ``Value``,
  ``Notifying``, ``Flags``, ``Handle``, ``MTU``) are added, with ``InterfacesAdded``;
- its ``Connect`` never sets ``ServicesResolved`` (bleak waits for it): ``Connect`` and
  ``Disconnect`` are replaced;
- a device BlueZ already knows is reported by a scan only when it changes: ``StartDiscovery``
  is extended so every reachable, unconnected remote is heard advertising when a scan starts
  (as a real remote, which advertises until connected, would be), and :meth:`advertise`
  sends an RSSI ``PropertiesChanged`` for "it advertises again".

The bus is a :class:`~c2c_hub.emulation.private_bus.PrivateBus` (shared with the
NetworkManager mock): every bus call is made with dbus-python on its one helper thread (the
methods are synchronous and safe to call from any thread, an event loop's included: each is one
short D-Bus round trip). Both processes are killed by :meth:`BlueZMock.stop`, at exit, and when
the thread that started them ends (``PR_SET_PDEATHSIG``), so a crashed test run leaves nothing
behind.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from c2c_hub.emulation.errors import EmulationError
from c2c_hub.emulation.private_bus import CALL_TIMEOUT_S, START_CALL_TIMEOUT_S, PrivateBus

try:
    import dbus  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - a test dependency, not the hub's
    raise ImportError(
        "c2c_hub.emulation.bluez needs dbus-python and python-dbusmock (pip install dbus-python "
        "python-dbusmock; dbus-python builds against libdbus-1-dev and libglib2.0-dev)"
    ) from exc

# The C2C Button Remote's GATT layout (device_models/c2c-button-remote.toml).
REMOTE_SERVICE_UUID = "7d2ea1b0-5c8e-4f3a-9b61-2a4c6e8f0a1d"
BUTTON_CHARACTERISTIC_UUID = "7d2ea1b1-5c8e-4f3a-9b61-2a4c6e8f0a1d"
MANUFACTURER_ID = 0xFFFF

BLUEZ = "org.bluez"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"
DEVICE_IFACE = "org.bluez.Device1"
SERVICE_IFACE = "org.bluez.GattService1"
CHAR_IFACE = "org.bluez.GattCharacteristic1"
DESCRIPTOR_IFACE = "org.bluez.GattDescriptor1"
# HID over GATT (Bluetooth SIG assigned numbers), for add_hid_remote.
HID_SERVICE_UUID = "00001812-0000-1000-8000-00805f9b34fb"
HID_REPORT_MAP_UUID = "00002a4b-0000-1000-8000-00805f9b34fb"
HID_REPORT_UUID = "00002a4d-0000-1000-8000-00805f9b34fb"
HID_REPORT_REFERENCE_UUID = "00002908-0000-1000-8000-00805f9b34fb"
#: Our own control interface on each remote's objects (BlueZ has no such thing; bleak ignores it).
CONTROL_IFACE = "org.c2chub.RemoteMock1"

_ADDRESS_RE = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")

T = TypeVar("T")

# ---------------------------------------------------------------- code run inside the mock
# dbusmock runs these strings with ``self`` (the object), ``args`` and dbusmock's globals
# (``dbus``, ``objects``). Python values must be wrapped (dbus.Boolean, not True).
_LINK_DOWN = """
for char_path in getattr(self, 'c2c_char_paths', []):
    char = objects.get(char_path)
    if char is not None and char.Get('org.bluez.GattCharacteristic1', 'Notifying'):
        char.UpdateProperties('org.bluez.GattCharacteristic1', {'Notifying': dbus.Boolean(False)})
self.UpdateProperties('org.bluez.Device1', {
    'ServicesResolved': dbus.Boolean(False), 'Connected': dbus.Boolean(False)})
"""

_CONNECT = """
if getattr(self, 'c2c_fail_connects', 0) > 0:
    self.c2c_fail_connects -= 1
    raise dbus.exceptions.DBusException(
        'Software caused connection abort', name='org.bluez.Error.Failed')
if not getattr(self, 'c2c_reachable', True):
    raise dbus.exceptions.DBusException('Page Timeout', name='org.bluez.Error.Failed')
if self.Get('org.bluez.Device1', 'Connected'):
    raise dbus.exceptions.DBusException(
        'Already Connected', name='org.bluez.Error.AlreadyConnected')
self.UpdateProperties('org.bluez.Device1', {'Connected': dbus.Boolean(True)})
self.UpdateProperties('org.bluez.Device1', {'ServicesResolved': dbus.Boolean(True)})
"""

_DISCONNECT = (
    """
if not self.Get('org.bluez.Device1', 'Connected'):
    raise dbus.exceptions.DBusException('Not Connected', name='org.bluez.Error.NotConnected')
"""
    + _LINK_DOWN
)

_DROP_LINK = (  # the remote goes out of range: link down, and Connect fails until it advertises
    """
self.c2c_reachable = False
if self.Get('org.bluez.Device1', 'Connected'):
"""
    + "\n".join("    " + line for line in _LINK_DOWN.strip().splitlines())
)

_ADVERTISE = """
self.c2c_reachable = True
self.UpdateProperties('org.bluez.Device1', {'RSSI': dbus.Int16(args[0])})
"""

# Discovery starts: like the template's, then every reachable remote that is not connected is
# heard advertising (real remotes advertise until connected; BlueZ reports them once scanning).
_START_DISCOVERY = """
self.UpdateProperties('org.bluez.Adapter1', {'Discovering': dbus.Boolean(True)})
for path in sorted(objects):
    device = objects[path]
    if not path.startswith(self.path + '/dev_') or 'org.bluez.Device1' not in device.props:
        continue
    if getattr(device, 'c2c_reachable', True) and not device.Get('org.bluez.Device1', 'Connected'):
        device.UpdateProperties(
            'org.bluez.Device1', {'RSSI': device.Get('org.bluez.Device1', 'RSSI')})
"""

_READ_VALUE = "ret = self.Get('org.bluez.GattCharacteristic1', 'Value')"
_READ_DESCRIPTOR = "ret = self.Get('org.bluez.GattDescriptor1', 'Value')"
_ADD_CHAR_PATH = """
self.c2c_char_paths = getattr(self, 'c2c_char_paths', []) + [str(args[0])]
"""

_START_NOTIFY = """
device = objects[self.Get('org.bluez.GattCharacteristic1', 'Service').rsplit('/', 1)[0]]
if not device.Get('org.bluez.Device1', 'Connected'):
    raise dbus.exceptions.DBusException('Not Connected', name='org.bluez.Error.NotConnected')
if not self.Get('org.bluez.GattCharacteristic1', 'Notifying'):
    self.UpdateProperties('org.bluez.GattCharacteristic1', {'Notifying': dbus.Boolean(True)})
"""

_STOP_NOTIFY = """
if self.Get('org.bluez.GattCharacteristic1', 'Notifying'):
    self.UpdateProperties('org.bluez.GattCharacteristic1', {'Notifying': dbus.Boolean(False)})
"""

_NOTIFY = """
ret = bool(self.Get('org.bluez.GattCharacteristic1', 'Notifying'))
if ret:
    self.UpdateProperties('org.bluez.GattCharacteristic1', {
        'Value': dbus.Array([dbus.Byte(b) for b in args[0]], signature='y')})
"""


class BlueZMockError(EmulationError, RuntimeError):
    """The mock could not start, or a call to it failed (the message says which and why)."""


@dataclass
class MockRemote:
    """What the harness knows of one remote it added."""

    address: str
    name: str
    serial: str | None
    device_path: str
    service_path: str
    char_path: str
    counter: int = 0
    #: every GATT object of the remote beneath its device, (path, interface), for removal
    objects: list[tuple[str, str]] = field(default_factory=list)
    #: a HID remote's Input Report characteristics, by report id
    reports: dict[int, str] = field(default_factory=dict)


class BlueZMock:
    """A private system bus with a mocked BlueZ (adapter ``adapter``) and button remotes on it.

    :param adapter: the adapter's name (``/org/bluez/<adapter>``).
    :param set_environment: point ``DBUS_SYSTEM_BUS_ADDRESS`` at the mock while it runs (and
        restore the previous value on :meth:`stop`); bleak reads it at every connection.
    :param with_bluez: False starts the bus alone: a system bus without ``bluetoothd``.
    """

    def __init__(
        self, adapter: str = "hci0", *, set_environment: bool = True, with_bluez: bool = True
    ) -> None:
        self.adapter = adapter
        self.with_bluez = with_bluez
        self.adapter_path = f"/org/bluez/{adapter}"
        self.set_environment = set_environment
        self.remotes: dict[str, MockRemote] = {}
        self._private = PrivateBus(
            name="bluez-mock",
            error=BlueZMockError,
            what="the BlueZ mock",
            set_environment=set_environment,
        )
        self._mock: Any = None  # dbusmock's bluez5 process
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> BlueZMock:
        """Start the bus and the mock, add the adapter; returns once BlueZ answers."""
        if self._private.started:
            raise BlueZMockError("this BlueZMock was already started")
        atexit.register(self.stop)
        try:
            self._private.start()
            if self.with_bluez:
                self._call(self._start, timeout=START_CALL_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the mock and the bus, restore the environment; idempotent, never raises."""
        atexit.unregister(self.stop)
        self._private.stop()
        self._mock = None

    @property
    def address(self) -> str:
        """The bus address, once started."""
        return self._private.address

    @property
    def _bus(self) -> Any:
        return self._private.connection

    def __enter__(self) -> BlueZMock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        bluez = not self.with_bluez or (self._mock is not None and self._mock.poll() is None)
        return bluez and self._private.running

    @property
    def log_path(self) -> Path | None:
        """dbusmock's log: every method call on the mock, with a timestamp."""
        directory = self._private.directory
        return None if directory is None else directory / "dbusmock.log"

    # ------------------------------------------------------------------ remotes
    def add_remote(
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
        fail_connects: int = 0,
    ) -> MockRemote:
        """A remote in range and advertising (``InterfacesAdded``: a scan reports it at once).

        Its manufacturer data is ``{manufacturer_id: serial in ASCII}`` (the layout of
        ``docs/ble-remotes.md``) unless ``manufacturer_data`` gives the bytes; no manufacturer
        data at all when ``manufacturer_id`` is None. ``service_uuid`` None advertises none.
        ``fail_connects``: its first N ``Connect`` calls fail (set before it is announced).
        """
        address = _address(address)
        if address in self.remotes:
            raise BlueZMockError(f"remote {address} already exists")
        data = manufacturer_data
        if data is None and serial is not None:
            data = serial.encode("ascii")
        device_path = f"{self.adapter_path}/dev_{address.replace(':', '_')}"
        remote = MockRemote(
            address=address,
            name=name,
            serial=serial,
            device_path=device_path,
            service_path=f"{device_path}/service000a",
            char_path=f"{device_path}/service000a/char000b",
        )
        self._call(
            self._add_remote,
            remote,
            service_uuid,
            manufacturer_id,
            data,
            characteristic_uuid,
            rssi,
            fail_connects,
        )
        self.remotes[address] = remote
        return remote

    def press(self, address: str, code: int) -> bool:
        """The remote's button ``code`` is pressed: its counter moves on and it notifies
        ``[code, counter]``. False when nobody is subscribed (the press is lost, as it would be).
        """
        remote = self._remote(address)
        with self._lock:
            remote.counter = (remote.counter + 1) & 0xFF
            payload = bytes([code & 0xFF, remote.counter])
        return self.send_raw(address, payload)

    def send_raw(self, address: str, data: bytes) -> bool:
        """Notify ``data`` as is (garbage, a repeat); False when nobody is subscribed."""
        remote = self._remote(address)
        return bool(self._call(self._control, remote.char_path, "Notify", dbus.ByteArray(data)))

    def disconnect(self, address: str) -> None:
        """The remote goes out of range: the link drops (``Connected`` False) and connecting
        fails until it :meth:`advertise`\\ s again."""
        self._call(self._control, self._remote(address).device_path, "DropLink")

    def advertise(self, address: str, rssi: int = -60) -> None:
        """The remote advertises (again): an RSSI ``PropertiesChanged``, which a running bleak
        scan reports; it is reachable again."""
        self._call(self._control, self._remote(address).device_path, "Advertise", dbus.Int16(rssi))

    def fail_connects(self, address: str, count: int) -> None:
        """The next ``count`` ``Connect`` calls fail with ``org.bluez.Error.Failed``."""
        path = self._remote(address).device_path
        self._call(self._control, path, "FailConnects", dbus.UInt32(count))

    def add_hid_remote(
        self,
        address: str,
        name: str,
        report_map: bytes,
        report_ids: tuple[int, ...] = (1, 2),
        *,
        address_type: str = "public",
        rssi: int = -55,
        serial: str | None = None,
    ) -> MockRemote:
        """A HID-over-GATT remote in range and advertising the HID service (0x1812).

        Its HID service holds the Report Map (0x2A4B: ``report_map``, the report descriptor)
        and one Input Report (0x2A4D, read and notify) per id of ``report_ids``, each with its
        Report Reference descriptor (0x2908: ``[id, 1]``); use ``(0,)`` for a descriptor
        without report ids. ``address_type``: BlueZ's ``"public"`` or ``"random"``.
        ``serial``: a Device Information service with that Serial Number String (0x2A25).
        Send reports with :meth:`hid_report`.
        """
        address = _address(address)
        if address in self.remotes:
            raise BlueZMockError(f"remote {address} already exists")
        device_path = f"{self.adapter_path}/dev_{address.replace(':', '_')}"
        service_path = f"{device_path}/service0010"
        remote = MockRemote(
            address=address,
            name=name,
            serial=serial,
            device_path=device_path,
            service_path=service_path,
            char_path=f"{service_path}/char0011",
        )
        self._call(self._add_hid_remote, remote, report_map, report_ids, address_type, rssi)
        self.remotes[address] = remote
        return remote

    def hid_report(self, address: str, report_id: int, value: bytes) -> bool:
        """The HID remote notifies ``value`` (the report without its id byte, as over GATT)
        on its Input Report ``report_id``; False when nobody is subscribed to it."""
        remote = self._remote(address)
        try:
            path = remote.reports[report_id]
        except KeyError:
            raise BlueZMockError(f"{address} has no input report {report_id}") from None
        return bool(self._call(self._control, path, "Notify", dbus.ByteArray(value)))

    def remove(self, address: str) -> None:
        """BlueZ forgets the remote (``InterfacesRemoved``), dropping the link first."""
        remote = self._remote(address)
        self._call(self._remove, remote)
        del self.remotes[remote.address]

    # ------------------------------------------------------------------ reading
    def is_connected(self, address: str) -> bool:
        path = self._remote(address).device_path
        return bool(self._call(self._get, path, DEVICE_IFACE, "Connected"))

    def is_notifying(self, address: str) -> bool:
        """Subscribed: its button characteristic, or every Input Report of a HID remote."""
        remote = self._remote(address)
        paths = list(remote.reports.values()) or [remote.char_path]
        return all(bool(self._call(self._get, p, CHAR_IFACE, "Notifying")) for p in paths)

    def calls(self, path: str, method: str) -> int:
        """How many times ``method`` was called on the object at ``path`` so far."""
        return len(self._call(self._method_calls, path, method))

    def connect_calls(self, address: str) -> int:
        return self.calls(self._remote(address).device_path, "Connect")

    def discovery_starts(self) -> int:
        """``StartDiscovery`` calls on the adapter: one per scanner start."""
        return self.calls(self.adapter_path, "StartDiscovery")

    def discovering(self) -> bool:
        return bool(self._call(self._get, self.adapter_path, "org.bluez.Adapter1", "Discovering"))

    # ------------------------------------------------------------------ the helper thread
    def _call(self, fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT_S) -> T:
        return self._private.call(fn, *args, timeout=timeout)

    def _remote(self, address: str) -> MockRemote:
        try:
            return self.remotes[_address(address)]
        except KeyError:
            raise BlueZMockError(f"no remote {address} (add_remote first)") from None

    def _start(self) -> None:
        self._mock = self._private.spawn_mock("bluez5", BLUEZ, log_name="dbusmock.log")
        root = self._bus.get_object(BLUEZ, "/")
        dbus.Interface(root, "org.bluez.Mock").AddAdapter(self.adapter, "c2c-hub")
        self._mock_iface(self.adapter_path).AddMethod(
            "org.bluez.Adapter1", "StartDiscovery", "", "", _START_DISCOVERY
        )

    def _mock_iface(self, path: str) -> Any:
        return dbus.Interface(self._bus.get_object(BLUEZ, path), MOCK_IFACE)

    def _device_props(
        self,
        remote: MockRemote,
        *,
        address_type: str,
        appearance: int,
        icon: str,
        rssi: int,
        uuids: list[str],
        manufacturer: Any,
        flags: int,
    ) -> dict[str, Any]:
        """``org.bluez.Device1`` as BlueZ shows a remote it has seen advertising."""
        return {
            "Address": dbus.String(remote.address),
            "AddressType": dbus.String(address_type),
            "Name": dbus.String(remote.name),
            "Alias": dbus.String(remote.name),
            "Adapter": dbus.ObjectPath(self.adapter_path),
            "Appearance": dbus.UInt16(appearance),
            "Icon": dbus.String(icon),
            "Paired": dbus.Boolean(False),
            "Bonded": dbus.Boolean(False),
            "Trusted": dbus.Boolean(False),
            "Blocked": dbus.Boolean(False),
            "LegacyPairing": dbus.Boolean(False),
            "Connected": dbus.Boolean(False),
            "ServicesResolved": dbus.Boolean(False),
            "WakeAllowed": dbus.Boolean(False),
            "RSSI": dbus.Int16(rssi),
            "TxPower": dbus.Int16(0),
            "UUIDs": dbus.Array(uuids, signature="s"),
            "ManufacturerData": manufacturer,
            "ServiceData": dbus.Dictionary({}, signature="sv"),
            "AdvertisingFlags": dbus.Array([dbus.Byte(flags)], signature="y"),
        }

    def _device_object(
        self, root: Any, remote: MockRemote, device: dict[str, Any], set_char_path: str
    ) -> None:
        """The device's object, with BlueZ's methods and the mock's own controls."""
        root.AddObject(
            remote.device_path,
            DEVICE_IFACE,
            device,
            [
                ("Connect", "", "", _CONNECT),
                ("Disconnect", "", "", _DISCONNECT),
                ("Pair", "", "", ""),
                ("CancelPairing", "", "", ""),
                ("ConnectProfile", "s", "", ""),
                ("DisconnectProfile", "s", "", ""),
            ],
        )
        self._mock_iface(remote.device_path).AddMethods(
            CONTROL_IFACE,
            [
                ("SetCharPath", "s", "", set_char_path),
                ("AddCharPath", "s", "", _ADD_CHAR_PATH),
                ("DropLink", "", "", _DROP_LINK),
                ("Advertise", "n", "", _ADVERTISE),
                ("FailConnects", "u", "", "self.c2c_fail_connects = int(args[0])"),
            ],
        )

    def _add_remote(
        self,
        remote: MockRemote,
        service_uuid: str | None,
        manufacturer_id: int | None,
        data: bytes | None,
        characteristic_uuid: str,
        rssi: int,
        fail_connects: int,
    ) -> None:
        root = self._mock_iface("/")
        manufacturer = dbus.Dictionary({}, signature="qv")
        if manufacturer_id is not None and data is not None:
            manufacturer[dbus.UInt16(manufacturer_id)] = dbus.Array(
                [dbus.Byte(b) for b in data], signature="y"
            )
        uuids = [service_uuid] if service_uuid else []
        device = self._device_props(
            remote,
            address_type="public",
            appearance=0x0180,  # generic remote control
            icon="input-gaming",
            rssi=rssi,
            uuids=uuids,
            manufacturer=manufacturer,
            flags=0x06,
        )
        service = {
            "UUID": dbus.String(service_uuid or REMOTE_SERVICE_UUID),
            "Device": dbus.ObjectPath(remote.device_path),
            "Primary": dbus.Boolean(True),
            "Includes": dbus.Array([], signature="o"),
            "Handle": dbus.UInt16(0x000A),
        }
        char = {
            "UUID": dbus.String(characteristic_uuid),
            "Service": dbus.ObjectPath(remote.service_path),
            "Value": dbus.Array([], signature="y"),
            "Notifying": dbus.Boolean(False),
            "Flags": dbus.Array(["read", "notify"], signature="s"),
            "Handle": dbus.UInt16(0x000B),
            "MTU": dbus.UInt16(23),
        }
        self._device_object(root, remote, device, "self.c2c_char_paths = [str(args[0])]")
        self._control(remote.device_path, "SetCharPath", remote.char_path)
        if fail_connects:
            self._control(remote.device_path, "FailConnects", dbus.UInt32(fail_connects))
        root.AddObject(remote.service_path, SERVICE_IFACE, service, [])
        root.AddObject(
            remote.char_path,
            CHAR_IFACE,
            char,
            [
                ("ReadValue", "a{sv}", "ay", _READ_VALUE),
                ("WriteValue", "aya{sv}", "", ""),
                ("StartNotify", "", "", _START_NOTIFY),
                ("StopNotify", "", "", _STOP_NOTIFY),
            ],
        )
        self._mock_iface(remote.char_path).AddMethods(
            CONTROL_IFACE, [("Notify", "ay", "b", _NOTIFY)]
        )
        # GATT objects first, so the device is complete when a scan reports it.
        _interfaces_added(
            root,
            [
                (remote.service_path, SERVICE_IFACE, service),
                (remote.char_path, CHAR_IFACE, char),
                (remote.device_path, DEVICE_IFACE, device),
            ],
        )

    def _add_hid_remote(
        self,
        remote: MockRemote,
        report_map: bytes,
        report_ids: tuple[int, ...],
        address_type: str,
        rssi: int,
    ) -> None:
        root = self._mock_iface("/")
        device = self._device_props(
            remote,
            address_type=address_type,
            appearance=0x03C1,  # HID keyboard
            icon="input-keyboard",
            rssi=rssi,
            uuids=[HID_SERVICE_UUID],
            manufacturer=dbus.Dictionary({}, signature="qv"),
            flags=0x05,
        )
        self._device_object(root, remote, device, "self.c2c_char_paths = []")
        added: list[tuple[str, str, dict[str, Any]]] = []

        def service(path: str, uuid: str, handle: int) -> None:
            props = {
                "UUID": dbus.String(uuid),
                "Device": dbus.ObjectPath(remote.device_path),
                "Primary": dbus.Boolean(True),
                "Includes": dbus.Array([], signature="o"),
                "Handle": dbus.UInt16(handle),
            }
            root.AddObject(path, SERVICE_IFACE, props, [])
            added.append((path, SERVICE_IFACE, props))

        def characteristic(
            path: str, service_path: str, uuid: str, value: bytes, notify: bool
        ) -> None:
            props = {
                "UUID": dbus.String(uuid),
                "Service": dbus.ObjectPath(service_path),
                "Value": dbus.Array([dbus.Byte(b) for b in value], signature="y"),
                "Notifying": dbus.Boolean(False),
                "Flags": dbus.Array(["read", "notify"] if notify else ["read"], signature="s"),
                "Handle": dbus.UInt16(int(path[-4:], 16)),
                "MTU": dbus.UInt16(185),
            }
            methods = [
                ("ReadValue", "a{sv}", "ay", _READ_VALUE),
                ("WriteValue", "aya{sv}", "", ""),
            ]
            if notify:
                methods += [
                    ("StartNotify", "", "", _START_NOTIFY),
                    ("StopNotify", "", "", _STOP_NOTIFY),
                ]
            root.AddObject(path, CHAR_IFACE, props, methods)
            if notify:
                self._mock_iface(path).AddMethods(CONTROL_IFACE, [("Notify", "ay", "b", _NOTIFY)])
                self._control(remote.device_path, "AddCharPath", path)
            added.append((path, CHAR_IFACE, props))

        def descriptor(path: str, char_path: str, uuid: str, value: bytes) -> None:
            props = {
                "UUID": dbus.String(uuid),
                "Characteristic": dbus.ObjectPath(char_path),
                "Value": dbus.Array([dbus.Byte(b) for b in value], signature="y"),
                "Flags": dbus.Array(["read"], signature="s"),
                "Handle": dbus.UInt16(int(path[-4:], 16)),
            }
            root.AddObject(
                path, DESCRIPTOR_IFACE, props, [("ReadValue", "a{sv}", "ay", _READ_DESCRIPTOR)]
            )
            added.append((path, DESCRIPTOR_IFACE, props))

        hid = remote.service_path
        service(hid, HID_SERVICE_UUID, 0x0010)
        characteristic(remote.char_path, hid, HID_REPORT_MAP_UUID, report_map, notify=False)
        handle = 0x0020
        for report_id in report_ids:
            char_path = f"{hid}/char{handle:04x}"
            characteristic(char_path, hid, HID_REPORT_UUID, b"", notify=True)
            descriptor(
                f"{char_path}/desc{handle + 2:04x}",
                char_path,
                HID_REPORT_REFERENCE_UUID,
                bytes([report_id, 1]),
            )
            remote.reports[report_id] = char_path
            handle += 4
        if remote.serial is not None:
            dis = f"{remote.device_path}/service0040"
            service(dis, "0000180a-0000-1000-8000-00805f9b34fb", 0x0040)
            characteristic(
                f"{dis}/char0041",
                dis,
                "00002a25-0000-1000-8000-00805f9b34fb",
                remote.serial.encode(),
                notify=False,
            )
        # Deepest objects first on removal; GATT objects announced before the device.
        remote.objects = [(path, iface) for path, iface, _ in reversed(added)]
        _interfaces_added(root, [*added, (remote.device_path, DEVICE_IFACE, device)])

    def _control(self, path: str, method: str, *args: Any) -> Any:
        proxy = self._bus.get_object(BLUEZ, path)
        return getattr(dbus.Interface(proxy, CONTROL_IFACE), method)(*args)

    def _remove(self, remote: MockRemote) -> None:
        self._control(remote.device_path, "DropLink")
        root = self._mock_iface("/")
        gatt = remote.objects or [
            (remote.char_path, CHAR_IFACE),
            (remote.service_path, SERVICE_IFACE),
        ]
        for path, iface in [*gatt, (remote.device_path, DEVICE_IFACE)]:
            root.EmitSignal(
                OBJECT_MANAGER_IFACE,
                "InterfacesRemoved",
                "oas",
                [dbus.ObjectPath(path), dbus.Array([iface], signature="s")],
            )
            root.RemoveObject(path)

    def _get(self, path: str, iface: str, name: str) -> Any:
        proxy = self._bus.get_object(BLUEZ, path)
        return dbus.Interface(proxy, dbus.PROPERTIES_IFACE).Get(iface, name)

    def _method_calls(self, path: str, method: str) -> list[Any]:
        return list(self._mock_iface(path).GetMethodCalls(method))


def _address(address: str) -> str:
    upper = address.upper()
    if not _ADDRESS_RE.match(upper):
        raise BlueZMockError(f"not a Bluetooth address: {address!r} (expected AA:BB:CC:DD:EE:FF)")
    return upper


def _interfaces_added(root: Any, objects: list[tuple[str, str, dict[str, Any]]]) -> None:
    """ObjectManager's InterfacesAdded for each object, in order (as BlueZ announces them)."""
    for path, iface, props in objects:
        root.EmitSignal(
            OBJECT_MANAGER_IFACE,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [
                dbus.ObjectPath(path),
                dbus.Dictionary(
                    {iface: dbus.Dictionary(props, signature="sv")}, signature="sa{sv}"
                ),
            ],
        )
