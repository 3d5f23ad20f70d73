"""Whether new uploads may start: the operator's hold, Frame.io's pause, and missing credentials.

:class:`StartGate` answers one question, :meth:`StartGate.may_start`, for the workers and the
real-time path. Uploads already under way are never stopped by it; files simply wait, and
go on by themselves when the gate opens. What closes it:

- the operator's hold (``set_held``: persisted in the queue, so it survives a restart);
- the pause source (the hub's presence: ``paused`` as ``GET /v2/devices/me`` confirms it);
- a 409 "Channel Paused" the uploader met itself and ``/v2/devices/me`` then confirmed
  (:meth:`StartGate.confirm_pause`; with no pause source that can notify, ``/me`` is asked
  again every ``pause_poll_s`` until the pause is over);
- no usable credentials (``hold``): until the session changes, nothing can be sent.

Every change of "paused" is told as a ``paused`` event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from c2c_hub.clock import Clock
from c2c_hub.frameio import ApiError, FrameioError, TransportError
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.pause import PauseLike, as_pause_source

log = logging.getLogger(__name__)


class StartGate:
    """May a new upload start now, and if not, why not."""

    def __init__(
        self,
        ledger: Ledger,
        session: Session,
        clock: Clock,
        pause: PauseLike,
        *,
        pause_poll_s: float,
    ) -> None:
        self.ledger = ledger
        self.session = session
        self.clock = clock
        self.pause_poll_s = pause_poll_s
        self.source, self.polled = as_pause_source(pause)
        self.running = False
        self.waiting_for: str | None = None  # nothing can be sent (not paired): the reason
        self._server_paused = False  # a 409 confirmed by /v2/devices/me
        self._was_paused = False
        self._poll: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Listen to the pause source and the session; the gate opens once running."""
        if self.source is not None:
            self._unsubscribe.append(self.source.on_change(lambda _: self.changed()))
        self._unsubscribe.append(self.session.on_change(lambda _: self._session_changed()))
        self._was_paused = self.paused
        self.running = True

    def close(self) -> asyncio.Task[None] | None:
        """Closed for good: stop listening; returns the ``/me`` poll to cancel, if running."""
        self.running = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        poll, self._poll = self._poll, None
        return poll

    # ------------------------------------------------------------------ the answer
    def may_start(self) -> bool:
        return self.running and not self.paused and self.waiting_for is None

    @property
    def held_by_operator(self) -> bool:
        """An operator paused uploading here (persisted; Frame.io's pause is separate)."""
        queue = self.ledger.queue
        return bool(queue.setting("held", False)) if queue.is_open else False

    async def set_held(self, on: bool) -> None:
        await self.ledger.queue.set_setting("held", bool(on))
        self.changed()

    @property
    def paused(self) -> bool:
        source = self.source.paused if self.source is not None else None
        return bool(source) or self._server_paused or self.held_by_operator

    @property
    def paused_reason(self) -> str | None:
        if self.held_by_operator:
            return "uploading is paused by the operator (c2c-hub resume, or the web page)"
        if self.source is not None and self.source.paused:
            return "the device is paused in Frame.io"
        if self._server_paused:
            return "Frame.io answered 409 Channel Paused and /v2/devices/me confirms the pause"
        return None

    def hold(self, reason: str) -> None:
        """Nothing can be sent until the session changes (no usable credentials)."""
        self.waiting_for = reason

    # ------------------------------------------------------------------ changes
    def changed(self) -> None:
        if self.source is not None and self.source.paused is False:
            self._server_paused = False
        now_paused = self.paused
        if now_paused != self._was_paused:
            self._was_paused = now_paused
            self.ledger.emit({"type": "paused", "paused": now_paused, "reason": self.paused_reason})
            log.info("uploads %s", "paused" if now_paused else "resumed")
        self.ledger.wake.set()

    def _session_changed(self) -> None:
        if self.waiting_for is not None and self.session.paired:
            self.waiting_for = None
        self.ledger.wake.set()

    async def confirm_pause(self) -> None:
        """After a 409: is the device paused now? If so, hold new starts until it is not."""
        try:
            device = await self.session.refresh_identity("conflict")  # news: asked at once
        except (FrameioError, NeedsPairing) as exc:
            log.info("could not confirm the pause (%s)", exc)
            return
        if device.paused and not self._server_paused:
            self._server_paused = True
            self.changed()
            # A source that notifies (presence) reads /me itself and tells us of the resume.
            notifies = self.source is not None and not self.polled
            if not notifies and (self._poll is None or self._poll.done()):
                self._poll = asyncio.create_task(self._poll_pause(), name="uploader-pause")

    async def _poll_pause(self) -> None:
        while self._server_paused:
            await self.clock.sleep(self.pause_poll_s)
            try:
                device = await self.session.call(self.session.client.me)
            except (ApiError, TransportError, NeedsPairing):
                continue
            if not device.paused:
                self._server_paused = False
                self.changed()
