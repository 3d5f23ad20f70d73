"""Every error the Frame.io client raises, and how an error response maps onto one.

The tree (``FrameioError`` hangs from the hub's root, :class:`c2c_hub.errors.HubError`)::

    FrameioError                 anything this package raises
    ├── InsecureURLError         an http:// (or otherwise non-https) URL or redirect; refused
    │                            before a byte is sent
    ├── UnexpectedRedirect       a 3xx to an https:// URL; we never follow redirects
    ├── TransportError           the request did not get an HTTP answer (wraps httpx.TransportError)
    │   ├── TransportTimeout     ... because a connect/read/write/pool timeout expired
    │   └── AnswerCutOff         ... because the connection dropped in the middle of the answer
    ├── MalformedResponse        a 2xx whose body is not what Frame.io sends
    │   └── ResponseTooLarge     ... an answer bigger than the client reads (the rest unread)
    └── ApiError                 Frame.io (or something in between) answered >= 400
        ├── OAuthError           simple body {"error": "<code>"} (auth endpoints, usually 400)
        │   ├── AuthorizationPending   authorization_pending: keep polling
        │   ├── SlowDown               slow_down: poll less often
        │   ├── ExpiredToken           expired_token: the device code died; pair again
        │   ├── AccessDenied           access_denied: the user declined
        │   ├── InvalidGrant           invalid_grant
        │   ├── InvalidClient          invalid_client: wrong client_id/client_secret
        │   └── InvalidRequest         invalid_request (e.g. a refresh token used twice)
        ├── AuthError            401 / 403: token expired, invalid or lacking scope
        ├── NotFoundError        404 (may come from a middlebox, not Frame.io)
        ├── ChannelPaused        409 "Channel Paused": media captured in a pause window
        ├── ConflictError        any other 409, e.g. channel connect's "Already Exists"
        ├── UnprocessableError   422: invalid arguments (unknown channel, device model, ...)
        ├── RateLimited          429; carries limit / remaining / window_ms
        └── ServerError          5xx

Other statuses (400 with a detailed body, 402, ...) raise :class:`ApiError` itself.
``ChannelPaused`` and ``ConflictError`` are siblings on purpose: a paused channel is a decision
about media, "Already Exists" is a decision about state, and no ``except`` should mix them up.
Transport errors are not ``ApiError``: retry logic catches them apart from status logic.

No message, repr or attribute holds a request's secrets: errors are built from the status, the
server's error fields (scrubbed of the request's secrets) and the endpoint's method and path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from c2c_hub.errors import HubError
from c2c_hub.frameio.ratelimit import RateLimit


class FrameioError(HubError):
    """Base class of every error raised by :mod:`c2c_hub.frameio`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InsecureURLError(FrameioError):
    """A URL (or redirect target) that is not https://; nothing was sent to it."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url  # scheme, host and path only: query and fragment are dropped


class UnexpectedRedirect(FrameioError):
    """Frame.io answered 3xx. The client never follows redirects (a hop could leak a token)."""

    def __init__(self, message: str, *, endpoint: str, status: int, location: str | None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.location = location  # scheme, host and path only


class TransportError(FrameioError):
    """No HTTP answer: connection refused or reset, TLS failure, DNS, protocol error, timeout."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class TransportTimeout(TransportError):
    """A connect, read, write or pool timeout expired."""


class AnswerCutOff(TransportError):
    """The answer began (status and headers came) but the connection dropped mid-body.

    The request may well have taken effect (an asset created, a channel connected): treat it as
    an answer lost, like a timeout, not as a refusal.
    """

    def __init__(self, message: str, *, endpoint: str, status: int, received: int) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.received = received


class MalformedResponse(FrameioError):
    """A 2xx answer whose body does not parse into what the endpoint returns."""

    def __init__(self, message: str, *, endpoint: str, status: int) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class ResponseTooLarge(MalformedResponse):
    """An answer whose body is larger than the client reads; nothing of it was used."""

    def __init__(self, message: str, *, endpoint: str, status: int, limit: int) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.limit = limit


class ErrorShape(StrEnum):
    """Which of Frame.io's two error bodies an answer had."""

    SIMPLE = "simple"  # {"error": "invalid_client"}
    DETAILED = "detailed"  # {"code": 409, "errors": [{...}], "message": "..."}
    OTHER = "other"  # no body, not JSON, or JSON of neither shape (e.g. from a proxy)


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One item of a detailed error body's ``errors`` list."""

    code: int | None
    status: int | None
    title: str | None
    detail: str | None


class ApiError(FrameioError):
    """An answer with status >= 400.

    ``code`` is the detailed body's integer ``code`` or the simple body's ``error`` string;
    ``title`` and ``detail`` come from the first item of ``errors``.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int,
        shape: ErrorShape,
        code: int | str | None = None,
        title: str | None = None,
        detail: str | None = None,
        server_message: str | None = None,
        errors: tuple[ErrorDetail, ...] = (),
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.shape = shape
        self.code = code
        self.title = title
        self.detail = detail
        self.message = server_message
        self.errors = errors
        self.rate_limit = rate_limit


class OAuthErrorCode(StrEnum):
    """The ``error`` codes of the auth endpoints (RFC 8628 / RFC 6749)."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"
    INVALID_CLIENT = "invalid_client"
    INVALID_REQUEST = "invalid_request"


