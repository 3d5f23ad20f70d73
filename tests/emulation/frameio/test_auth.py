"""The emulator's device authorization over real HTTPS: at least as strict as Frame.io, so a
hub that pairs and refreshes here does so against the real service too
(docs/rulings.md#device-authorization)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import ControlError, EmulatorHandle
from tests.helpers import (
    VERSION_HEADER,
    bearer,
    form,
    frameio_client,
    new_client_id,
    pair_raw,
    poll_token,
    refresh,
    request_code,
)

NOT_AUTHORIZED = {  # as Frame.io's guide prints it, byte for byte
    "code": 401,
    "errors": [
        {
            "code": 401,
            "detail": "You are not allowed to access that resource",
            "status": 401,
            "title": "Not Authorized",
        }
    ],
    "message": "Not Authorized",
}
EIGHT_HOURS = 8 * 3600
FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with frameio_client(emulator) as http:
        yield http


def _oauth_error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}, body  # the simple shape
    error: str = body["error"]
    return error


def _code(api: httpx.Client, emulator: EmulatorHandle, client_id: str) -> dict[str, object]:
    response = request_code(api, emulator, client_id)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _wait_interval(code: dict[str, object]) -> None:
    time.sleep(float(str(code["interval"])) + 0.01)


# --------------------------------------------------------------------------- device code


def test_device_code_has_the_documented_fields(api: httpx.Client, emulator: EmulatorHandle) -> None:
    code = _code(api, emulator, new_client_id())
    assert isinstance(code["device_code"], str) and code["device_code"]
    assert isinstance(code["user_code"], str) and re.fullmatch(r"\d{6}", code["user_code"])
    assert isinstance(code["expires_in"], int) and 0 < code["expires_in"] <= 120
    assert code["interval"] == pytest.approx(0.05)  # the test emulator's short interval
    assert isinstance(code["name"], str) and code["name"]
    assert isinstance(code["verification_uri"], str)
    assert code["verification_uri"].startswith("https://")
    assert isinstance(code["verification_uri_complete"], str)
    assert code["verification_uri_complete"].startswith("https://")
    assert code["verification_uri_complete"].endswith(code["user_code"])


def test_device_code_with_wrong_client_secret_is_invalid_client(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    response = request_code(api, emulator, new_client_id(), client_secret="not-the-secret")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_device_code_refuses_scopes_beyond_asset_create_and_offline(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    response = request_code(api, emulator, new_client_id(), scope="asset_create comment_create")
    assert _oauth_error(response) == "invalid_scope"


def test_device_code_without_client_id_is_invalid_request(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    response = api.post(
        "/v2/auth/device/code",
        files=form(client_secret=emulator.client_secret, scope="asset_create offline"),
        headers=VERSION_HEADER,
    )
    assert _oauth_error(response) == "invalid_request"


# --------------------------------------------------------------------------- polling


def test_poll_before_approval_is_authorization_pending(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    _wait_interval(code)
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert _oauth_error(response) == "authorization_pending"


def test_first_poll_also_waits_one_interval(api: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.configure(device_code_interval=0.5)
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.approve(str(code["user_code"]))
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert _oauth_error(response) == "slow_down"


def test_polling_faster_than_the_interval_is_slow_down(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.configure(device_code_interval=0.3)
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    device_code = str(code["device_code"])
    _wait_interval(code)
    assert (
        _oauth_error(poll_token(api, emulator, client_id, device_code)) == "authorization_pending"
    )
    assert _oauth_error(poll_token(api, emulator, client_id, device_code)) == "slow_down"
    _wait_interval(code)
    assert (
        _oauth_error(poll_token(api, emulator, client_id, device_code)) == "authorization_pending"
    )


def test_poll_with_wrong_client_secret_is_invalid_client(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    _wait_interval(code)
    response = api.post(
        "/v2/auth/token",
        files=form(
            grant_type="urn:ietf:params:oauth:grant-type:device_code",
            client_id=client_id,
            client_secret="not-the-secret",
            device_code=str(code["device_code"]),
        ),
        headers=VERSION_HEADER,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_denied_pairing_is_access_denied(api: httpx.Client, emulator: EmulatorHandle) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.deny(str(code["user_code"]))
    _wait_interval(code)
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert _oauth_error(response) == "access_denied"


def test_code_expires_after_120_seconds(api: httpx.Client, emulator: EmulatorHandle) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.advance(121)
    with pytest.raises(ControlError):  # the user can no longer enter it either
        emulator.approve(str(code["user_code"]))
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert _oauth_error(response) == "expired_token"


def test_unknown_device_code_is_invalid_grant(api: httpx.Client, emulator: EmulatorHandle) -> None:
    response = poll_token(api, emulator, new_client_id(), "no-such-device-code")
    assert _oauth_error(response) == "invalid_grant"


def test_device_code_of_another_client_id_is_invalid_grant(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    code = _code(api, emulator, new_client_id())
    emulator.approve(str(code["user_code"]))
    _wait_interval(code)
    response = poll_token(api, emulator, new_client_id(), str(code["device_code"]))
    assert _oauth_error(response) == "invalid_grant"


def test_approved_poll_returns_a_bearer_token_pair(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.approve(str(code["user_code"]))
    _wait_interval(code)
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
    assert body["expires_in"] == 28800
    assert body["token_type"] == "bearer"
    assert uuid.UUID(body["refresh_token"])  # uuid-formatted (old Redoc)
    assert body["access_token"] and body["access_token"] != body["refresh_token"]
    assert api.get("/v2/devices/me", headers=bearer(body["access_token"])).status_code == 200


def test_device_code_name_is_the_name_the_device_gets(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    """``name`` is the name the device will have in Frame.io."""
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.approve(str(code["user_code"]))
    _wait_interval(code)
    token = poll_token(api, emulator, client_id, str(code["device_code"])).json()
    me = api.get("/v2/devices/me", headers=bearer(token["access_token"])).json()
    assert me["name"] == code["name"]


def test_consumed_device_code_cannot_be_reused(api: httpx.Client, emulator: EmulatorHandle) -> None:
    client_id = new_client_id()
    code = _code(api, emulator, client_id)
    emulator.approve(str(code["user_code"]))
    _wait_interval(code)
    assert poll_token(api, emulator, client_id, str(code["device_code"])).status_code == 200
    _wait_interval(code)
    response = poll_token(api, emulator, client_id, str(code["device_code"]))
    assert _oauth_error(response) == "invalid_grant"


# --------------------------------------------------------------------------- refresh


def test_refresh_grant_issues_a_new_pair(api: httpx.Client, emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    response = refresh(api, emulator, device["client_id"], device["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
    assert body["expires_in"] == 28800 and body["token_type"] == "bearer"
    assert body["access_token"] != device["access_token"]
    assert body["refresh_token"] != device["refresh_token"]
    me = api.get("/v2/devices/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == device["device_id"]


def test_reused_refresh_token_is_invalid_request(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    assert refresh(api, emulator, device["client_id"], device["refresh_token"]).status_code == 200
    again = refresh(api, emulator, device["client_id"], device["refresh_token"])
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_request"}  # refresh tokens are single-use


def test_refresh_with_another_client_id_is_refused(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    response = refresh(api, emulator, new_client_id(), device["refresh_token"])
    assert _oauth_error(response) == "invalid_grant"


def test_refresh_token_still_works_just_before_14_days(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    emulator.advance(FOURTEEN_DAYS - 60)
    response = refresh(api, emulator, device["client_id"], device["refresh_token"])
    assert response.status_code == 200, response.text


def test_refresh_token_expires_after_14_days(api: httpx.Client, emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    emulator.advance(FOURTEEN_DAYS + 1)
    response = refresh(api, emulator, device["client_id"], device["refresh_token"])
    assert _oauth_error(response) == "invalid_grant"


def test_unknown_grant_type_is_refused(api: httpx.Client, emulator: EmulatorHandle) -> None:
    response = api.post(
        "/v2/auth/token",
        files=form(
            grant_type="password",
            client_id=new_client_id(),
            client_secret=emulator.client_secret,
        ),
        headers=VERSION_HEADER,
    )
    assert _oauth_error(response) == "unsupported_grant_type"


# --------------------------------------------------------------------------- access tokens


def test_access_token_expires_after_8_hours(api: httpx.Client, emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    emulator.advance(EIGHT_HOURS - 60)
    assert api.get("/v2/devices/me", headers=bearer(device["access_token"])).status_code == 200
    emulator.advance(61)
    response = api.get("/v2/devices/me", headers=bearer(device["access_token"]))
    assert response.status_code == 401
    assert response.json() == NOT_AUTHORIZED


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(bearer("not-a-token"), id="unknown-token"),
        pytest.param(VERSION_HEADER, id="no-authorization"),
        pytest.param({"Authorization": "Basic abc", **VERSION_HEADER}, id="not-bearer"),
    ],
)
def test_device_call_without_a_valid_token_is_401_detailed(
    api: httpx.Client, emulator: EmulatorHandle, headers: dict[str, str]
) -> None:
    response = api.get("/v2/devices/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == NOT_AUTHORIZED


def test_refresh_token_is_not_an_access_token(api: httpx.Client, emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    response = api.get("/v2/devices/me", headers=bearer(device["refresh_token"]))
    assert response.status_code == 401


# --------------------------------------------------------------------------- revoke


def _revoke(
    api: httpx.Client, emulator: EmulatorHandle, client_id: str, token: str
) -> httpx.Response:
    return api.post(
        "/v2/auth/revoke",
        files=form(client_id=client_id, client_secret=emulator.client_secret, token=token),
        headers=VERSION_HEADER,
    )


def test_revoke_answers_success_and_the_token_is_then_401(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    response = _revoke(api, emulator, device["client_id"], device["access_token"])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    me = api.get("/v2/devices/me", headers=bearer(device["access_token"]))
    assert me.status_code == 401
    assert me.json() == NOT_AUTHORIZED
    # Logging out also ends the refresh token: a revoked device cannot mint new tokens.
    again = refresh(api, emulator, device["client_id"], device["refresh_token"])
    assert again.status_code == 400


def test_revoke_by_refresh_token_also_ends_the_access_token(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    response = _revoke(api, emulator, device["client_id"], device["refresh_token"])
    assert response.json() == {"success": True}
    assert api.get("/v2/devices/me", headers=bearer(device["access_token"])).status_code == 401


def test_revoke_with_wrong_client_secret_is_invalid_client(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    device = pair_raw(emulator)
    response = api.post(
        "/v2/auth/revoke",
        files=form(
            client_id=device["client_id"], client_secret="wrong", token=device["access_token"]
        ),
        headers=VERSION_HEADER,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}
    assert api.get("/v2/devices/me", headers=bearer(device["access_token"])).status_code == 200


def test_repairing_a_client_id_ends_the_old_tokens(
    api: httpx.Client, emulator: EmulatorHandle
) -> None:
    first = pair_raw(emulator)
    second = pair_raw(emulator, client_id=first["client_id"])
    assert api.get("/v2/devices/me", headers=bearer(first["access_token"])).status_code == 401
    assert refresh(api, emulator, first["client_id"], first["refresh_token"]).status_code == 400
    assert api.get("/v2/devices/me", headers=bearer(second["access_token"])).status_code == 200
    assert [d["id"] for d in emulator.devices()] == [second["device_id"]]


@pytest.mark.parametrize(("value", "status"), [("true", 200), ("false", 400), ("1", 400)])
def test_url_pairing_header_only_allows_true(
    api: httpx.Client, emulator: EmulatorHandle, value: str, status: int
) -> None:
    fields = {
        "client_id": new_client_id(),
        "client_secret": emulator.client_secret,
        "scope": "asset_create offline",
    }
    response = api.post(
        "/v2/auth/device/code",
        files=form(**fields),
        headers={**VERSION_HEADER, "x-client-platypus-enabled": value},
    )
    assert response.status_code == status, response.text
    pairings = emulator.state()["pairings"]
    assert [p["url_pairing"] for p in pairings] == ([True] if status == 200 else [])
