"""The mix in the control API (added to :data:`c2c_hub.ui.control.routes`).

- ``GET /mix``: the mix's settings, proxies, poly file, upload order, the take's live mix;
- ``PUT /mix/tracks/{key}`` ``{"gain_db"?, "pan"?, "mute"?}``: one track (a serial or a name);
  while rolling, from the next block mixed;
- ``PUT /mix/mode`` ``{"mode": "mono"|"stereo"}``: from the next take (a take's file keeps its
  channels).

Every request needs the owner's credential, as every other route (the guard wraps the app).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import Field, StrictBool, StrictFloat, StrictInt, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c2c_hub.ui import bodies
from c2c_hub.ui.errors import UIError

if TYPE_CHECKING:
    from c2c_hub.recorder.takes import Recorder

B = TypeVar("B", bound=bodies.Body)
Handler = Callable[[Request], Awaitable[Response]]


class MixRefused(UIError):
    """The mix route refused a request (with a status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handler(fn: Handler) -> Handler:
    """As :func:`c2c_hub.ui.control.handler` (this module must not import that one: the
    control module imports this one's routes)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except MixRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValidationError as exc:
            return JSONResponse({"error": bodies.describe(exc)}, status_code=400)
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)

    wrapped.__name__ = fn.__name__
    return wrapped


def _recorder(request: Request) -> Recorder:
    recorder: Recorder = request.app.state.hub.recorder
    return recorder


async def _body(request: Request, model: type[B]) -> B:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise MixRefused(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MixRefused(400, "the body must be a JSON object")
    return model.model_validate(data)


Number = StrictFloat | StrictInt


class MixTrack(bodies.Body):
    gain_db: Annotated[Number, Field(ge=-120, le=24)] | None = None
    pan: Annotated[Number, Field(ge=-1, le=1)] | None = None
    mute: StrictBool | None = None


class MixMode(bodies.Body):
    mode: Literal["mono", "stereo"]


@handler
async def mix(request: Request) -> Response:
    return JSONResponse(_recorder(request).mix_snapshot())


@handler
async def mix_track(request: Request) -> Response:
    key = request.path_params["key"].strip()
    if not key or len(key) > 128:
        raise MixRefused(404, "a track key is a serial or a name (1 to 128 characters)")
    body = await _body(request, MixTrack)
    recorder = _recorder(request)
    settings = recorder.derived.mix_settings.with_track(
        key,
        gain_db=None if body.gain_db is None else float(body.gain_db),
        pan=None if body.pan is None else float(body.pan),
        mute=body.mute,
    )
    recorder.set_mix(settings)
    return JSONResponse({"key": key, **settings.tracks[key].to_json()})


@handler
async def mix_mode(request: Request) -> Response:
    body = await _body(request, MixMode)
    recorder = _recorder(request)
    recorder.set_mix(replace(recorder.derived.mix_settings, mode=body.mode))
    return JSONResponse({"mode": body.mode, "from": "the next take"})


routes = [
    Route("/mix", mix, methods=["GET"]),
    Route("/mix/mode", mix_mode, methods=["PUT"]),
    Route("/mix/tracks/{key}", mix_track, methods=["PUT"]),
]
