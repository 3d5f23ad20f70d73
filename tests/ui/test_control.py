"""The control API over HTTP: closed without the token or a login, on loopback as beyond it (and
never to other sites or host names), and a live event stream."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from c2c_hub.runtime import Hub
from c2c_hub.subdevices import AudioFormat, SubDevice
from c2c_hub.ui.control import TOKEN_FILE, ControlServer, Guard, routes
from tests.conftest import ControlHubFactory

PUBLIC = {("GET", "/"), ("POST", "/login")}


@pytest.fixture
async def hub(control_hub: ControlHubFactory) -> AsyncIterator[Hub]:
    async with control_hub() as running:
        yield running.hub


def control_of(hub: Hub) -> ControlServer:
    control = hub.attached("control")
    assert isinstance(control, ControlServer)
    return control


def base(hub: Hub) -> str:
    assert control_of(hub).url is not None
    return control_of(hub).url.rstrip("/")


def bearer(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {control_of(hub).token}"}


async def test_loopback_needs_the_token_too_and_answers_with_it(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=base(hub), timeout=5) as http:
        refused = await http.get("/status")
        assert refused.status_code == 401 and "login code" in refused.json()["error"]
        status = (await http.get("/status", headers=bearer(hub))).json()
        assert status["pairing"]["state"] == "unpaired"
        assert status["control"]["url"] == base(hub) + "/"
        assert status["control"]["token_required"] is True
        process = status["process"]  # the hub's own footprint, for operators and the soak
        assert process["pid"] == os.getpid() and process["tasks"] > 0
        assert process["rss_bytes"] > 0 and process["fds"] > 0 and process["threads"] > 0
        token = (hub.data_dir / TOKEN_FILE).read_text()
        assert stat.S_IMODE((hub.data_dir / TOKEN_FILE).stat().st_mode) == 0o600
        assert token not in json.dumps(status)


async def test_loopback_refuses_other_host_names_and_other_sites(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=5) as http:
        rebound = await http.get("/status", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]
        cross = await http.post("/takes/start", json={}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403 and "cross-site" in cross.json()["error"]
        assert hub.recorder.take is None
        same = await http.get("/status", headers={"Origin": base(hub)})
        assert same.status_code == 200


def _paths() -> list[tuple[str, str]]:
    found = []
    for route in routes:
        assert isinstance(route, Route)
        path = route.path.replace("{file_id}", "1").replace("{press_id}", "1")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


@pytest.mark.parametrize("bound", ["0.0.0.0", "127.0.0.1"])
@pytest.mark.parametrize(("method", "path"), _paths())
async def test_no_route_answers_without_the_token_wherever_the_hub_listens(
    hub: Hub, method: str, path: str, bound: str
) -> None:
    token = control_of(hub).token
    app = control_of(hub)._app(guard=None)
    guard = Guard(app, token=token, host=bound)
    app.state.guard = guard
    transport = httpx.ASGITransport(app=guard)
    where = "http://10.1.2.3:8765" if bound == "0.0.0.0" else "http://127.0.0.1:8765"
    async with httpx.AsyncClient(transport=transport, base_url=where) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "c2c_hub_session=x"}):
            answer = await http.request(method, path, headers=headers)
            if (method, path) in PUBLIC:
                assert answer.status_code != 401, (method, path, answer.text)
                continue
            assert answer.status_code == 401, (method, path, answer.text)
            assert token not in answer.text
        if (method, path) == ("GET", "/status"):
            ok = await http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            in_url = await http.get(f"{path}?token={token}")
            assert in_url.status_code == 400 and "in the URL" in in_url.json()["error"]
            assert token not in in_url.text


async def test_the_event_stream_sends_status_and_events_as_they_happen(
    hub: Hub, tmp_path: Path
) -> None:
    media = tmp_path / "note.txt"
    media.write_text("hello")
    seen: list[tuple[str, Any]] = []

    async def read() -> None:
        async with (
            httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=10) as http,
            http.stream("GET", "/events") as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    seen.append((str(kind), json.loads(line[6:])))
                    if kind == "upload":
                        return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    await hub.enqueue(str(media))  # the hub's own call: no path confinement
    await asyncio.wait_for(reader, 10)
    assert seen[0][0] == "status" and "uploads" in seen[0][1]
    assert any(k == "upload" and e.get("type") == "file" for k, e in seen)


async def test_a_take_without_disk_room_is_refused_with_the_reason(hub: Hub) -> None:
    """``POST /takes/start`` (``c2c-hub record start``) says why: 409 and how much is needed."""
    mic = SubDevice("NM-1", "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13", "Boom", audio=AudioFormat())
    assert hub.devices.attach("test:feed", mic)
    hub.recorder.min_free_minutes = 10**9  # more than any disk holds
    async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=5) as http:
        refused = await http.post("/takes/start", json={})
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert "not enough room to record" in error and "1 track(s)" in error
        assert "recorder.min_free_minutes" in error
        assert hub.recorder.take is None
        hub.recorder.min_free_minutes = 0
        started = await http.post("/takes/start", json={})
        assert started.status_code == 200 and len(started.json()["tracks"]) == 1
        assert (await http.post("/takes/stop")).status_code == 200
