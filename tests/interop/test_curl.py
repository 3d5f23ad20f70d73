"""Interop: Frame.io's guides' own curl examples, run with the real curl against the emulator.

Each command is the documented one (Frame.io's status and channels guides: identity, health,
channels; its authorization guide: the device-code request in ``--form`` style), with the
emulator's URL in place of https://api.frame.io and ``--cacert`` for its certificate
authority. Where a guide pipes the
answer through ``python -m json.tool``, so do we.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from typing import Any

import pytest

from c2c_hub.device_models import shipped_models_dir
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.helpers import DEVICE_CODE_GRANT, pair_raw

pytestmark = pytest.mark.interop

MIC_MODEL = shipped_models_dir() / "c2c-network-mic.toml"
STATUS_MARK = "\n--curl-http-status:"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key


def curl_binary() -> str:
    found = shutil.which("curl")
    if found is None:
        pytest.fail("curl is not installed: run `make deps` (it installs curl)")
    return found


def curl(
    *args: str, stdin: str | None = None, seconds: float = 10
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [curl_binary(), "--silent", "--show-error", "--max-time", str(seconds), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=seconds + 10,
    )


def call(emulator: EmulatorHandle, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """A documented call with ``--cacert``: (HTTP status, body)."""
    done = curl(
        "--cacert",
        str(emulator.ca_file),
        "--write-out",
        STATUS_MARK + "%{http_code}",
        *args,
        stdin=stdin,
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition(STATUS_MARK)
    return int(status), body


def json_tool(body: str) -> Any:
    """``| python -m json.tool``, as the guides pipe it."""
    pretty = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=body, capture_output=True, text=True, check=True
    )
    return json.loads(pretty.stdout)


def mic_model_id() -> str:
    with MIC_MODEL.open("rb") as fh:
        model_id: str = tomllib.load(fh)["model"]["id"]
    return model_id


def identity(emulator: EmulatorHandle, token: str) -> dict[str, Any]:
    status, body = call(
        emulator,
        "-X", "GET", f"{emulator.base_url}/v2/devices/me",
        "--header", f"Authorization: Bearer {token}",
        "--header", "x-client-version: 2.0.0",
    )  # fmt: skip
    assert status == 200, body
    me: dict[str, Any] = json_tool(body)
    return me


# ------------------------------------------------------------- status guide: identity, health


def test_health_as_seed_001(emulator: EmulatorHandle) -> None:
    status, body = call(emulator, "-X", "GET", f"{emulator.base_url}/health")
    assert status == 200
    assert json_tool(body) == {"ok": True}


def test_identity_as_seed_001(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    me = identity(emulator, device["access_token"])
    assert me["_type"] == "project_device"
    assert me["id"] == device["device_id"]
    assert me["status"] == "online"
    assert me["project"]["_type"] == "project" and me["project"]["name"]
    assert me["project_id"] == me["project"]["id"]
    authorization = me["authorization"]
    assert authorization["_type"] == "project_device_authorization"
    assert authorization["creator"]["_type"] == "user" and authorization["creator"]["name"]
    assert authorization["expires_at"] is None
    assert authorization["scopes"]["asset_create"] is True
    assert authorization["scopes"]["offline"] is True
    assert emulator.violations() == []


def test_identity_without_a_token_is_the_documented_401(emulator: EmulatorHandle) -> None:
    status, body = call(
        emulator, "-X", "GET", f"{emulator.base_url}/v2/devices/me",
        "--header", "x-client-version: 2.0.0",
    )  # fmt: skip
    assert status == 401
    assert json_tool(body)["errors"][0]["title"] == "Not Authorized"


# ------------------------------------------------------- device code, --form style


def test_pairing_with_curl_form_fields(emulator: EmulatorHandle) -> None:
    client_id = f"curl-{uuid.uuid4()}"
    status, body = call(
        emulator,
        "-X", "POST", f"{emulator.base_url}/v2/auth/device/code",
        "--header", "x-client-version: 1.0.0",
        "--form", f"client_id={client_id}",
        "--form", f"client_secret={emulator.client_secret}",
        "--form", "scope=asset_create offline",
    )  # fmt: skip
    assert status == 200, body
    code = json_tool(body)
    assert re.fullmatch(r"\d{6}", code["user_code"])
    assert code["device_code"] and 0 < code["expires_in"] <= 120
    assert code["verification_uri"] and code["name"]

    emulator.approve(code["user_code"])
    time.sleep(float(code["interval"]) + 0.01)
    status, body = call(
        emulator,
        "-X", "POST", f"{emulator.base_url}/v2/auth/token",
        "--header", "x-client-version: 1.0.0",
        "--form", f"grant_type={DEVICE_CODE_GRANT}",
        "--form", f"client_id={client_id}",
        "--form", f"client_secret={emulator.client_secret}",
        "--form", f"device_code={code['device_code']}",
    )  # fmt: skip
    assert status == 200, body
    token = json_tool(body)
    assert token["token_type"] == "bearer" and token["expires_in"] == 28800
    assert identity(emulator, token["access_token"])["_type"] == "project_device"
    assert emulator.violations() == []  # curl's --form is the multipart the contract wants


def test_device_code_with_a_wrong_secret_is_invalid_client(emulator: EmulatorHandle) -> None:
    status, body = call(
        emulator,
        "-X", "POST", f"{emulator.base_url}/v2/auth/device/code",
        "--header", "x-client-version: 1.0.0",
        "--form", "client_id=curl-wrong-secret",
        "--form", "client_secret=not-the-secret",
        "--form", "scope=asset_create offline",
    )  # fmt: skip
    assert (status, json_tool(body)) == (400, {"error": "invalid_client"})


# --------------------------------------------------------------------------- channels guide


def connect_channel(emulator: EmulatorHandle, token: str, client_id: str) -> tuple[int, str]:
    """Seed 002's connect: the JSON body comes on stdin (``--data-binary @-`` and a heredoc)."""
    heredoc = json.dumps({"client_id": client_id, "device_model_id": mic_model_id()}, indent=4)
    return call(
        emulator,
        "-X", "POST", f"{emulator.base_url}/v2/devices/channels/connect",
        "--header", f"Authorization: Bearer {token}",
        "--header", "Content-Type: application/json",
        "--header", "x-client-version: 2.0.0",
        "--data-binary", "@-",
        stdin=heredoc + "\n",
    )  # fmt: skip


