"""Discovery of a test's own: what a hub started by a test may find, and nothing else.

Loopback multicast is shared by every process on the machine (another test run, a demo, a
benchmark): a hub that browses the shipped service types or listens on the standard SAP groups
would attach their streams. :func:`private_discovery` writes a settings file
(``C2C_HUB_CONFIG``) under which each discovering plugin looks at this test's names only:

- ``aes67``: RAVENNA sessions under a random subtype, SAP on a random group (a test's emulated
  AES67 microphones announce there: :func:`private_sap_group`, :func:`aes67_options`);
- ``ble_remotes``, ``hid_remotes``: an emulated radio of a random name (no evdev).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from c2c_hub.device_models import shipped_models_dir
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.plugin_models import plugin_device_models
from c2c_hub.settings import PluginSettings


@dataclass(frozen=True)
class Discovery:
    """The names one test's hub discovers under, and its settings file."""

    config: Path
    ravenna_service: str
    sap_group: str
    radio: str


def private_sap_group() -> str:
    """A SAP group of this test's own (in the local scope, 239.255.0.0/16)."""
    rng = random.SystemRandom()
    return f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"


def aes67_options(sap_group: str, **more: Any) -> dict[str, Any]:
    """The ``aes67`` plugin's options for a hub that hears SAP on ``sap_group`` only (and
    RAVENNA sessions under a subtype nobody announces)."""
    return {
        "interface": "127.0.0.1",
        "sap_groups": [sap_group],
        "ravenna_service": f"_rav{secrets.token_hex(3)}._sub._rtsp._tcp.local.",
        **more,
    }


def private_discovery(folder: Path, extra: str = "", sap_group: str | None = None) -> Discovery:
    """A settings file in ``folder`` for a hub that discovers under names of its own
    (``sap_group``: the test's emulated microphones'; ``extra``: more TOML, appended)."""
    token = secrets.token_hex(3)
    found = Discovery(
        config=folder / "discovery.toml",
        ravenna_service=f"_rav{token}._sub._rtsp._tcp.local.",
        sap_group=sap_group or private_sap_group(),
        radio=f"test-{token}",
    )
    found.config.write_text(
        f"""
[plugins.options.aes67]
interface = "127.0.0.1"
ravenna_service = "{found.ravenna_service}"
sap_groups = ["{found.sap_group}"]

[plugins.options.ble_remotes]
radio = "emulated"
emulated_radio = "{found.radio}"

[plugins.options.hid_remotes]
radio = "emulated"
emulated_radio = "{found.radio}"
evdev = false
{extra}
"""
    )
    return found


def declare_installed_models(emulator: EmulatorHandle) -> None:
    """Declare to the emulator the device models of the installed plugins (the AES67 channel),
    as Frame.io's developer console does for a real integration: for a ``c2c-hub run`` child."""
    for _, model in plugin_device_models(PluginSettings(), shipped_models_dir()):
        assert model.source is not None
        emulator.declare_device_model(model.source.read_text(encoding="utf-8"))
