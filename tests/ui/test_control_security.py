"""Nobody but the hub's owner drives it: the attacks of the security audit (issue 13), each tried
for real against a running hub's control API, each refused with a clear answer and nothing done.

- another user of the machine (``nobody``, through ``setpriv``) on loopback HTTP and on the
  Unix socket (made reachable on purpose: the kernel's ``SO_PEERCRED`` still refuses them);
- a cross-site request (``Origin: null`` with a ``text/plain`` body, as a sandboxed iframe or a
  ``data:`` page sends; a foreign origin), even carrying a valid credential;
- a credential in the URL; the login code; the session cookie's flags, over HTTP and HTTPS;
- bodies: 400 MB declared, an endless chunked body, numbers that do not fit, wrong types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import stat
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    ControlSettings,
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.ui.access import CODE_TRIES, MAX_BODY_BYTES
from c2c_hub.ui.client import SOCKET_NAME
from c2c_hub.ui.control import ControlServer, attach_control

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
CURL = shutil.which("curl")
needs_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None or CURL is None,
    reason="needs root, setpriv and curl to act as the user nobody",
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can pass through (pytest's own tmp folders are owner-only)."""
    directory = Path(tempfile.mkdtemp(prefix="c2c-sec-"))
    directory.chmod(0o711)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def running_hub(
    frameio_settings: FrameioSettings, root: Path, **control: Any
) -> AsyncIterator[Hub]:
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=root / "hub"),
        recorder=RecorderSettings(directory=root / "recordings"),
        plugins=PluginSettings(allow=[]),
        control=ControlSettings(host="127.0.0.1", port=0, **control),
    )
    (root / "recordings").mkdir(exist_ok=True)
    async with Hub(settings) as hub:
        attach_control(hub)
        await hub.start(presence=False, status_file=False)
        yield hub


@pytest.fixture
async def hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> AsyncIterator[Hub]:
    async for running in running_hub(frameio_settings, shared_dir):
        yield running


def control_of(hub: Hub) -> ControlServer:
    control = hub.attached("control")
    assert isinstance(control, ControlServer)
    return control


def base(hub: Hub) -> str:
    url = control_of(hub).url
    assert url is not None
    return url.rstrip("/")


def bearer(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {control_of(hub).token}"}


async def as_nobody(*argv: str) -> tuple[int, str]:
    """Run ``argv`` as the user nobody (no groups); its exit code and output."""
    assert SETPRIV is not None
    process = await asyncio.create_subprocess_exec(
        SETPRIV,
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode()


def curl(*args: str) -> list[str]:
    assert CURL is not None
    return [CURL, "-s", "-w", "\\n%{http_code}", *args]


def answer_of(output: str) -> tuple[int, dict[str, Any]]:
    body, _, code = output.rpartition("\n")
    return int(code), json.loads(body) if body.strip() else {}


# ----------------------------------------------------------------------------- another user
@needs_nobody
async def test_another_user_cannot_queue_a_file_over_loopback_http(hub: Hub) -> None:
    attack = curl(
        "-X",
        "POST",
        f"{base(hub)}/uploads",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"paths": ["/etc/shadow"]}),
    )
    code, out = await as_nobody(*attack)
    assert code == 0, out
    status, body = answer_of(out)
    assert status == 401, out
    assert "login code" in body["error"]
    for route in ("/unpair", "/takes/start", "/uploads/cancel-all"):
        _, out = await as_nobody(*curl("-X", "POST", f"{base(hub)}{route}", "-d", "{}"))
        assert answer_of(out)[0] == 401, (route, out)
    assert hub.uploader.files() == []
    assert hub.recorder.take is None


