"""The control API (what Frame.io's web app and a test harness do) through EmulatorHandle, and its
separation from the Frame.io surface: neither port answers the other's paths."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import ControlError, EmulatorHandle
from tests.helpers import (
    VERSION_HEADER,
    bearer,
    frameio_client,
    new_client_id,
    pair_raw,
    poll_token,
    request_code,
)


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with frameio_client(emulator) as http:
        yield http


@pytest.fixture
def control_http(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """A raw HTTPS client on the control port (the handle hides status codes)."""
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    with httpx.Client(base_url=emulator.control_url, verify=context, timeout=10) as http:
        yield http


def _user_code(api: httpx.Client, emulator: EmulatorHandle, client_id: str) -> dict[str, Any]:
    response = request_code(api, emulator, client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- pairings


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_unknown_user_code_is_a_control_error(emulator: EmulatorHandle, action: str) -> None:
    with pytest.raises(ControlError, match="404"):
        getattr(emulator, action)("000000")


def test_a_pairing_is_decided_once(api: httpx.Client, emulator: EmulatorHandle) -> None:
    code = _user_code(api, emulator, new_client_id())
    assert [p["user_code"] for p in emulator.pending_pairings()] == [code["user_code"]]
    emulator.approve(code["user_code"])
    assert emulator.pending_pairings() == []
    with pytest.raises(ControlError):
        emulator.deny(code["user_code"])
    with pytest.raises(ControlError):
        emulator.approve(code["user_code"])


# --------------------------------------------------------------------------- configure


@pytest.mark.parametrize("key", ["no_such_setting", "client_secret"])
def test_configure_refuses_unknown_and_read_only_keys(emulator: EmulatorHandle, key: str) -> None:
    with pytest.raises(ControlError, match=key):
        emulator.configure(**{key: "x"})


@pytest.mark.parametrize(
    "settings",
    [
        {"strict": "yes"},
        {"strict": 1},
        {"device_code_interval": "fast"},
        {"device_code_interval": True},
        {"device_code_interval": -1},
        {"asset_create_limit": 2.5},
        {"project_name": 5},
    ],
    ids=lambda s: "-".join(f"{k}={v!r}" for k, v in s.items()),
)
def test_configure_refuses_values_of_the_wrong_type(
    api: httpx.Client, emulator: EmulatorHandle, settings: dict[str, Any]
) -> None:
    before = emulator.state()["config"]
    with pytest.raises(ControlError, match="400"):
        emulator.configure(**settings)
    assert emulator.state()["config"] == before


def test_configure_applies_a_setting_and_hides_the_secret(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    config = emulator.configure(device_code_interval=0.2)
    assert config["device_code_interval"] == 0.2
    assert config["client_secret"] == "***"
    assert _user_code(api, emulator, new_client_id())["interval"] == 0.2


def test_reset_restores_the_default_settings(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.configure(device_code_interval=0.2, strict=False)
    emulator.reset()
    config = emulator.state()["config"]
    assert config["device_code_interval"] == 0.05 and config["strict"] is True


# --------------------------------------------------------------------------- faults, clock


def test_api_fault_answers_503_once_then_the_api_recovers(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    token = pair_raw(emulator)["access_token"]
    emulator.fault("api", status=503, count=1)
    failed = api.get("/v2/devices/me", headers=bearer(token))
    assert failed.status_code == 503
    body = failed.json()
    assert body["code"] == 503
    assert body["errors"][0]["status"] == 503 and body["errors"][0]["code"] == 503
    assert body["errors"][0]["title"] == body["message"] == "Service Unavailable"
    assert api.get("/v2/devices/me", headers=bearer(token)).status_code == 200
    assert emulator.state()["faults"]["pending"] == []


def test_api_fault_spares_health(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.fault("api", status=500, count=1)
    assert api.get("/health").status_code == 200
    assert len(emulator.state()["faults"]["pending"]) == 1


def test_api_fault_counts_down(api: httpx.Client, emulator: EmulatorHandle) -> None:
    token = pair_raw(emulator)["access_token"]
    emulator.fault("api", status=502, count=2)
    statuses = [api.get("/v2/devices/me", headers=bearer(token)).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


@pytest.mark.parametrize(
    "spec",
    [
        {"target": "database"},
        {"target": "api", "kind": "explode"},
        {"target": "part", "kind": "huge"},
        {"target": "part", "kind": "malformed"},
        {"target": "api", "kind": "status", "size": 10},
        {"target": "api", "status": 200},
        {"target": "api", "count": 0},
        {"target": "api", "kind": "slow"},
        {"target": "part", "kind": "stall", "rate": 4096},
        {"target": "part", "kind": "slow", "rate": 10},
    ],
    ids=[
        "target",
        "kind",
        "huge-on-part",
        "malformed-on-part",
        "size-not-huge",
        "status-200",
        "count-0",
        "slow-on-api",
        "rate-not-slow",
        "rate-too-low",
    ],
)
def test_fault_refuses_a_bad_description(emulator: EmulatorHandle, spec: dict[str, Any]) -> None:
    target = spec.pop("target")
    with pytest.raises(ControlError):
        emulator.fault(target, **spec)
    assert emulator.state()["faults"]["pending"] == []


def test_clock_only_moves_forward(emulator: EmulatorHandle) -> None:
    with pytest.raises(ControlError):
        emulator.advance(-1)
    before = emulator.state()["clock"]["now"]
    assert emulator.advance(3600) >= before + 3600


# --------------------------------------------------------------------------- reset


def test_reset_forgets_devices_and_their_tokens(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    token = pair_raw(emulator)["access_token"]
    _user_code(api, emulator, new_client_id())
    assert len(emulator.devices()) == 1
    emulator.reset()
    state = emulator.state()
    assert state["devices"] == [] and state["pairings"] == [] and state["violations"] == []
    assert api.get("/v2/devices/me", headers=bearer(token)).status_code == 401


def test_reset_forgets_a_pending_pairing(api: httpx.Client, emulator: EmulatorHandle) -> None:
    client_id = new_client_id()
    code = _user_code(api, emulator, client_id)
    emulator.reset()
    time.sleep(code["interval"] + 0.01)
    response = poll_token(api, emulator, client_id, code["device_code"])
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


# --------------------------------------------------------------------------- separation


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/state"),
        ("POST", "/reset"),
        ("GET", "/pairings"),
        ("PATCH", "/config"),
        ("POST", "/clock/advance"),
        ("POST", "/faults"),
    ],
)
def test_control_api_is_not_on_the_frameio_port(
    api: httpx.Client, emulator: EmulatorHandle, method: str, path: str
) -> None:
    before = emulator.state()
    response = api.request(method, path, json={"seconds": 3600}, headers=VERSION_HEADER)
    assert response.status_code == 404
    after = emulator.state()
    assert after["clock"]["offset"] == before["clock"]["offset"]
    assert after["config"] == before["config"]


def test_approving_through_the_frameio_port_does_nothing(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    code = _user_code(api, emulator, new_client_id())
    response = api.post(f"/pairings/{code['user_code']}/approve", headers=VERSION_HEADER)
    assert response.status_code == 404
    assert [p["user_code"] for p in emulator.pending_pairings()] == [code["user_code"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/v2/devices/me"),
        ("POST", "/v2/auth/device/code"),
        ("POST", "/v2/devices/heartbeat"),
    ],
)
def test_frameio_api_is_not_on_the_control_port(
    control_http: httpx.Client, method: str, path: str
) -> None:
    response = control_http.request(method, path, headers=VERSION_HEADER)
    assert response.status_code == 404


def test_api_fault_reset_cuts_the_answer_off_after_the_call_took_effect(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    token = pair_raw(emulator)["access_token"]
    emulator.fault("api", "reset", path_prefix="/v2/devices/assets")
    body = {"name": "a.wav", "filetype": "audio/wav", "filesize": 10}
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/v2/devices/assets", json=body, headers=bearer(token))
    assert [a["name"] for a in emulator.assets()] == ["a.wav"]  # it took effect


def test_api_fault_malformed_answers_200_with_a_body_that_is_not_json(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    token = pair_raw(emulator)["access_token"]
    emulator.fault("api", "malformed", path_prefix="/v2/devices/me")
    response = api.get("/v2/devices/me", headers=bearer(token))
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_api_fault_huge_pads_a_valid_answer_and_sends_it_chunked(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    token = pair_raw(emulator)["access_token"]
    emulator.fault("api", "huge", size=3 * 1024 * 1024, path_prefix="/v2/devices/me")
    response = api.get("/v2/devices/me", headers=bearer(token))
    assert response.status_code == 200 and "content-length" not in response.headers
    assert len(response.content) == 3 * 1024 * 1024
    assert response.json()["_type"] == "project_device"


PLUGIN_MODEL = """
[model]
id = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
name = "A Plugin's Receiver"
kind = "wireless_receiver"
asset_type = "audio"
"""


def test_a_plugins_device_model_is_declared_once_and_a_clash_or_garbage_refused(
    emulator: EmulatorHandle,
) -> None:
    assert emulator.declare_device_model(PLUGIN_MODEL) is True
    assert emulator.declare_device_model(PLUGIN_MODEL) is False  # the same again: harmless
    other = PLUGIN_MODEL.replace("A Plugin's Receiver", "Another Receiver")
    with pytest.raises(ControlError, match=r"409 device model 0f1e2d3c-.* is already declared"):
        emulator.declare_device_model(other)
    with pytest.raises(ControlError, match="422 not a device model"):
        emulator.declare_device_model("[model]\nid = 'not a uuid'\n")
    with pytest.raises(ControlError, match=r"409 .* already declared"):  # the hub's own model
        emulator.declare_device_model(
            PLUGIN_MODEL.replace("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", MIC_MODEL)
        )


MIC_MODEL = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
