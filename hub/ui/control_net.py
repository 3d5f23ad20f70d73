"""The control API's network routes (``docs/networks.md``, ``docs/control-api.md``).

- ``GET /networks``: the ``networks`` key of the status (in use and why, health, Wi-Fi in
  range, saved networks, modems);
- ``POST /networks/scan``: scan for Wi-Fi networks; the list;
- ``POST /networks/connect`` ``{"ssid", "psk"?, "priority"?, "autoconnect"?, "hidden"?,
  "addressing"?}``: join and save a Wi-Fi network;
- ``POST /networks/{name}/use``: switch to a saved network (Wi-Fi, Ethernet, cellular);
- ``POST /networks/{name}/forget``: forget a saved network (by name, SSID or UUID);
- ``PUT /networks/{name}/priority`` ``{"priority", "autoconnect"?}``: its priority;
- ``PUT /networks/{name}/addressing`` ``{"method": "dhcp"}`` or ``{"method": "static",
  "address", "gateway"?, "dns"?}``: DHCP or a static IPv4 address.

The PSK is registered with the log redaction as the body is read, goes to NetworkManager only
and never comes back in an answer, an error, the status or an event. Answers: 400 bad input,
409 NetworkManager tried and failed (the previous network kept or restored, as the error says),
503 no NetworkManager to drive (the error says why).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c2c_hub.logs import register_secret
from c2c_hub.network import (
    Addressing,
    ConnectFailed,
    NetworkRefused,
    NetworkUnavailable,
)
from c2c_hub.network.summary import network_summary
from c2c_hub.ui import bodies
from c2c_hub.ui.errors import UIError

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub

B = TypeVar("B", bound=bodies.Body)


class NetRouteRefused(UIError):
    """A network route refused (with its HTTP status); as control.py's ControlRefused."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def handler(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """As :func:`c2c_hub.ui.control.handler` (kept apart: control.py imports this module)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except NetRouteRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValidationError as exc:
            return JSONResponse({"error": bodies.describe(exc)}, status_code=400)

    wrapped.__name__ = fn.__name__
    return wrapped


async def _body(request: Request, model: type[B]) -> B:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise NetRouteRefused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise NetRouteRefused(400, "the body must be a JSON object")
    return model.model_validate(data)


Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class AddressingBody(bodies.Body):
    method: Literal["dhcp", "static"]
    address: Name | None = None
    gateway: Name | None = None
    dns: list[Name] = Field(default_factory=list, max_length=8)

    def to_addressing(self) -> Addressing:
        if self.method == "dhcp":
            return Addressing()
        if not self.address:
            raise NetworkRefused("a static address needs an address (e.g. 192.168.1.50/24)")
        return Addressing.static(self.address, self.gateway, self.dns)


class ConnectBody(bodies.Body):
    ssid: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    psk: SecretStr | None = Field(default=None, max_length=64)
    priority: Annotated[StrictInt, Field(ge=-999, le=999)] | None = None
    autoconnect: StrictBool = True
    hidden: StrictBool = False
    addressing: AddressingBody | None = None


class PriorityBody(bodies.Body):
    priority: Annotated[StrictInt, Field(ge=-999, le=999)]
    autoconnect: StrictBool | None = None


async def _run(call: Awaitable[Any]) -> Response:
    try:
        result = await call
    except NetworkRefused as exc:
        raise NetRouteRefused(400, str(exc)) from None
    except ConnectFailed as exc:
        raise NetRouteRefused(409, str(exc)) from None
    except NetworkUnavailable as exc:
        raise NetRouteRefused(503, f"network controls are off: {exc}") from None
    return JSONResponse(result)


async def _connect_body(request: Request) -> ConnectBody:
    raw = await request.body()
    try:  # before validation, so that no error and no log line can carry the PSK
        data = json.loads(raw) if raw.strip() else {}
        if isinstance(data, dict) and isinstance(data.get("psk"), str):
            register_secret(data["psk"])
    except (ValueError, RecursionError):
        pass
    return await _body(request, ConnectBody)


@handler
async def networks(request: Request) -> Response:
    hub = _hub(request)
    return JSONResponse(network_summary(hub.network, hub.connectivity.status, hub.clock))


@handler
async def scan(request: Request) -> Response:
    return await _run(_wrap_list(_hub(request).network.scan()))


async def _wrap_list(call: Awaitable[Any]) -> dict[str, Any]:
    return {"wifi": await call}


@handler
async def connect(request: Request) -> Response:
    body = await _connect_body(request)
    psk = body.psk.get_secret_value() if body.psk is not None else None
    addressing = body.addressing.to_addressing() if body.addressing else None
    return await _run(
        _hub(request).network.connect(
            body.ssid,
            psk,
            priority=body.priority,
            autoconnect=body.autoconnect,
            addressing=addressing,
            hidden=body.hidden,
        )
    )


@handler
async def use(request: Request) -> Response:
    return await _run(_hub(request).network.use(request.path_params["name"]))


@handler
async def forget(request: Request) -> Response:
    return await _run(_hub(request).network.forget(request.path_params["name"]))


@handler
async def priority(request: Request) -> Response:
    body = await _body(request, PriorityBody)
    name = request.path_params["name"]
    return await _run(_hub(request).network.set_priority(name, body.priority, body.autoconnect))


@handler
async def addressing(request: Request) -> Response:
    body = await _body(request, AddressingBody)
    try:
        wanted = body.to_addressing()
    except NetworkRefused as exc:
        raise NetRouteRefused(400, str(exc)) from None
    return await _run(_hub(request).network.set_addressing(request.path_params["name"], wanted))


routes = [
    Route("/networks", networks, methods=["GET"]),
    Route("/networks/scan", scan, methods=["POST"]),
    Route("/networks/connect", connect, methods=["POST"]),
    Route("/networks/{name}/use", use, methods=["POST"]),
    Route("/networks/{name}/forget", forget, methods=["POST"]),
    Route("/networks/{name}/priority", priority, methods=["PUT"]),
    Route("/networks/{name}/addressing", addressing, methods=["PUT"]),
]
