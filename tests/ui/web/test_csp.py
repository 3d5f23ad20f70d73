"""The page's Content-Security-Policy in a real browser (headless Chromium): the watch that every
browser test relies on (``conftest.watch_csp``: no violation while the page does its work) sees
one when the policy blocks something."""

from __future__ import annotations

from typing import Any

from tests.ui.web.conftest import WebHub, csp_reported


async def test_the_page_reports_what_its_policy_blocks(
    web_hub: WebHub, browser_context: Any
) -> None:
    """The watch every browser test relies on (no Content-Security-Policy violation while the
    page does its work) sees a violation: an inline script, which the policy must block."""
    page = await browser_context.new_page()
    await page.goto(web_hub.url)
    violations = browser_context.csp_violations
    ran = await page.evaluate(
        """() => { window.__inline = false;
        const s = document.createElement("script");
        s.textContent = "window.__inline = true";
        document.body.append(s);
        return window.__inline; }"""
    )
    assert ran is False, "an inline script ran: the policy does not block inline script"
    blocked = await csp_reported(violations, "script-src")
    violations[:] = [v for v in violations if v not in blocked]
