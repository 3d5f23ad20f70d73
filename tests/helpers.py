"""Talk to the emulator as a device would: real HTTPS, the documented encodings, no hub code.

Shared by the emulator's tests (and anyone who needs a paired device without the hub's client):

- :func:`frameio_client` an httpx client on the Frame.io surface that trusts the emulator's CA;
- :func:`form` multipart/form-data fields (the encoding of the three auth endpoints);
- :func:`request_code`, :func:`poll_token`, :func:`refresh` the raw auth calls;
- :func:`pair_raw` a complete device-code pairing.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import AuthorizationPending, FrameioClient, SlowDown, TokenSet
from c2c_hub.settings import FrameioSettings

CLIENT_VERSION = "1.0.0"
VERSION_HEADER = {"x-client-version": CLIENT_VERSION}
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "asset_create offline"


def frameio_client(emulator: EmulatorHandle, **kwargs: Any) -> httpx.Client:
    """An HTTPS client on the emulator's Frame.io port, verifying its certificate."""
    return httpx.Client(
        base_url=emulator.base_url,
        verify=ssl.create_default_context(cafile=str(emulator.ca_file)),
        timeout=10,
        **kwargs,
    )


def form(**fields: str) -> dict[str, tuple[None, str]]:
    """httpx sends multipart/form-data only when given ``files``: plain fields as files."""
    return {key: (None, value) for key, value in fields.items()}


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", **VERSION_HEADER}


def new_client_id() -> str:
    return f"emu-test-{uuid.uuid4()}"


def request_code(
    http: httpx.Client, emulator: EmulatorHandle, client_id: str, **overrides: str
) -> httpx.Response:
    """``POST /v2/auth/device/code`` with the documented multipart fields."""
    fields = {"client_id": client_id, "client_secret": emulator.client_secret, "scope": SCOPE}
    return http.post(
        "/v2/auth/device/code", files=form(**(fields | overrides)), headers=VERSION_HEADER
    )


def poll_token(
    http: httpx.Client, emulator: EmulatorHandle, client_id: str, device_code: str
) -> httpx.Response:
    """One device-code poll of ``POST /v2/auth/token``."""
    return http.post(
        "/v2/auth/token",
        files=form(
            grant_type=DEVICE_CODE_GRANT,
            client_id=client_id,
            client_secret=emulator.client_secret,
            device_code=device_code,
        ),
        headers=VERSION_HEADER,
    )


def refresh(
    http: httpx.Client, emulator: EmulatorHandle, client_id: str, refresh_token: str
) -> httpx.Response:
    """The refresh grant of ``POST /v2/auth/token``."""
    return http.post(
        "/v2/auth/token",
        files=form(
            grant_type="refresh_token",
            client_id=client_id,
            client_secret=emulator.client_secret,
            refresh_token=refresh_token,
        ),
        headers=VERSION_HEADER,
    )


def pair_raw(emulator: EmulatorHandle, client_id: str | None = None) -> dict[str, str]:
    """Pair a device through the documented device-code flow.

    Returns ``access_token``, ``refresh_token``, ``device_id`` (the project device id, as the
    control API's ``pause``/``resume`` take it) and ``client_id``.
    """
    client_id = client_id or new_client_id()
    with frameio_client(emulator) as http:
        code = request_code(http, emulator, client_id)
        assert code.status_code == 200, code.text
        emulator.approve(code.json()["user_code"])
        time.sleep(float(code.json()["interval"]) + 0.01)  # the first poll waits one interval
        token = poll_token(http, emulator, client_id, code.json()["device_code"])
        assert token.status_code == 200, token.text
        tokens = token.json()
        me = http.get("/v2/devices/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200, me.text
    return {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "device_id": me.json()["id"],
        "client_id": client_id,
    }


#: The repository's root (the checkout the tests run from).
REPO = Path(__file__).resolve().parents[1]


async def pair_tokens(
    client: FrameioClient, settings: FrameioSettings, emulator: EmulatorHandle
) -> TokenSet:
    """The device-code flow with the real client; polls no faster than ``interval``."""
    code = await client.request_device_code(settings.client_id, settings.client_secret)
    emulator.approve(code.user_code)
    interval = code.interval
    while True:
        await asyncio.sleep(interval)  # the emulator's device-code clock is wall time
        try:
            return await client.poll_device_token(
                settings.client_id, settings.client_secret, code.device_code
            )
        except AuthorizationPending:
            continue
        except SlowDown:
            interval += 5


def python_child(code: str, *args: str, timeout: float = 120) -> Any:
    """Run ``code`` in a Python process of its own (no test worker's threads, fds or state)
    and return what it printed, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(done.stdout)


#: Every import of the ``.py`` files under each folder given: ``[path, line, module, name]``
#: (``name`` None for ``import module``). Parsed in a process of its own: on Python 3.11,
#: ``ast.parse`` beside other threads (a test worker's) can fail with a spurious "AST
#: constructor recursion depth mismatch" (CPython gh-106905), seen once on a loaded machine.
_IMPORTS = """
import ast, json, sys
from pathlib import Path

found = []
for folder in sys.argv[1:]:
    for path in sorted(Path(folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [[str(path), node.lineno, node.module, a.name] for a in node.names]
            elif isinstance(node, ast.Import):
                found += [[str(path), node.lineno, a.name, None] for a in node.names]
print(json.dumps(found))
"""


def imports_in(*folders: Path) -> list[tuple[Path, int, str, str | None]]:
    """Each import in the Python files under ``folders``: (path, line, module, name)."""
    found = python_child(_IMPORTS, *map(str, folders))
    return [(Path(path), line, module, name) for path, line, module, name in found]
