"""First-party plugin: remotes you can buy (HID over GATT, and keyboards the kernel owns).

Cheap BLE shutter remotes, presentation clickers and foot pedals are HID devices: they send
keyboard or consumer-control reports (Volume Up, Enter, Page Down). This plugin turns their
key-downs into real-time logging presses through the device model (``hid_usages`` and
``evdev_keys`` of each input), with two sources:

- ``hid-remotes`` (:class:`~c2c_hub_plugins.hid_remotes.source.HidRemoteSource`): BLE remotes
  advertising the HID service (0x1812), read over GATT through bleak: the Report Map parsed by
  :mod:`~c2c_hub_plugins.hid_remotes.descriptor`, every Input Report subscribed;
- ``hid-evdev`` (:class:`~c2c_hub_plugins.hid_remotes.evdev_input.EvdevSource`): devices the
  kernel already owns, through python-evdev, grabbed.

It ships its device models (``device_models/``: a two-button shutter remote, a presentation
clicker). The guide is ``docs/remotes.md``.

Options (``[plugins.options.hid_remotes]``): see
:class:`~c2c_hub_plugins.hid_remotes.options.Options`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from c2c_hub import kit
from c2c_hub_plugins.hid_remotes.evdev_input import EvdevSource
from c2c_hub_plugins.hid_remotes.source import HidRemoteSource

__all__ = ["EvdevSource", "HidRemoteSource", "register_device_models", "register_sources"]


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(HidRemoteSource())
    register(EvdevSource())


@kit.hookimpl
def register_device_models(register: Callable[[Path], None]) -> None:
    register(kit.package_models(__file__))  # device_models/*.toml
