"""The typed async Frame.io C2C client: one method per endpoint, one injected httpx client.

The client is stateless with respect to tokens: every device call takes the access token it
should use (the session layer owns refresh-on-401). The only state it keeps is the rate-limit
figures of the last response (:attr:`FrameioClient.last_rate_limit`).

Every request carries ``x-client-version``; device endpoints add ``Authorization: Bearer``.
Auth endpoints send ``multipart/form-data``; device endpoints send JSON.

What it reads: at most ``max_response_bytes`` (4 MiB by default; Frame.io's largest answer, a
project device with a hundred channels, is a few tens of KiB) of any answer's body, decoded. A
bigger answer raises :class:`ResponseTooLarge` without reading the rest; an answer cut off
mid-body raises :class:`AnswerCutOff` (a transport error: the request may have taken effect).

Listeners (:meth:`FrameioClient.on_outcome`) hear how every call ended (the connectivity
monitor counts failing calls; a green ``/health`` is not the whole truth).

HTTPS and redirects: every URL is checked with :func:`~c2c_hub.frameio.urls.require_https` before
the request is built, so an ``http://`` URL never reaches the network. Redirects are never
followed (``follow_redirects=False`` on every send, whatever the injected client says): a 3xx
to an ``http://`` URL raises :class:`InsecureURLError`, any other 3xx raises
:class:`UnexpectedRedirect`. Frame.io's device API does not redirect, and following one would
re-send the bearer token and the body to a host we did not choose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from c2c_hub.frameio.errors import (
    AnswerCutOff,
    FrameioError,
    InsecureURLError,
    MalformedResponse,
    ResponseTooLarge,
    TransportError,
    TransportTimeout,
    UnexpectedRedirect,
    error_from_response,
)
from c2c_hub.frameio.models import (
    Asset,
    Channel,
    Comment,
    DeviceCode,
    Health,
    LogTrigger,
    PartRequest,
    ProjectDevice,
    RealtimeParts,
    TokenSet,
)
from c2c_hub.frameio.ratelimit import RateLimit, parse_rate_limit
from c2c_hub.frameio.redaction import redact, reveal
from c2c_hub.frameio.urls import display_url, require_https
from c2c_hub.settings import SEMVER_RE, FrameioSettings

_log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.frame.io"
DEFAULT_SCOPE = "asset_create offline"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CHANNEL_CONNECT_PATH = "/v2/devices/channels/connect"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

# endpoint ("GET /v2/devices/me"), and the error the call raised (None: it was answered < 400)
OutcomeListener = Callable[[str, FrameioError | None], None]

Secret = str | SecretStr
M = TypeVar("M", bound=BaseModel)


def _segment(value: str, what: str) -> str:
    """``value`` as one URL path segment (so an id can never add path components)."""
    if not value:
        raise ValueError(f"{what} is empty")
    return quote(value, safe="")


class FrameioClient:
    """Frame.io's C2C device API over one injected ``httpx.AsyncClient``.

    The caller owns ``http`` (and closes it); build one with
    :func:`~c2c_hub.frameio.http.make_http_client`.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_version: str,
        base_url: str = DEFAULT_BASE_URL,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        self._max_response_bytes = max_response_bytes
        self._outcome_listeners: list[OutcomeListener] = []
        if not SEMVER_RE.match(client_version):
            raise ValueError(f"client_version must be a semantic version, got {client_version!r}")
        self._base = require_https(base_url.rstrip("/"), what="base URL")
        self._base_url = str(self._base).rstrip("/")
        self._http = http
        self._client_version = client_version
        self._last_rate_limit: RateLimit | None = None

    @classmethod
    def from_settings(cls, settings: FrameioSettings, http: httpx.AsyncClient) -> FrameioClient:
        """A client for ``settings.api_base_url`` sending ``settings.firmware_version``."""
        return cls(http, client_version=settings.firmware_version, base_url=settings.api_base_url)

    @property
    def base_url(self) -> str:
        return self._base_url

    def on_outcome(self, listener: OutcomeListener) -> Callable[[], None]:
        """Hear how every call ends (its endpoint, and its error or None); returns unsubscribe."""
        self._outcome_listeners.append(listener)
        return lambda: (
            self._outcome_listeners.remove(listener)
            if listener in self._outcome_listeners
            else None
        )

    def _tell(self, endpoint: str, error: FrameioError | None) -> None:
        for listener in list(self._outcome_listeners):
            try:
                listener(endpoint, error)
            except Exception:
                _log.exception("a Frame.io outcome listener failed")

    @property
    def last_rate_limit(self) -> RateLimit | None:
        """The ``x-ratelimit-*`` figures of the last response received (None before any)."""
        return self._last_rate_limit

    # ---- authorization (multipart/form-data, no bearer token) -----------------------------

    async def request_device_code(
        self,
        client_id: str,
        client_secret: Secret,
        scope: str = DEFAULT_SCOPE,
        *,
        url_pairing: bool = False,
    ) -> DeviceCode:
        """Start pairing: a code for the user to enter (and, with URL pairing, a URL/QR)."""
        headers = {"x-client-platypus-enabled": "true"} if url_pairing else None
        form = {"client_id": client_id, "client_secret": reveal(client_secret), "scope": scope}
        response = await self._send(
            "POST", "/v2/auth/device/code", form=form, headers=headers, secrets=[client_secret]
        )
        return self._parse(response, DeviceCode, [client_secret])

    async def poll_device_token(
        self, client_id: str, client_secret: Secret, device_code: Secret
    ) -> TokenSet:
        """One poll; raises AuthorizationPending / SlowDown / ExpiredToken / AccessDenied ..."""
        secrets = [client_secret, device_code]
        form = {
            "grant_type": DEVICE_CODE_GRANT,
            "client_id": client_id,
            "client_secret": reveal(client_secret),
            "device_code": reveal(device_code),
        }
        response = await self._send("POST", "/v2/auth/token", form=form, secrets=secrets)
        return self._parse(response, TokenSet, secrets)

    async def refresh_token(
        self, client_id: str, client_secret: Secret, refresh_token: Secret
    ) -> TokenSet:
        """New tokens for a (single-use) refresh token; the old pair is dead afterwards."""
        secrets = [client_secret, refresh_token]
        form = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": reveal(client_secret),
            "refresh_token": reveal(refresh_token),
        }
        response = await self._send("POST", "/v2/auth/token", form=form, secrets=secrets)
        return self._parse(response, TokenSet, secrets)

    async def revoke(self, client_id: str, client_secret: Secret, token: Secret) -> None:
        """Revoke an access or refresh token (Frame.io answers ``{"success": true}``)."""
        secrets = [client_secret, token]
        form = {
            "client_id": client_id,
            "client_secret": reveal(client_secret),
            "token": reveal(token),
        }
        response = await self._send("POST", "/v2/auth/revoke", form=form, secrets=secrets)
        payload = self._json(response, secrets) if response.content.strip() else {}
        if not isinstance(payload, Mapping) or payload.get("success", True) is not True:
            raise self._malformed(
                MalformedResponse(
                    f"POST /v2/auth/revoke answered {response.status_code} but the body is not "
                    '{"success": true}',
                    endpoint="POST /v2/auth/revoke",
                    status=response.status_code,
                )
            )
        self._tell("POST /v2/auth/revoke", None)

    # ---- identity, presence, health -------------------------------------------------------

    async def me(self, token: Secret) -> ProjectDevice:
        """``GET /v2/devices/me``: project, authorization, status and channels."""
        response = await self._send("GET", "/v2/devices/me", token=token)
        return self._parse(response, ProjectDevice, [token])

    async def heartbeat(self, token: Secret) -> None:
        """``POST /v2/devices/heartbeat`` (204): the REST fallback for socket presence."""
        await self._send("POST", "/v2/devices/heartbeat", token=token, parsed=False)

    async def health(self) -> Health:
        """``GET /health`` (no auth): is Frame.io's backend reachable and well?"""
        response = await self._send("GET", "/health")
        return self._parse(response, Health, [])

    # ---- channels -------------------------------------------------------------------------

    async def connect_channel(
        self,
        token: Secret,
        client_id: str,
        device_model_id: str,
        path: str = CHANNEL_CONNECT_PATH,
    ) -> Channel:
        """Connect a sub-device as a channel (409 "Already Exists" → ConflictError)."""
        body = {"client_id": client_id, "device_model_id": device_model_id}
        response = await self._send("POST", path, token=token, json=body)
        return self._parse(response, Channel, [token])

    async def disconnect_channel(self, token: Secret, channel_id: str) -> None:
        """Disconnect one channel by its Frame.io id (404 unknown, 422 for the primary)."""
        path = f"/v2/devices/channels/{_segment(channel_id, 'channel_id')}/disconnect"
        await self._send("POST", path, token=token, parsed=False)

    async def disconnect_all_channels(self, token: Secret) -> None:
        """Disconnect every sub-device channel; the primary channel stays."""
        await self._send("POST", "/v2/devices/channels/disconnect", token=token, parsed=False)

    # ---- assets and comments --------------------------------------------------------------

    async def create_asset(
        self,
        token: Secret,
        name: str,
        filetype: str,
        filesize: int,
        offset: int,
        channel: int | str,
        parts: int | None = None,
        auto_version_id: str | None = None,
    ) -> Asset:
        """Create a basic asset; the answer's ``upload_urls`` take the bytes (see parts.py).

        ``offset`` is seconds since capture (decides pause windows and the date folder);
        ``channel`` is the channel's ``external_index`` (0 = primary).
        """
        body: dict[str, Any] = {
            "name": name,
            "filetype": filetype,
            "filesize": filesize,
            "offset": offset,
            "channel": channel,
        }
        if parts is not None:
            body["parts"] = parts
        if auto_version_id is not None:
            body["auto_version_id"] = auto_version_id
        response = await self._send("POST", "/v2/devices/assets", token=token, json=body)
        return self._parse(response, Asset, [token])

    async def create_realtime_asset(
        self,
        token: Secret,
        filetype: str,
        channel: int | str,
        offset: int,
        name: str | None = None,
        extension: str | None = None,
    ) -> Asset:
        """Create a real-time (growing file) asset; Frame.io answers only ``id`` and ``name``."""
        if name is None and extension is None:
            raise ValueError("a real-time asset needs a name or an extension")
        body: dict[str, Any] = {
            "filetype": filetype,
            "is_realtime_upload": True,
            "offset": offset,
            "channel": channel,
        }
        if name is not None:
            body["name"] = name
        if extension is not None:
            body["extension"] = extension
        response = await self._send("POST", "/v2/devices/assets", token=token, json=body)
        return self._parse(response, Asset, [token])

    async def realtime_part_urls(
        self,
        token: Secret,
        asset_id: str,
        parts: list[PartRequest],
        asset_filesize: int | None = None,
        asset_name: str | None = None,
    ) -> RealtimeParts:
        """Upload URLs for real-time parts, in the order of ``parts``.

        A part marked ``is_final`` needs ``asset_filesize`` (the complete file's size).
        Asking again for a number returns a fresh URL for it (docs/rulings.md#realtime-url-renewal).
        """
        if not parts:
            raise ValueError("ask for at least one part")
        if asset_filesize is None and any(part.is_final for part in parts):
            raise ValueError("asset_filesize is required when a part is final")
        body = {
            "parts": [part.model_dump() for part in parts],
            "asset_filesize": asset_filesize,
            "asset_name": asset_name,
        }
        path = f"/v2/devices/assets/{_segment(asset_id, 'asset_id')}/realtime_upload/parts"
        response = await self._send("POST", path, token=token, json=body)
        result = self._parse(response, RealtimeParts, [token])
        if len(result.upload_urls) != len(parts):
            raise self._malformed(
                MalformedResponse(
                    f"POST {path} answered {len(result.upload_urls)} upload URLs "
                    f"for {len(parts)} parts",
                    endpoint=f"POST {path}",
                    status=response.status_code,
                )
            )
        return result

    async def create_comment(
        self, token: Secret, asset_id: str, text: str, timestamp: int | None = None
    ) -> Comment:
        """Comment on an asset; ``timestamp`` is a 0-based frame (None: the whole asset)."""
        body: dict[str, Any] = {"text": text}
        if timestamp is not None:
            body["timestamp"] = timestamp
        path = f"/v2/devices/assets/{_segment(asset_id, 'asset_id')}/comments"
        response = await self._send("POST", path, token=token, json=body)
        return self._parse(response, Comment, [token])

    async def trigger_input(
        self,
        token: Secret,
        channel_id: str,
        input_index: int,
        body: LogTrigger | None = None,
    ) -> None:
        """Press input ``input_index`` of a channel (real-time logging; 204)."""
        if input_index < 0:
            raise ValueError(f"input_index must be >= 0, got {input_index}")
        payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
        path = (
            f"/v2/devices/channels/{_segment(channel_id, 'channel_id')}"
            f"/inputs/{input_index}/trigger"
        )
        await self._send("POST", path, token=token, json=payload, parsed=False)

    # ---- plumbing -------------------------------------------------------------------------

    def _url(self, path: str) -> httpx.URL:
        """``path`` under the base URL, or ``path`` itself when it is an absolute URL."""
        if path.startswith("/") and not path.startswith("//"):
            return require_https(self._base_url + path, what="URL")
        return require_https(path, what="URL")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        token: Secret | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[Secret] = (),
        parsed: bool = True,
    ) -> httpx.Response:
        """Send one call. ``parsed``: its body is parsed next (which tells listeners then)."""
        endpoint = f"{method} {path.split('?')[0]}"
        try:
            response = await self._exchange(
                method, path, token=token, form=form, json=json, headers=headers, secrets=secrets
            )
        except FrameioError as exc:
            self._tell(endpoint, exc)
            raise
        if not parsed:
            self._tell(endpoint, None)
        return response

    async def _read_capped(
        self, endpoint: str, response: httpx.Response, secrets: list[Secret]
    ) -> httpx.Response:
        """The answer with its body read, at most ``max_response_bytes`` of it (decoded)."""
        limit = self._max_response_bytes
        status = response.status_code
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise ResponseTooLarge(
                f"{endpoint} answered {status} with a {int(declared)}-byte body; "
                f"the client reads at most {limit} bytes of an answer",
                endpoint=endpoint,
                status=status,
                limit=limit,
            )
        chunks: list[bytes] = []
        received = 0
        try:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > limit:
                    raise ResponseTooLarge(
                        f"{endpoint} answered {status} with a body of more than {limit} bytes; "
                        "the client reads no more of an answer",
                        endpoint=endpoint,
                        status=status,
                        limit=limit,
                    )
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise TransportTimeout(
                f"{endpoint}: timed out reading the answer ({type(exc).__name__})",
                endpoint=endpoint,
            ) from None
        except httpx.TransportError as exc:
            reason = redact(str(exc), secrets) or "no detail"
            raise AnswerCutOff(
                f"{endpoint}: the answer ({status}) was cut off after {received} bytes "
                f"({type(exc).__name__}: {reason}); the request may have taken effect",
                endpoint=endpoint,
                status=status,
                received=received,
            ) from None
        finally:
            await response.aclose()
        # The body as read (already decoded), without the headers that described the wire form.
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            status, headers=kept, content=b"".join(chunks), request=response.request
        )

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        token: Secret | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[Secret] = (),
    ) -> httpx.Response:
        url = self._url(path)
        endpoint = f"{method} {url.path}"
        secret_list = list(secrets) + ([token] if token is not None else [])
        all_headers = {"x-client-version": self._client_version, **(headers or {})}
        if token is not None:
            bearer = reveal(token)
            if not bearer:
                raise ValueError("the access token is empty")
            all_headers["Authorization"] = f"Bearer {bearer}"
        # httpx sends multipart only when `files` is given: (None, value) makes a plain field.
        files = {name: (None, value) for name, value in form.items()} if form else None
        request = self._http.build_request(method, url, headers=all_headers, files=files, json=json)
        try:
            streamed = await self._http.send(request, follow_redirects=False, stream=True)
        except httpx.TimeoutException as exc:
            raise TransportTimeout(
                f"{endpoint}: timed out ({type(exc).__name__})", endpoint=endpoint
            ) from None
        except httpx.TransportError as exc:
            reason = redact(str(exc), secret_list) or "no detail"
            # `from None`: the httpx exception's text is not scrubbed, and a traceback would
            # print it; its type and (scrubbed) message are in ours.
            raise TransportError(
                f"{endpoint}: no answer ({type(exc).__name__}: {reason})", endpoint=endpoint
            ) from None
        response = await self._read_capped(endpoint, streamed, secret_list)

        rate_limit = parse_rate_limit(response.headers)
        self._last_rate_limit = rate_limit
        _log.debug(
            "%s -> %d (rate limit %s)",
            endpoint,
            response.status_code,
            "n/a"
            if rate_limit is None
            else f"{rate_limit.remaining}/{rate_limit.limit} per {rate_limit.window_ms} ms",
        )
        if 300 <= response.status_code < 400:
            self._refuse_redirect(endpoint, response)
        if response.status_code >= 400:
            raise error_from_response(
                endpoint=endpoint,
                status=response.status_code,
                payload=self._json_or_none(response),
                rate_limit=rate_limit,
                scrub=lambda text: redact(text, secret_list),
            )
        return response

    @staticmethod
    def _refuse_redirect(endpoint: str, response: httpx.Response) -> None:
        location = response.headers.get("location")
        target: httpx.URL | None = None
        if location:
            try:
                target = response.request.url.join(location)
            except httpx.InvalidURL:
                target = None
        shown = display_url(target) if target is not None else None
        if target is not None and target.scheme != "https":
            raise InsecureURLError(
                f"{endpoint}: HTTP {response.status_code} redirect to {shown} refused: "
                "Frame.io is HTTPS only",
                url=shown or "",
            )
        raise UnexpectedRedirect(
            f"{endpoint}: HTTP {response.status_code} redirect to {shown or 'nowhere'} refused: "
            "the client does not follow redirects",
            endpoint=endpoint,
            status=response.status_code,
            location=shown,
        )

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            return None

    @staticmethod
    def _endpoint(response: httpx.Response) -> str:
        return f"{response.request.method} {response.request.url.path}"

    def _malformed(self, exc: MalformedResponse) -> MalformedResponse:
        self._tell(exc.endpoint, exc)
        return exc

    def _json(self, response: httpx.Response, secrets: Iterable[Secret]) -> Any:
        try:
            payload = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content-type")
            raise self._malformed(
                MalformedResponse(
                    f"{self._endpoint(response)} answered {response.status_code} but the body is "
                    f"not JSON ({redact(kind, secrets)}, {len(response.content)} bytes)",
                    endpoint=self._endpoint(response),
                    status=response.status_code,
                )
            ) from None
        return payload

    def _parse(self, response: httpx.Response, model: type[M], secrets: Iterable[Secret]) -> M:
        secret_list = list(secrets)
        payload = self._json(response, secret_list)
        try:
            parsed = model.model_validate(payload)
        except ValidationError as exc:
            # Never str(exc): pydantic's message quotes the input, which may hold a token.
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise self._malformed(
                MalformedResponse(
                    f"{self._endpoint(response)} answered {response.status_code} but the body "
                    f"is not a {model.__name__}: {redact(problems, secret_list)}",
                    endpoint=self._endpoint(response),
                    status=response.status_code,
                )
            ) from None
        self._tell(self._endpoint(response), None)
        return parsed
