"""The hub's local control API: the one way anything outside the hub process talks to it.

Served by ``c2c-hub run`` twice, the same routes on both:

- a Unix socket, ``<data_dir>/control.sock``, owner-only (0600 in a 0700 directory): the CLI;
  the kernel names every caller (``SO_PEERCRED``) and only the hub's owner, root and the
  optional operators group are served;
- HTTP on ``control.host:control.port`` (``127.0.0.1:8765`` by default), HTTPS when
  ``control.tls_cert`` is given: the web page at ``/``, the event stream at ``/events``, and
  every route below. **Every** request, on loopback too, carries the access token of
  ``<data_dir>/control-token`` (``Authorization: Bearer <token>``) or the session cookie that
  ``POST /login`` gives for that token or for the login code shown on the hub's screen.
  Cross-site requests (any foreign ``Origin``, ``Origin: null`` too) are refused, and so is a
  credential in a URL. See :mod:`c2c_hub.ui.access`.

Bodies are capped at 1 MiB and validated by the models of :mod:`c2c_hub.ui.bodies`; a bad value
answers 400 naming its field. Upload paths are confined (:mod:`c2c_hub.upload_paths`).

JSON in and out; errors are ``{"error": "..."}`` with a 4xx status. ``docs/control-api.md``
documents every route and event.

| call | what |
|---|---|
| ``GET /status`` | the status snapshot (as ``c2c-hub status --json``) |
| ``GET /uploads`` | every file in the queue, and the progress snapshot (``?limit&after``: a page) |
| ``GET /uploads/events`` | progress events as they happen (newline-delimited JSON) |
| ``POST /uploads`` ``{"paths", "priority"?, "channel"?, "filetype"?}`` | enqueue files |
| ``POST /uploads/start`` ``{"ids"}`` | manual mode: upload these now |
| ``POST /uploads/{id}/cancel``, ``POST /uploads/cancel-all`` | cancel one or all |
| ``POST /uploads/{id}/retry``, ``POST /uploads/retry-failed`` | retry one or every failed |
| ``PUT /uploads/{id}/priority`` ``{"priority"}`` | one file's priority |
| ``PUT /uploads/type-priority`` ``{"key", "priority"}`` | by type (``.wav``, ``audio/*``) |
| ``PUT /uploads/mode`` ``{"mode": "auto"|"manual"}`` | automatic or manual uploads |
| ``PUT /uploads/parallel`` ``{"on": bool}`` | several files at once, or one at a time |
| ``PUT /uploads/paused`` ``{"on": bool}`` | pause or resume uploading (the operator's pause) |
| ``POST /pairing/start``, ``POST /pairing/cancel``, ``GET /pairing`` | pair from a UI |
| ``GET /pairing/qr.svg`` | the QR code of ``verification_uri_complete`` while pairing |
| ``POST /unpair`` | revoke the tokens at Frame.io and wipe them here |
| ``GET /events`` | server-sent events: ``status`` every second, and every event as it happens |
| ``GET /`` | the web page (``hub/ui/web/``) |
| ``GET /devices`` | attached sub-devices and their Frame.io channels |
| ``GET /plugins`` | plugins, their sources and their health |
| ``GET /takes`` | the take being recorded (if any), the last one, the numbering |
| ``POST /takes/start`` ``{"scene"?, "take"?, "force"?}``, ``POST /takes/stop`` | takes |
| ``GET /presses`` | button presses (real-time logging events) and their states |
| ``POST /presses/{id}/resend`` | send an unconfirmed or failed press again |
| ``POST /login`` ``{"code"}`` or ``{"token"}`` | HTTP only: a session cookie for the page |
| ``POST /logout`` | end this browser's session |
| ``GET /timecode``, ``PUT /timecode/offset`` ``{"frames"}`` | the timecode (``control_timecode``) |
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import segno
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from c2c_hub.logs import register_secret
from c2c_hub.private_files import write_private
from c2c_hub.settings import ControlSettings
from c2c_hub.tasks import cancel_and_wait
from c2c_hub.ui import bodies, control_mix, control_net, control_timecode
from c2c_hub.ui.access import (
    LOOPBACK_NAMES,
    MAX_BODY_BYTES,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Access,
    BodyLimit,
    Guard,
    PeerPolicy,
    SecurityHeaders,
    is_loopback,
    operators_gid,
    owner_uid,
    peer_checked_protocol,
)
from c2c_hub.ui.client import SOCKET_NAME
from c2c_hub.ui.errors import UIError
from c2c_hub.ui.take_rules import NO_SOURCES, sources
from c2c_hub.upload_paths import UploadPathRefused, confine

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub

log = logging.getLogger(__name__)

TOKEN_FILE = "control-token"
WEB_DIR = Path(__file__).resolve().parent / "web"
STATUS_EVERY_S = 1.0
NO_STORE = {"Cache-Control": "no-store"}
Handler = Callable[[Request], Awaitable[Response]]
B = TypeVar("B", bound=bodies.Body)
__all__ = ["LOOPBACK_NAMES", "MAX_BODY_BYTES", "ControlServer", "Guard", "attach_control"]


class _HubServer(uvicorn.Server):
    """uvicorn without its own signal handling: the hub decides what Ctrl-C and SIGTERM do.

    uvicorn's ``capture_signals`` takes SIGINT and SIGTERM for itself while it serves (it
    would shut the control API down on a Ctrl-C meant to cancel pairing) and raises them
    again when it stops.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ControlRefused(UIError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def handler(fn: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except ControlRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValidationError as exc:
            return JSONResponse({"error": bodies.describe(exc)}, status_code=400)
        except (KeyError, ValueError, TypeError, FileNotFoundError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)

    wrapped.__name__ = fn.__name__
    return wrapped


async def _body(request: Request, model: type[B]) -> B:
    """The request's JSON body as ``model`` (400 naming the field when a value is wrong)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise ControlRefused(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlRefused(400, "the body must be a JSON object")
    return model.model_validate(data)


def _file_id(request: Request) -> int:
    """The path's file id, of a file the queue knows (404 naming it otherwise)."""
    try:
        file_id = int(request.path_params["file_id"])
    except ValueError:
        raise ControlRefused(404, "file ids are integers") from None
    try:
        _hub(request).uploader.ledger.record(file_id)
    except KeyError:
        raise ControlRefused(404, f"no file {file_id} in the upload queue") from None
    return file_id


@handler
async def status(request: Request) -> Response:
    return JSONResponse(_hub(request).status())


@handler
async def uploads(request: Request) -> Response:
    uploader = _hub(request).uploader
    query = request.query_params
    if "limit" not in query and "after" not in query:  # the whole queue, as it always was
        return JSONResponse({"files": uploader.files(), "snapshot": uploader.snapshot()})
    try:
        limit = int(query.get("limit", "500"))
        after = int(query.get("after", "0"))
    except ValueError:
        raise ControlRefused(400, "limit and after must be integers") from None
    if not 1 <= limit <= 5000 or after < 0:
        raise ControlRefused(400, "limit must be 1..5000 and after >= 0")
    files, more = uploader.files_page(after=after, limit=limit)
    return JSONResponse(
        {
            "files": files,
            "next": files[-1]["id"] if more else None,
            "total": uploader.file_count(),
            "snapshot": uploader.snapshot(),
        }
    )


@handler
async def events(request: Request) -> Response:
    uploader = _hub(request).uploader

    async def stream() -> AsyncIterator[bytes]:
        async with uploader.subscribe() as incoming:
            async for event in incoming:
                yield (json.dumps(event, default=str) + "\n").encode()

    return StreamingResponse(stream(), media_type="application/x-ndjson")


@handler
async def enqueue(request: Request) -> Response:
    body = await _body(request, bodies.Enqueue)
    hub = _hub(request)
    roots = [hub.settings.recorder.directory, *hub.settings.control.upload_roots]
    try:
        # Every path checked before any is queued: one bad path queues nothing.
        paths = [confine(path, roots, private=hub.data_dir) for path in body.paths]
    except UploadPathRefused as exc:
        raise ControlRefused(400, str(exc)) from None
    ids = await hub.enqueue_many(
        [str(path) for path in paths],
        priority=body.priority,
        channel=body.channel,
        filetype=body.filetype,
    )
    return JSONResponse({"ids": ids})


@handler
async def start_files(request: Request) -> Response:
    ids = (await _body(request, bodies.StartFiles)).ids
    await _hub(request).uploader.upload_now(ids)
    return JSONResponse({"started": ids})


@handler
async def cancel(request: Request) -> Response:
    done = await _hub(request).uploader.cancel(_file_id(request))
    return JSONResponse({"cancelled": done})


@handler
async def cancel_all(request: Request) -> Response:
    return JSONResponse({"cancelled": await _hub(request).uploader.cancel_all()})


@handler
async def retry(request: Request) -> Response:
    return JSONResponse({"retried": await _hub(request).uploader.retry(_file_id(request))})


@handler
async def retry_failed(request: Request) -> Response:
    return JSONResponse({"retried": await _hub(request).uploader.retry_failed()})


@handler
async def priority(request: Request) -> Response:
    value = (await _body(request, bodies.SetPriority)).priority
    await _hub(request).uploader.set_priority(_file_id(request), value)
    return JSONResponse({"priority": value})


@handler
async def type_priority(request: Request) -> Response:
    body = await _body(request, bodies.TypePriority)
    await _hub(request).uploader.set_type_priority(body.key, body.priority)
    return JSONResponse({"key": body.key, "priority": body.priority})


@handler
async def mode(request: Request) -> Response:
    value = (await _body(request, bodies.Mode)).mode
    await _hub(request).uploader.set_mode(value)
    return JSONResponse({"mode": value})


@handler
async def parallel(request: Request) -> Response:
    value = (await _body(request, bodies.Switch)).on
    await _hub(request).uploader.set_parallel(value)
    return JSONResponse({"parallel": value})


@handler
async def uploads_paused(request: Request) -> Response:
    value = (await _body(request, bodies.Switch)).on
    await _hub(request).uploader.set_held(value)
    return JSONResponse({"paused": value})


@handler
async def pairing_start(request: Request) -> Response:
    try:
        _hub(request).start_pairing()
    except RuntimeError as exc:
        raise ControlRefused(409, str(exc)) from None
    return JSONResponse({"started": True})


@handler
async def pairing_cancel(request: Request) -> Response:
    return JSONResponse({"cancelled": _hub(request).cancel_pairing()})


@handler
async def pairing_state(request: Request) -> Response:
    return JSONResponse(_hub(request).pairing_state())


@handler
async def pairing_qr(request: Request) -> Response:
    uri = _hub(request).pairing_state().get("verification_uri_complete")
    if not uri:
        raise ControlRefused(404, "no pairing link to show (not pairing, or URL pairing is off)")
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=6, border=2, dark="#000", light="#fff")
    return Response(out.getvalue(), media_type="image/svg+xml", headers=NO_STORE)


@handler
async def unpair(request: Request) -> Response:
    hub = _hub(request)
    hub.cancel_pairing()
    await hub.session.unpair()
    return JSONResponse({"unpaired": True})


@handler
async def event_stream(request: Request) -> Response:
    """Server-sent events: a ``status`` snapshot at once and every second, and every event."""
    hub = _hub(request)

    async def stream() -> AsyncIterator[bytes]:
        async with hub.events.subscribe() as incoming:
            yield _sse("status", hub.status())
            iterator = incoming.__aiter__()
            next_status = asyncio.get_running_loop().time() + STATUS_EVERY_S
            pending: asyncio.Task[Any] | None = None
            try:
                while True:
                    if pending is None:
                        pending = asyncio.ensure_future(iterator.__anext__())
                    left = next_status - asyncio.get_running_loop().time()
                    done, _ = await asyncio.wait({pending}, timeout=max(0.0, left))
                    if done:
                        event = pending.result()
                        pending = None
                        yield _sse(str(event.get("kind", "event")), event)
                    if asyncio.get_running_loop().time() >= next_status:
                        next_status += STATUS_EVERY_S
                        yield _sse("status", hub.status())
            finally:
                if pending is not None:
                    pending.cancel()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={**NO_STORE, "X-Accel-Buffering": "no"}
    )


