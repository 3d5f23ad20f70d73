"""The device endpoints: identity, heartbeat, health, channels, assets, parts, comments, logging."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c2c_hub.emulation.frameio.contract import (
    as_int,
    bearer,
    endpoint,
    json_fields,
    reject,
    with_rate_headers,
)
from c2c_hub.emulation.frameio.errors import ApiProblem
from c2c_hub.emulation.frameio.s3 import part_url
from c2c_hub.emulation.frameio.state import EmulatorState, ProjectDevice

NO_CONTENT = 204


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _device(request: Request) -> ProjectDevice:
    device = _state(request).authenticate(bearer(request))
    version = request.headers.get("x-client-version")
    if version:
        device.firmware_version = version
    return device


async def _no_body(request: Request) -> None:
    if await request.body() and _state(request).config.strict:
        raise reject(request, 400, "this endpoint takes no body")


def _urls(request: Request, asset_id: str, numbers: list[int]) -> list[str]:
    state = _state(request)
    asset = state.assets[asset_id]
    base = str(request.app.state.public_url)
    host = request.app.state.public_host
    return [part_url(state, base, host, asset, asset.parts[n]) for n in numbers]


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


@endpoint
async def me(request: Request) -> Response:
    device = _device(request)
    return JSONResponse(_state(request).device_json(device))


@endpoint
async def heartbeat(request: Request) -> Response:
    device = _device(request)
    await _no_body(request)
    state = _state(request)
    with state.lock:
        state.heartbeats.append({"device_id": device.id, "at": state.clock.now()})
    return Response(status_code=NO_CONTENT)


@endpoint
async def connect_channel(request: Request) -> Response:
    device = _device(request)
    body = await json_fields(request, {"client_id": (str,), "device_model_id": (str,)})
    client_id, model_id = body.get("client_id"), body.get("device_model_id")
    if not client_id or not model_id:
        raise ApiProblem(422, "client_id and device_model_id are required")
    state = _state(request)
    channel = state.connect_channel(device, client_id, model_id)
    return JSONResponse(
        channel.to_json(device, shown_index=state.shown_index(channel, listing=False))
    )


@endpoint
async def disconnect_channel(request: Request) -> Response:
    device = _device(request)
    await _no_body(request)
    _state(request).disconnect_channel(device, request.path_params["channel_id"])
    return Response(status_code=NO_CONTENT)


@endpoint
async def disconnect_all(request: Request) -> Response:
    device = _device(request)
    await _no_body(request)
    _state(request).disconnect_all(device)
    return Response(status_code=NO_CONTENT)


ASSET_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "filetype": (str,),
    "filesize": (int, str),
    "offset": (int, str),
    "extension": (str,),
    "auto_version_id": (str,),
    "is_realtime_upload": (bool,),
    "channel": (int, str),
    "parts": (int, str),
}


@endpoint
async def create_asset(request: Request) -> Response:
    device = _device(request)
    state = _state(request)
    limit = state.config.asset_create_limit
    try:
        remaining, window = state.rate_check(device.id, "asset_create", limit)
    except ApiProblem as exc:
        return with_rate_headers(exc.response(), limit, 0, state.config.rate_window_ms)
    body = await json_fields(request, ASSET_FIELDS, allow_form=True)
    realtime = body.get("is_realtime_upload") is True
    if realtime and not request.headers.get("content-type", "").startswith("application/json"):
        raise reject(request, 400, "a real-time upload must be created with a JSON body")
    offset = as_int(request, "offset", body.get("offset"), 0)
    channel = as_int(request, "channel", body.get("channel"), 0)
    assert offset is not None and channel is not None
    if offset < 0:
        raise ApiProblem(422, "offset must not be negative")
    asset = state.create_asset(
        device,
        name=body.get("name"),
        filetype=body.get("filetype"),
        filesize=as_int(request, "filesize", body.get("filesize")),
        offset=offset,
        channel=channel,
        realtime=realtime,
        parts=as_int(request, "parts", body.get("parts")),
        extension=body.get("extension"),
    )
    if realtime:
        response = JSONResponse({"id": asset.id, "name": asset.name})
    else:
        urls = _urls(request, asset.id, sorted(asset.parts))
        response = JSONResponse(
            {
                "_type": "file",
                "id": asset.id,
                "name": asset.name,
                "filetype": asset.filetype,
                "filesize": asset.filesize,
                "project_id": device.project_id,
                "status": "created",
                "label": "none",
                "upload_urls": urls,
                "original_upload": urls[0],
            }
        )
    return with_rate_headers(response, limit, remaining, window)


@endpoint
async def realtime_parts(request: Request) -> Response:
    device = _device(request)
    state = _state(request)
    body = await json_fields(
        request, {"parts": (list,), "asset_filesize": (int,), "asset_name": (str,)}
    )
    specs = []
    for raw in body.get("parts") or []:
        if not isinstance(raw, dict) or set(raw) - {"number", "size", "is_final"}:
            raise reject(request, 422, "each part is an object of number, size, is_final")
        number, size = raw.get("number"), raw.get("size")
        final = raw.get("is_final", False)
        if not isinstance(number, int) or not isinstance(size, int) or not isinstance(final, bool):
            raise reject(request, 422, "part number and size are integers, is_final a boolean")
        specs.append({"number": number, "size": size, "is_final": final})
    asset_id = request.path_params["asset_id"]
    parts = state.request_realtime_parts(
        device, asset_id, specs, body.get("asset_filesize"), body.get("asset_name")
    )
    return JSONResponse({"upload_urls": _urls(request, asset_id, [p.number for p in parts])})


@endpoint
async def comment(request: Request) -> Response:
    device = _device(request)
    body = await json_fields(request, {"text": (str,), "timestamp": (int,)})
    text = body.get("text")
    if not text:
        raise ApiProblem(400, "text is required")
    timestamp = body.get("timestamp")
    if timestamp is not None and timestamp < 0:
        raise ApiProblem(400, "timestamp is a 0-based frame number")
    result = _state(request).add_comment(device, request.path_params["asset_id"], text, timestamp)
    return JSONResponse(result)


SMPTE_FIELDS = {"smpte_timecode", "rate"}
# HH:MM:SS:FF; drop-frame timecode may use ";" as a separator.
SMPTE_TIMECODE = re.compile(r"([01]\d|2[0-3])[:;][0-5]\d[:;][0-5]\d[:;]\d{2}")
PLAYBACK_RATIO = re.compile(r"[1-9]\d*/[1-9]\d*")


def _check_smpte(request: Request, name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - SMPTE_FIELDS:
        raise reject(request, 422, f"{name} must be an object of smpte_timecode and rate")
    timecode = value.get("smpte_timecode")
    if not isinstance(timecode, str) or not SMPTE_TIMECODE.fullmatch(timecode):
        raise reject(request, 422, f"{name}.smpte_timecode must look like HH:MM:SS:FF")
    rate = value.get("rate")
    if rate is not None:
        if not isinstance(rate, dict) or set(rate) - {"playback", "ntsc"}:
            raise reject(request, 422, f"{name}.rate must be an object of playback and ntsc")
        playback = rate.get("playback")
        ok = (
            isinstance(playback, list)
            and len(playback) == 2
            and all(isinstance(n, int) and n > 0 for n in playback)
        ) or (isinstance(playback, str) and PLAYBACK_RATIO.fullmatch(playback) is not None)
        if not ok:
            raise reject(request, 422, f"{name}.rate.playback must be [num, den] or 'num/den'")
        if rate.get("ntsc") not in (None, "non_drop", "drop_frame"):
            raise reject(request, 422, f"{name}.rate.ntsc must be non_drop, drop_frame or null")


@endpoint
async def trigger(request: Request) -> Response:
    device = _device(request)
    body = await json_fields(
        request,
        {"action_type": (str,), "offset": (int,), "start": (dict,), "duration": (dict,)},
    )
    if body.get("action_type", "single_press") != "single_press":
        raise ApiProblem(422, "only single_press is supported")
    if body.get("offset") is not None and body["offset"] < 0:
        raise ApiProblem(422, "offset must not be negative")
    _check_smpte(request, "start", body.get("start"))
    _check_smpte(request, "duration", body.get("duration"))
    try:
        index = int(request.path_params["index"])
    except ValueError:
        raise ApiProblem(404, "input index must be an integer") from None
    _state(request).trigger(device, request.path_params["channel_id"], index, body)
    return Response(status_code=NO_CONTENT)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/v2/devices/me", me, methods=["GET"]),
    Route("/v2/devices/heartbeat", heartbeat, methods=["POST"]),
    Route("/v2/devices/channels/connect", connect_channel, methods=["POST"]),
    Route("/v2/devices/channels/disconnect", disconnect_all, methods=["POST"]),
    # Also on the API reference's path (docs/rulings.md#channel-connect-path):
    Route("/v2/devices/channels", connect_channel, methods=["POST"]),
    Route("/v2/devices/channels/{channel_id}/disconnect", disconnect_channel, methods=["POST"]),
    Route("/v2/devices/channels/{channel_id}/inputs/{index}/trigger", trigger, methods=["POST"]),
    Route("/v2/devices/assets", create_asset, methods=["POST"]),
    Route("/v2/assets", create_asset, methods=["POST"]),  # legacy path
    Route("/v2/devices/assets/{asset_id}/realtime_upload/parts", realtime_parts, methods=["POST"]),
    Route("/v2/assets/{asset_id}/realtime_upload/parts", realtime_parts, methods=["POST"]),
    Route("/v2/devices/assets/{asset_id}/comments", comment, methods=["POST"]),
]