class OAuthError(ApiError):
    """A simple ``{"error": "<code>"}`` answer; ``error`` holds the code as sent."""

    @property
    def error(self) -> str:
        return str(self.code)


class AuthorizationPending(OAuthError):
    """The user has not entered the code yet: poll again after ``interval`` seconds."""


class SlowDown(OAuthError):
    """Polled faster than ``interval``: add at least 5 s to the interval."""


class ExpiredToken(OAuthError):
    """The device code expired before the user entered it: request a new code."""


class AccessDenied(OAuthError):
    """The user declined the pairing."""


class InvalidGrant(OAuthError):
    """The device code or refresh token is not valid (any more): pair again."""


class InvalidClient(OAuthError):
    """Frame.io does not know this client_id / client_secret pair."""


class InvalidRequest(OAuthError):
    """A malformed auth request, or a refresh token that was already used."""


class AuthError(ApiError):
    """401 or 403: the access token expired, is invalid, or lacks the scope."""


class NotFoundError(ApiError):
    """404. May come from a network middlebox rather than Frame.io."""


class ChannelPaused(ApiError):
    """409 "Channel Paused": the media was captured while the channel was paused."""


class ConflictError(ApiError):
    """Any other 409, e.g. connecting a channel that already exists ("Already Exists")."""


class UnprocessableError(ApiError):
    """422: Frame.io understood the request but its arguments are invalid."""


class RateLimited(ApiError):
    """429: over the endpoint's rate limit. Frame.io sends no Retry-After; back off from ~1 s."""

    @property
    def limit(self) -> int | None:
        return self.rate_limit.limit if self.rate_limit else None

    @property
    def remaining(self) -> int | None:
        return self.rate_limit.remaining if self.rate_limit else None

    @property
    def window_ms(self) -> int | None:
        return self.rate_limit.window_ms if self.rate_limit else None


class ServerError(ApiError):
    """5xx: an unexpected error in Frame.io (or a gateway in front of it)."""


OAUTH_ERRORS: dict[str, type[OAuthError]] = {
    OAuthErrorCode.AUTHORIZATION_PENDING: AuthorizationPending,
    OAuthErrorCode.SLOW_DOWN: SlowDown,
    OAuthErrorCode.EXPIRED_TOKEN: ExpiredToken,
    OAuthErrorCode.ACCESS_DENIED: AccessDenied,
    OAuthErrorCode.INVALID_GRANT: InvalidGrant,
    OAuthErrorCode.INVALID_CLIENT: InvalidClient,
    OAuthErrorCode.INVALID_REQUEST: InvalidRequest,
}

_STATUS_ERRORS: dict[int, type[ApiError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
    429: RateLimited,
}

CHANNEL_PAUSED_TITLE = "channel paused"


def _opt_str(value: Any, scrub: Callable[[str], str]) -> str | None:
    return scrub(value) if isinstance(value, str) else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _details(items: Any, scrub: Callable[[str], str]) -> tuple[ErrorDetail, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(
        ErrorDetail(
            code=_opt_int(item.get("code")),
            status=_opt_int(item.get("status")),
            title=_opt_str(item.get("title"), scrub),
            detail=_opt_str(item.get("detail"), scrub),
        )
        for item in items
        if isinstance(item, Mapping)
    )


def _class_for(status: int, title: str | None, server_message: str | None) -> type[ApiError]:
    if status == 409 and CHANNEL_PAUSED_TITLE in {
        (title or "").strip().lower(),
        (server_message or "").strip().lower(),
    }:
        return ChannelPaused
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, ApiError)


def error_from_response(
    *,
    endpoint: str,
    status: int,
    payload: Any,
    rate_limit: RateLimit | None,
    scrub: Callable[[str], str],
) -> ApiError:
    """The :class:`ApiError` for an answer with ``status`` >= 400 and decoded JSON ``payload``.

    ``payload`` is None when the body was empty or not JSON. ``scrub`` removes the request's
    secrets from any text the server sent.
    """
    prefix = f"{endpoint}: HTTP {status}"
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), str):
        code = scrub(payload["error"])
        oauth_cls = OAUTH_ERRORS.get(code, OAuthError)
        return oauth_cls(
            f"{prefix} {code}",
            endpoint=endpoint,
            status=status,
            shape=ErrorShape.SIMPLE,
            code=code,
            rate_limit=rate_limit,
        )
    if isinstance(payload, Mapping) and isinstance(payload.get("errors"), list):
        errors = _details(payload["errors"], scrub)
        first = errors[0] if errors else ErrorDetail(None, None, None, None)
        server_message = _opt_str(payload.get("message"), scrub)
        title = first.title or server_message
        words = " - ".join(part for part in (title, first.detail) if part)
        cls = _class_for(status, title, server_message)
        return cls(
            f"{prefix} {words}".rstrip(),
            endpoint=endpoint,
            status=status,
            shape=ErrorShape.DETAILED,
            code=_opt_int(payload.get("code")),
            title=title,
            detail=first.detail,
            server_message=server_message,
            errors=errors,
            rate_limit=rate_limit,
        )
    cls = _class_for(status, None, None)
    return cls(
        f"{prefix} (body is not a Frame.io error)",
        endpoint=endpoint,
        status=status,
        shape=ErrorShape.OTHER,
        rate_limit=rate_limit,
    )
