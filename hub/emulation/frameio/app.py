"""Assemble the emulator's two ASGI apps: the Frame.io surface and the control API."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from c2c_hub.emulation.frameio import auth, control, devices, s3, webapp
from c2c_hub.emulation.frameio.contract import FrameioSurface
from c2c_hub.emulation.frameio.faults import Faults
from c2c_hub.emulation.frameio.socket import SocketHub, websocket_endpoint
from c2c_hub.emulation.frameio.state import EmulatorState


def build_apps(
    state: EmulatorState, public_url: str, public_host: str
) -> tuple[Starlette, Starlette]:
    """The Frame.io-facing app and the control app, sharing one state."""
    faults = Faults()
    sockets = SocketHub(state)
    frameio = Starlette(
        routes=[
            *auth.routes,
            *devices.routes,
            *webapp.routes,
            Route(s3.PART_PATH, s3.put_part, methods=["PUT"]),
            WebSocketRoute("/devices/websocket", websocket_endpoint),
        ],
        middleware=[Middleware(FrameioSurface, state=state, faults=faults)],
    )
    control_app = Starlette(routes=control.routes)
    for app in (frameio, control_app):
        app.state.emulator = state
        app.state.faults = faults
        app.state.sockets = sockets
        app.state.public_url = public_url
        app.state.public_host = public_host
    return frameio, control_app
