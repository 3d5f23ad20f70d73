"""A real page from another origin, in the same headless Chromium where the operator is logged
in to the hub, tries to drive it: a ``fetch`` with a ``text/plain`` body (no preflight), a form
post, and a sandboxed iframe (``Origin: null``, what a ``data:`` page sends too; Chromium itself
stops a top-level ``data:`` page from reaching loopback). The hub refuses every one of them (403)
and nothing is queued or recorded.

127.0.0.1 on another port is the *same site* as the hub for the browser's cookie rules, so the
``SameSite=Strict`` session cookie is sent along: only the hub's origin check stands in the way,
which is exactly what this test proves."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import Request

from c2c_hub.ui.access import Guard
from tests.ui.web.conftest import WebHub, csp_reported

WAIT_MS = 15_000


def evil_page(hub: str, path: str) -> str:
    upload = json.dumps(json.dumps({"paths": [path]}))
    simple = (
        "{method: 'POST', mode: 'no-cors', credentials: 'include', "
        f"headers: {{'Content-Type': 'text/plain'}}, body: {upload}}}"
    )
    sandboxed = (
        f"<script>fetch('{hub}/uploads', {simple});"
        f"fetch('{hub}/uploads/cancel-all', {{method: 'POST', mode: 'no-cors'}});"
        f"fetch('{hub}/takes/start', {simple});</script>"
    ).replace('"', "&quot;")
    return f"""<!doctype html>
<html><body>
<h1>Free sound effects</h1>
<form id="form" method="POST" action="{hub}/takes/start" enctype="text/plain" target="sink">
  <input name='{{"scene": "X", "pad": "' value='"}}'>
</form>
<iframe name="sink"></iframe>
<iframe sandbox="allow-scripts allow-forms" srcdoc="{sandboxed}"></iframe>
<script>
  fetch("{hub}/uploads", {simple}).catch(() => null);
  document.getElementById("form").submit();
</script>
</body></html>"""


@pytest.fixture
async def evil_site(web_hub: WebHub) -> AsyncIterator[str]:
    """Another origin on loopback serving the attacker's page; yields its URL."""
    recordings = web_hub.hub.settings.recorder.directory
    recordings.mkdir(parents=True, exist_ok=True)
    target = recordings / "take.wav"
    target.write_bytes(b"RIFF....WAVE")  # a path the hub would accept: only the origin is wrong
    html = evil_page(web_hub.url.rstrip("/"), str(target)).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(html)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + html)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_page_from_another_origin_cannot_drive_the_hub(
    web_hub: WebHub, evil_site: str, browser_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect

    hub = web_hub.hub
    # What the hub itself received, and what its guard answered (recorded, not changed).
    answered: list[tuple[str, str, str | None, int]] = []
    decide = Guard.problem

    def recorded(guard: Guard, request: Request) -> tuple[int, str] | None:
        verdict = decide(guard, request)
        if request.method == "POST":
            status = 200 if verdict is None else verdict[0]
            origin = request.headers.get("origin")
            answered.append((request.url.path, request.method, origin, status))
        return verdict

    monkeypatch.setattr(Guard, "problem", recorded)

    # The operator is logged in to the hub in this browser.
    operator = await browser_context.new_page()
    await operator.goto(web_hub.url)
    code = getattr(hub.attached("control"), "login_code", lambda: None)()
    assert code is not None
    await operator.get_by_label("Login code").fill(code)
    await operator.get_by_role("button", name="Log in").click()
    await expect(operator.locator("#auth")).to_be_hidden(timeout=WAIT_MS)
    cookies = await browser_context.cookies(web_hub.url)
    assert [c["sameSite"] for c in cookies if c["name"] == "c2c_hub_session"] == ["Strict"]
    assert all(c["httpOnly"] for c in cookies if c["name"] == "c2c_hub_session")

    # Then visits the attacker's page.
    attacker = await browser_context.new_page()
    await attacker.goto(evil_site)

    deadline = time.monotonic() + 20
    wanted = {("/uploads", "null"), ("/uploads", evil_site.rstrip("/")), ("/takes/start", "null")}
    while time.monotonic() < deadline:
        seen = {(path, origin) for path, _, origin, _ in answered}
        if wanted <= seen and any(path == "/uploads/cancel-all" for path, *_ in answered):
            if any(p == "/takes/start" and o == evil_site.rstrip("/") for p, _, o, _ in answered):
                break
        await asyncio.sleep(0.1)
    attacks = [a for a in answered if a[2] != web_hub.url.rstrip("/")]
    seen = {(path, origin) for path, _, origin, _ in attacks}
    assert wanted <= seen, f"not every attack reached the hub: {answered}"
    assert any(p == "/takes/start" and o == evil_site.rstrip("/") for p, o in seen), answered
    assert all(status == 403 for *_, status in attacks), attacks
    assert hub.uploader.files() == []
    assert hub.recorder.take is None
    # The attacker's attempt to frame the hub's page was blocked by its policy (frame-ancestors);
    # the only violations the browser saw (the fixture fails the test on any other).
    violations = browser_context.csp_violations
    framing = await csp_reported(violations, "frame-ancestors")
    violations[:] = [v for v in violations if v not in framing]