def _sse(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def page(request: Request) -> Response:
    index = WEB_DIR / "index.html"
    if not index.is_file():
        return JSONResponse({"error": "the web page is not installed"}, status_code=404)
    return FileResponse(index, headers={**NO_STORE, **PAGE_HEADERS})


# The page loads nothing from elsewhere and is never framed by another site (the HTTP listener
# adds these to every answer; the page carries them on the control socket too).
PAGE_HEADERS = SECURITY_HEADERS


def _access(request: Request) -> Access:
    guard: Guard | None = request.app.state.guard
    if guard is None:
        raise ControlRefused(404, "log in over HTTP only; the control socket knows its caller")
    return guard.access


@handler
async def login(request: Request) -> Response:
    """Trade the login code on the hub's screen, or the access token, for a session cookie."""
    access = _access(request)
    body = await _body(request, bodies.Login)
    if body.code is None and body.token is None:
        raise ControlRefused(400, "code: give the login code shown on the hub's screen")
    good = (body.code is not None and access.codes.redeem(body.code)) or (
        body.token is not None and access.token_ok(body.token)
    )
    if not good:
        raise ControlRefused(
            401, "wrong or expired login code (after 5 wrong tries the hub shows a new one)"
        )
    response = JSONResponse({"logged_in": True}, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        access.sessions.create(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@handler
async def logout(request: Request) -> Response:
    access = _access(request)
    access.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"logged_out": True}, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@handler
async def devices(request: Request) -> Response:
    hub = _hub(request)
    return JSONResponse({"devices": hub.devices.snapshot(), "channels": hub.channels.snapshot()})


@handler
async def plugins(request: Request) -> Response:
    return JSONResponse({"plugins": _hub(request).plugins.snapshot()})


@handler
async def takes(request: Request) -> Response:
    return JSONResponse(_hub(request).recorder.snapshot())


@handler
async def take_start(request: Request) -> Response:
    from c2c_hub.recorder.takes import TakeError

    body = await _body(request, bodies.TakeStart)
    hub = _hub(request)
    if not body.force and hub.recorder.take is None and not sources(hub):
        raise ControlRefused(409, NO_SOURCES)
    try:
        take = await hub.recorder.start_take(body.scene, body.take)
    except TakeError as exc:
        raise ControlRefused(409, str(exc)) from None
    return JSONResponse(take.to_json())


@handler
async def take_stop(request: Request) -> Response:
    from c2c_hub.recorder.takes import TakeError

    try:
        take = await _hub(request).recorder.stop_take()
    except TakeError as exc:
        raise ControlRefused(409, str(exc)) from None
    return JSONResponse(take.to_json())


@handler
async def presses(request: Request) -> Response:
    hub = _hub(request)
    every = [p.to_json() for p in await hub.presses.presses()]
    return JSONResponse({"presses": every, "snapshot": hub.presses.snapshot()})


@handler
async def press_resend(request: Request) -> Response:
    try:
        press_id = int(request.path_params["press_id"])
    except ValueError:
        raise ControlRefused(404, "press ids are integers") from None
    if not await _hub(request).presses.resend(press_id):
        raise ControlRefused(409, f"press {press_id} is not unconfirmed or failed")
    return JSONResponse({"resent": press_id})


routes = [
    Route("/status", status, methods=["GET"]),
    Route("/uploads", uploads, methods=["GET"]),
    Route("/uploads", enqueue, methods=["POST"]),
    Route("/uploads/events", events, methods=["GET"]),
    Route("/uploads/start", start_files, methods=["POST"]),
    Route("/uploads/cancel-all", cancel_all, methods=["POST"]),
    Route("/uploads/retry-failed", retry_failed, methods=["POST"]),
    Route("/uploads/type-priority", type_priority, methods=["PUT"]),
    Route("/uploads/mode", mode, methods=["PUT"]),
    Route("/uploads/parallel", parallel, methods=["PUT"]),
    Route("/uploads/paused", uploads_paused, methods=["PUT"]),
    Route("/uploads/{file_id}/cancel", cancel, methods=["POST"]),
    Route("/uploads/{file_id}/retry", retry, methods=["POST"]),
    Route("/uploads/{file_id}/priority", priority, methods=["PUT"]),
    Route("/pairing/start", pairing_start, methods=["POST"]),
    Route("/pairing/cancel", pairing_cancel, methods=["POST"]),
    Route("/pairing", pairing_state, methods=["GET"]),
    Route("/pairing/qr.svg", pairing_qr, methods=["GET"]),
    Route("/unpair", unpair, methods=["POST"]),
    Route("/events", event_stream, methods=["GET"]),
    Route("/", page, methods=["GET"]),
    Route("/devices", devices, methods=["GET"]),
    Route("/plugins", plugins, methods=["GET"]),
    Route("/takes", takes, methods=["GET"]),
    Route("/takes/start", take_start, methods=["POST"]),
    Route("/takes/stop", take_stop, methods=["POST"]),
    Route("/presses", presses, methods=["GET"]),
    Route("/presses/{press_id}/resend", press_resend, methods=["POST"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    *control_mix.routes,
    *control_net.routes,
    *control_timecode.routes,
]


class _RevalidatedFiles(StaticFiles):
    """The page's files, revalidated on every load: an upgraded hub never runs an old app.js."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def control_token(data_dir: Path) -> str:
    """The HTTP listener's access token: created once, owner-only, never logged."""
    path = data_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
        write_private(path, token.encode())
    register_secret(token)
    return token


class ControlServer:
    """The control API of one running :class:`~c2c_hub.runtime.Hub`: Unix socket and HTTP."""

    def __init__(self, hub: Hub, path: Path, settings: ControlSettings | None = None) -> None:
        self.hub = hub
        self.path = path
        self.settings = settings or ControlSettings(enabled=False)
        self.token = control_token(path.parent)
        self.access = Access.for_token(self.token)
        self.app = self._app(guard=None)
        self._servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self.port: int | None = None

    def _app(self, guard: Guard | None) -> Starlette:
        static = _RevalidatedFiles(directory=WEB_DIR, check_dir=False)
        app = Starlette(
            routes=[*routes, Mount("/static", app=static)],
            middleware=[Middleware(BodyLimit, limit=MAX_BODY_BYTES)],
        )
        app.state.hub = self.hub
        app.state.control = self
        app.state.guard = guard
        return app

    @property
    def tls(self) -> bool:
        return self.settings.tls_cert is not None

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        host = self.settings.host
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}/"

    def login_code(self) -> str | None:
        """The code that logs a browser in, for the hub's own screen only (never in status)."""
        return self.access.codes.current() if self.port is not None else None

    def describe(self) -> dict[str, Any]:
        return {
            "socket": str(self.path),
            "url": self.url,
            "token_required": self.port is not None,
            "tls": self.tls,
            "plain_http_beyond_loopback": (
                self.port is not None and not self.tls and not is_loopback(self.settings.host)
            ),
        }

    async def _serve(
        self, config: uvicorn.Config, name: str, sockets: list[socket.socket] | None = None
    ) -> uvicorn.Server:
        server = _HubServer(config)
        task = asyncio.create_task(server.serve(sockets=sockets), name=name)
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            await task  # raises what went wrong
            raise OSError(f"{name} did not start")
        self._servers.append((server, task))
        return server

    def _policy(self) -> PeerPolicy:
        try:
            gid = operators_gid(self.settings.operators_group)
        except KeyError:
            log.error("control.operators_group %r: no such group", self.settings.operators_group)
            gid = None
        return PeerPolicy(owner_uid(), gid)

    def _bind(self, policy: PeerPolicy) -> socket.socket:
        """The control socket: bound owner-only, given to the operators' group (if any) and
        listening before its name appears, so a client that finds the name is never refused.

        Not uvicorn's ``uds=``: uvicorn makes the socket 0666 after binding it, and for that
        moment it was open to every local user (a loaded machine saw it). Bound under a
        private name and renamed once it listens: a CLI that found the name while the hub had
        bound it but not yet listened was refused, and reported the hub as not running."""
        staging = self.path.with_name(f".{os.getpid()}.sock")
        staging.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)  # the node is created 0600: never more open than that
            try:
                sock.bind(str(staging))
            finally:
                os.umask(old_umask)
            if policy.operators_gid is not None:
                # The operators reach the socket: the folder is passable (not listable) to them.
                for path, mode in ((self.path.parent, 0o710), (staging, 0o660)):
                    os.chown(path, -1, policy.operators_gid)
                    os.chmod(path, mode)
            sock.listen()  # connections wait in the backlog until uvicorn accepts them
            sock.setblocking(False)
            os.replace(staging, self.path)
        except BaseException:
            sock.close()
            staging.unlink(missing_ok=True)
            raise
        return sock

    async def start(self) -> None:
        policy = self._policy()
        config = uvicorn.Config(
            self.app,
            http=peer_checked_protocol(policy),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        sock = self._bind(policy)
        try:
            await self._serve(config, "hub-control", sockets=[sock])
        except BaseException:
            self.path.unlink(missing_ok=True)
            sock.close()
            raise
        if self.settings.enabled:
            await self._start_http()

    async def _start_http(self) -> None:
        s = self.settings
        inner = self._app(guard=None)
        guard = Guard(inner, token=self.token, host=s.host, access=self.access)
        inner.state.guard = guard
        tls: dict[str, Any] = {}
        if s.tls_cert is not None and s.tls_key is not None:
            tls = {"ssl_certfile": str(s.tls_cert), "ssl_keyfile": str(s.tls_key)}
        config = uvicorn.Config(
            SecurityHeaders(guard),
            host=s.host,
            port=s.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            **tls,
        )
        try:
            server = await self._serve(config, "hub-control-http")
        except (OSError, SystemExit) as exc:
            log.error("the control API could not listen on %s:%s: %s", s.host, s.port, exc)
            return
        sockets = [sock for srv in server.servers for sock in srv.sockets]
        self.port = sockets[0].getsockname()[1] if sockets else s.port
        log.info("control API and web page on %s", self.url)
        if not self.tls and not is_loopback(s.host):
            log.warning(
                "the control API is plain HTTP on %s: anyone on that network can read the page "
                "and take over a logged-in session; give control.tls_cert and control.tls_key",
                s.host,
            )

    async def stop(self) -> None:
        # The name goes first: a client that still finds it is answered (or waits in the
        # backlog), and one that comes later finds no hub, rather than a refusal.
        self.path.unlink(missing_ok=True)
        for server, _ in self._servers:
            server.should_exit = True
        for _, task in self._servers:
            try:
                async with asyncio.timeout(2):  # not wait_for: it can swallow our own cancel
                    await asyncio.shield(task)
            except TimeoutError:
                await cancel_and_wait(task)
        self._servers.clear()


def attach_control(hub: Hub) -> ControlServer:
    """Give ``hub`` its control API (Unix socket, and HTTP when enabled), run with the hub."""
    server = ControlServer(hub, hub.data_dir / SOCKET_NAME, hub.settings.control)
    hub.attach("control", server)
    return server
