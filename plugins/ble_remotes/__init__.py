"""First-party plugin: BLE button remotes; each press becomes a real-time logging event.

Written the way a third party would write one: a module with one ``@hookimpl`` that registers
a source (:class:`~c2c_hub_plugins.ble_remotes.source.BleRemoteSource`, ``"ble-remotes"``); the hub
runs it in its own thread and event loop. The remote's wire format (advertisement, serial,
notifications) is ``docs/ble-remotes.md``.

Between the plugin's logic and Bluetooth sits a small seam,
:mod:`c2c_hub_plugins.ble_remotes.radio`:
:class:`~c2c_hub_plugins.ble_remotes.bleak_radio.BleakRadio` (bleak on BlueZ) for real, and
:class:`c2c_hub_plugins.ble_remotes.emulated.EmulatedRadio` for the demo. To test against bleak's
real BlueZ
code path without Bluetooth, :class:`c2c_hub.emulation.bluez.BlueZMock` puts a mocked BlueZ on a
private D-Bus.

Its one name is its entry point's, ``ble_remotes``: its options table, its loggers
(``c2c_hub.plugins.ble_remotes``), its line in ``c2c-hub plugins``.

Options (``[plugins.options.ble_remotes]``; durations in seconds or as ``"1.5s"``), see
:class:`~c2c_hub_plugins.ble_remotes.options.Options`:

``radio`` (``"bleak"``, default, or ``"emulated"``)
    BlueZ through bleak, or the in-process radio of :mod:`c2c_hub_plugins.ble_remotes.emulated`.
``emulated_radio`` (default ``"default"``)
    with ``radio = "emulated"``: the name the emulated radio is registered under.
``adapter`` (default: the first powered adapter)
    the BlueZ adapter, e.g. ``"hci0"``.
``scanner_watchdog_s`` (default 30)
    a scan that reports nothing at all for this long is restarted.
``reconnect_grace_s`` (default 3)
    a remote whose link dropped is detached ("disconnected") unless it reconnects within this.
``connect_timeout_s`` (default 10), ``connect_attempts`` (default 4)
    one attempt's limit; attempts (with backoff) before waiting for the next advertisement.
``backoff_initial_s`` (0.25), ``backoff_max_s`` (5), ``backoff_jitter_s`` (0.25)
    the capped, jittered exponential backoff between connection attempts.
``unavailable_retry_s`` (default 10)
    with no BlueZ or no adapter, how often to look again (the source never fails for that).
"""

from __future__ import annotations

from collections.abc import Callable

from c2c_hub import kit
from c2c_hub_plugins.ble_remotes.options import BackoffPolicy, Options, OptionsError
from c2c_hub_plugins.ble_remotes.radio import (
    Advertisement,
    ConnectFailed,
    DeviceGone,
    RadioError,
    RadioUnavailable,
    RemoteConnection,
    RemoteRadio,
)
from c2c_hub_plugins.ble_remotes.source import BleRemoteSource

__all__ = [
    "Advertisement",
    "BackoffPolicy",
    "BleRemoteSource",
    "ConnectFailed",
    "DeviceGone",
    "Options",
    "OptionsError",
    "RadioError",
    "RadioUnavailable",
    "RemoteConnection",
    "RemoteRadio",
    "register_sources",
]


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(BleRemoteSource())
