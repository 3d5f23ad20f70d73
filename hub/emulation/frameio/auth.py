"""The three auth endpoints: device code, token (device-code and refresh grants), revoke.

See docs/rulings.md#device-authorization.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c2c_hub.emulation.frameio.contract import endpoint, form_fields, reject
from c2c_hub.emulation.frameio.errors import OAuthProblem
from c2c_hub.emulation.frameio.state import EmulatorState, Token

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _token_response(access: Token, refresh: Token, now: float) -> JSONResponse:
    return JSONResponse(
        {
            "access_token": access.value,
            "expires_in": round(access.expires_at - now),
            "refresh_token": refresh.value,
            "token_type": "bearer",
        }
    )


@endpoint
async def device_code(request: Request) -> Response:
    state = _state(request)
    fields = await form_fields(request, {"client_id", "client_secret", "scope"})
    platypus = request.headers.get("x-client-platypus-enabled")
    if platypus is not None and platypus != "true":
        raise reject(request, 400, "x-client-platypus-enabled only allows the value true")
    if "scope" not in fields:
        raise OAuthProblem("invalid_request")
    code = state.new_device_code(
        fields.get("client_id", ""),
        fields.get("client_secret", ""),
        fields["scope"],
        url_pairing=platypus == "true",
        version=request.headers.get("x-client-version", "0.0.0"),
    )
    base = str(request.app.state.public_url)
    return JSONResponse(
        {
            "device_code": code.device_code,
            "expires_in": math.ceil(code.expires_at - state.clock.now()),
            "interval": code.interval,
            "name": state.device_name(code.client_id),
            "user_code": code.user_code,
            "verification_uri": f"{base}/pair",
            "verification_uri_complete": f"{base}/pair/{code.user_code}",
        }
    )


@endpoint
async def token(request: Request) -> Response:
    state = _state(request)
    fields = await form_fields(
        request, {"grant_type", "client_id", "client_secret", "device_code", "refresh_token"}
    )
    grant = fields.get("grant_type")
    client_id = fields.get("client_id", "")
    secret = fields.get("client_secret", "")
    if grant == DEVICE_CODE_GRANT:
        if not fields.get("device_code"):
            raise OAuthProblem("invalid_request")
        access, refresh = state.poll_device_code(client_id, secret, fields["device_code"])
    elif grant == "refresh_token":
        if not fields.get("refresh_token"):
            raise OAuthProblem("invalid_request")
        access, refresh = state.refresh(client_id, secret, fields["refresh_token"])
    else:
        raise OAuthProblem("unsupported_grant_type" if grant else "invalid_request")
    return _token_response(access, refresh, state.clock.now())


@endpoint
async def revoke(request: Request) -> Response:
    state = _state(request)
    fields = await form_fields(request, {"client_id", "client_secret", "token"})
    if not fields.get("token"):
        raise OAuthProblem("invalid_request")
    state.revoke(fields.get("client_id", ""), fields.get("client_secret", ""), fields["token"])
    return JSONResponse({"success": True})


routes = [
    Route("/v2/auth/device/code", device_code, methods=["POST"]),
    Route("/v2/auth/token", token, methods=["POST"]),
    Route("/v2/auth/revoke", revoke, methods=["POST"]),
]
