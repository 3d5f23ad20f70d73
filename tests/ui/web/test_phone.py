"""The page on a phone, paired, with a plugin whose source runs but reports itself unhealthy:
the take first, then the uploads and the network, the Frame.io card (and its Unpair) after
them; the plugin shown unhealthy in its own words, as the terminal shows it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from c2c_hub.kit import hookimpl
from c2c_hub.runtime import Hub
from tests.conftest import ControlHubFactory
from tests.ui.web.conftest import PHONE, WebHub

WAIT_MS = 30_000


class AntennaSource:
    """Runs, and says it cannot hear anything (a receiver with its antenna unplugged)."""

    name = "antenna"

    async def run(self, ctx: Any) -> None:
        ctx.report(False, "antenna unplugged")
        await asyncio.Event().wait()


class AntennaPlugin:
    @hookimpl
    def register_sources(self, register: Any) -> None:
        register(AntennaSource())


@pytest.fixture
async def paired_hub(control_hub: ControlHubFactory) -> AsyncIterator[tuple[Hub, str]]:
    plugins = {"wireless_receiver": AntennaPlugin()}
    async with control_hub(plugins=plugins, paired=True) as running:
        assert running.control.url is not None
        yield running.hub, running.control.url


async def test_a_phone_sees_the_take_first_and_an_unhealthy_plugin(
    paired_hub: tuple[Hub, str], browser_context: Any
) -> None:
    from playwright.async_api import expect

    hub, url = paired_hub
    page = await browser_context.new_page()
    await page.set_viewport_size(PHONE)
    await page.goto(url)
    login_code = getattr(hub.attached("control"), "login_code", lambda: None)()
    assert login_code is not None
    await page.get_by_label("Login code").fill(login_code)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#auth")).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator("body")).to_have_class("paired", timeout=WAIT_MS)
    plugin = page.locator("#plugins > li").filter(has_text="wireless_receiver")
    await expect(plugin).to_contain_text("antenna: unhealthy (antenna unplugged)", timeout=WAIT_MS)
    await expect(plugin).to_have_class("row bad")

    tops = {}
    for card in ("take", "queue", "network", "pairing", "devices", "mix"):
        box = await page.locator(f"#{card}-card").bounding_box()
        assert box is not None, card
        tops[card] = box["y"]
    assert tops["take"] < tops["queue"] < tops["network"] < tops["pairing"] < tops["devices"]
    assert tops["devices"] < tops["mix"], "every other card after the take's"
    # The take's controls are on the first screen; Unpair is not near them.
    start = await page.get_by_role("button", name="Start take").bounding_box()
    unpair = await page.locator("#unpair").bounding_box()
    assert start is not None and unpair is not None
    assert start["y"] + start["height"] < PHONE["height"], "Start take needs no scrolling"
    assert unpair["y"] > start["y"] + PHONE["height"] / 2, "Unpair sits away from the take"


async def test_a_phone_sees_each_channels_clock_and_warning_and_how_parts_go_up(
    web_hub: WebHub, browser_context: Any
) -> None:
    """From the running hub's status: each AES67 channel's PTP clock, the warning when the
    streams follow different grandmasters, a channel's own warning (its format changed mid-run),
    and the uploads' part streams and congestion control."""
    from playwright.async_api import expect

    from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, free_udp_port

    clocks = ["00-1D-C1-FF-FE-00-00-0A", "00-1D-C1-FF-FE-00-00-0B"]
    ptp = [
        EmulatedAes67Sender(
            name=f"PTP {n}",
            channels=1,
            labels=[f"PTP {n}"],
            address="127.0.0.1",
            port=free_udp_port("127.0.0.1"),
            sap_group=web_hub.mics.sap_group,
            sap_interval=0.5,
            grandmaster=gm,
            domain=n,
        )
        for n, gm in enumerate(clocks)
    ]
    for sender in ptp:
        sender.start()
    try:
        page = await browser_context.new_page()
        await page.set_viewport_size(PHONE)
        await page.goto(web_hub.url)
        login_code = getattr(web_hub.hub.attached("control"), "login_code", lambda: None)()
        assert login_code is not None
        await page.get_by_label("Login code").fill(login_code)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator("#auth")).to_be_hidden(timeout=WAIT_MS)

        devices = page.locator("#devices > li")
        for n, (sender, gm) in enumerate(zip(ptp, clocks, strict=True)):
            row = devices.filter(has_text=sender.serials[0])
            await expect(row).to_contain_text(f"PTP gm {gm} domain {n}", timeout=WAIT_MS)
        await expect(page.locator("#channels-state")).to_contain_text(
            f"streams disagree on the PTP grandmaster: {', '.join(clocks)}", timeout=WAIT_MS
        )
        await expect(page.locator("#channels-state")).to_have_class(re.compile(r"\bbad\b"))

        mic = web_hub.mics.serials[0]
        web_hub.mics.sender(mic).change_format("L16")
        warning = devices.filter(has_text=mic).locator(".warning")
        await expect(warning).to_contain_text("its SDP changed from L24", timeout=WAIT_MS)
        await expect(devices.filter(has_text=mic)).to_have_class(re.compile(r"\bbad\b"))

        uploads = web_hub.hub.status()["uploads"]
        transport = page.locator("#queue-transport")
        await expect(transport).to_contain_text(
            f"Part streams: 0 in flight of {uploads['part_streams']['limit']}", timeout=WAIT_MS
        )
        await expect(transport).to_contain_text(
            f"Congestion control: {uploads['congestion_control']['algorithm']}"
        )
    finally:
        for sender in ptp:
            sender.stop()
