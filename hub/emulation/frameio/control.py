"""The control API: what a user does in Frame.io's web app, and what a test needs to see.

Served on its own port, apart from the Frame.io surface, so a hub pointed at the emulator can
never reach it by mistake. JSON in, JSON out; errors are ``{"error": "..."}`` with 4xx.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from c2c_hub.device_models import DeviceModel
from c2c_hub.emulation.frameio.errors import ApiProblem
from c2c_hub.emulation.frameio.faults import Faults
from c2c_hub.emulation.frameio.socket import SocketHub
from c2c_hub.emulation.frameio.state import CHANNEL_INDEX_MODES, EmulatorConfig, EmulatorState

Handler = Callable[[Request], Awaitable[Response]]


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def control(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiProblem as exc:
            return JSONResponse({"error": exc.detail}, status_code=exc.status)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    wrapped.__name__ = handler.__name__
    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _device_id(request: Request) -> str:
    state = _state(request)
    wanted = request.path_params.get("device_id", "")
    with state.lock:
        if wanted in state.devices:
            return str(wanted)
        by_client = [d.id for d in state.devices.values() if d.client_id == wanted]
        if wanted == "only" and len(state.devices) == 1:
            return next(iter(state.devices))
    if by_client:
        return by_client[0]
    raise ApiProblem(404, f"no project device {wanted}")


@control
async def snapshot(request: Request) -> Response:
    state = _state(request)
    await asyncio.to_thread(state.settle)
    faults: Faults = request.app.state.faults
    sockets: SocketHub = request.app.state.sockets
    with state.lock:
        body = {
            "project": {"id": state.project_id, "name": state.project_name},
            "clock": {"now": state.clock.now(), "offset": state.clock.offset},
            "config": asdict(state.config) | {"client_secret": "***"},
            "pairings": [
                {
                    "user_code": c.user_code,
                    "client_id": c.client_id,
                    "status": c.status,
                    "expires_at": c.expires_at,
                    "url_pairing": c.url_pairing,
                }
                for c in state.device_codes.values()
            ],
            "devices": [
                state.device_json(d)
                | {
                    "client_id": d.client_id,
                    "paused": d.paused,
                    "pause_windows": d.pause_windows,
                    # Which sub-device each connected channel is (not in Frame.io's own JSON).
                    "channel_client_ids": {
                        c.id: c.client_id for c in d.connected_channels() if not c.primary
                    },
                    # The index each channel really has (what asset create's `channel` names).
                    "channel_indexes": {c.id: c.external_index for c in d.connected_channels()},
                }
                for d in state.devices.values()
            ],
            "assets": [a.to_json() for a in state.assets.values()],
            "log_events": list(state.log_events),
            "violations": list(state.violations),
            "heartbeats": list(state.heartbeats),
            "requests": len(state.requests),
            "faults": {"pending": faults.pending(), "fired": list(faults.fired)},
            "sockets": sockets.describe(),
            "sockets_dropped": sockets.dropped,
        }
    return JSONResponse(body)


@control
async def reset(request: Request) -> Response:
    await asyncio.to_thread(_state(request).settle)
    _state(request).reset(config=True)
    faults: Faults = request.app.state.faults
    faults.clear()
    sockets: SocketHub = request.app.state.sockets
    sockets.drop()
    sockets.dropped = 0  # a record like the others: a test counts only its own drops
    return JSONResponse({"ok": True})


@control
async def configure(request: Request) -> Response:
    state = _state(request)
    body = await _body(request)
    known = {f.name: f.type for f in fields(EmulatorConfig)}
    for key, value in body.items():
        if key not in known or key == "client_secret":
            raise ValueError(f"unknown or read-only setting {key!r}")
        current = getattr(state.config, key)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
        elif isinstance(current, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{key} must be a positive number")
            if isinstance(current, int) and not isinstance(value, int):
                raise ValueError(f"{key} must be a whole number")  # 2.5 must not become 2
            value = type(current)(value)
        elif not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        if key == "channel_index_mode" and value not in CHANNEL_INDEX_MODES:
            raise ValueError(f"channel_index_mode must be one of {', '.join(CHANNEL_INDEX_MODES)}")
        setattr(state.config, key, value)
    return JSONResponse(asdict(state.config) | {"client_secret": "***"})


@control
async def pairings(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        pending = [
            {"user_code": c.user_code, "client_id": c.client_id, "expires_at": c.expires_at}
            for c in state.device_codes.values()
            if c.status == "pending" and c.expires_at > state.clock.now()
        ]
    return JSONResponse(pending)


@control
async def approve(request: Request) -> Response:
    code = _state(request).approve(request.path_params["user_code"])
    return JSONResponse({"user_code": code.user_code, "status": code.status})


@control
async def deny(request: Request) -> Response:
    code = _state(request).deny(request.path_params["user_code"])
    return JSONResponse({"user_code": code.user_code, "status": code.status})


def _pause_handler(paused: bool) -> Handler:
    @control
    async def handler(request: Request) -> Response:
        device_id = _device_id(request)
        channel_id = request.path_params.get("channel_id")
        _state(request).set_paused(device_id, paused, channel_id)
        return JSONResponse({"device_id": device_id, "channel_id": channel_id, "paused": paused})

    return handler


def _removal_handler(remove: bool) -> Handler:
    """What a user does in Frame.io's web app: revoke the device, or remove it from the project."""

    @control
    async def handler(request: Request) -> Response:
        device_id = _device_id(request)
        state = _state(request)
        if remove:
            state.remove_device(device_id)
        else:
            state.revoke_device(device_id)
        sockets: SocketHub = request.app.state.sockets
        sockets.drop(device_id)
        return JSONResponse({"device_id": device_id, "removed": remove, "revoked": True})

    return handler


