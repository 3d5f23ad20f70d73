"""The hub's local control API: what the CLI (and later the dashboard) asks the running hub.

Served by ``c2c-hub run`` on a Unix socket, ``<data_dir>/control.sock``, owner-only (mode 0600
in a 0700 directory): only the hub's user can drive it, and nothing listens on the network.
JSON in and out; errors are ``{"error": "..."}`` with a 4xx status.

| call | what |
|---|---|
| ``GET /status`` | the status snapshot (as ``c2c-hub status --json``) |
| ``GET /uploads`` | every file in the queue, and the progress snapshot |
| ``GET /uploads/events`` | progress events as they happen (newline-delimited JSON) |
| ``POST /uploads`` ``{"paths", "priority"?, "channel"?, "filetype"?}`` | enqueue files |
| ``POST /uploads/start`` ``{"ids"}`` | manual mode: upload these now |
| ``POST /uploads/{id}/cancel``, ``POST /uploads/cancel-all`` | cancel one or all |
| ``POST /uploads/{id}/retry``, ``POST /uploads/retry-failed`` | retry one or every failed |
| ``PUT /uploads/{id}/priority`` ``{"priority"}`` | one file's priority |
| ``PUT /uploads/type-priority`` ``{"key", "priority"}`` | by type (``.wav``, ``audio/*``) |
| ``PUT /uploads/mode`` ``{"mode": "auto"|"manual"}`` | automatic or manual uploads |
| ``PUT /uploads/parallel`` ``{"on": bool}`` | several files at once, or one at a time |
| ``POST /pairing/start``, ``POST /pairing/cancel``, ``GET /pairing`` | pair from a UI |
| ``GET /devices`` | attached sub-devices and their Frame.io channels |
| ``GET /plugins`` | plugins, their sources and their health |
| ``GET /takes`` | the take being recorded (if any), the last one, the numbering |
| ``POST /takes/start`` ``{"scene"?, "take"?}``, ``POST /takes/stop`` | record a take |
| ``GET /presses`` | button presses (real-time logging events) and their states |
| ``POST /presses/{id}/resend`` | send an unconfirmed or failed press again |
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.tasks import cancel_and_wait

if TYPE_CHECKING:
    from hub.pairing import Pairing
    from hub.runtime import Hub

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
Handler = Callable[[Request], Awaitable[Response]]


class ControlRefused(Exception):
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
        except (KeyError, ValueError, TypeError, FileNotFoundError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)

    wrapped.__name__ = fn.__name__
    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _file_id(request: Request) -> int:
    try:
        return int(request.path_params["file_id"])
    except ValueError:
        raise ControlRefused(404, "file ids are integers") from None


@handler
async def status(request: Request) -> Response:
    return JSONResponse(_hub(request).status())


@handler
async def uploads(request: Request) -> Response:
    uploader = _hub(request).uploader
    return JSONResponse({"files": uploader.files(), "snapshot": uploader.snapshot()})


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
    body = await _body(request)
    paths = body.get("paths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValueError("paths must be a non-empty list of file paths")
    ids = []
    for path in paths:
        ids.append(
            await _hub(request).enqueue(
                path,
                priority=int(body.get("priority", 0)),
                channel=int(body.get("channel", 0)),
                filetype=body.get("filetype"),
            )
        )
    return JSONResponse({"ids": ids})


@handler
async def start_files(request: Request) -> Response:
    ids = (await _body(request)).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValueError("ids must be a list of file ids")
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
    value = (await _body(request))["priority"]
    await _hub(request).uploader.set_priority(_file_id(request), int(value))
    return JSONResponse({"priority": int(value)})


@handler
async def type_priority(request: Request) -> Response:
    body = await _body(request)
    await _hub(request).uploader.set_type_priority(str(body["key"]), int(body["priority"]))
    return JSONResponse({"key": body["key"], "priority": int(body["priority"])})


@handler
async def mode(request: Request) -> Response:
    value = (await _body(request)).get("mode")
    if value not in ("auto", "manual"):
        raise ValueError("mode must be 'auto' or 'manual'")
    await _hub(request).uploader.set_mode(value)
    return JSONResponse({"mode": value})


@handler
async def parallel(request: Request) -> Response:
    value = (await _body(request)).get("on")
    if not isinstance(value, bool):
        raise ValueError("on must be true or false")
    await _hub(request).uploader.set_parallel(value)
    return JSONResponse({"parallel": value})


@handler
async def pairing_start(request: Request) -> Response:
    control: ControlServer = request.app.state.control
    return JSONResponse(control.start_pairing())


@handler
async def pairing_cancel(request: Request) -> Response:
    control: ControlServer = request.app.state.control
    return JSONResponse({"cancelled": control.cancel_pairing()})


@handler
async def pairing_state(request: Request) -> Response:
    control: ControlServer = request.app.state.control
    return JSONResponse(control.pairing_state())


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
    from hub.recorder.takes import TakeError

    body = await _body(request)
    scene = body.get("scene")
    number = body.get("take")
    if scene is not None and not isinstance(scene, str):
        raise ValueError("scene must be a string")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
        raise ValueError("take must be a whole number")
    try:
        take = await _hub(request).recorder.start_take(scene, number)
    except TakeError as exc:
        raise ControlRefused(409, str(exc)) from None
    return JSONResponse(take.to_json())


@handler
async def take_stop(request: Request) -> Response:
    from hub.recorder.takes import TakeError

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
    Route("/uploads/{file_id}/cancel", cancel, methods=["POST"]),
    Route("/uploads/{file_id}/retry", retry, methods=["POST"]),
    Route("/uploads/{file_id}/priority", priority, methods=["PUT"]),
    Route("/pairing/start", pairing_start, methods=["POST"]),
    Route("/pairing/cancel", pairing_cancel, methods=["POST"]),
    Route("/pairing", pairing_state, methods=["GET"]),
    Route("/devices", devices, methods=["GET"]),
    Route("/plugins", plugins, methods=["GET"]),
    Route("/takes", takes, methods=["GET"]),
    Route("/takes/start", take_start, methods=["POST"]),
    Route("/takes/stop", take_stop, methods=["POST"]),
    Route("/presses", presses, methods=["GET"]),
    Route("/presses/{press_id}/resend", press_resend, methods=["POST"]),
]


class ControlServer:
    """The control API of one running :class:`~hub.runtime.Hub`, on its Unix socket."""

    def __init__(self, hub: Hub, path: Path) -> None:
        self.hub = hub
        self.path = path
        self.app = Starlette(routes=routes)
        self.app.state.hub = hub
        self.app.state.control = self
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._pairing: Pairing | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        config = uvicorn.Config(
            self.app, uds=str(self.path), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        old_umask = os.umask(0o177)  # the socket is created owner-only
        try:
            self._task = asyncio.create_task(self._server.serve(), name="hub-control")
            for _ in range(200):
                if self._server.started or self._task.done():
                    break
                await asyncio.sleep(0.01)
        finally:
            os.umask(old_umask)
        if self._task.done():
            await self._task  # raises what went wrong
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2)
            except TimeoutError:
                await cancel_and_wait(self._task)
        self.path.unlink(missing_ok=True)

    # -- pairing from a UI
    def start_pairing(self) -> dict[str, Any]:
        if self._pairing is not None and self._pairing.running:
            raise ControlRefused(409, "pairing is already running")
        self._pairing = self.hub.pairing()
        self._pairing.start()
        return {"started": True}

    def cancel_pairing(self) -> bool:
        return self._pairing.cancel() if self._pairing is not None else False

    def pairing_state(self) -> dict[str, Any]:
        last = self._pairing.last if self._pairing is not None else None
        if last is None:
            return {"running": False, "step": None}
        return {
            "running": bool(self._pairing and self._pairing.running),
            "step": last.step.value,
            "user_code": last.user_code,
            "verification_uri": last.verification_uri,
            "verification_uri_complete": last.verification_uri_complete,
            "expires_at": last.expires_at,
            "message": last.message,
        }
