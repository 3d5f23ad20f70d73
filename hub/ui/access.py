"""Who may drive the hub through its control API, and how much they may send.

Every request is authenticated, on loopback too:

- **Unix socket**: the kernel names the caller (``SO_PEERCRED``). The hub's owner, root, and
  members of the optional operators group (``control.operators_group``) are served; anyone else
  gets 403 before a route runs, even if the socket's file mode was loosened by mistake.
- **HTTP**: ``Authorization: Bearer <access token>`` (the file ``control-token`` in the data
  directory), or a session cookie made by ``POST /login`` with that token or with the short
  login code shown on the hub's own screen (:class:`LoginCodes`). The cookie is ``HttpOnly;
  SameSite=Strict`` and ``Secure`` when served over TLS; it holds a random session id, never the
  token. A credential in a URL (``?token=``) is refused: URLs end up in history and logs.
- **Cross-site**: a request whose ``Origin`` is not the hub's own, ``Origin: null`` included (a
  sandboxed iframe, a ``data:`` page), or that a browser marks ``Sec-Fetch-Site: cross-site`` is
  refused before anything else. On loopback, a ``Host`` that is not a loopback name is refused
  (DNS rebinding).
- **Every answer** carries :data:`SECURITY_HEADERS` (:class:`SecurityHeaders`): a strict
  Content-Security-Policy (the page runs only its own files, talks only to the hub, is never
  framed), ``nosniff``, no referrer, and its own browsing-context group (COOP).
- **Bodies** are capped (:data:`MAX_BODY_BYTES`): a larger one is answered 413 and never
  buffered whole.

Only the page itself (``GET /``, ``/static/``) and ``POST /login`` answer without a credential.
"""

from __future__ import annotations

import grp
import hmac
import ipaddress
import os
import pwd
import secrets
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from c2c_hub.ui.errors import UIError

MAX_BODY_BYTES = 1 << 20
SESSION_COOKIE = "c2c_hub_session"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "localhost.localdomain"}
CODE_DIGITS = 6
CODE_TRIES = 5
CODE_LIFETIME_S = 600.0
SESSION_LIFETIME_S = 12 * 3600.0
MAX_SESSIONS = 64
URL_CREDENTIALS = ("token", "access_token", "session")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=status, headers={"Cache-Control": "no-store"}
    )


# ============================================================================ login codes
class LoginCodes:
    """A short numeric code shown on the hub's own screen, traded once for a session.

    A new code is drawn when one is used, after :data:`CODE_TRIES` wrong guesses (whoever made
    them), and after :data:`CODE_LIFETIME_S`; so a guesser has 5 tries in a million per code.
    The code lives in memory only and is never logged.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._code = ""
        self._born = 0.0
        self._failures = 0

    def _draw(self) -> None:
        self._code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        self._born = self._clock()
        self._failures = 0

    def current(self) -> str:
        if not self._code or self._clock() - self._born > CODE_LIFETIME_S:
            self._draw()
        return self._code

    def redeem(self, offered: str) -> bool:
        expected = self.current()
        offered = "".join(ch for ch in offered if ch.isdigit())
        if hmac.compare_digest(offered.encode(), expected.encode()):
            self._draw()
            return True
        self._failures += 1
        if self._failures >= CODE_TRIES:
            self._draw()
        return False


class Sessions:
    """Browser sessions made by ``POST /login``: random ids, in memory, 12 hours at most."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def create(self) -> str:
        session = secrets.token_urlsafe(32)
        self._expiry[session] = self._clock() + SESSION_LIFETIME_S
        while len(self._expiry) > MAX_SESSIONS:
            self._expiry.popitem(last=False)
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        for known, expires in list(self._expiry.items()):
            if expires < self._clock():
                del self._expiry[known]
        return any(hmac.compare_digest(session.encode(), known.encode()) for known in self._expiry)

    def end(self, session: str | None) -> None:
        if session:
            self._expiry.pop(session, None)


@dataclass
class Access:
    """The HTTP listener's credentials: the access token, login codes and sessions."""

    token: str
    codes: LoginCodes
    sessions: Sessions

    @classmethod
    def for_token(cls, token: str) -> Access:
        return cls(token, LoginCodes(), Sessions())

    def token_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())


# ============================================================================ body limit
class BodyTooLarge(UIError):
    """A request body over the cap: refused (413) before it is buffered."""


