"""Strict mode (``x-client-version`` and the request contract): a call that Frame.io might
tolerate today but the integrator checklist forbids is refused and recorded, so a hub omission
cannot pass unnoticed (docs/rulings.md#client-version).
Also: every ``/v2`` response carries the rate-limit headers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.helpers import (
    SCOPE,
    VERSION_HEADER,
    bearer,
    form,
    frameio_client,
    new_client_id,
    pair_raw,
)

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-window")


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with frameio_client(emulator) as http:
        yield http


@pytest.fixture
def token(emulator: EmulatorHandle) -> str:
    access_token: str = pair_raw(emulator)["access_token"]
    emulator.clear_violations()  # pairing is by the book; start each test with none recorded
    return access_token


def _code_fields(emulator: EmulatorHandle) -> dict[str, str]:
    return {
        "client_id": new_client_id(),
        "client_secret": emulator.client_secret,
        "scope": SCOPE,
    }


def _only_violation(emulator: EmulatorHandle, path: str) -> dict[str, Any]:
    violations = emulator.violations()
    assert [v["path"] for v in violations] == [path], violations
    violation: dict[str, Any] = violations[0]
    return violation


def _is_detailed(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["errors"][0]["status"] == status


# --------------------------------------------------------------------------- x-client-version


def test_v2_call_without_client_version_is_400_and_recorded(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    response = api.get("/v2/devices/me", headers={"Authorization": f"Bearer {token}"})
    _is_detailed(response, 400)
    violation = _only_violation(emulator, "/v2/devices/me")
    assert violation["method"] == "GET"
    assert "x-client-version" in violation["reason"]


@pytest.mark.parametrize("version", ["v1", "1.0", "1.0.0.0", "latest", ""])
def test_v2_call_with_a_non_semver_client_version_is_400_and_recorded(
    api: httpx.Client, emulator: EmulatorHandle, token: str, version: str
) -> None:
    headers = {"Authorization": f"Bearer {token}", "x-client-version": version}
    _is_detailed(api.post("/v2/devices/heartbeat", headers=headers), 400)
    assert "x-client-version" in _only_violation(emulator, "/v2/devices/heartbeat")["reason"]
    assert emulator.state()["heartbeats"] == []  # refused before it reached the endpoint


def test_auth_call_without_client_version_is_400_and_recorded(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    response = api.post("/v2/auth/device/code", files=form(**_code_fields(emulator)))
    assert response.status_code == 400
    assert "x-client-version" in _only_violation(emulator, "/v2/auth/device/code")["reason"]
    assert emulator.pending_pairings() == []


def test_semver_with_prerelease_and_build_is_accepted(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}", "x-client-version": "2.16.4-rc.1+build.7"}
    assert api.get("/v2/devices/me", headers=headers).status_code == 200
    assert emulator.violations() == []


# --------------------------------------------------------------------------- body encodings


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda fields: {"json": fields}, id="json"),
        pytest.param(lambda fields: {"data": fields}, id="urlencoded"),
    ],
)
def test_auth_endpoint_refuses_a_body_that_is_not_multipart(
    api: httpx.Client,
    emulator: EmulatorHandle,
    encode: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    response = api.post(
        "/v2/auth/device/code", headers=VERSION_HEADER, **encode(_code_fields(emulator))
    )
    assert response.status_code == 400
    assert "multipart" in _only_violation(emulator, "/v2/auth/device/code")["reason"]
    assert emulator.pending_pairings() == []


def test_auth_endpoint_refuses_an_unknown_form_field(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    fields = _code_fields(emulator) | {"redirect_uri": "https://example.com"}
    response = api.post("/v2/auth/device/code", files=form(**fields), headers=VERSION_HEADER)
    assert response.status_code == 400
    assert "redirect_uri" in _only_violation(emulator, "/v2/auth/device/code")["reason"]


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda body: {"data": body}, id="urlencoded"),
        pytest.param(lambda body: {"files": form(**body)}, id="multipart"),
        pytest.param(
            lambda body: {"content": json.dumps(body), "headers": {"content-type": "text/plain"}},
            id="json-as-text",
        ),
    ],
)
def test_device_endpoint_refuses_a_body_that_is_not_json(
    api: httpx.Client,
    emulator: EmulatorHandle,
    token: str,
    encode: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    body = {"client_id": "mic-1", "device_model_id": "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"}
    kwargs = encode(body)
    headers = bearer(token) | kwargs.pop("headers", {})
    response = api.post("/v2/devices/channels/connect", headers=headers, **kwargs)
    assert response.status_code == 400
    assert "json" in _only_violation(emulator, "/v2/devices/channels/connect")["reason"]
    me = api.get("/v2/devices/me", headers=bearer(token)).json()
    assert len(me["channels"]) == 1


def test_device_endpoint_refuses_invalid_json(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    headers = bearer(token) | {"content-type": "application/json"}
    response = api.post("/v2/devices/channels/connect", content=b"{not json", headers=headers)
    assert response.status_code == 400
    _only_violation(emulator, "/v2/devices/channels/connect")


def test_unknown_json_field_is_422_and_recorded(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    body = {
        "client_id": "mic-1",
        "device_model_id": "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13",
        "colour": "red",
    }
    response = api.post("/v2/devices/channels/connect", json=body, headers=bearer(token))
    _is_detailed(response, 422)
    assert "colour" in _only_violation(emulator, "/v2/devices/channels/connect")["reason"]


def test_mistyped_json_field_is_422_and_recorded(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    body = {"client_id": 1234, "device_model_id": "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"}
    response = api.post("/v2/devices/channels/connect", json=body, headers=bearer(token))
    _is_detailed(response, 422)
    assert "client_id" in _only_violation(emulator, "/v2/devices/channels/connect")["reason"]


def test_body_on_a_bodiless_endpoint_is_refused(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    response = api.post("/v2/devices/heartbeat", json={"status": "ok"}, headers=bearer(token))
    assert response.status_code == 400
    _only_violation(emulator, "/v2/devices/heartbeat")


# --------------------------------------------------------------------------- lenient mode


def test_lenient_mode_accepts_urlencoded_auth_and_a_missing_version(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.configure(strict=False)
    response = api.post("/v2/auth/device/code", data=_code_fields(emulator))
    assert response.status_code == 200, response.text
    assert response.json()["user_code"]
    token = pair_raw(emulator)["access_token"]
    me = api.get("/v2/devices/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert emulator.violations() == []


def test_strict_mode_is_back_after_reset(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.configure(strict=False)
    emulator.reset()
    response = api.post("/v2/auth/device/code", data=_code_fields(emulator))
    assert response.status_code == 400
    assert len(emulator.violations()) == 1


# --------------------------------------------------------------------------- outside /v2


def test_health_needs_no_client_version(api: httpx.Client, emulator: EmulatorHandle) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert emulator.violations() == []


def test_part_put_needs_no_client_version(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    payload = b"0123456789"
    created = api.post(
        "/v2/devices/assets",
        json={"name": "take.wav", "filetype": "audio/wav", "filesize": len(payload)},
        headers=bearer(token),
    )
    assert created.status_code == 200, created.text
    [url] = created.json()["upload_urls"]
    put = api.put(
        url, content=payload, headers={"content-type": "audio/wav", "x-amz-acl": "private"}
    )
    assert put.status_code == 200, put.text
    assert emulator.violations() == []
    assert emulator.asset(created.json()["id"])["complete"] is True


# --------------------------------------------------------------------------- rate limits


def _assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, (response.status_code, dict(response.headers))
    limit = int(response.headers["x-ratelimit-limit"])
    remaining = int(response.headers["x-ratelimit-remaining"])
    window = int(response.headers["x-ratelimit-window"])
    assert limit > 0 and 0 <= remaining <= limit and window > 0


CALLS: dict[str, Callable[[httpx.Client, EmulatorHandle, str], httpx.Response]] = {
    "me-200": lambda api, emu, token: api.get("/v2/devices/me", headers=bearer(token)),
    "heartbeat-204": lambda api, emu, token: api.post(
        "/v2/devices/heartbeat", headers=bearer(token)
    ),
    "device-code-200": lambda api, emu, token: api.post(
        "/v2/auth/device/code", files=form(**_code_fields(emu)), headers=VERSION_HEADER
    ),
    "token-400": lambda api, emu, token: api.post(
        "/v2/auth/token",
        files=form(grant_type="refresh_token", client_id="x", client_secret="wrong"),
        headers=VERSION_HEADER,
    ),
    "bad-token-401": lambda api, emu, token: api.get("/v2/devices/me", headers=bearer("nope")),
    "unknown-channel-404": lambda api, emu, token: api.post(
        "/v2/devices/channels/nope/disconnect", headers=bearer(token)
    ),
    "unknown-path-404": lambda api, emu, token: api.get("/v2/nowhere", headers=bearer(token)),
    "unknown-field-422": lambda api, emu, token: api.post(
        "/v2/devices/channels/connect", json={"colour": "red"}, headers=bearer(token)
    ),
    "missing-version-400": lambda api, emu, token: api.get(
        "/v2/devices/me", headers={"Authorization": f"Bearer {token}"}
    ),
    "asset-create-200": lambda api, emu, token: api.post(
        "/v2/devices/assets",
        json={"name": "a.wav", "filetype": "audio/wav", "filesize": 10},
        headers=bearer(token),
    ),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_every_v2_response_carries_rate_limit_headers(
    api: httpx.Client,
    emulator: EmulatorHandle,
    token: str,
    call: Callable[[httpx.Client, EmulatorHandle, str], httpx.Response],
) -> None:
    _assert_rate_headers(call(api, emulator, token))


def test_injected_fault_response_carries_rate_limit_headers(
    api: httpx.Client, emulator: EmulatorHandle, token: str
) -> None:
    emulator.fault("api", status=503, count=1)
    response = api.get("/v2/devices/me", headers=bearer(token))
    assert response.status_code == 503
    _assert_rate_headers(response)