@control
async def rename(request: Request) -> Response:
    name = (await _body(request)).get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string")
    _state(request).rename_project(name)
    return JSONResponse({"name": name})


@control
async def advance(request: Request) -> Response:
    seconds = (await _body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError("seconds must be a number")
    now = _state(request).clock.advance(float(seconds))
    return JSONResponse({"now": now, "offset": _state(request).clock.offset})


@control
async def add_fault(request: Request) -> Response:
    faults: Faults = request.app.state.faults
    fault = Faults.build(await _body(request))
    faults.add(fault)
    return JSONResponse(asdict(fault))


@control
async def clear_faults(request: Request) -> Response:
    faults: Faults = request.app.state.faults
    faults.clear()
    return JSONResponse({"ok": True})


@control
async def drop_sockets(request: Request) -> Response:
    sockets: SocketHub = request.app.state.sockets
    device_id = (await _body(request)).get("device_id")
    return JSONResponse({"dropped": sockets.drop(device_id)})


@control
async def asset(request: Request) -> Response:
    state = _state(request)
    await asyncio.to_thread(state.settle)
    with state.lock:
        found = state.assets.get(request.path_params["asset_id"])
        if found is None:
            raise ApiProblem(404, "no such asset")
        return JSONResponse(found.to_json())


@control
async def asset_content(request: Request) -> Response:
    state = _state(request)
    await asyncio.to_thread(state.settle)
    found = state.assets.get(request.path_params["asset_id"])
    if found is None:
        raise ApiProblem(404, "no such asset")
    path = state.assembled_path(found)
    if path is None:
        raise ApiProblem(409, "the asset is not complete")
    return FileResponse(path, media_type="application/octet-stream")


@control
async def requests(request: Request) -> Response:
    """The recorded /v2 calls (method, path, version header, content type; never secrets)."""
    state = _state(request)
    prefix = request.query_params.get("path", "")
    with state.lock:
        found = [r for r in state.requests if str(r["path"]).startswith(prefix)]
    return JSONResponse(found)


@control
async def declare_model(request: Request) -> Response:
    """``{"toml": "<a device model file>"}``: the integration now declares that model too."""
    body = await _body(request)
    text = body.get("toml")
    if not isinstance(text, str):
        raise ValueError("toml: expected the text of a device model file")
    try:
        model = DeviceModel.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ApiProblem(422, f"not a device model: {exc}") from None
    added = _state(request).declare_model(model)
    return JSONResponse({"id": model.id, "name": model.name, "added": added})


@control
async def clear_violations(request: Request) -> Response:
    state = _state(request)
    with state.lock:
        state.violations.clear()
    return JSONResponse({"ok": True})


routes = [
    Route("/state", snapshot, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/device-models", declare_model, methods=["POST"]),
    Route("/config", configure, methods=["PATCH", "POST"]),
    Route("/pairings", pairings, methods=["GET"]),
    Route("/pairings/{user_code}/approve", approve, methods=["POST"]),
    Route("/pairings/{user_code}/deny", deny, methods=["POST"]),
    Route("/devices/{device_id}/pause", _pause_handler(True), methods=["POST"]),
    Route("/devices/{device_id}/resume", _pause_handler(False), methods=["POST"]),
    Route(
        "/devices/{device_id}/channels/{channel_id}/pause", _pause_handler(True), methods=["POST"]
    ),
    Route(
        "/devices/{device_id}/channels/{channel_id}/resume",
        _pause_handler(False),
        methods=["POST"],
    ),
    Route("/devices/{device_id}/revoke", _removal_handler(False), methods=["POST"]),
    Route("/devices/{device_id}/remove", _removal_handler(True), methods=["POST"]),
    Route("/project", rename, methods=["POST"]),
    Route("/clock/advance", advance, methods=["POST"]),
    Route("/faults", add_fault, methods=["POST"]),
    Route("/faults", clear_faults, methods=["DELETE"]),
    Route("/sockets/drop", drop_sockets, methods=["POST"]),
    Route("/assets/{asset_id}", asset, methods=["GET"]),
    Route("/assets/{asset_id}/content", asset_content, methods=["GET"]),
    Route("/violations", clear_violations, methods=["DELETE"]),
    Route("/requests", requests, methods=["GET"]),
]
