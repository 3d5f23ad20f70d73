"""Discovery of a test's own: what a hub started by a test may find, and nothing else.

Loopback multicast is shared by every process on the machine (another test run, a demo, a
benchmark): a hub that browses the shipped service types or listens on the standard SAP groups
would attach their microphones and streams. :func:`private_discovery` writes a settings file
(``C2C_HUB_CONFIG``) under which each discovering plugin looks at this test's names only:

- ``mdns_microphones``: the device models, the microphone's service type a random one
  (``_c2cmic-1a2b3c._tcp.local.``), browsed on 127.0.0.1;
- ``aes67``: RAVENNA sessions under a random subtype, SAP on a random group;
- ``ble_remotes``, ``hid_remotes``: an emulated radio of a random name (no evdev).
"""

from __future__ import annotations

import random
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Discovery:
    """The names one test's hub discovers under, and its settings file."""

    config: Path
    mic_service_type: str
    ravenna_service: str
    sap_group: str
    radio: str


def private_models(directory: Path, service_type: str) -> Path:
    """The project's device models in ``directory``, the microphone announced under
    ``service_type``."""
    shutil.copytree(ROOT / "device_models", directory)
    mic = directory / "c2c-network-mic.toml"
    mic.write_text(mic.read_text().replace("_c2cmic._tcp.local.", service_type))
    return directory


def private_discovery(folder: Path) -> Discovery:
    """A settings file in ``folder`` for a hub that discovers under names of its own."""
    token = secrets.token_hex(3)
    rng = random.SystemRandom()
    found = Discovery(
        config=folder / "discovery.toml",
        mic_service_type=f"_c2cmic-{token}._tcp.local.",
        ravenna_service=f"_rav{token}._sub._rtsp._tcp.local.",
        sap_group=f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}",
        radio=f"test-{token}",
    )
    models = private_models(folder / "device_models", found.mic_service_type)
    found.config.write_text(
        f"""
[device_models]
directory = "{models}"

[plugins.options.mdns_microphones]
interfaces = ["127.0.0.1"]

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
"""
    )
    return found
