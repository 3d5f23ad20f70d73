"""The pairing page: a person can pair a hub against the emulator from a browser."""

from __future__ import annotations

import ssl
import time

import httpx

from c2c_hub.emulation.frameio.handle import EmulatorHandle

VERSION = {"x-client-version": "1.0.0"}


def _client(emulator: EmulatorHandle) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    return httpx.Client(base_url=emulator.base_url, verify=context, headers=VERSION)


def _request_code(http: httpx.Client, emulator: EmulatorHandle, client_id: str) -> dict[str, str]:
    form = {"client_id": client_id, "client_secret": emulator.client_secret, "scope": "offline"}
    response = http.post("/v2/auth/device/code", files={k: (None, v) for k, v in form.items()})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _poll(
    http: httpx.Client, emulator: EmulatorHandle, client_id: str, code: str
) -> httpx.Response:
    time.sleep(0.06)
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": client_id,
        "client_secret": emulator.client_secret,
        "device_code": code,
    }
    return http.post("/v2/auth/token", files={k: (None, v) for k, v in form.items()})


def test_verification_uri_complete_opens_a_page_that_approves_the_device(
    emulator: EmulatorHandle,
) -> None:
    with _client(emulator) as http:
        code = _request_code(http, emulator, "unit-web-1")
        page = http.get(code["verification_uri_complete"])
        assert page.status_code == 200
        assert code["user_code"] in page.text and "unit-web-1" in page.text
        assert _poll(http, emulator, "unit-web-1", code["device_code"]).json() == {
            "error": "authorization_pending"
        }
        done = http.post(code["verification_uri_complete"], data={"action": "approve"})
        assert "Connected" in done.text
        tokens = _poll(http, emulator, "unit-web-1", code["device_code"])
        assert tokens.status_code == 200 and tokens.json()["token_type"] == "bearer"


def test_declining_on_the_page_denies_the_device(emulator: EmulatorHandle) -> None:
    with _client(emulator) as http:
        code = _request_code(http, emulator, "unit-web-2")
        entry = http.get(code["verification_uri"], params={"code": code["user_code"]})
        assert entry.status_code == 303
        assert entry.headers["location"] == f"/pair/{code['user_code']}"
        http.post(f"/pair/{code['user_code']}", data={"action": "deny"})
        assert _poll(http, emulator, "unit-web-2", code["device_code"]).json() == {
            "error": "access_denied"
        }


def test_an_unknown_code_says_so_and_changes_nothing(emulator: EmulatorHandle) -> None:
    with _client(emulator) as http:
        page = http.get("/pair/000000")
        assert page.status_code == 404
        assert "no pending pairing" in page.text
        assert http.post("/pair/000000", data={"action": "approve"}).status_code == 404
