"""The control API's timecode routes (added to :data:`c2c_hub.ui.control.routes`).

| call | what |
|---|---|
| ``GET /timecode`` | the timecode's status: source, state, offset, drift, warnings |
| ``PUT /timecode/offset`` ``{"frames": int}`` | the offset in frames (persisted; applied |
| | now, or from the next take while one runs) |

Access is the control API's (every request carries the owner's credential; the server checks
it before any route runs).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StrictInt, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c2c_hub.ui import bodies

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub

MAX_FRAMES = 5_184_000  # a day at 60 frames per second


class SetOffset(bodies.Body):
    frames: Annotated[StrictInt, Field(ge=-MAX_FRAMES, le=MAX_FRAMES)]


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _status(hub: Hub) -> dict[str, object]:
    return dict(hub.status().get("timecode") or {})


async def timecode(request: Request) -> Response:
    return JSONResponse(_status(_hub(request)))


async def set_offset(request: Request) -> Response:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
        body = SetOffset.model_validate(data)
    except ValidationError as exc:
        return JSONResponse({"error": bodies.describe(exc)}, status_code=400)
    except (ValueError, RecursionError) as exc:
        return JSONResponse({"error": f"the body is not JSON: {exc}"}, status_code=400)
    hub = _hub(request)
    try:
        applied = hub.timecode.set_offset(body.frames)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    except OSError as exc:
        return JSONResponse({"error": f"could not save the offset: {exc}"}, status_code=500)
    return JSONResponse({**applied, "timecode": _status(hub)})


routes = [
    Route("/timecode", timecode, methods=["GET"]),
    Route("/timecode/offset", set_offset, methods=["PUT"]),
]

__all__ = ["SetOffset", "routes"]