def disconnect(emulator: EmulatorHandle, token: str, path: str) -> tuple[int, str]:
    return call(
        emulator,
        "-X", "POST", f"{emulator.base_url}/v2/devices/channels/{path}",
        "--header", f"Authorization: Bearer {token}",
        "--header", "x-client-version: 2.0.0",
    )  # fmt: skip


def test_channels_as_seed_002(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    token = device["access_token"]
    (primary,) = identity(emulator, token)["channels"]
    assert primary["external_index"] == 0

    status, body = connect_channel(emulator, token, "mic-serial-0001")
    assert status == 200, body
    channel = json_tool(body)
    assert channel["_type"] == "project_device_channel"
    assert channel["project_device_id"] == device["device_id"]
    assert channel["asset_type"] == "audio"  # the microphone's device model
    assert channel["external_index"] == 1
    assert [c["id"] for c in identity(emulator, token)["channels"]] == [
        primary["id"],
        channel["id"],
    ]

    status, body = connect_channel(emulator, token, "mic-serial-0001")
    assert status == 409  # "If a channel has already been declared ... Already Exists"
    assert json_tool(body)["errors"][0]["title"] == "Already Exists"

    assert disconnect(emulator, token, f"{channel['id']}/disconnect") == (204, "")
    assert disconnect(emulator, token, f"{channel['id']}/disconnect")[0] == 404
    assert [c["id"] for c in identity(emulator, token)["channels"]] == [primary["id"]]

    for serial in ("mic-serial-0002", "mic-serial-0003"):
        assert connect_channel(emulator, token, serial)[0] == 200
    assert len(identity(emulator, token)["channels"]) == 3
    assert disconnect(emulator, token, "disconnect") == (204, "")
    assert [c["id"] for c in identity(emulator, token)["channels"]] == [primary["id"]]
    assert disconnect(emulator, token, "disconnect") == (204, "")  # "will always succeed"
    assert emulator.violations() == []


# --------------------------------------------------------------------------- HTTPS only


@pytest.mark.parametrize("path", ["/health", "/v2/devices/me"])
def test_plain_http_to_the_emulator_gets_no_http_response(
    emulator: EmulatorHandle, path: str
) -> None:
    plain = emulator.base_url.replace("https://", "http://", 1) + path
    done = curl("--include", "--header", "x-client-version: 2.0.0", plain)
    assert done.returncode != 0, done.stdout  # 52 "Empty reply from server" (or a reset)
    assert done.returncode in (52, 56), done.stderr
    assert done.stdout == ""  # not a single byte of HTTP came back
    assert "HTTP/" not in done.stdout


def test_the_emulator_certificate_is_not_trusted_without_its_ca(emulator: EmulatorHandle) -> None:
    done = curl(f"{emulator.base_url}/health")
    assert done.returncode == 60, done.stderr  # curl: peer certificate cannot be authenticated


# --------------------------------------------------------------------------- the websocket upgrade


def upgrade(emulator: EmulatorHandle, token: str) -> subprocess.CompletedProcess[str]:
    """A raw websocket upgrade request, as websocat would send it (the status guide's tool)."""
    return curl(
        "--include", "--http1.1", "--cacert", str(emulator.ca_file),
        "--header", "Connection: Upgrade",
        "--header", "Upgrade: websocket",
        "--header", "Sec-WebSocket-Version: 13",
        "--header", f"Sec-WebSocket-Key: {WS_KEY}",
        f"{emulator.base_url}/devices/websocket?Authorization=Bearer%20{token}",
        seconds=1,
    )  # fmt: skip


def status_line(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.split("\r\n", 1)[0].split("\n", 1)[0].strip()


def test_websocket_upgrade_is_101_then_403_once_the_token_expired(
    emulator: EmulatorHandle,
) -> None:
    device = pair_raw(emulator)
    opened = upgrade(emulator, device["access_token"])
    assert status_line(opened) == "HTTP/1.1 101 Switching Protocols", opened
    assert opened.returncode == 28  # curl then waits on the open socket until --max-time

    emulator.advance(8 * 3600 + 1)
    refused = upgrade(emulator, device["access_token"])
    assert refused.returncode == 0, refused.stderr
    assert status_line(refused) == "HTTP/1.1 403 Forbidden", refused
    assert "sec-websocket-accept" not in refused.stdout.lower()


def test_websocket_upgrade_with_an_unknown_token_is_403(emulator: EmulatorHandle) -> None:
    refused = upgrade(emulator, "not-a-token")
    assert status_line(refused) == "HTTP/1.1 403 Forbidden", refused
