"""The hub's authenticated session with Frame.io: tokens that stay fresh on their own.

- The access token is refreshed silently once ``refresh_fraction`` of its life has passed
  (6 h of 8 by default), well before it expires, with jittered backoff on transient failures.
- Every API call goes through :meth:`Session.call`: a 401 causes one refresh and one retry.
  Concurrent callers that hit a 401 with the same token share that one refresh.
- A device removed from its project or revoked in Frame.io (a refresh answered
  ``invalid_grant``, or ``/v2/devices/me`` refused with 403 even with a fresh token) is shown as
  such (:data:`REMOVED`) and parks the session in ``needs_pairing``, never retried as a network
  error.
- A refresh token is single-use: the intent is stored before it is spent, the answer is stored
  before it is used (:mod:`c2c_hub.tokens`). A rejected refresh, or a lost answer whose retry is
  rejected, moves the session to ``needs_pairing``: callers get :class:`NeedsPairing`, and the
  hub shows it, instead of retrying forever.
- After pairing and after every refresh the session asks ``/v2/devices/me`` again. Every
  ``/v2/devices/me`` of the hub goes through :meth:`Session.refresh_identity`, which asks
  through one :class:`~c2c_hub.identity_gate.IdentityGate`: one call in flight, one a minute,
  except once right after news (a ``status_updated`` push, a 409, a token refresh, a reconnect).

Listeners (:meth:`Session.on_change`) hear of every change of token or state, so presence can
reconnect at once after a refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import NoReturn, TypeVar

from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock, SystemClock
from c2c_hub.errors import HubError
from c2c_hub.frameio import (
    AuthError,
    ErrorShape,
    FrameioClient,
    FrameioError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    ProjectDevice,
    TokenSet,
)
from c2c_hub.identity_gate import IdentityGate
from c2c_hub.logs import register_secret
from c2c_hub.settings import FrameioSettings
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake
from c2c_hub.tokens import Credentials, PairingState, TokenStore

log = logging.getLogger(__name__)

T = TypeVar("T")
_IN_IDENTITY_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "in_identity_call", default=False
)
REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600
REMOVED = (
    "Frame.io no longer accepts this device: it was removed from the project or its access "
    "was revoked in Frame.io; pair it again"
)
Listener = Callable[["Session"], None]


class NeedsPairing(HubError):
    """The hub has no usable credentials; a person must pair it (again)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"needs pairing: {reason}")
        self.reason = reason


