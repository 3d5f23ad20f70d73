"""The web page's level meters in a real browser (headless Chromium): each microphone's meter
is drawn from the hub's readings as they are pushed over the event stream, with the numbers
the hub computed (the emulated AES67 microphones play sines at -6 dBFS: peak -6.02, RMS -9.03
dBFS on the page), and keeps moving."""

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

    rows = page.locator("#meters li")
    for name in ("Boom", "Lav"):
        row = rows.filter(has=page.locator(".name", has_text=name))
        await expect(row).to_have_attribute("data-state", "ok", timeout=WAIT_MS)
        # A reading whose window held a lost packet (concealed as silence, as it should be on
        # a loaded machine) reads a little low; the sine's own level must come back.
        seen: list[tuple[float, float]] = []
        deadline = time.monotonic() + 30
        while True:
            peak = float(await row.get_attribute("data-peak") or "nan")
            rms = float(await row.get_attribute("data-rms") or "nan")
            seen.append((peak, rms))
            if abs(peak - (-6.02)) <= 0.1 and abs(rms - (-9.03)) <= 0.1:
                break
            assert time.monotonic() < deadline, (name, seen[-20:])
            await asyncio.sleep(0.05)
        assert "peak -6.0" in await row.locator(".meter-numbers").inner_text()
        width = await row.locator(".meter-rms").evaluate("el => el.style.width")
        assert width.endswith("%") and 80 < float(width[:-1]) < 90  # -9 dBFS of a 60 dB scale

    # it moves: readings keep coming over the event stream and are drawn
    meters = page.locator("#meters")
    first = int(await meters.get_attribute("data-updates") or "0")
    deadline = time.monotonic() + 30
    while int(await meters.get_attribute("data-updates") or "0") < first + 20:
        assert time.monotonic() < deadline, "the meters did not move"
        await asyncio.sleep(0.05)
    await page.screenshot(path=str(artifacts_dir() / "meters.png"))
