"""The web page's network card in a real browser: the connection in use and why, the health
verdict, Wi-Fi in range; join a network with its password (cleared from the page at once and
never in anything the page fetches afterwards), then a wrong password's reason on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.networkmanager import NetworkManagerMock
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
from tests.network.conftest import HOTSPOT_PSK, STUDIO_PSK
from tests.ui.web.conftest import artifacts_dir

WAIT_MS = 30_000


@pytest.fixture
async def net_hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[Hub]:
    with NetworkManagerMock() as nm:
        nm.add_wifi_device("wlan0")
        nm.add_access_point("StudioNet", psk=STUDIO_PSK, strength=82)
        nm.add_access_point("Hotspot", psk=HOTSPOT_PSK, strength=40, frequency=5180)
        settings = HubSettings(
            frameio=frameio_settings,
            storage=StorageSettings(data_dir=tmp_path / "hub"),
            recorder=RecorderSettings(directory=tmp_path / "rec"),
            plugins=PluginSettings(allow=[]),
            control=ControlSettings(host="127.0.0.1", port=0),
        )
        async with Hub(settings) as hub:
            attach_control(hub)
            await hub.start(presence=False, status_file=False)
            yield hub


@pytest.mark.timeout(180)
async def test_the_network_card_joins_a_network_and_never_shows_its_password(
    net_hub: Hub, browser_context: Any
) -> None:
    from playwright.async_api import expect

    control: Any = net_hub.attached("control")
    bodies: list[bytes] = []
    page = await browser_context.new_page()

    async def grab(response: Any) -> None:
        try:
            bodies.append(await response.body())
        except Exception:
            pass

    page.on("response", grab)
    await page.goto(control.url)
    await page.get_by_label("Login code").fill(control.login_code())
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#auth")).to_be_hidden(timeout=WAIT_MS)

    card = page.locator("#network-card")
    await expect(card.locator("#net-wifi")).to_contain_text("StudioNet: 82%, WPA2, 2.4 GHz")
    await expect(card.locator("#net-health")).to_contain_text("offline")
    await page.locator("#net-wifi li", has_text="StudioNet").get_by_role("button").click()
    await expect(page.locator("#net-ssid")).to_have_value("StudioNet")
    await page.locator("#net-psk").fill(STUDIO_PSK)
    await page.get_by_role("button", name="Join and save").click()
    await expect(page.locator("#net-psk")).to_have_value("")
    await expect(card.locator("#net-in-use")).to_contain_text("StudioNet (wifi, signal 82%")
    await expect(card.locator("#net-why")).to_have_text("chosen by the operator")
    await expect(card.locator("#net-saved")).to_contain_text("StudioNet (wifi, priority 0, DHCP)")

    await page.locator("#net-ssid").fill("Hotspot")
    await page.locator("#net-psk").fill("not-the-password")
    await page.get_by_role("button", name="Join and save").click()
    await expect(page.locator("#alert")).to_contain_text("password was refused")
    await expect(card.locator("#net-in-use")).to_contain_text("StudioNet")
    # switch back and forth from the saved list: a saved network's "Use" button
    await page.locator("#net-ssid").fill("Hotspot")
    await page.locator("#net-psk").fill(HOTSPOT_PSK)
    await page.get_by_role("button", name="Join and save").click()
    await expect(card.locator("#net-in-use")).to_contain_text("Hotspot (wifi")
    studio = page.locator("#net-saved li", has_text="StudioNet (wifi")
    await studio.get_by_role("button", name="Use").click()
    await expect(card.locator("#net-in-use")).to_contain_text("StudioNet (wifi")
    await page.screenshot(path=str(artifacts_dir() / "network-card.png"), full_page=True)

    html = await page.content()
    for secret in (STUDIO_PSK, HOTSPOT_PSK, "not-the-password"):
        assert secret not in html
        assert not any(secret.encode() in body for body in bodies)
