"""The hub's web page in a real browser (headless Chromium, Playwright): pairing from the page, a
take recorded from the page and uploaded, a cancel and a retry that take effect, a phone-sized
screen without horizontal scrolling, a login with the code shown on the hub's screen, a clear
message on 401, and no secret anywhere the page reads. Screenshots of each step go to the test-
artifacts directory (see ``conftest.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import DeviceCode
from c2c_hub.settings import FrameioSettings
from c2c_hub.uploader import FileState
from tests.ui.web.conftest import LAPTOP, PHONE, PROJECT, ROOT, WebHub, artifacts_dir

GOOD_TAKE = 1  # device_models/c2c-button-remote.toml: code 1 is "Good take"
WAIT_MS = 30_000  # generous: a busy machine runs the hub, two mics and Chromium at once
DOC_IMAGES = {
    "02-pairing.png": "web-pairing.png",
    "04-take-recording.png": "web-take-uploading.png",
    "05-phone-take.png": "web-phone.png",
    "08-uploading.png": "web-uploading.png",
}


async def until(check: Callable[[], Any], within: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {within} s: {what}")


class Shots:
    """Numbered screenshots of each step; optionally copied to docs/images."""

    def __init__(self) -> None:
        self.directory = artifacts_dir()
        for old in self.directory.glob("*.png"):
            old.unlink()

    async def take(self, page: Any, name: str, *, full: bool = False) -> Path:
        path = self.directory / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full, animations="disabled")
        return path

    def publish(self) -> None:
        if os.environ.get("C2C_WEB_DOC_IMAGES") != "1":
            return
        docs = ROOT / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        for shot, doc in DOC_IMAGES.items():
            shutil.copyfile(self.directory / shot, docs / doc)


class Steps:
    """How long each step took (printed, and written next to the screenshots)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "timings.json"
        self.started = self.last = time.monotonic()
        self.took: dict[str, float] = {}

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.took[name] = round(now - self.last, 2)
        self.last = now
        self.took["total"] = round(now - self.started, 2)
        self.path.write_text(json.dumps(self.took, indent=2))


