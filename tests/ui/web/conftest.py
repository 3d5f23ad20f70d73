"""Fixtures for the web page's browser tests: a hub with its HTTP listener, emulated
sub-devices around it, and headless Chromium driven by Playwright (pip package only; the
browser is Debian's ``/usr/bin/chromium``, never one downloaded by ``playwright install``)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import c2c_hub_plugins.aes67 as aes67_plugin
import c2c_hub_plugins.ble_remotes as ble_plugin
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import declare_plugin_models
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    ControlSettings,
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.ui.control import attach_control
from c2c_hub_plugins.aes67.emulated import EmulatedMicrophones
from c2c_hub_plugins.ble_remotes import emulated as emulated_remote
from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote
from tests.discovery import aes67_options, private_sap_group
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


@dataclass
class WebHub:
    hub: Hub
    url: str
    mics: EmulatedMicrophones
    remote: EmulatedRemote


@pytest.fixture
async def web_hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[WebHub]:
    """A running hub, not paired, its HTTP listener on 127.0.0.1 (any free port), with two
    emulated AES67 microphones (SAP on a group of the test's own, RTP unicast) and an emulated
    button remote around it."""
    emulator.rename_project(PROJECT)
    radio = f"web-{secrets.token_hex(3)}"
    group = private_sap_group()
    mics = EmulatedMicrophones(["Boom", "Lav"], sap_group=group, sap_interval=0.5)
    remote = EmulatedRemote("AA:BB:CC:DD:EE:01", "C2C-Remote Slate", "RMT-1", radio=radio)
    options: dict[str, dict[str, Any]] = {
        "aes67": aes67_options(group),
        "ble_remotes": {"radio": "emulated", "emulated_radio": radio},
    }
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "recordings", stop_grace_s=0.1),
        plugins=PluginSettings(allow=[], options=options),
        control=ControlSettings(host="127.0.0.1", port=0),
    )
    declare_plugin_models(emulator, settings, {"aes67": aes67_plugin})
    mics.start()
    try:
        async with Hub(settings) as hub:
            hub.plugins.register_object(aes67_plugin, "aes67")
            hub.plugins.register_object(ble_plugin, "ble_remotes")
            control = attach_control(hub)
            await hub.start(presence=True, status_file=False)
            assert control.url is not None
            yield WebHub(hub, control.url, mics, remote)
    finally:
        mics.stop()
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
        violations = await watch_csp(context)
        context.csp_violations = violations  # a test that provokes one takes it out
        try:
            yield context
            # Every page the test opened did its work within the hub's Content-Security-Policy.
            assert not violations, f"Content-Security-Policy violations: {violations}"
        finally:
            await context.close()


# Reported from every page of the context, before the page's own script runs. The listener is
# added by the browser (not by a script the page loads), so the policy does not stop it.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} `
    + `(${e.sourceFile || "?"}:${e.lineNumber})`);
});
"""


async def csp_reported(violations: list[str], directive: str, within: float = 20.0) -> list[str]:
    """The violations of ``directive`` once one was reported (the console may lag the page)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [v for v in violations if directive in v]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {directive} violation within {within} s: {violations}")


async def watch_csp(context: Any) -> list[str]:
    """Collect the Content-Security-Policy violations of every page of ``context``: the page's
    ``securitypolicyviolation`` events and Chromium's console reports of them."""
    violations: list[str] = []
    await context.expose_binding("__cspViolation", lambda _source, text: violations.append(text))
    await context.add_init_script(_CSP_LISTENER)

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.on("page", lambda page: page.on("console", console))
    return violations