@needs_nobody
async def test_another_user_is_refused_by_the_kernel_named_uid_on_the_unix_socket(
    hub: Hub,
) -> None:
    socket_path = control_of(hub).path
    # A careless operator opened the folder and the socket to everyone: the uid check still holds.
    hub.data_dir.chmod(0o711)
    socket_path.chmod(0o666)
    attack = curl(
        "--unix-socket",
        str(socket_path),
        "-X",
        "POST",
        "http://hub/uploads",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"paths": ["/etc/shadow"]}),
    )
    code, out = await as_nobody(*attack)
    assert code == 0, out
    status, body = answer_of(out)
    assert status == 403, out
    assert "uid 65534" in body["error"] and "owner" in body["error"]
    _, out = await as_nobody(*curl("--unix-socket", str(socket_path), "http://hub/status"))
    assert answer_of(out)[0] == 403
    assert hub.uploader.files() == []
    # The owner (this test's user) is served on the same socket.
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as http:
        assert (await http.get("/status")).status_code == 200


async def _look_all_along(
    look: Callable[[], None], frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    """``look()`` called over and over in a thread, from before a hub starts until it stops.

    The looker gets the GIL every 10 µs instead of every 5 ms: a window of a few milliseconds
    of the hub's Python (bound, not yet listening) is otherwise easily missed."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            look()

    looker = threading.Thread(target=run, daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    looker.start()
    try:
        async for hub in running_hub(frameio_settings, shared_dir):
            assert control_of(hub).path == shared_dir / "hub" / SOCKET_NAME
            await asyncio.sleep(0.2)  # a few more looks at the running socket
    finally:
        stop.set()
        looker.join(30)
        sys.setswitchinterval(switch)


async def test_the_control_socket_is_never_open_to_others_not_even_while_it_starts(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    """Watched from before the hub starts until it stops: the socket's node is 0600 from the
    moment it exists (uvicorn's own ``uds=`` made it 0666 for a moment after binding it)."""
    path = shared_dir / "hub" / SOCKET_NAME
    seen: set[int] = set()

    def look() -> None:
        with contextlib.suppress(FileNotFoundError):
            seen.add(stat.S_IMODE(os.stat(path).st_mode))

    await _look_all_along(look, frameio_settings, shared_dir)
    assert seen, "the watcher never saw the socket"
    assert seen == {0o600}, f"modes seen: {sorted(oct(m) for m in seen)}"


async def test_the_control_socket_is_named_only_once_it_listens(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    """A client that finds the socket's name is never refused: the CLI took a refusal to mean
    "no hub running" (CI saw `status` say so right after the name appeared)."""
    path = shared_dir / "hub" / SOCKET_NAME
    answered: list[bool] = []

    def knock() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            try:
                client.connect(str(path))
                answered.append(True)
            except FileNotFoundError:
                return  # look again at once: the name may appear any moment
            except ConnectionRefusedError:
                answered.append(False)
        time.sleep(0.001)  # a connection a millisecond, not a flood

    await _look_all_along(knock, frameio_settings, shared_dir)
    assert answered, "the socket was never found"
    assert all(answered), f"{answered.count(False)} of {len(answered)} connections refused"
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".sock")] == []


async def test_the_control_socket_listens_before_uvicorn_is_even_asked_to_serve(
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
    shared_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, without a race: at the moment the hub hands its socket to uvicorn (which
    starts serving a loop turn or more later), the name already answers a client."""
    serve = ControlServer._serve
    at_handover: list[str] = []

    async def handed_over(
        control: ControlServer, config: Any, name: str, sockets: Any = None
    ) -> Any:
        if sockets is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                try:
                    client.connect(str(control.path))
                    at_handover.append("answered")
                except OSError as exc:
                    at_handover.append(type(exc).__name__)
        return await serve(control, config, name, sockets)

    monkeypatch.setattr(ControlServer, "_serve", handed_over)
    async for hub in running_hub(frameio_settings, shared_dir):
        assert control_of(hub).path.exists()
    assert at_handover == ["answered"]


@needs_nobody
async def test_the_operators_group_is_served_on_the_unix_socket(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    async for hub in running_hub(frameio_settings, shared_dir, operators_group=str(NOBODY)):
        socket_path = control_of(hub).path
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o660
        assert socket_path.stat().st_gid == NOBODY
        assert stat.S_IMODE(hub.data_dir.stat().st_mode) == 0o710
        code, out = await as_nobody(*curl("--unix-socket", str(socket_path), "http://hub/status"))
        assert code == 0 and answer_of(out)[0] == 200, out


# ----------------------------------------------------------------------------- other sites
async def test_origin_null_and_foreign_origins_are_refused_even_with_a_credential(
    hub: Hub,
) -> None:
    secret_file = hub.data_dir / "control-token"
    async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=10) as http:
        for origin in ("null", "http://127.0.0.1:1", "https://evil.example", "file://"):
            answer = await http.post(
                "/uploads",
                content=json.dumps({"paths": [str(secret_file)]}),
                headers={"Origin": origin, "Content-Type": "text/plain"},
            )
            assert answer.status_code == 403, (origin, answer.text)
            assert "cross-site" in answer.json()["error"]
        same_site = await http.post(
            "/takes/start", json={}, headers={"Sec-Fetch-Site": "same-site"}
        )
        assert same_site.status_code == 403
        own = await http.get("/status", headers={"Origin": base(hub)})
        assert own.status_code == 200
    assert hub.uploader.files() == []
    assert hub.recorder.take is None


# ----------------------------------------------------------------------------- logging in
async def test_the_login_code_makes_a_strict_httponly_session_and_is_single_use(
    hub: Hub,
) -> None:
    control = control_of(hub)
    code = control.login_code()
    assert code is not None and len(code) == 6 and code.isdigit()
    assert code not in json.dumps(hub.status()), "the code is shown on the hub's screen only"
    async with httpx.AsyncClient(base_url=base(hub), timeout=10) as http:
        # The page itself loads without a credential (it holds none), with a strict policy.
        page = await http.get("/")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await http.get("/status")).status_code == 401
        spaced = f"{code[:3]} {code[3:]}"
        login = await http.post("/login", json={"code": spaced})
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback: the browser would drop it
        assert control.token not in cookie
        assert (await http.get("/status")).status_code == 200
        assert control.login_code() != code, "a used code is replaced at once"
        again = await http.post("/login", json={"code": code})
        assert again.status_code == 401
        await http.post("/logout")
        http.cookies.clear()
        assert (await http.get("/status")).status_code == 401


async def test_every_answer_carries_a_strict_policy_and_the_browser_security_headers(
    hub: Hub,
) -> None:
    """The page, its files, an API answer and a refusal alike: a browser given any of them runs
    only the hub's own files, never sniffs a type, sends no referrer and is never framed."""
    async with httpx.AsyncClient(base_url=base(hub), timeout=10) as http:
        answers = {
            "page": await http.get("/"),
            "script": await http.get("/static/app.js"),
            "refused": await http.get("/status"),
            "api": await http.get("/status", headers=bearer(hub)),
            "missing": await http.get("/static/no-such-file.js"),
        }
    assert answers["refused"].status_code == 401 and answers["api"].status_code == 200
    for what, answer in answers.items():
        h = answer.headers
        policy = dict([*d.split(" ", 1), ""][:2] for d in h["content-security-policy"].split("; "))
        assert policy["default-src"] == "'none'", what
        for directive in ("script-src", "style-src", "img-src", "connect-src", "form-action"):
            assert policy[directive] == "'self'", (what, directive)
        assert policy["base-uri"] == "'none'" and policy["frame-ancestors"] == "'none'", what
        assert "unsafe-inline" not in h["content-security-policy"], what
        assert "unsafe-eval" not in h["content-security-policy"], what
        assert h["x-content-type-options"] == "nosniff", what
        assert h["referrer-policy"] == "no-referrer", what
        assert h["cross-origin-opener-policy"] == "same-origin", what
        assert h["x-frame-options"] == "DENY", what
        assert h.get_list("content-security-policy") == [h["content-security-policy"]], what


async def test_wrong_login_codes_replace_the_code_after_a_few_tries(hub: Hub) -> None:
    control = control_of(hub)
    first = control.login_code()
    assert first is not None
    wrong = "000000" if first != "000000" else "111111"
    async with httpx.AsyncClient(base_url=base(hub), timeout=10) as http:
        for _ in range(CODE_TRIES):
            answer = await http.post("/login", json={"code": wrong})
            assert answer.status_code == 401 and "wrong or expired" in answer.json()["error"]
        assert control.login_code() != first
        late = await http.post("/login", json={"code": first})
        assert late.status_code == 401, "a guessed-at code no longer works"
        assert (await http.post("/login", json={"token": control.token})).status_code == 200


async def test_https_when_the_operator_gives_a_certificate_and_the_cookie_is_secure(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = shared_dir / "hub.pem", shared_dir / "hub.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    async for hub in running_hub(
        frameio_settings, shared_dir, tls_cert=cert_file, tls_key=key_file
    ):
        assert base(hub).startswith("https://127.0.0.1:")
        assert hub.status()["control"]["tls"] is True
        async with httpx.AsyncClient(base_url=base(hub), verify=trust, timeout=10) as http:
            login = await http.post("/login", json={"token": control_of(hub).token})
            assert login.status_code == 200
            assert "Secure" in login.headers["set-cookie"]
            assert (await http.get("/status")).status_code == 200
        plain = base(hub).replace("https://", "http://")
        async with httpx.AsyncClient(base_url=plain, timeout=10) as http:
            with pytest.raises(httpx.HTTPError):
                await http.get("/status")


# ----------------------------------------------------------------------------- bodies
async def _raw_request(hub: Hub, head: str, body_chunks: AsyncIterator[bytes]) -> tuple[str, int]:
    """Send ``head`` and then chunks until the hub answers; (status line, body bytes sent)."""
    port = control_of(hub).port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    writer.write(head.encode())

    async def pump() -> None:
        nonlocal sent
        try:
            async for chunk in body_chunks:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except (ConnectionError, OSError):
            pass

    pumping = asyncio.create_task(pump())
    try:
        status = await asyncio.wait_for(reader.readline(), 60)
    finally:
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        writer.close()
    return status.decode().strip(), sent


async def test_a_huge_body_is_refused_without_being_buffered(hub: Hub) -> None:
    token = control_of(hub).token
    total = 64 * MAX_BODY_BYTES

    async def chunks(chunked: bool) -> AsyncIterator[bytes]:
        block = b"a" * 65536
        for _ in range(total // len(block)):
            yield (b"10000\r\n" + block + b"\r\n") if chunked else block
            await asyncio.sleep(0)

    host = f"127.0.0.1:{control_of(hub).port}"
    declared = (
        f"POST /uploads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {400 * 1000 * 1000}\r\n\r\n"
    )
    status, sent = await _raw_request(hub, declared, chunks(False))
    assert " 413 " in status, status
    assert sent < total // 4, f"the hub read {sent} bytes of a body it should have refused"
    streamed = (
        f"POST /uploads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    status, sent = await _raw_request(hub, streamed, chunks(True))
    assert " 413 " in status, status
    assert sent < total // 4, f"the hub read {sent} bytes of a body it should have refused"
    assert hub.uploader.files() == []


@pytest.mark.parametrize(
    ("route", "method", "body", "field"),
    [
        ("/uploads", "POST", {"paths": ["/x"], "priority": 1e308}, "priority"),
        ("/uploads", "POST", {"paths": ["/x"], "priority": 10**30}, "priority"),
        ("/uploads", "POST", {"paths": ["/x"], "channel": "1"}, "channel"),
        ("/uploads", "POST", {"paths": "/x"}, "paths"),
        ("/uploads", "POST", {"paths": []}, "paths"),
        ("/uploads", "POST", {"paths": ["/x"], "colour": "red"}, "colour"),
        ("/uploads/1/priority", "PUT", {"priority": True}, "priority"),
        ("/uploads/type-priority", "PUT", {"key": ".wav", "priority": "9"}, "priority"),
        ("/uploads/start", "POST", {"ids": [1.5]}, "ids.0"),
        ("/uploads/mode", "PUT", {"mode": "fast"}, "mode"),
        ("/uploads/paused", "PUT", {"on": "yes"}, "on"),
        ("/takes/start", "POST", {"take": 10**12}, "take"),
    ],
)
async def test_a_bad_value_answers_400_naming_its_field_never_500(
    hub: Hub, route: str, method: str, body: dict[str, Any], field: str
) -> None:
    take = hub.settings.recorder.directory / "take.wav"
    take.write_bytes(b"RIFF")  # a real file where one may be: only the bad value is wrong
    body = json.loads(json.dumps(body).replace('"/x"', json.dumps(str(take))))
    async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=10) as http:
        answer = await http.request(method, route, content=json.dumps(body))
        assert answer.status_code == 400, answer.text
        assert (
            answer.json()["error"].startswith(f"{field}:") or f"{field}:" in answer.json()["error"]
        ), answer.text
        assert "Traceback" not in answer.text
        not_json = await http.request(method, route, content=b"{not json")
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert hub.uploader.files() == []


# ----------------------------------------------------------------------------- upload paths
async def test_only_regular_files_under_the_recordings_or_listed_roots_are_queued(
    hub: Hub, shared_dir: Path
) -> None:
    recordings = hub.settings.recorder.directory
    good = recordings / "S1T1" / "boom.wav"
    good.parent.mkdir()
    good.write_bytes(b"RIFF....WAVE")
    fifo = recordings / "pipe.wav"
    os.mkfifo(fifo)
    (recordings / "escape.wav").symlink_to(hub.data_dir / "control-token")
    (recordings / "shadow.wav").symlink_to("/etc/shadow")
    refused = {
        "/etc/shadow": "outside the folders",
        "/dev/zero": "outside the folders",
        str(fifo): "not a regular file (a FIFO)",
        str(good.parent): "not a regular file (a folder)",
        f"{recordings}/../hub/control-token": "data directory",
        str(recordings / "escape.wav"): "data directory",
        str(recordings / "shadow.wav"): "outside the folders",
        "boom.wav": "absolute path",
        str(recordings / "missing.wav"): "no such file",
    }
    async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=10) as http:
        for path, reason in refused.items():
            answer = await http.post("/uploads", json={"paths": [str(good), path]})
            assert answer.status_code == 400, (path, answer.text)
            assert reason in answer.json()["error"], (path, answer.text)
        assert hub.uploader.files() == [], "one bad path queues nothing"
        ok = await http.post("/uploads", json={"paths": [f"{recordings}/S1T1/../S1T1/boom.wav"]})
        assert ok.status_code == 200, ok.text
    files = hub.uploader.files()
    assert [f["path"] for f in files] == [str(good)]


async def test_a_folder_the_operator_lists_in_upload_roots_is_allowed(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, shared_dir: Path
) -> None:
    media = shared_dir / "camera-audio"
    media.mkdir()
    (media / "A001.wav").write_bytes(b"RIFF....WAVE")
    (shared_dir / "elsewhere.wav").write_bytes(b"RIFF....WAVE")
    async for hub in running_hub(frameio_settings, shared_dir, upload_roots=[media]):
        async with httpx.AsyncClient(base_url=base(hub), headers=bearer(hub), timeout=10) as http:
            ok = await http.post("/uploads", json={"paths": [str(media / "A001.wav")]})
            assert ok.status_code == 200, ok.text
            no = await http.post("/uploads", json={"paths": [str(shared_dir / "elsewhere.wav")]})
            assert no.status_code == 400 and "control.upload_roots" in no.json()["error"]
