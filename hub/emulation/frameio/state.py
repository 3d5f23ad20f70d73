"""The emulated Frame.io backend's state and rules, free of HTTP.

Route modules (``auth``, ``devices``, ``s3``, ``socket``, ``control``) translate requests into
calls here and results into responses. Everything time-dependent reads :class:`Clock`.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from c2c_hub.device_kinds import DeviceKind
from c2c_hub.device_models import DeviceModel, DeviceModelError, DeviceModelRegistry
from c2c_hub.emulation.frameio.clock import Clock
from c2c_hub.emulation.frameio.errors import (
    ApiProblem,
    OAuthProblem,
    channel_paused,
    not_authorized,
)

ACCESS_TOKEN_TTL = 8 * 3600  # docs/rulings.md#token-lifetimes
REFRESH_TOKEN_TTL = 14 * 24 * 3600
DEVICE_CODE_TTL = 120  # docs/rulings.md#device-code
MIN_PART = 5 * 1024 * 1024  # S3 multipart minimum, except the last part
DEFAULT_PART = 16 * 1024 * 1024  # docs/rulings.md#basic-upload-urls
MAX_PARTS = 10_000
MAX_ASSET_SIZE = 5_497_558_138_880  # 5 TiB
SCOPE = "asset_create offline"


def new_id() -> str:
    return str(uuid.uuid4())


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class EmulatorConfig:
    """Knobs a test or the demo may set when starting the emulator."""

    client_secret: str = "emulator-client-secret"
    strict: bool = True
    device_code_interval: float = 5.0
    device_code_ttl: float = float(DEVICE_CODE_TTL)
    upload_url_ttl: float = 24 * 3600.0  # docs/rulings.md#upload-url-expiry
    asset_create_limit: int = 5  # per window per device
    rate_window_ms: int = 1000
    socket_idle_timeout: float = 60.0  # no heartbeat for this long: closed
    project_name: str = "Emulated Project"
    user_name: str = "Emulated User"
    # How a sub-device channel's external_index is answered (the channel itself always has a
    # distinct index here, which asset create's `channel` addresses):
    # - "distinct": as stored (1, 2, ...);
    # - "zero_on_connect": channel connect answers 0, as the channels guide's own example does,
    # while
    #   /v2/devices/me lists the stored index;
    # - "zero": 0 everywhere (connect and /me), as both of the channels guide's examples show it.
    channel_index_mode: str = "distinct"


CHANNEL_INDEX_MODES = ("distinct", "zero_on_connect", "zero")


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    interval: float
    status: str = "pending"  # pending | approved | denied | consumed
    last_poll: float | None = None
    url_pairing: bool = False
    client_version: str = "0.0.0"


@dataclass
class Token:
    value: str
    device_id: str
    expires_at: float
    kind: str  # access | refresh
    used: bool = False
    revoked: bool = False


@dataclass
class Channel:
    id: str
    client_id: str
    device_model_id: str
    external_index: int
    name: str
    asset_type: str
    real_time_logging_capable: bool
    device_id: str
    inserted_at: float
    connected: bool = True
    paused_windows: list[list[float | None]] = field(default_factory=list)
    # The project device's own channel, made at pairing (docs/rulings.md#primary-channel).
    primary: bool = False

    def to_json(self, device: ProjectDevice, *, shown_index: int | None = None) -> dict[str, Any]:
        return {
            "_type": "project_device_channel",
            "actor_id": device.creator_id if self.primary else None,
            "asset_type": self.asset_type,
            "device_id": self.device_id,
            "external_index": self.external_index if shown_index is None else shown_index,
            "id": self.id,
            "inserted_at": iso(self.inserted_at),
            "name": self.name,
            "project_device_id": device.id,
            "project_id": device.project_id,
            "real_time_logging_capable": self.real_time_logging_capable,
            "status": "online" if self.connected else "offline",
            "updated_at": iso(self.inserted_at),
        }


@dataclass
class ProjectDevice:
    id: str
    client_id: str
    device_id: str
    name: str
    project_id: str
    project_name: str
    creator_id: str
    creator_name: str
    authorization_id: str
    inserted_at: float
    asset_type: str
    firmware_version: str = "0.0.0"
    last_seen_at: float | None = None
    channels: dict[str, Channel] = field(default_factory=dict)  # by channel id
    pause_windows: list[list[float | None]] = field(default_factory=list)

    def paused_at(self, when: float, windows: list[list[float | None]] | None = None) -> bool:
        for start, end in windows if windows is not None else self.pause_windows:
            assert start is not None
            if start <= when and (end is None or when < end):
                return True
        return False

    @property
    def paused(self) -> bool:
        return bool(self.pause_windows) and self.pause_windows[-1][1] is None

    def connected_channels(self) -> list[Channel]:
        found = [c for c in self.channels.values() if c.connected]
        return sorted(found, key=lambda c: c.external_index)

    def channel_by_index(self, index: int) -> Channel | None:
        return next((c for c in self.connected_channels() if c.external_index == index), None)


@dataclass
class Part:
    number: int
    size: int  # planned (basic) or requested (real-time) size
    is_final: bool = False
    stored_size: int | None = None
    sha256: str | None = None
    path: Path | None = None
    url_expires_at: float = 0.0
    url_generation: int = 0  # the latest URL of a number wins
    attempts: int = 0

    @property
    def stored(self) -> bool:
        return self.stored_size is not None


@dataclass
class Asset:
    id: str
    device_id: str  # project device id
    channel_index: int
    name: str
    filetype: str
    filesize: int | None
    offset: int
    realtime: bool
    created_at: float
    capture_time: float
    parts: dict[int, Part] = field(default_factory=dict)
    asset_filesize: int | None = None
    complete: bool = False
    sha256: str | None = None
    completed_at: float | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "filetype": self.filetype,
            "filesize": self.filesize if not self.realtime else self.asset_filesize,
            "realtime": self.realtime,
            "channel": self.channel_index,
            "offset": self.offset,
            "capture_time": self.capture_time,
            "complete": self.complete,
            "completed_at": self.completed_at,
            "sha256": self.sha256,
            "parts": [
                {
                    "number": p.number,
                    "size": p.size,
                    "is_final": p.is_final,
                    "stored": p.stored,
                    "stored_size": p.stored_size,
                    "sha256": p.sha256,
                    "attempts": p.attempts,
                }
                for p in sorted(self.parts.values(), key=lambda p: p.number)
            ],
            "comments": list(self.comments),
        }


Listener = Callable[[str, str], None]  # (project_device_id, event payload)


class EmulatorState:
    """Everything the emulated backend knows. Thread-safe: one lock around every mutation."""

    def __init__(
        self,
        config: EmulatorConfig,
        models: DeviceModelRegistry,
        storage: Path,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.initial_config = replace(config)
        self.models = models
        self.storage = storage
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.url_key = secrets.token_bytes(32)
        self.listeners: set[Listener] = set()
        # Completing an asset hashes the whole file. Like S3, which acknowledges a part
        # once it is stored, the last part's answer does not wait for that: it runs here, and
        # every reader of asset state (the control API) waits for it with settle().
        self._completer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="c2c-complete")
        self._completing: set[Future[None]] = set()
        self.reset()

    def settle(self, timeout: float = 120.0) -> None:
        """Wait for every asset completion under way (blocking: call it off the event loop)."""
        with self.lock:
            pending = list(self._completing)
        if pending:
            wait(pending, timeout=timeout)

    def _schedule_completion(self, asset: Asset) -> None:
        future = self._completer.submit(self._complete_if_ready, asset)
        with self.lock:
            self._completing.add(future)
        future.add_done_callback(self._completed)

    def _completed(self, future: Future[None]) -> None:
        with self.lock:
            self._completing.discard(future)

    # ------------------------------------------------------------------ housekeeping
    def reset(self, config: bool = False) -> None:
        """Forget every pairing, token, device, asset and record; optionally restore the config."""
        if hasattr(self, "_completing"):
            self.settle()
        with self.lock:
            if config:
                for item in fields(EmulatorConfig):
                    setattr(self.config, item.name, getattr(self.initial_config, item.name))
            for folder in ("parts", "assets"):  # received bytes of the forgotten assets
                shutil.rmtree(self.storage / folder, ignore_errors=True)
            self.device_codes: dict[str, DeviceCode] = {}
            self.tokens: dict[str, Token] = {}
            self.devices: dict[str, ProjectDevice] = {}  # by project device id
            self.assets: dict[str, Asset] = {}
            self.log_events: list[dict[str, Any]] = []
            self.violations: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.heartbeats: list[dict[str, Any]] = []
            self.rate_hits: dict[tuple[str, str], list[float]] = {}
            self.project_id = new_id()
            self.project_name = self.config.project_name

    def record_request(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Keep what tests check about calls (never the secrets in them)."""
        with self.lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "x-client-version": headers.get("x-client-version"),
                    "content-type": headers.get("content-type"),
                    "authorized": "authorization" in headers,
                    "at": self.clock.now(),
                }
            )

    def violation(self, method: str, path: str, reason: str) -> None:
        with self.lock:
            self.violations.append(
                {"method": method, "path": path, "reason": reason, "at": self.clock.now()}
            )

    # ---------------------------------------------- auth (docs/rulings.md#device-authorization)
    def check_client(self, client_id: str | None, client_secret: str | None) -> str:
        if not client_id or not client_secret:
            raise OAuthProblem("invalid_request")
        if not secrets.compare_digest(client_secret, self.config.client_secret):
            raise OAuthProblem("invalid_client")
        return client_id

    def new_device_code(
        self, client_id: str, client_secret: str, scope: str, url_pairing: bool, version: str
    ) -> DeviceCode:
        self.check_client(client_id, client_secret)
        requested = set(scope.split())
        if not requested or not requested <= set(SCOPE.split()):
            raise OAuthProblem("invalid_scope")
        with self.lock:
            user_codes = {c.user_code for c in self.device_codes.values()}
            while True:
                user_code = f"{secrets.randbelow(1_000_000):06d}"
                if user_code not in user_codes:
                    break
            code = DeviceCode(
                device_code=secrets.token_urlsafe(32),
                user_code=user_code,
                client_id=client_id,
                expires_at=self.clock.now() + self.config.device_code_ttl,
                interval=self.config.device_code_interval,
                last_poll=self.clock.now(),  # the first poll also waits one interval
                url_pairing=url_pairing,
                client_version=version,
            )
            self.device_codes[code.device_code] = code
            return code

    def find_user_code(self, user_code: str) -> DeviceCode:
        with self.lock:
            for code in self.device_codes.values():
                if code.user_code == user_code and code.status == "pending":
                    if code.expires_at <= self.clock.now():
                        raise ApiProblem(410, f"user code {user_code} has expired", "Expired")
                    return code
        raise ApiProblem(404, f"no pending pairing with user code {user_code}")

    def approve(self, user_code: str) -> DeviceCode:
        with self.lock:
            code = self.find_user_code(user_code)
            code.status = "approved"
            return code

    def deny(self, user_code: str) -> DeviceCode:
        with self.lock:
            code = self.find_user_code(user_code)
            code.status = "denied"
            return code

    def poll_device_code(
        self, client_id: str, client_secret: str, device_code: str
    ) -> tuple[Token, Token]:
        self.check_client(client_id, client_secret)
        now = self.clock.now()
        with self.lock:
            code = self.device_codes.get(device_code)
            if code is None or code.client_id != client_id or code.status == "consumed":
                raise OAuthProblem("invalid_grant")
            if code.expires_at <= now:
                raise OAuthProblem("expired_token")
            if code.status == "denied":
                raise OAuthProblem("access_denied")
            too_fast = code.last_poll is not None and now - code.last_poll < code.interval
            code.last_poll = now
            if too_fast:
                raise OAuthProblem("slow_down")
            if code.status == "pending":
                raise OAuthProblem("authorization_pending")
            code.status = "consumed"
            device = self._pair(code, now)
            return self._issue(device.id, now)

    def device_name(self, client_id: str) -> str:
        """The name the device gets in Frame.io (announced with its device code)."""
        return f"{self.models.host().name} {client_id[-6:]}"

    def _pair(self, code: DeviceCode, now: float) -> ProjectDevice:
        """Create (or re-create) the project device for this client_id, primary channel 0."""
        for old in list(self.devices.values()):
            if old.client_id == code.client_id:
                self._revoke_device_tokens(old.id)
                del self.devices[old.id]
        host = self.models.host()
        device_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"c2c-device:{code.client_id}"))
        device = ProjectDevice(
            id=new_id(),
            client_id=code.client_id,
            device_id=device_id,
            name=self.device_name(code.client_id),
            project_id=self.project_id,
            project_name=self.project_name,
            creator_id=new_id(),
            creator_name=self.config.user_name,
            authorization_id=new_id(),
            inserted_at=now,
            asset_type=host.model.asset_type,
            firmware_version=code.client_version,
        )
        primary = Channel(
            id=new_id(),
            client_id=code.client_id,
            device_model_id=host.id,
            external_index=0,
            name=device.name,
            asset_type=host.model.asset_type,
            real_time_logging_capable=host.model.real_time_logging_capable,
            device_id=device_id,
            inserted_at=now,
            primary=True,
        )
        device.channels[primary.id] = primary
        self.devices[device.id] = device
        return device

    def _issue(self, device_id: str, now: float) -> tuple[Token, Token]:
        access = Token(secrets.token_urlsafe(32), device_id, now + ACCESS_TOKEN_TTL, "access")
        refresh = Token(str(uuid.uuid4()), device_id, now + REFRESH_TOKEN_TTL, "refresh")
        self.tokens[access.value] = access
        self.tokens[refresh.value] = refresh
        return access, refresh

    def refresh(
        self, client_id: str, client_secret: str, refresh_token: str
    ) -> tuple[Token, Token]:
        self.check_client(client_id, client_secret)
        now = self.clock.now()
        with self.lock:
            token = self.tokens.get(refresh_token)
            if token is None or token.kind != "refresh" or token.revoked:
                raise OAuthProblem("invalid_grant")
            device = self.devices.get(token.device_id)
            if device is None or device.client_id != client_id:
                raise OAuthProblem("invalid_grant")
            if token.used:  # refresh tokens are single-use
                raise OAuthProblem("invalid_request")
            if token.expires_at <= now:
                raise OAuthProblem("invalid_grant")
            token.used = True
            # The access tokens issued before stay valid until they expire (as OAuth servers do).
            return self._issue(device.id, now)

    def revoke(self, client_id: str, client_secret: str, token_value: str) -> None:
        self.check_client(client_id, client_secret)
        with self.lock:
            token = self.tokens.get(token_value)
            if token is None:
                return  # RFC 7009: revoking an unknown token succeeds
            device = self.devices.get(token.device_id)
            if device is None or device.client_id != client_id:
                raise OAuthProblem("invalid_client")
            self._revoke_device_tokens(device.id)

    def revoke_device(self, device_id: str) -> None:
        """The user revokes the device's authorization in Frame.io: every token stops working."""
        with self.lock:
            if device_id not in self.devices:
                raise ApiProblem(404, f"no project device {device_id}")
            self._revoke_device_tokens(device_id)

    def remove_device(self, device_id: str) -> None:
        """The user removes the device from the project: it and its tokens are gone."""
        with self.lock:
            if self.devices.pop(device_id, None) is None:
                raise ApiProblem(404, f"no project device {device_id}")
            self._revoke_device_tokens(device_id)

    def _revoke_device_tokens(self, device_id: str) -> None:
        for token in self.tokens.values():
            if token.device_id == device_id:
                token.revoked = True

    def authenticate(self, token_value: str | None) -> ProjectDevice:
        """The device behind a bearer token, or 401."""
        if not token_value:
            raise not_authorized()
        with self.lock:
            token = self.tokens.get(token_value)
            if (
                token is None
                or token.kind != "access"
                or token.revoked
                or token.expires_at <= self.clock.now()
            ):
                raise not_authorized()
            device = self.devices.get(token.device_id)
            if device is None:
                raise not_authorized()
            device.last_seen_at = self.clock.now()
            return device

    # ------------------------------------------------------------------ identity
    def device_json(self, device: ProjectDevice) -> dict[str, Any]:
        now = self.clock.now()
        seen = device.last_seen_at or device.inserted_at
        status = "paused" if device.paused else ("online" if now - seen < 300 else "offline")
        scopes: dict[str, Any] = {"id": device.authorization_id}
        for name in (
            "account_read action_create action_delete action_read action_update asset_delete "
            "asset_read asset_update auditlog_read comment_create comment_delete comment_read "
            "comment_update device_connect presentation_create presentation_delete "
            "presentation_read presentation_update project_create project_delete project_read "
            "project_update reviewlink_create reviewlink_delete reviewlink_read reviewlink_update "
            "team_create team_read team_update webhook_create webhook_delete webhook_read "
            "webhook_update"
        ).split():
            scopes[name] = False
        scopes["asset_create"] = True
        scopes["offline"] = True
        channels = device.connected_channels()
        return {
            "_type": "project_device",
            "id": device.id,
            "asset_type": device.asset_type,
            "authorization": {
                "_type": "project_device_authorization",
                "creator": {"_type": "user", "id": device.creator_id, "name": device.creator_name},
                "creator_id": device.creator_id,
                "expires_at": None,
                "id": device.authorization_id,
                "inserted_at": iso(device.inserted_at),
                "project_device_id": device.id,
                "scopes": scopes,
            },
            "channel_count": len(channels),
            "channels": [
                c.to_json(device, shown_index=self.shown_index(c, listing=True)) for c in channels
            ],
            "creator_id": device.creator_id,
            "deleted_at": None,
            "device_id": device.device_id,
            "inserted_at": iso(device.inserted_at),
            "last_seen_at": iso(seen),
            "last_known_firmware_version": device.firmware_version,
            "name": device.name,
            "path_asset_type": None,
            "path_name": None,
            "project": {"_type": "project", "id": device.project_id, "name": self.project_name},
            "project_id": device.project_id,
            "required_metadata_attributes": [],
            "status": status,
            "timezone": "Etc/UTC",
            "updated_at": iso(seen),
        }

    # ------------------------------------------------------------------ device models
    def declare_model(self, model: DeviceModel) -> bool:
        """Declare one more device model for the integration (a plugin's, as Frame.io's
        developer console would); True if new. Declaring the same model again is harmless;
        another model under a declared id is refused (409). Kept across resets."""
        with self.lock:
            known = self.models.get(model.id)
            if known is not None:
                if known.model == model.model and known.inputs == model.inputs:
                    return False
                raise ApiProblem(409, f"device model {model.id} is already declared otherwise")
            if model.kind not in self.models.kinds:  # Frame.io has no notion of our kinds
                self.models.kinds.register(DeviceKind(model.kind), origin="declared")
            try:
                self.models.add([model], origin="declared")
            except DeviceModelError as exc:
                raise ApiProblem(422, str(exc)) from None
            return True

    # ---------------------------------------------- channels (docs/rulings.md#channel-boot-flow)
    def shown_index(self, channel: Channel, *, listing: bool) -> int | None:
        """The external_index answered for ``channel`` (None: as stored), per the index mode."""
        mode = self.config.channel_index_mode
        if mode not in CHANNEL_INDEX_MODES:
            raise ApiProblem(500, f"emulator misconfigured: channel_index_mode {mode!r}")
        if channel.primary or mode == "distinct" or (mode == "zero_on_connect" and listing):
            return None
        return 0

    def connect_channel(self, device: ProjectDevice, client_id: str, model_id: str) -> Channel:
        model = self.models.get(model_id)
        if model is None:  # docs/rulings.md#unknown-device-model
            raise ApiProblem(422, f"device model {model_id} is not declared by this integration")
        with self.lock:
            if any(c.connected and c.client_id == client_id for c in device.channels.values()):
                # Frame.io: the client_id is what governs uniqueness.
                raise ApiProblem(409, "The channel already exists.", "Already Exists")
            for channel in device.channels.values():
                if channel.client_id == client_id and channel.device_model_id == model.id:
                    # Re-connecting a known sub-device restores its channel, with its
                    # external_index unless another channel has taken that index meanwhile.
                    if channel.external_index in {
                        c.external_index for c in device.connected_channels()
                    }:
                        channel.external_index = self._next_index(device)
                    channel.connected = True
                    return channel
            channel = Channel(
                id=new_id(),
                client_id=client_id,
                device_model_id=model.id,
                external_index=self._next_index(device),
                name=f"{model.name} {client_id[-6:]}",
                asset_type=model.model.asset_type,
                real_time_logging_capable=model.model.real_time_logging_capable,
                device_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"c2c-device:{client_id}")),
                inserted_at=self.clock.now(),
            )
            device.channels[channel.id] = channel
            return channel

    @staticmethod
    def _next_index(device: ProjectDevice) -> int:
        used = {c.external_index for c in device.connected_channels()}
        index = 1
        while index in used:
            index += 1
        if index > 100:
            raise ApiProblem(422, "a project device has at most 100 channels")
        return index

    def disconnect_channel(self, device: ProjectDevice, channel_id: str) -> None:
        with self.lock:
            channel = device.channels.get(channel_id)
            if channel is None or not channel.connected:
                raise ApiProblem(404, f"no connected channel {channel_id}")
            if channel.primary:  # docs/rulings.md#primary-channel
                raise ApiProblem(422, "the primary channel cannot be disconnected")
            channel.connected = False

    def disconnect_all(self, device: ProjectDevice) -> None:
        with self.lock:
            for channel in device.channels.values():
                if not channel.primary:
                    channel.connected = False

    def channel_model(self, channel: Channel) -> DeviceModel | None:
        return self.models.get(channel.device_model_id)

    # ---------------------------------------------- rate limits (docs/rulings.md#rate-limits)
    def rate_check(self, device_id: str, bucket: str, limit: int) -> tuple[int, int]:
        """Record one call; return (remaining, window_ms); raise 429 when over."""
        window = self.config.rate_window_ms / 1000
        now = self.clock.now()
        with self.lock:
            hits = [t for t in self.rate_hits.get((device_id, bucket), []) if now - t < window]
            if len(hits) >= limit:
                self.rate_hits[(device_id, bucket)] = hits
                raise ApiProblem(429, "Rate limit exceeded", "Too Many Requests")
            hits.append(now)
            self.rate_hits[(device_id, bucket)] = hits
            return limit - len(hits), self.config.rate_window_ms

    # ------------------------------------------------------------------ assets
    def create_asset(
        self,
        device: ProjectDevice,
        *,
        name: str | None,
        filetype: str | None,
        filesize: int | None,
        offset: int,
        channel: int,
        realtime: bool,
        parts: int | None,
        extension: str | None,
    ) -> Asset:
        now = self.clock.now()
        capture = now - offset
        with self.lock:
            chan = device.channel_by_index(channel)
            if chan is None:  # docs/rulings.md#asset-channel
                raise ApiProblem(
                    422, f"channel {channel} is not a connected channel of this device"
                )
            if device.paused_at(capture) or device.paused_at(capture, chan.paused_windows):
                raise channel_paused()
            if realtime:
                if not filetype:
                    raise ApiProblem(422, "filetype is required for a real-time upload")
                if name is None and extension is None:
                    raise ApiProblem(422, "a real-time upload needs a name or an extension")
                if name is not None and "." not in name and extension is None:
                    raise ApiProblem(422, "name must contain an extension")
                if name is not None and extension is not None and not name.endswith(extension):
                    raise ApiProblem(422, "extension does not match the name's extension")
                if filesize is not None:
                    raise ApiProblem(422, "filesize must be omitted for a real-time upload")
                asset_name = name if name is not None else f"[new file]{extension}"
            else:
                if not name:
                    raise ApiProblem(422, "name is required")
                if filesize is None or filesize < 1 or filesize > MAX_ASSET_SIZE:
                    raise ApiProblem(422, "filesize must be between 1 byte and 5 TiB")
                if extension is not None:
                    raise ApiProblem(422, "extension is only for real-time uploads")
                asset_name = name
            asset = Asset(
                id=new_id(),
                device_id=device.id,
                channel_index=channel,
                name=asset_name,
                filetype=filetype or "application/octet-stream",
                filesize=filesize,
                offset=offset,
                realtime=realtime,
                created_at=now,
                capture_time=capture,
            )
            if not realtime:
                assert filesize is not None
                for number, size in enumerate(self._plan(filesize, parts), start=1):
                    asset.parts[number] = Part(
                        number=number,
                        size=size,
                        is_final=False,
                        url_expires_at=now + self.config.upload_url_ttl,
                    )
            self.assets[asset.id] = asset
            return asset

    @staticmethod
    def _plan(filesize: int, parts: int | None) -> list[int]:
        """Part sizes for a basic upload (docs/rulings.md#basic-upload-urls)."""
        count = parts if parts is not None else math.ceil(filesize / DEFAULT_PART)
        if count < 1 or count > MAX_PARTS:
            raise ApiProblem(422, f"parts must be between 1 and {MAX_PARTS}")
        chunk = math.ceil(filesize / count)
        sizes = [chunk] * (count - 1) + [filesize - chunk * (count - 1)]
        if sizes[-1] <= 0 or (count > 1 and chunk < MIN_PART):
            raise ApiProblem(
                422, f"{count} parts would make parts under 5 MiB for a {filesize}-byte file"
            )
        return sizes

    def asset_for(self, device: ProjectDevice, asset_id: str) -> Asset:
        with self.lock:
            asset = self.assets.get(asset_id)
            if asset is None or asset.device_id != device.id:
                raise ApiProblem(404, f"no asset {asset_id}")
            return asset

    def request_realtime_parts(
        self,
        device: ProjectDevice,
        asset_id: str,
        parts: list[dict[str, Any]],
        asset_filesize: int | None,
        asset_name: str | None,
    ) -> list[Part]:
        now = self.clock.now()
        with self.lock:
            asset = self.asset_for(device, asset_id)
            if not asset.realtime:
                raise ApiProblem(422, "not a real-time upload")
            if not parts:
                raise ApiProblem(400, "parts must not be empty")
            finals = [p for p in parts if p["is_final"]]
            if finals and asset_filesize is None:
                raise ApiProblem(400, "asset_filesize is required when a part is final")
            if asset_filesize is not None and not 1 <= asset_filesize <= MAX_ASSET_SIZE:
                raise ApiProblem(400, "asset_filesize must be between 1 byte and 5 TiB")
            result = []
            for spec in parts:
                number, size, final = spec["number"], spec["size"], spec["is_final"]
                if not 1 <= number <= MAX_PARTS:
                    raise ApiProblem(400, f"part number {number} is outside 1..{MAX_PARTS}")
                if size < 1 or (size < MIN_PART and not final):
                    raise ApiProblem(400, f"part {number}: a non-final part must be at least 5 MiB")
                part = asset.parts.get(number)
                if part is None:
                    part = Part(number=number, size=size, is_final=final)
                    asset.parts[number] = part
                else:  # a fresh URL; the latest upload of a number wins
                    part.size = size
                    part.is_final = final
                    part.url_generation += 1
                part.url_expires_at = now + self.config.upload_url_ttl
                result.append(part)
            if asset_filesize is not None:
                asset.asset_filesize = asset_filesize
            if asset_name is not None and asset.name.startswith("[new file]"):
                asset.name = asset_name
        self._schedule_completion(asset)
        return result

    def part_stored(
        self, asset: Asset, number: int, size: int, sha256: str, path: Path, generation: int
    ) -> None:
        with self.lock:
            part = asset.parts[number]
            if generation != part.url_generation:
                path.unlink(missing_ok=True)  # a stale URL's upload does not replace a newer one
                return
            if part.path is not None and part.path != path:
                part.path.unlink(missing_ok=True)
            part.stored_size, part.sha256, part.path = size, sha256, path
        self._schedule_completion(asset)

    def _ready_parts(self, asset: Asset) -> list[tuple[int, Path]] | None:
        """The parts of a complete upload, in order, or None. Call with the lock held."""
        if asset.complete:
            return None
        ordered = sorted(asset.parts.values(), key=lambda p: p.number)
        if not ordered or not all(p.stored for p in ordered):
            return None
        if asset.realtime:
            if asset.asset_filesize is None or not ordered[-1].is_final:
                return None
            if any(p.stored_size is not None and p.stored_size < MIN_PART for p in ordered[:-1]):
                return None
            if sum(p.stored_size or 0 for p in ordered) != asset.asset_filesize:
                return None
        elif any(p.stored_size != p.size for p in ordered):
            return None
        return [(p.number, p.path) for p in ordered if p.path is not None]

    def _complete_if_ready(self, asset: Asset) -> None:
        """Record the SHA-256 of the assembled file once the upload is complete.

        The hashing (the whole file) happens outside the lock, so a large completion never
        stalls other calls; the parts are checked again before the asset is marked complete.
        """
        with self.lock:
            snapshot = self._ready_parts(asset)
        if snapshot is None:
            return
        digest = hashlib.sha256()
        try:
            for _, path in snapshot:
                with path.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
        except FileNotFoundError:
            return  # a part was replaced meanwhile; its own store call completes the asset
        with self.lock:
            if self._ready_parts(asset) != snapshot:
                return
            asset.sha256 = digest.hexdigest()
            asset.complete = True
            asset.completed_at = self.clock.now()

    def assembled_path(self, asset: Asset) -> Path | None:
        """Write the assembled file (for tests that compare bytes) and return its path."""
        with self.lock:
            if not asset.complete:
                return None
            target = self.storage / "assets" / f"{asset.id}.bin"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                for part in sorted(asset.parts.values(), key=lambda p: p.number):
                    assert part.path is not None
                    with part.path.open("rb") as fh:
                        while chunk := fh.read(1 << 20):
                            out.write(chunk)
            return target

    # ------------------------------------------------------------------ comments, logging
    def add_comment(
        self, device: ProjectDevice, asset_id: str, text: str, timestamp: int | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            asset = self.asset_for(device, asset_id)
            comment = {
                "_type": "comment",
                "id": new_id(),
                "text": text,
                "timestamp": timestamp,
                "frame": timestamp,
                "asset_id": asset.id,
                "owner_id": device.creator_id,
                "device_channel_input_id": None,
                "inserted_at": iso(now),
                "updated_at": iso(now),
                "annotation": None,
                "completed": False,
                "completed_at": None,
                "has_replies": False,
                "like_count": 0,
                "parent_id": None,
                "private": False,
            }
            asset.comments.append(comment)
            return comment

    def trigger(
        self, device: ProjectDevice, channel_id: str, index: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            channel = device.channels.get(channel_id)
            if channel is None or not channel.connected:
                raise ApiProblem(404, f"no connected channel {channel_id}")
            model = self.channel_model(channel)
            # Only a logging-capable model's declared inputs (docs/rulings.md#trigger-inputs).
            if model is None or not model.model.real_time_logging_capable:
                raise ApiProblem(422, "this channel is not real-time logging capable")
            declared = model.input(index)
            if declared is None:
                raise ApiProblem(422, f"input {index} is not declared by {model.name}")
            event = {
                "id": new_id(),
                "device_id": device.id,
                "channel_id": channel.id,
                "channel_client_id": channel.client_id,
                "input_index": index,
                "input_name": declared.name,
                "received_at": self.clock.now(),
                **body,
            }
            self.log_events.append(event)
            return event

    # ---------------------------------------- pause (docs/rulings.md#pause-windows) and events
    def set_paused(self, device_id: str, paused: bool, channel_id: str | None = None) -> None:
        now = self.clock.now()
        with self.lock:
            device = self.devices.get(device_id)
            if device is None:
                raise ApiProblem(404, f"no project device {device_id}")
            windows = device.pause_windows
            if channel_id is not None:
                channel = device.channels.get(channel_id)
                if channel is None:
                    raise ApiProblem(404, f"no channel {channel_id}")
                windows = channel.paused_windows
            open_window = bool(windows) and windows[-1][1] is None
            if paused and not open_window:
                windows.append([now, None])
            elif not paused and open_window:
                windows[-1][1] = now
            listeners = list(self.listeners)
        if channel_id is None:
            for listener in listeners:
                listener(device_id, "paused" if paused else "resumed")

    def rename_project(self, name: str) -> None:
        with self.lock:
            self.project_name = name
            for device in self.devices.values():
                device.project_name = name

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self.lock:
            self.listeners.add(listener)

        def unsubscribe() -> None:
            with self.lock:
                self.listeners.discard(listener)

        return unsubscribe

    def access_token_device(self, token_value: str) -> ProjectDevice | None:
        """For the websocket: the device behind a valid access token, else None."""
        try:
            return self.authenticate(token_value)
        except ApiProblem:
            return None
