"""Fixtures for the web page's browser tests: a hub with its HTTP listener, emulated
sub-devices around it, and headless Chromium driven by Playwright (pip package only; the
browser is Debian's ``/usr/bin/chromium``, never one downloaded by ``playwright install``)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

import c2c_hub_plugins.ble_remotes as ble_plugin
import c2c_hub_plugins.mdns_microphones as mdns_plugin
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    ControlSettings,
    DeviceModelSettings,
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.ui.control import attach_control
from c2c_hub_plugins.ble_remotes import emulated as emulated_remote
from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote
from c2c_hub_plugins.mdns_microphones.emulated import EmulatedMicrophone
from tests.helpers import REPO

ROOT = REPO
CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on our machines (test-bench-notes.md, section 8).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PROJECT = "Harbour Night Shoot"


def artifacts_dir() -> Path:
    """Where screenshots go: ``$C2C_TEST_ARTIFACTS/web``, or ``build/test-artifacts/web``."""
    base = os.environ.get("C2C_TEST_ARTIFACTS")
    root = Path(base) if base else ROOT / "build" / "test-artifacts"
    directory = root / "web"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def private_models(tmp_path: Path, service_type: str) -> Path:
    """The project's device models, the microphone announced under this test's own service
    type (loopback multicast is shared by every process on the machine)."""
    directory = tmp_path / "models"
    shutil.copytree(ROOT / "device_models", directory)
    mic = directory / "c2c-network-mic.toml"
    mic.write_text(mic.read_text().replace("_c2cmic._tcp.local.", service_type))
    return directory


@dataclass
class WebHub:
    hub: Hub
    url: str
    mics: list[EmulatedMicrophone]
    remote: EmulatedRemote


@pytest.fixture
async def web_hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[WebHub]:
    """A running hub, not paired, its HTTP listener on 127.0.0.1 (any free port), with two
    emulated network microphones (mDNS) and an emulated button remote around it."""
    emulator.rename_project(PROJECT)
    kind = f"_c2cmic-{secrets.token_hex(3)}._tcp.local."
    radio = f"web-{secrets.token_hex(3)}"
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    mics = [
        EmulatedMicrophone("NM-1", "Boom", zeroconf=zc, signal="speech", service_type=kind),
        EmulatedMicrophone("NM-2", "Lav", zeroconf=zc, frequency=330, service_type=kind),
    ]
    remote = EmulatedRemote("AA:BB:CC:DD:EE:01", "C2C-Remote Slate", "RMT-1", radio=radio)
    options: dict[str, dict[str, Any]] = {
        "mdns_microphones": {"interfaces": ["127.0.0.1"], "vanish_timeout_s": 1.0},
        "ble_remotes": {"radio": "emulated", "emulated_radio": radio},
    }
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "recordings", stop_grace_s=0.1),
        device_models=DeviceModelSettings(directory=private_models(tmp_path, kind)),
        plugins=PluginSettings(allow=[], options=options),
        control=ControlSettings(host="127.0.0.1", port=0),
    )
    for mic in mics:
        await mic.start()
    try:
        async with Hub(settings) as hub:
            hub.plugins.register_object(mdns_plugin, "mdns_microphones")
            hub.plugins.register_object(ble_plugin, "ble_remotes")
            control = attach_control(hub)
            await hub.start(presence=True, status_file=False)
            assert control.url is not None
            yield WebHub(hub, control.url, mics, remote)
    finally:
        for mic in mics:
            await mic.stop()
        await zc.async_close()
        emulated_remote.forget(radio)


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; the browser tests skip without it."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture
async def browser_context(chromium: Path, tmp_path: Path) -> AsyncIterator[Any]:
    """A Chromium context on a fresh profile directory (laptop-sized pages by default)."""
    playwright_api = pytest.importorskip(
        "playwright.async_api",
        reason="the pip package playwright is not installed (pip install playwright; "
        "never `playwright install`: the browser is Debian's chromium)",
    )
    async with playwright_api.async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=LAPTOP,
            device_scale_factor=1,
            locale="en-GB",
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            await context.close()