class BodyLimit:
    """Answer 413 to a body over ``limit`` bytes, declared or streamed, without buffering it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _json(413, f"request body over {self.limit} bytes")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if declared is not None and int(declared) > self.limit:
                await too_large(scope, receive, send)
                return
        except ValueError:
            await _json(400, "Content-Length is not a number")(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await too_large(scope, receive, send)


# ============================================================================ HTTP guard
PUBLIC_ROUTES = {("GET", "/"), ("HEAD", "/"), ("POST", "/login")}


class Guard:
    """Who may call the HTTP listener (see the module docstring); a pure ASGI middleware."""

    def __init__(
        self, app: ASGIApp, *, token: str, host: str, access: Access | None = None
    ) -> None:
        self.app = app
        self.access = access or Access.for_token(token)
        self.loopback = is_loopback(host)

    def token_ok(self, offered: str | None) -> bool:
        return self.access.token_ok(offered)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.problem(Request(scope))
        if problem is not None:
            await _json(*problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def problem(self, request: Request) -> tuple[int, str] | None:
        """Why this request is refused (status, message), or None to serve it."""
        host_header = (request.headers.get("host") or "").lower()
        host = host_header.rsplit(":", 1)[0].strip("[]")
        if self.loopback and host not in LOOPBACK_NAMES:
            return 403, f"this hub answers on loopback only, not as {host!r}"
        origin = request.headers.get("origin")
        if origin is not None:
            own = f"{request.url.scheme}://{host_header}"
            if origin.lower() != own:
                return 403, f"cross-site requests are refused (Origin {origin!r})"
        if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return 403, "cross-site requests are refused (Sec-Fetch-Site)"
        for name in URL_CREDENTIALS:
            if name in request.query_params:
                return 400, (
                    f"a credential in the URL ({name}=) is refused: URLs are kept in history "
                    "and logs. Send 'Authorization: Bearer <token>', or log in on the page"
                )
        path = request.url.path
        if (request.method, path) in PUBLIC_ROUTES or path.startswith("/static/"):
            return None
        if self.authenticated(request):
            return None
        return 401, (
            "log in first: the login code shown on the hub's screen, or the access token "
            "(the file control-token in its data directory) as 'Authorization: Bearer <token>'"
        )

    def authenticated(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self.access.token_ok(auth[7:].strip()):
            return True
        return self.access.sessions.valid(request.cookies.get(SESSION_COOKIE))


# ============================================================================ Unix socket
@dataclass(frozen=True)
class PeerPolicy:
    """Who may use the Unix socket: its owner, root, and the operators group's members."""

    owner_uid: int
    operators_gid: int | None = None

    def allows(self, uid: int, gid: int) -> bool:
        if uid in (self.owner_uid, 0):
            return True
        if self.operators_gid is None:
            return False
        if gid == self.operators_gid:
            return True
        try:
            name = pwd.getpwuid(uid).pw_name
            return name in grp.getgrgid(self.operators_gid).gr_mem
        except KeyError:
            return False

    def describe(self) -> str:
        who = f"its owner (uid {self.owner_uid}) and root"
        if self.operators_gid is not None:
            who += f" and the operators group (gid {self.operators_gid})"
        return who


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket, from the kernel."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def peer_checked_protocol(policy: PeerPolicy) -> type[H11Protocol]:
    """uvicorn's HTTP protocol, answering 403 on a connection whose peer ``policy`` refuses."""

    class PeerChecked(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            try:
                _, uid, gid = peer_credentials(sock)
            except (OSError, AttributeError, struct.error):
                uid, gid = -1, -1
            if not policy.allows(uid, gid):
                message = (
                    f"this hub's control socket serves {policy.describe()}; "
                    f"uid {uid} is not one of them"
                )
                self.app = _json(403, message)

    return PeerChecked


def operators_gid(group: str | None) -> int | None:
    """The gid of ``control.operators_group`` (a name or a number), None when unset."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    return grp.getgrnam(group).gr_gid


def owner_uid() -> int:
    return os.geteuid()


# The page loads its own script, style and images from /static and the hub, and talks only to the
# hub (fetch and server-sent events: connect-src); nothing inline, nothing from elsewhere, no
# eval, no plugin, no <base>, forms post only to the hub, and no other site may frame it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Sent with every HTTP answer of the control listener (the page, its files, the API).
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), usb=(), bluetooth=()",
}
_SECURITY_RAW = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP answer, refusals included; a pure ASGI
    middleware (it wraps :class:`Guard`, so a 401 or 403 carries them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_RAW if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
