"""The web page's level meters in a real browser (headless Chromium): each microphone's meter
moves with its audio, pushed over the event stream, with the numbers the hub computed (a sine
at -6 dBFS reads so on the page)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.ui.web.conftest import WebHub, artifacts_dir

WAIT_MS = 30_000


async def test_the_meters_move_on_the_web_page(web_hub: WebHub, browser_context: Any) -> None:
    from playwright.async_api import expect

    hub = web_hub.hub
    page = await browser_context.new_page()
    await page.goto(web_hub.url)
    login_code = getattr(hub.attached("control"), "login_code", lambda: None)()
    assert login_code is not None
    await page.get_by_label("Login code").fill(login_code)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#auth")).to_be_hidden(timeout=WAIT_MS)

    boom = page.locator('#meters li[data-key="NM-1"]')  # speech
    lav = page.locator('#meters li[data-key="NM-2"]')  # a sine at -6 dBFS
    await expect(boom).to_be_visible(timeout=WAIT_MS)
    await expect(lav).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
    await expect(lav.locator(".name")).to_have_text("Lav")
    peak = float(await lav.get_attribute("data-peak") or "nan")
    assert abs(peak - (-6.02)) <= 0.05, peak  # the hub's number, as the terminal shows it
    assert "peak -6.0" in (await lav.locator(".meter-numbers").inner_text())

    # it moves: readings keep coming over the event stream, and the speech meter changes
    meters = page.locator("#meters")
    first = int(await meters.get_attribute("data-updates") or "0")
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while len(seen) < 5 or int(await meters.get_attribute("data-updates") or "0") < first + 20:
        assert time.monotonic() < deadline, f"the meters did not move: {seen}"
        seen.add(await boom.get_attribute("data-rms") or "")
        await asyncio.sleep(0.05)
    width = await boom.locator(".meter-rms").evaluate("el => el.style.width")
    assert width.endswith("%") and float(width[:-1]) > 0
    await page.screenshot(path=str(artifacts_dir() / "meters.png"))
