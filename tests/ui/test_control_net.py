"""The network routes of the control API and ``c2c-hub net``, on a hub whose NetworkManager is a
mock on a private bus: join with a PSK that never comes back, refusals with their reasons and
statuses (400, 409, 503), and the CLI's exit codes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.emulation.networkmanager import NetworkManagerMock
from c2c_hub.runtime import Hub
from c2c_hub.ui import cli_net
from tests.conftest import ControlHub, ControlHubFactory
from tests.network.conftest import HOTSPOT_PSK, STUDIO_PSK


@pytest.fixture
def nm() -> Iterator[NetworkManagerMock]:
    with NetworkManagerMock() as mock:
        mock.add_wifi_device("wlan0")
        mock.add_access_point("StudioNet", psk=STUDIO_PSK, strength=82)
        mock.add_access_point("Hotspot", psk=HOTSPOT_PSK, strength=40, frequency=5180)
        yield mock


@pytest.fixture
async def running(
    nm: NetworkManagerMock, control_hub: ControlHubFactory
) -> AsyncIterator[ControlHub]:
    """The hub, on the NetworkManager mock (started first)."""
    async with control_hub() as started:
        yield started


@pytest.fixture
def hub(running: ControlHub) -> Hub:
    return running.hub


@pytest.fixture
async def client(running: ControlHub) -> AsyncIterator[httpx.AsyncClient]:
    async with running.client() as made:
        yield made


async def test_joining_over_http_never_sends_the_psk_back(
    hub: Hub, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scan = await client.post("/networks/scan")
    assert [n["ssid"] for n in scan.json()["wifi"]] == ["StudioNet", "Hotspot"]
    joined = await client.post(
        "/networks/connect", json={"ssid": "StudioNet", "psk": STUDIO_PSK, "priority": 3}
    )
    assert joined.status_code == 200 and joined.json()["joined"] == "StudioNet"
    wrong = await client.post("/networks/connect", json={"ssid": "Hotspot", "psk": "wrong-psk-1"})
    assert wrong.status_code == 409
    assert "password was refused" in wrong.json()["error"]
    assert "StudioNet is restored" in wrong.json()["error"]
    short = await client.post("/networks/connect", json={"ssid": "Hotspot", "psk": "short"})
    assert short.status_code == 400 and "short" not in short.text
    extra = await client.post(
        "/networks/connect", json={"ssid": "Hotspot", "psk": HOTSPOT_PSK, "colour": "red"}
    )
    assert extra.status_code == 400 and HOTSPOT_PSK not in extra.text
    static = await client.put(
        "/networks/StudioNet/addressing",
        json={"method": "static", "address": "10.1.2.3/24", "gateway": "10.9.9.9"},
    )
    assert static.status_code == 400 and "outside" in static.json()["error"]
    prio = await client.put("/networks/StudioNet/priority", json={"priority": 30})
    assert prio.json() == {"network": "StudioNet", "priority": 30}
    listed = (await client.get("/networks")).json()
    assert listed["in_use"]["ssid"] == "StudioNet" and listed["saved"][0]["priority"] == 30
    assert listed["last_action"]["action"] == "priority"
    whole = (await client.get("/status")).text
    for text in (whole, json.dumps(listed), caplog.text):
        assert STUDIO_PSK not in text and "wrong-psk-1" not in text
    forgot = await client.post("/networks/StudioNet/forget")
    assert forgot.json()["forgot"] == "StudioNet"
    missing = await client.post("/networks/StudioNet/forget")
    assert missing.status_code == 400 and "no saved network" in missing.json()["error"]


async def test_without_network_manager_the_routes_answer_503_with_the_reason(
    control_hub: ControlHubFactory,
) -> None:
    with BlueZMock(with_bluez=False):
        async with control_hub() as running:
            async with running.client() as client:
                answer = await client.post("/networks/scan")
                assert answer.status_code == 503
                assert "NetworkManager is not running" in answer.json()["error"]
                nets = (await client.get("/networks")).json()
                link = (await client.get("/status")).json()["network"]["link"]
            assert not nets["controls"] and "not running" in nets["why_no_controls"]
            # the read-only view stays: the kernel's default route names what is in use
            if link["interface"] is None:
                assert nets["in_use"] is None
            else:
                assert nets["in_use"]["interface"] == link["interface"]
                assert (
                    nets["in_use"]["why"]
                    == "the interface of the default route (read from the kernel)"
                )


async def test_the_cli_joins_from_a_psk_file_and_exits_with_the_documented_codes(
    hub: Hub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("C2C_HUB_STORAGE__DATA_DIR", str(hub.data_dir))
    monkeypatch.setenv("C2C_HUB_FRAMEIO__API_BASE_URL", hub.settings.frameio.api_base_url)
    monkeypatch.setenv(
        "C2C_HUB_FRAMEIO__CLIENT_SECRET", hub.settings.frameio.client_secret.get_secret_value()
    )
    psk_file = tmp_path / "psk"
    psk_file.write_text(HOTSPOT_PSK + "\n")
    psk_file.chmod(0o600)

    async def net(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(cli_net.main, list(args))
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = await net("connect", "Hotspot", "--psk-file", str(psk_file), "--priority", "4")
    assert code == 0 and "Now on Hotspot" in out and HOTSPOT_PSK not in out
    code, out = await net("list", "--json")
    assert code == 0 and json.loads(out)["in_use"]["ssid"] == "Hotspot"
    code, out = await net("list")
    assert code == 0 and "Hotspot" in out and "Network:" in out
    code, out = await net("static", "Hotspot", "192.168.7.20/24", "--gateway", "192.168.7.1")
    assert code == 0 and "static 192.168.7.20/24 (now)" in out
    code, out = await net("connect", "Nowhere", "--psk-file", str(psk_file))
    assert code == 4 and "in range" in out
    code, out = await net("connect", "Hotspot")  # no password, no terminal to ask on
    assert code == 2
    code, out = await net("frobnicate")
    assert code == 2
    monkeypatch.setenv("C2C_HUB_STORAGE__DATA_DIR", str(tmp_path / "elsewhere"))
    code, out = await net("list")
    assert code == 3 and "no hub is running" in out
