"""Pairing: the device-code flow, cancellable at every step, leaving no half state behind.

:class:`Pairing` asks Frame.io for a code, tells its observer what to show (the 6-digit code,
the verification URL, the pre-filled link for a QR code, the time left), polls at the interval
Frame.io gives (slower after ``slow_down``), asks for a fresh code whenever one expires, and on
approval hands the tokens to the :class:`~c2c_hub.session.Session` (stored durably first) and
returns who authorized the device and into which project.

Cancelling (Ctrl-C in the CLI, ``cancel()`` from the control API, or cancelling the task)
stops at once. Tokens are only ever stored whole; a cancel that lands after Frame.io issued
them revokes them there and wipes them here, so a cancelled pairing leaves the hub unpaired,
never half-paired.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from c2c_hub.clock import Clock, SystemClock
from c2c_hub.errors import HubError
from c2c_hub.frameio import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    FrameioClient,
    FrameioError,
    InvalidGrant,
    ProjectDevice,
    SlowDown,
    TokenSet,
)
from c2c_hub.logs import register_secret
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings

log = logging.getLogger(__name__)

SLOW_DOWN_STEP = 5.0  # RFC 8628: add 5 s to the interval on slow_down


class PairingStep(StrEnum):
    REQUESTING = "requesting"  # asking Frame.io for a code
    SHOW_CODE = "show_code"  # a code to show
    WAITING = "waiting"  # polled; the user has not entered it yet
    SLOWED = "slowed"  # Frame.io asked us to poll less often
    EXPIRED = "expired"  # the code expired; a fresh one follows
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class PairingUpdate:
    """What a user interface shows at each step. Never carries the device code or a token."""

    step: PairingStep
    user_code: str | None = None
    verification_uri: str | None = None
    verification_uri_complete: str | None = None
    expires_at: float | None = None
    interval: float | None = None
    codes_issued: int = 0
    message: str = ""
    device: ProjectDevice | None = None


class PairingDenied(HubError):
    """The user declined the device in Frame.io."""


class PairingCancelled(HubError):
    """Pairing was cancelled before it finished."""


Observer = Callable[[PairingUpdate], None]


class Pairing:
    def __init__(
        self,
        client: FrameioClient,
        session: Session,
        settings: FrameioSettings,
        *,
        clock: Clock | None = None,
        max_codes: int | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.max_codes = max_codes
        self.last: PairingUpdate | None = None
        self._observers: list[Observer] = []
        self._task: asyncio.Task[ProjectDevice] | None = None

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _emit(self, update: PairingUpdate) -> None:
        self.last = update
        for observer in list(self._observers):
            try:
                observer(update)
            except Exception:
                log.exception("pairing observer failed")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[ProjectDevice]:
        """Run the flow in a task (for the control API); ``cancel()`` stops it."""
        if self.running:
            raise RuntimeError("pairing is already running")
        self._task = asyncio.create_task(self.run(), name="pairing")
        return self._task

    def cancel(self) -> bool:
        if self._task is None or self._task.done():
            return False
        return self._task.cancel()

    async def run(self) -> ProjectDevice:
        """Pair; returns the project device. Raises PairingDenied or PairingCancelled."""
        codes = 0
        try:
            while self.max_codes is None or codes < self.max_codes:
                self._emit(PairingUpdate(PairingStep.REQUESTING, codes_issued=codes))
                code = await self.client.request_device_code(
                    self.settings.client_id,
                    self.settings.client_secret,
                    url_pairing=self.settings.url_pairing,
                )
                codes += 1
                register_secret(code.device_code.get_secret_value())
                expires_at = self.clock.now() + code.expires_in
                interval = max(float(code.interval), 0.0)
                base = PairingUpdate(
                    PairingStep.SHOW_CODE,
                    user_code=code.user_code,
                    verification_uri=code.verification_uri,
                    verification_uri_complete=code.verification_uri_complete,
                    expires_at=expires_at,
                    interval=interval,
                    codes_issued=codes,
                )
                self._emit(base)
                tokens = await self._poll(code.device_code.get_secret_value(), base, interval)
                if tokens is None:
                    self._emit(_with(base, PairingStep.EXPIRED, "the code expired; a new one"))
                    continue
                device = await self._adopt(tokens)
                self._emit(_with(base, PairingStep.APPROVED, "paired", device=device))
                return device
            raise PairingCancelled(f"gave up after {codes} codes")
        except asyncio.CancelledError:
            self._emit(PairingUpdate(PairingStep.CANCELLED, message="pairing cancelled"))
            raise
        except PairingDenied:
            self._emit(PairingUpdate(PairingStep.DENIED, message="the user declined the device"))
            raise
        except FrameioError as exc:
            self._emit(PairingUpdate(PairingStep.FAILED, message=str(exc)))
            raise

    async def _poll(
        self, device_code: str, base: PairingUpdate, interval: float
    ) -> TokenSet | None:
        assert base.expires_at is not None
        while True:
            await self.clock.sleep(interval)
            if self.clock.now() >= base.expires_at:
                return None
            try:
                return await self.client.poll_device_token(
                    self.settings.client_id, self.settings.client_secret, device_code
                )
            except AuthorizationPending:
                self._emit(_with(base, PairingStep.WAITING, "waiting for the code to be entered"))
            except SlowDown:
                interval += SLOW_DOWN_STEP
                self._emit(
                    _with(base, PairingStep.SLOWED, f"polling every {interval:g} s", interval)
                )
            except (ExpiredToken, InvalidGrant):
                return None
            except AccessDenied as exc:
                raise PairingDenied(str(exc)) from None

    async def _adopt(self, tokens: TokenSet) -> ProjectDevice:
        """Store the tokens and fetch the identity; a cancel here undoes the pairing whole."""
        adopt = asyncio.ensure_future(self.session.adopt(tokens))
        try:
            return await asyncio.shield(adopt)
        except asyncio.CancelledError:
            adopt.cancel()
            await asyncio.gather(adopt, return_exceptions=True)
            # Revoke at Frame.io and wipe locally, whether or not the tokens were stored yet.
            await asyncio.shield(self._undo(tokens))
            raise

    async def _undo(self, tokens: TokenSet) -> None:
        if self.session.credentials is not None:
            await self.session.unpair()
            return
        try:
            await self.client.revoke(
                self.settings.client_id, self.settings.client_secret, tokens.refresh_token
            )
        except FrameioError as exc:
            log.warning("could not revoke the tokens of a cancelled pairing: %s", exc)


def _with(
    base: PairingUpdate,
    step: PairingStep,
    message: str,
    interval: float | None = None,
    device: ProjectDevice | None = None,
) -> PairingUpdate:
    return PairingUpdate(
        step,
        user_code=base.user_code,
        verification_uri=base.verification_uri,
        verification_uri_complete=base.verification_uri_complete,
        expires_at=base.expires_at,
        interval=base.interval if interval is None else interval,
        codes_issued=base.codes_issued,
        message=message,
        device=device,
    )
