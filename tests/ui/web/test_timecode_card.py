"""The web page's timecode card in Chromium: the source and the running timecode, and the
offset set from its form, which the hub applies and keeps."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from c2c_hub.runtime import Hub
from tests.conftest import ControlHubFactory

WAIT_MS = 30_000


@pytest.fixture
async def hub(control_hub: ControlHubFactory) -> AsyncIterator[Hub]:
    async with control_hub(recorder={"timecode_rate": "25"}) as running:
        yield running.hub


async def test_the_card_shows_the_source_and_sets_the_offset(
    hub: Hub, browser_context: Any
) -> None:
    from playwright.async_api import expect

    control = hub.attached("control")
    url = getattr(control, "url", None)
    assert url is not None
    page = await browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.get_by_label("Login code").fill(control.login_code())  # type: ignore[union-attr]
    await page.get_by_role("button", name="Log in").click()
    card = page.locator("#timecode-card")
    await expect(card).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#tc-source")).to_have_text("SYSTEM")
    await expect(page.locator("#tc-summary")).to_have_text("system clock")
    await expect(page.locator("#tc-now")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d:\d\d$"))
    await page.get_by_label("Offset (frames)").fill("-4")
    await page.get_by_role("button", name="Set offset").click()
    await expect(page.locator("#tc-offset-now")).to_have_text("Offset -4 frames", timeout=WAIT_MS)
    assert hub.timecode.offset_frames == -4
    assert json.loads((hub.data_dir / "timecode.json").read_text()) == {"offset_frames": -4}
    assert errors == []
