"""The plugin kit: everything a plugin needs from the hub, in one import.

::

    from c2c_hub import kit

    class Options(kit.PluginOptions):
        poll_s: kit.Duration = 1.0

    @kit.hookimpl
    def register_sources(register): register(MySource())

A plugin imports nothing else of the hub (an import-linter contract holds the first-party
plugins to it), so everything here is the plugin API, kept stable:

- the hooks' marker :data:`hookimpl` and the entry-point group :data:`ENTRY_POINT_GROUP`;
- the sub-device types: :class:`SubDevice`, :class:`AudioFormat`, :class:`AudioBlock`,
  :class:`SourceContext`, :class:`DeviceSource`, :class:`RouteRule`, :class:`QueuedFile`;
- kinds of device: :class:`DeviceKind` (and the hub's own :data:`MICROPHONE`,
  :data:`BUTTON_REMOTE`, :data:`LOCAL_INPUT`) for the ``register_device_kinds`` hook;
- device models: :class:`DeviceModel`, :class:`DeviceModelRegistry`, :class:`Input`, and
  :func:`package_models` for the ``register_device_models`` hook;
- typed options: :class:`PluginOptions`, :data:`Duration`, :data:`DurationOrZero`,
  :class:`OptionsError`, and pydantic's :func:`Field`, :func:`field_validator` and
  :func:`model_validator` to write them with;
- trackers: :class:`TrackerPool` (one task per device, claims by serial, restarts, health);
- links: :class:`LinkKeeper` (one device's link told apart from its own close, the grace
  before its device is detached);
- BLE through bleak: :class:`BleakCentral` (a scan that remembers what it saw, connects that
  leave nothing half-open), :func:`ble_disconnect`, :data:`BLE_ERRORS` and
  :func:`system_bus_address` (imported with bleak only when a plugin first asks for them);
- time and retries: :class:`Clock`, :class:`SystemClock`, :class:`RestartPolicy`,
  :func:`backoff_delay`.

The guide is ``docs/plugins/`` (tutorial, hooks, testing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock, SystemClock
from c2c_hub.device_kinds import (
    BUTTON_REMOTE,
    HOST,
    LOCAL_INPUT,
    MICROPHONE,
    DeviceKind,
    DeviceKindError,
)
from c2c_hub.device_models import (
    BleMatcher,
    DeviceModel,
    DeviceModelError,
    DeviceModelRegistry,
    EvdevMatcher,
    Input,
    MdnsMatcher,
    SdpMatcher,
    parse_hid_usage,
)
from c2c_hub.errors import HubError
from c2c_hub.kit.links import CLOSE_TIMEOUT_S, LinkKeeper
from c2c_hub.kit.options import (
    Duration,
    DurationOrZero,
    OptionsError,
    PluginOptions,
    parse_duration,
)
from c2c_hub.kit.trackers import TRACKER_RESTARTS, Tracker, TrackerPool
from c2c_hub.plugin.runner import RestartPolicy
from c2c_hub.plugin.spec import ENTRY_POINT_GROUP, hookimpl
from c2c_hub.subdevices import (
    SERIAL_RE,
    AudioBlock,
    AudioFormat,
    DeviceSource,
    QueuedFile,
    RouteRule,
    SourceContext,
    SubDevice,
    SubDeviceError,
)

if TYPE_CHECKING:
    from c2c_hub.kit.ble import BLE_ERRORS, BleakCentral, system_bus_address
    from c2c_hub.kit.ble import disconnect as ble_disconnect

# bleak (and its D-Bus stack) is imported only by a plugin that uses it, on first use.
_BLE_NAMES = {
    "BLE_ERRORS": "BLE_ERRORS",
    "BleakCentral": "BleakCentral",
    "ble_disconnect": "disconnect",
    "system_bus_address": "system_bus_address",
}


def __getattr__(name: str) -> Any:
    if name in _BLE_NAMES:
        from c2c_hub.kit import ble

        return getattr(ble, _BLE_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def package_models(module_file: str, folder: str = "device_models") -> Path:
    """The device model folder beside a plugin's module: ``package_models(__file__)``."""
    return Path(module_file).resolve().parent / folder


__all__ = [
    "BLE_ERRORS",
    "BUTTON_REMOTE",
    "CLOSE_TIMEOUT_S",
    "ENTRY_POINT_GROUP",
    "HOST",
    "LOCAL_INPUT",
    "MICROPHONE",
    "SERIAL_RE",
    "TRACKER_RESTARTS",
    "AudioBlock",
    "AudioFormat",
    "BleMatcher",
    "BleakCentral",
    "Clock",
    "DeviceKind",
    "DeviceKindError",
    "DeviceModel",
    "DeviceModelError",
    "DeviceModelRegistry",
    "DeviceSource",
    "Duration",
    "DurationOrZero",
    "EvdevMatcher",
    "Field",
    "HubError",
    "Input",
    "LinkKeeper",
    "MdnsMatcher",
    "OptionsError",
    "PluginOptions",
    "QueuedFile",
    "RestartPolicy",
    "RouteRule",
    "SdpMatcher",
    "SourceContext",
    "SubDevice",
    "SubDeviceError",
    "SystemClock",
    "Tracker",
    "TrackerPool",
    "backoff_delay",
    "ble_disconnect",
    "field_validator",
    "hookimpl",
    "model_validator",
    "package_models",
    "parse_duration",
    "parse_hid_usage",
    "system_bus_address",
]