class Session:
    def __init__(
        self,
        client: FrameioClient,
        store: TokenStore,
        settings: FrameioSettings,
        *,
        clock: Clock | None = None,
        refresh_fraction: float = 0.75,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.refresh_fraction = refresh_fraction
        self._credentials: Credentials | None = None
        self.identity: ProjectDevice | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.refreshes = 0
        self.last_error: str | None = None
        self.identity_gate = IdentityGate(
            self._fetch_identity, lambda: self.identity, self.clock, unsent=(NeedsPairing,)
        )

    # ------------------------------------------------------------------ state
    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    @property
    def state(self) -> PairingState:
        if self._credentials is None:
            return PairingState.UNPAIRED
        return self._credentials.state

    @property
    def paired(self) -> bool:
        return self.state is PairingState.PAIRED

    @property
    def access_expires_at(self) -> float | None:
        return self._credentials.access_expires_at if self._credentials else None

    def refresh_due_at(self) -> float | None:
        creds = self._credentials
        if creds is None:
            return None
        lifetime = creds.access_expires_at - creds.obtained_at
        return creds.obtained_at + lifetime * self.refresh_fraction

    def on_change(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:
                log.exception("session listener failed")

    def _set(self, credentials: Credentials | None) -> None:
        if credentials is not None:  # from now on no log line can show them
            register_secret(credentials.access_token)
            register_secret(credentials.refresh_token)
        self._credentials = credentials
        self._wake.set()
        self._notify()

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> Credentials | None:
        """Read the stored credentials without starting anything (raises TokenStoreError)."""
        self._set(self.store.load())
        return self._credentials

    async def start(self) -> None:
        """Load stored credentials, finish an interrupted refresh, start the refresher."""
        self.load()
        if self._credentials is not None and self._credentials.client_id != self.settings.client_id:
            log.warning("stored credentials belong to another client_id; pairing needed")
            self._set(self._credentials.with_state(PairingState.NEEDS_PAIRING, "client_id changed"))
        elif self.state is PairingState.REFRESHING:
            log.warning("the last refresh was interrupted; trying it once more")
            with contextlib.suppress(NeedsPairing, FrameioError):
                await self.refresh()
        elif self.paired:
            with contextlib.suppress(FrameioError, NeedsPairing):
                await self.refresh_identity()
        self._task = asyncio.create_task(self._refresher(), name="session-refresher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.identity_gate.stop()

    # ------------------------------------------------------------------ pairing
    async def adopt(self, tokens: TokenSet) -> ProjectDevice:
        """Store the tokens of a completed pairing (durably, first), then ask who we are."""
        now = self.clock.now()
        credentials = Credentials(
            client_id=self.settings.client_id,
            access_token=tokens.access_token.get_secret_value(),
            refresh_token=tokens.refresh_token.get_secret_value(),
            access_expires_at=now + tokens.expires_in,
            refresh_expires_at=now + REFRESH_TOKEN_LIFETIME,
            obtained_at=now,
        )
        self.store.save(credentials)
        self.identity = None  # it was another pairing's
        self._set(credentials)
        return await self.refresh_identity("pairing")

    async def unpair(self) -> None:
        """Revoke the tokens at Frame.io (best effort) and wipe them here."""
        creds = self._credentials
        if creds is not None:
            for token in (creds.refresh_token, creds.access_token):
                try:
                    await self.client.revoke(
                        self.settings.client_id, self.settings.client_secret, token
                    )
                    break
                except FrameioError as exc:
                    log.warning("revoking at Frame.io failed (%s); wiping locally anyway", exc)
        self.store.wipe()
        self.identity = None
        self._set(None)

    # ------------------------------------------------------------------ tokens
    def _require(self) -> Credentials:
        creds = self._credentials
        if creds is None:
            raise NeedsPairing("not paired")
        if creds.state is PairingState.NEEDS_PAIRING:
            raise NeedsPairing(creds.reason or "credentials were rejected")
        return creds

    async def token(self) -> str:
        """A usable access token, refreshed first if it is due."""
        creds = self._require()
        due = self.refresh_due_at()
        if creds.state is PairingState.REFRESHING or (due is not None and self.clock.now() >= due):
            await self.refresh(failed_token=creds.access_token)
            creds = self._require()
        return creds.access_token

    async def call(self, fn: Callable[[str], Awaitable[T]]) -> T:
        """Run ``fn(token)``; on 401 refresh once (shared with concurrent callers) and retry."""
        token = await self.token()
        try:
            return await fn(token)
        except AuthError as exc:
            if exc.status != 401:
                raise
            await self.refresh(failed_token=token)
            return await fn(self._require().access_token)

    async def refresh(self, failed_token: str | None = None) -> None:
        """Refresh now. With ``failed_token``, skip if another caller already replaced it."""
        async with self._lock:
            creds = self._require()
            if failed_token is not None and creds.access_token != failed_token:
                if creds.state is not PairingState.REFRESHING:
                    return  # someone refreshed while we waited
            if self.clock.now() >= creds.refresh_expires_at:
                self._needs_pairing(creds, "the refresh token expired (14 days)")
            marked = self.store.begin_refresh(creds)
            self._credentials = marked
            try:
                tokens = await self.client.refresh_token(
                    self.settings.client_id, self.settings.client_secret, creds.refresh_token
                )
            except InvalidGrant as exc:
                self._needs_pairing(marked, f"{REMOVED} (the refresh was rejected: {exc.error})")
            except (InvalidRequest, InvalidClient) as exc:
                self._needs_pairing(marked, f"Frame.io rejected the refresh ({exc.error})")
            except OAuthError as exc:
                self._needs_pairing(marked, f"Frame.io rejected the refresh ({exc.error})")
            except AuthError:
                self._needs_pairing(marked, "Frame.io rejected the credentials (401)")
            except FrameioError as exc:
                # The answer may be lost: the token may or may not be spent. Stay REFRESHING; the
                # next attempt tells (a spent token answers invalid_request -> needs pairing).
                self.last_error = str(exc)
                raise
            now = self.clock.now()
            fresh = Credentials(
                client_id=creds.client_id,
                access_token=tokens.access_token.get_secret_value(),
                refresh_token=tokens.refresh_token.get_secret_value(),
                access_expires_at=now + tokens.expires_in,
                refresh_expires_at=now + REFRESH_TOKEN_LIFETIME,
                obtained_at=now,
                device_id=creds.device_id,
                project_id=creds.project_id,
                project_name=creds.project_name,
            )
            self.store.save(fresh)  # durable before anything uses it
            self.refreshes += 1
            self.last_error = None
            self._set(fresh)
            log.info("access token refreshed")
        if not _IN_IDENTITY_CALL.get():  # else the /me that hit the 401 is retried: it is the one
            with contextlib.suppress(FrameioError, NeedsPairing):
                await self.refresh_identity("token_refresh")

    def _needs_pairing(self, creds: Credentials, reason: str) -> NoReturn:
        failed = creds.with_state(PairingState.NEEDS_PAIRING, reason)
        self.store.save(failed)
        self.last_error = reason
        self._set(failed)
        log.error("pairing needed: %s", reason)
        raise NeedsPairing(reason)

    async def refresh_identity(self, reason: str | None = None) -> ProjectDevice:
        """``GET /v2/devices/me`` through the gate: at most one in flight and one a minute, except
        once right after news (``reason``: see :data:`~c2c_hub.identity_gate.NEWS`). Within the
        minute, a plain ask gets the last answer."""
        return await self.identity_gate.ask(reason)

    async def _fetch_identity(self) -> ProjectDevice:
        """One ``GET /v2/devices/me``; remembers the project (keyed by id) for status and
        restarts."""
        _IN_IDENTITY_CALL.set(True)  # this task's context only (the gate runs it as a task)
        try:
            device = await self.call(self.client.me)
        except AuthError as exc:
            if exc.status != 403 or exc.shape is ErrorShape.OTHER:
                raise
            # Frame.io itself (its error shape) refuses the device its own identity: once more
            # with a fresh token, then it is shown as removed/revoked, not retried forever.
            await self.refresh(failed_token=self._require().access_token)
            try:
                device = await self.call(self.client.me)
            except AuthError as again:
                if again.status != 403 or again.shape is ErrorShape.OTHER:
                    raise
                self._needs_pairing(self._require(), f"{REMOVED} ({again})")
        self.identity = device
        creds = self._credentials
        if creds is not None and (
            creds.device_id != device.id
            or creds.project_id != device.project.id
            or creds.project_name != device.project.name
        ):
            updated = replace(
                creds,
                device_id=device.id,
                project_id=device.project.id,
                project_name=device.project.name,
            )
            self.store.save(updated)
            self._credentials = updated
        self._notify()
        return device

    # ------------------------------------------------------------------ background refresh
    async def _refresher(self) -> None:
        wait = wait_exponential_jitter(multiplier=1, max=300, exp_base=2, jitter=1)
        failures = 0
        while True:
            self._wake.clear()
            due = self.refresh_due_at() if self.paired or self.state == "refreshing" else None
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self.clock.now()
            if failures:
                delay = max(delay, backoff_delay(wait, failures))
            if delay > 0 and await sleep_or_wake(self.clock, delay, self._wake):
                continue
            creds = self._credentials
            try:
                # With the token we mean to replace: a caller that refreshed meanwhile wins.
                await self.refresh(failed_token=creds.access_token if creds else None)
                failures = 0
            except NeedsPairing:
                failures = 0
            except FrameioError as exc:
                failures += 1
                log.warning("token refresh failed (attempt %d): %s", failures, exc)
