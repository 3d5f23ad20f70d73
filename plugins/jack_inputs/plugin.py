"""The ``jack_inputs`` plugin's hooks (its entry point): the device model of an input and the
``jack`` source. ``docs/inputs.md`` is the guide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from c2c_hub import kit
from c2c_hub_plugins.jack_inputs.options import InputOption, Options, OptionsError
from c2c_hub_plugins.jack_inputs.source import MODEL_ID, JackInputsSource

__all__ = [
    "MODEL_ID",
    "InputOption",
    "JackInputsSource",
    "Options",
    "OptionsError",
    "register_device_models",
    "register_sources",
]


@kit.hookimpl
def register_device_models(register: Callable[[Path], None]) -> None:
    register(kit.package_models(__file__))  # device_models/jack-input.toml


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(JackInputsSource())
