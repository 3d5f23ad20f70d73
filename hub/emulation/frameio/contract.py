"""The documented request contract, enforced on the Frame.io surface (``/v2/...``).

In strict mode (on in tests) a call outside the contract is rejected and recorded as a violation
that tests read through the control API: a missing or non-semver ``x-client-version``
(docs/rulings.md#client-version), an auth call that is not multipart/form-data, a device call whose
body is not JSON, an unknown or mistyped field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c2c_hub.emulation.errors import EmulationError
from c2c_hub.emulation.frameio.errors import ApiProblem, OAuthProblem, detailed
from c2c_hub.emulation.frameio.faults import Fault, Faults
from c2c_hub.emulation.frameio.state import EmulatorState
from c2c_hub.settings import SEMVER_RE

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


class ContractViolation(EmulationError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def reject(request: Request, status: int, reason: str) -> ContractViolation:
    _state(request).violation(request.method, request.url.path, reason)
    return ContractViolation(status, reason)


async def form_fields(request: Request, allowed: set[str]) -> dict[str, str]:
    """An auth endpoint's form: multipart/form-data (urlencoded only outside strict mode)."""
    state = _state(request)
    media = _media_type(request)
    if media != MULTIPART:
        if state.config.strict or media != URLENCODED:
            raise reject(
                request, 400, f"auth endpoints take multipart/form-data, got {media or 'no body'}"
            )
    form = await request.form()
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise reject(request, 400, f"field {key} must be a plain form field, not a file")
        if key not in allowed:
            if state.config.strict:
                raise reject(request, 400, f"unknown form field {key!r}")
            continue
        fields[key] = value
    return fields


async def json_fields(
    request: Request, allowed: dict[str, tuple[type, ...]], *, allow_form: bool = False
) -> dict[str, Any]:
    """A device endpoint's JSON body, with each field's type checked."""
    state = _state(request)
    media = _media_type(request)
    raw = await request.body()
    if not raw:
        return {}
    data: Any
    if media == JSON_TYPE:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise reject(request, 400, f"body is not valid JSON: {exc}") from None
    elif allow_form and media == URLENCODED and not state.config.strict:
        data = dict((await request.form()).items())
    else:
        raise reject(request, 400, f"device endpoints take application/json, got {media or 'none'}")
    if not isinstance(data, dict):
        raise reject(request, 400, "body must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in data.items():
        types = allowed.get(key)
        if types is None:
            if state.config.strict:
                raise reject(request, 422, f"unknown field {key!r}")
            continue
        if value is not None and not isinstance(value, types):
            raise reject(request, 422, f"field {key!r} has the wrong type {type(value).__name__}")
        if isinstance(value, bool) and bool not in types:
            raise reject(request, 422, f"field {key!r} must not be a boolean")
        out[key] = value
    return out


def as_int(request: Request, name: str, value: Any, default: int | None = None) -> int | None:
    """Fields documented as 'string or int'."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise reject(request, 422, f"field {name!r} must be an integer, got {value!r}")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """Turn the emulator's exceptions into Frame.io-shaped responses."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ContractViolation as exc:
            return detailed(exc.status, exc.reason)
        except OAuthProblem as exc:
            return exc.response()
        except ApiProblem as exc:
            return exc.response()

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


class FrameioSurface:
    """ASGI middleware for ``/v2/...``: version header, injected API faults, rate-limit headers."""

    def __init__(self, app: ASGIApp, state: EmulatorState, faults: Faults) -> None:
        self.app = app
        self.state = state
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not str(scope["path"]).startswith("/v2/"):
            # /health and the pairing page: only faults aimed at them (path_prefix) apply.
            if not str(scope["path"]).startswith("/s3/"):
                fault = self.faults.take("api", path=str(scope["path"]))
                if fault is not None and fault.kind == "status":
                    await detailed(fault.status, "Injected fault")(scope, receive, send)
                    return
                if fault is not None and fault.kind == "stall":
                    await asyncio.sleep(fault.seconds)
                elif fault is not None:
                    await mangled_reply(fault, self.app, scope, receive, send)
                    return
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        method = str(scope["method"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.state.record_request(method, path, headers)

        # Rate limits: every /v2 response, this middleware's own answers too, carries the headers.
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                if b"x-ratelimit-limit" not in present:
                    raw += [
                        (b"x-ratelimit-limit", b"100"),
                        (b"x-ratelimit-remaining", b"99"),
                        (b"x-ratelimit-window", str(self.state.config.rate_window_ms).encode()),
                    ]
                message = {**message, "headers": raw}
            await send(message)

        version = headers.get("x-client-version")
        if version is None or not SEMVER_RE.match(version.strip()):
            reason = (
                "missing x-client-version header"
                if version is None
                else f"x-client-version {version!r} is not a semantic version"
            )
            if self.state.config.strict:
                self.state.violation(method, path, reason)
                await detailed(400, reason)(scope, receive, send_with_headers)
                return
        fault = self.faults.take("api", path=path)
        if fault is not None:
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            elif fault.oauth_error is not None:
                answer = JSONResponse({"error": fault.oauth_error}, status_code=fault.status)
                await answer(scope, receive, send_with_headers)
                return
            elif fault.kind in ("reset", "malformed", "huge"):
                await mangled_reply(fault, self.app, scope, receive, send_with_headers)
                return
            else:
                await detailed(fault.status, "Injected fault")(scope, receive, send_with_headers)
                return

        await self.app(scope, receive, send_with_headers)


MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
PAD_CHUNK = 1 << 20


async def mangled_reply(
    fault: Fault, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Let the call take effect, then answer it cut off (reset), not JSON, or huge."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, capture)
    assert start is not None
    body = b"".join(chunks)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    if fault.kind == "malformed":
        body = MALFORMED_BODY
    total = max(fault.size, len(body)) if fault.kind == "huge" else len(body)
    if fault.kind != "huge":  # a huge answer is chunked: only reading it tells its size
        headers.append((b"content-length", str(total).encode()))
    await send({**start, "headers": headers})
    if fault.kind == "reset":
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        cycle = getattr(receive, "__self__", None)  # uvicorn's cycle holds the transport
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            transport.abort()
        return
    await send({"type": "http.response.body", "body": body, "more_body": total > len(body)})
    left = total - len(body)
    while left > 0:
        step = min(left, PAD_CHUNK)
        left -= step
        await send({"type": "http.response.body", "body": b" " * step, "more_body": left > 0})


def with_rate_headers(
    response: JSONResponse | Response, limit: int, remaining: int, window: int
) -> Response:
    response.headers["x-ratelimit-limit"] = str(limit)
    response.headers["x-ratelimit-remaining"] = str(remaining)
    response.headers["x-ratelimit-window"] = str(window)
    return response