class Traffic:
    """Every response body the pages fetched, and every server-sent event they received."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.events: list[str] = []
        self.missed: list[tuple[str, str]] = []
        self._pending: list[asyncio.Future[None]] = []

    async def watch(self, page: Any) -> None:
        async def grab(request: Any) -> None:
            try:
                response = await request.response()
                if response is not None:
                    self.bodies.append((request.url, await response.body()))
            except Exception as exc:  # the page closed before its body could be read
                self.missed.append((request.url, repr(exc)))

        page.on("requestfinished", lambda r: self._pending.append(asyncio.ensure_future(grab(r))))
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on("Network.eventSourceMessageReceived", lambda e: self.events.append(e["data"]))

    async def settle(self) -> None:
        await asyncio.gather(*self._pending)

    def paths(self, base: str) -> set[str]:
        return {urlsplit(url).path for url, _ in self.bodies if url.startswith(base)}


async def no_horizontal_scroll(page: Any) -> None:
    widths = await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scrolling: {widths}"


@pytest.mark.timeout(300)  # the whole walk, step after step, on a busy machine
async def test_the_web_page_pairs_records_uploads_cancels_and_retries(
    web_hub: WebHub,
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
    tmp_path: Path,
    browser_context: Any,
) -> None:
    from playwright.async_api import expect

    hub = web_hub.hub
    shots = Shots()
    steps = Steps(shots.directory)
    traffic = Traffic()
    device_codes: list[str] = []
    original = hub.client.request_device_code

    async def remember_device_code(*args: Any, **kwargs: Any) -> DeviceCode:
        code = await original(*args, **kwargs)
        device_codes.append(code.device_code.get_secret_value())
        return code

    hub.client.request_device_code = remember_device_code  # type: ignore[method-assign]
    context = browser_context
    page = await context.new_page()
    await traffic.watch(page)
    await page.goto(web_hub.url)

    # 0. The page asks for the login code shown on the hub's own screen; with it, it is in.
    auth = page.locator("#auth")
    await expect(auth).to_be_visible(timeout=WAIT_MS)
    await expect(auth).to_contain_text("Not authorized")
    await shots.take(page, "00-login")
    login_code = getattr(hub.attached("control"), "login_code", lambda: None)()
    assert login_code is not None
    await page.get_by_label("Login code").fill(login_code)
    await page.get_by_role("button", name="Log in").click()
    await expect(auth).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator("#plain-http")).to_be_hidden()  # loopback: nothing crosses a network
    steps.done("0 login")

    # 1. Not paired: "Pair" → the code, the QR code and the link; the user approves → project.
    pair = page.get_by_role("button", name="Pair", exact=True)
    await expect(pair).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#sum-pairing")).to_have_text("Not paired")
    await shots.take(page, "01-not-paired")
    await pair.click()
    code_box = page.locator("#pair-code")
    await expect(code_box).to_have_text(re.compile(r"^\d{6}$"), timeout=WAIT_MS)
    qr = page.locator("#pair-qr")
    await expect(qr).to_be_visible(timeout=WAIT_MS)
    await page.wait_for_function(
        "() => { const i = document.getElementById('pair-qr'); "
        "return i.complete && i.naturalWidth > 100; }"
    )
    shown = await code_box.text_content()
    state = hub.pairing_state()
    assert shown == state["user_code"]
    link = page.get_by_role("link", name="Open the pairing link")
    assert await link.get_attribute("href") == state["verification_uri_complete"]
    await expect(page.locator("#pair-countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    await expect(page.get_by_role("button", name="Cancel pairing")).to_be_visible()
    await shots.take(page, "02-pairing")
    await asyncio.to_thread(emulator.approve, shown)
    await expect(page.locator("#project-name")).to_have_text(PROJECT, timeout=WAIT_MS)
    await expect(page.locator("#sum-pairing")).to_have_text(f"Project: {PROJECT}")
    await expect(page.locator("#authorized-by")).to_have_text(re.compile(r"[A-Za-z]"))
    assert hub.session.credentials is not None
    # The microphones and the remote become channels; the page shows each one's.
    mics = set(web_hub.mics.serials)
    await until(lambda: hub.channels.available() >= {*mics, "RMT-1"}, 60, "channels")
    devices = page.locator("#devices > li")
    await expect(devices).to_have_count(3, timeout=WAIT_MS)
    for serial in (*web_hub.mics.serials, "RMT-1"):
        row = devices.filter(has_text=serial)
        await expect(row.locator(".badge")).to_have_text(re.compile(r"^channel \d+$"))
    await expect(page.locator("#socket-state")).to_contain_text("joined", timeout=WAIT_MS)
    await shots.take(page, "03-paired")
    steps.done("1 pairing")

    phone = await context.new_page()
    await phone.set_viewport_size(PHONE)
    await traffic.watch(phone)
    await phone.goto(web_hub.url)
    await expect(phone.locator("#project-name")).to_have_text(PROJECT, timeout=WAIT_MS)

    # 2. A take from the page (scene 9), a button press during it, stopped from the page:
    # every track uploads while it records, and is done soon after the stop.
    await page.get_by_label("Scene").fill("9")
    clicked_start = time.monotonic()
    await page.get_by_role("button", name="Start take").click()
    await expect(page.locator("#take-state")).to_contain_text(
        "Recording scene 9 take", timeout=WAIT_MS
    )
    take = hub.recorder.take
    assert take is not None and take.scene == "9"
    # The take shows as recording while its files open (each track, the mix, its proxy).
    await until(lambda: set(take.tracks) == mics, 30, "tracks opened")
    tracks = page.locator("#tracks > li")
    await expect(tracks).to_have_count(2, timeout=WAIT_MS)
    await asyncio.sleep(1.0)
    assert web_hub.remote.press(GOOD_TAKE)
    await expect(page.locator("#presses > li")).to_have_count(1, timeout=WAIT_MS)
    await until(lambda: hub.presses.counts.get("sent", 0) >= 1, 10, "press sent")
    press = hub.presses.recent[-1]
    await expect(page.locator("#presses > li .badge")).to_have_text("sent", timeout=WAIT_MS)
    await expect(page.locator("#presses > li .tc")).to_have_text(press.timecode)
    await asyncio.sleep(0.8)
    for row in await tracks.all():
        await expect(row.locator(".badge")).to_have_text("recording", timeout=WAIT_MS)
    # Each track, the mix and the mix's proxy (recorder.mix, recorder.proxy: the mix's alone).
    await expect(page.locator("#current > li")).to_have_count(4, timeout=WAIT_MS)
    await expect(page.locator("#mix-state")).to_contain_text("Mix stereo")
    await expect(page.locator("#mix-tracks > li")).to_have_count(2)
    # Muted from the page while rolling: the take's mixer has it at once.
    lav = web_hub.mics.serials[1]
    await page.locator(f'#mix-tracks > li[data-key="{lav}"] .mix-mute').check()
    await until(lambda: hub.recorder.derived.mix_settings.for_track(lav, "").mute, 10, "muted")
    assert take.derived is not None and take.derived.mixer is not None
    assert take.derived.mixer.settings.for_track(lav, "").mute
    await page.wait_for_timeout(1100)  # one more status: frames and bytes sent moved on
    await shots.take(page, "04-take-recording")
    await phone.wait_for_timeout(200)
    await shots.take(phone, "05-phone-take")
    await no_horizontal_scroll(phone)
    await no_horizontal_scroll(page)

    await page.get_by_role("button", name="Stop take").click()
    await expect(page.locator("#take-state")).to_contain_text("Last: scene 9 take", timeout=WAIT_MS)
    shown_stopped = time.monotonic()
    stopped = hub.recorder.last_take
    assert stopped is not None and stopped.frames is not None
    # It ran while the page showed it recording, and stopped when the page said so (however
    # long a busy machine took over the steps in between).
    assert 1.8 * 48000 < stopped.frames < (shown_stopped - clicked_start) * 48000
    for row in await tracks.all():
        await expect(row.locator(".badge")).to_have_text("done", timeout=WAIT_MS)
    await expect(page.locator("#count-done")).to_have_text("4", timeout=WAIT_MS)
    await expect(page.locator("#count-uploading")).to_have_text("0")
    await expect(page.locator("#count-recording")).to_have_text("0")
    await expect(page.locator("#files-remaining")).to_have_text("0")
    for track in stopped.tracks.values():
        assert track.file_id is not None
        assert hub.uploader.file(track.file_id)["state"] == FileState.DONE
    assert hub.uploader.snapshot()["counts"]["done"] == 4  # two tracks, the mix and its proxy
    # The uploads measured the upload speed: the network card shows it with its age.
    await expect(page.locator("#net-speed")).to_have_text(
        re.compile(r"^[\d.]+ Mbit/s, \d+ s ago$"), timeout=WAIT_MS
    )
    await shots.take(page, "06-take-uploaded")
    steps.done("2 take")

    # 3. Pause from the page; a large file waits; cancel it and retry it from the page; resume.
    pause = page.locator("#queue-pause")
    await pause.click()
    await expect(pause).to_have_text("Resume uploading", timeout=WAIT_MS)
    assert hub.uploader.held_by_operator
    await expect(page.locator("#queue-paused")).to_contain_text("paused by the operator")
    big = tmp_path / "A001_C002_wide.mov"
    with big.open("wb") as f:
        f.write(os.urandom(1 << 20) * 96)
    file_id = await hub.enqueue(str(big))
    row = page.locator(f'#files > li[data-file-id="{file_id}"]')
    await expect(row).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
    await expect(page.locator("#files-remaining")).to_have_text("1", timeout=WAIT_MS)
    await shots.take(page, "07-paused-queued")
    await row.get_by_role("button", name=f"Cancel {big.name}").click()
    await until(lambda: hub.uploader.file(file_id)["state"] == FileState.CANCELLED, 10, "cancelled")
    await expect(row).to_have_attribute("data-state", "cancelled", timeout=WAIT_MS)
    await expect(page.locator("#count-cancelled")).to_have_text("1", timeout=WAIT_MS)
    await row.get_by_role("button", name=f"Retry {big.name}").click()
    await until(lambda: hub.uploader.file(file_id)["state"] == FileState.QUEUED, 10, "queued")
    await expect(row).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
    # Resumed, parts answered 2 s late (4 parts in flight at a time, 16 parts of 6 MiB): the
    # page shows the file's progress as it goes, the first four parts' share before the rest.
    await asyncio.to_thread(emulator.fault, "part", "stall", count=12, seconds=2.0)
    await pause.click()
    await expect(pause).to_have_text("Pause uploading", timeout=WAIT_MS)
    assert not hub.uploader.held_by_operator
    sending = page.locator(f'#current > li[data-file-id="{file_id}"]')
    await expect(sending.locator(".badge")).to_have_text("uploading", timeout=WAIT_MS)
    await page.wait_for_function(
        "id => { const bar = document.querySelector(`#current li[data-file-id='${id}'] progress`);"
        " return bar !== null && bar.value > 0.05 && bar.value < 0.95; }",
        arg=file_id,
        timeout=WAIT_MS,
    )
    await expect(sending.locator(".detail")).to_contain_text("MiB of 96.0 MiB")
    await shots.take(page, "08-uploading")
    await until(lambda: hub.uploader.file(file_id)["state"] == FileState.DONE, 30, "uploaded")
    await expect(row).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    await expect(page.locator("#count-done")).to_have_text("5", timeout=WAIT_MS)
    await expect(page.locator("#count-cancelled")).to_have_text("0")
    await shots.take(page, "09-retried-done")
    await shots.take(page, "09-retried-done-full", full=True)
    steps.done("3 cancel and retry")

    # 4. Phone-sized: the same page, the project, no horizontal scrolling.
    await expect(phone.locator("#project-name")).to_have_text(PROJECT)
    await expect(phone.locator("#count-done")).to_have_text("5", timeout=WAIT_MS)
    await no_horizontal_scroll(phone)
    await shots.take(phone, "10-phone")
    await shots.take(phone, "10-phone-full", full=True)
    assert phone.viewport_size == PHONE and page.viewport_size == LAPTOP
    steps.done("4 phone")

    # A control call answered 401 (a hub bound beyond loopback, opened without its token):
    # the page says so, clearly.
    async def refuse(route: Any) -> None:
        await route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps({"error": "this hub is reachable beyond loopback: send its token"}),
        )

    def api_call(url: str) -> bool:
        path = urlsplit(url).path
        return path not in ("/", "/events") and not path.startswith("/static/")

    await page.route(api_call, refuse)
    await page.get_by_label("Parallel").click()
    await expect(auth).to_be_visible(timeout=WAIT_MS)
    await expect(auth).to_contain_text("Not authorized")
    await expect(auth).to_contain_text("Login code")
    await expect(page.locator("#live")).to_have_text("Not authorized")
    await shots.take(page, "11-unauthorized")
    await page.unroute(api_call)
    assert hub.uploader.parallel  # refused: nothing changed
    steps.done("401")

    # 5. No secret in the page, nor in anything it fetched or was sent.
    html = await page.content() + await phone.content()
    await traffic.settle()
    await page.close()
    await phone.close()
    await traffic.settle()
    # A body missed at the very end (the page closed first) is of a route read before, too.
    seen = traffic.paths(web_hub.url)
    assert all(urlsplit(url).path in seen for url, _ in traffic.missed), traffic.missed
    credentials = hub.session.credentials
    assert credentials is not None
    secrets = {
        "access token": credentials.access_token,
        "refresh token": credentials.refresh_token,
        "client secret": frameio_settings.client_secret.get_secret_value(),
        "control token": getattr(hub.attached("control"), "token", ""),
    }
    secrets.update({f"device code {i}": code for i, code in enumerate(device_codes)})
    assert all(len(value) >= 16 for value in secrets.values())
    assert {"/", "/static/app.js", "/static/style.css", "/status", "/uploads"} <= seen
    assert {"/pairing/start", "/pairing/qr.svg", "/takes/start", "/uploads/paused"} <= seen
    assert len(traffic.events) > 5 and any('"project_name"' in e for e in traffic.events)
    texts = [("page", html)] + [(u, b.decode("utf-8", "replace")) for u, b in traffic.bodies]
    texts += [("/events", e) for e in traffic.events]
    for where, text in texts:
        for name, value in secrets.items():
            assert value not in text, f"the {name} is in {where}"
    assert emulator.violations() == []
    steps.done("5 secrets")
    shots.publish()
    print("timings:", steps.took)
