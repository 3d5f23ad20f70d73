"""First-party plugin: AES67 / RAVENNA / Dante (AES67 mode) network audio as microphones.

Each channel of a stream becomes a sub-device with a stable identity (the SDP origin, the
``m=`` index and the channel number) and its own Frame.io channel. Streams are found by SAP
(RFC 2974) and in a folder of SDP files the operator names. ``docs/aes67.md`` is the guide.

The source reaches the hub through the plugin kit (:mod:`c2c_hub.kit`) alone. The protocol
modules are pure and import nothing of the hub, so they serve the emulated sender
and the tests as they serve the source:

- :mod:`c2c_hub_plugins.aes67.sdp`: session descriptions as real devices write them;
- :mod:`c2c_hub_plugins.aes67.rtp`: L16/L24 packets and the jitter buffer;
- :mod:`c2c_hub_plugins.aes67.sap`: announcements, deletions, time-outs;
- :mod:`c2c_hub_plugins.aes67.timeline`: the media clock on the hub's timeline;
- :mod:`c2c_hub_plugins.aes67.emulated`: an emulated sender (``python -m
  c2c_hub_plugins.aes67.emulated``).

Options (``[plugins.options.aes67]``): :class:`~c2c_hub_plugins.aes67.options.Options`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from c2c_hub import kit
from c2c_hub_plugins.aes67.options import Options, OptionsError
from c2c_hub_plugins.aes67.source import MODEL_ID, Aes67Source

__all__ = [
    "MODEL_ID",
    "Aes67Source",
    "Options",
    "OptionsError",
    "register_device_models",
    "register_sources",
]


@kit.hookimpl
def register_device_models(register: Callable[[Path], None]) -> None:
    register(kit.package_models(__file__))  # device_models/aes67-channel.toml


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(Aes67Source())
