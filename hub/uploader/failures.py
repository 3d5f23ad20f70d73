"""What a failure does to a file: wait and try again, or end the file's attempt with a verdict.

:func:`~c2c_hub.uploader.policy.classify` says what a failure *means*; :class:`FailurePolicy`
acts on it for every step of every upload, basic or real-time:

- :meth:`FailurePolicy.attempt` runs a step until it succeeds or the verdict says stop;
- :meth:`FailurePolicy.retry_or_raise` waits out the backoff (refreshing the session first
  after a 401), notes the reason for the snapshot and tells a ``retry`` event, or raises
  :class:`Outcome`, which ends the file's attempt;
- :meth:`FailurePolicy.conclude` records how a file ended per its verdict (``failed``,
  ``corrupt``, ``skipped_paused``, or back to ``queued`` while nothing can be sent), never over
  a person's cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from c2c_hub.clock import Clock
from c2c_hub.errors import HubError
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.tasks import sleep_or_wake
from c2c_hub.uploader.gate import StartGate
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.policy import Action, RetryPolicy, Verdict, classify
from c2c_hub.uploader.queue import FileState

if TYPE_CHECKING:  # only its type: the monitor (and ifaddr) is the hub's, not the uploader's
    from c2c_hub.connectivity import ConnectivityMonitor

log = logging.getLogger(__name__)

T = TypeVar("T")
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Outcome(HubError):
    """Ends a file's attempt with a verdict (raised out of the retry loops).

    Used inside the uploader only (the basic workers and the real-time path): it never reaches
    a caller of :class:`c2c_hub.uploader.Uploader`.
    """

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


_SEVERITY = {
    Action.CORRUPT: 0,
    Action.FAIL: 1,
    Action.SKIP_PAUSED: 2,
    Action.HOLD: 3,
    Action.NEW_URL: 4,
}


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """The outcome that weighs most on the file (corrupt over failed over paused …)."""
    return min(outcomes, key=lambda o: _SEVERITY.get(o.verdict.action, 9))


class FailurePolicy:
    """Retries, backoff and endings for every upload step (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        session: Session,
        clock: Clock,
        retry: RetryPolicy,
        gate: StartGate,
        spawn: Spawn,
        connectivity: ConnectivityMonitor | None = None,
    ) -> None:
        self.ledger = ledger
        self.session = session
        self.clock = clock
        self.retry = retry
        self.gate = gate
        self.spawn = spawn
        self.connectivity = connectivity
        self._network_changed = asyncio.Event()

    def verdict(self, exc: BaseException) -> Verdict:
        return classify(exc, suspicious_attempts=self.retry.suspicious_attempts)

    async def attempt(self, file_id: int, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` until it succeeds or the policy says stop (then raise :class:`Outcome`)."""
        attempt = 0
        while True:
            try:
                return await fn()
            except (asyncio.CancelledError, Outcome):
                raise
            except Exception as exc:
                attempt += 1
                await self.retry_or_raise(file_id, what, self.verdict(exc), attempt)

    async def retry_or_raise(self, file_id: int, what: str, verdict: Verdict, attempt: int) -> None:
        """Wait before the next attempt, or raise :class:`Outcome` when there is none."""
        if verdict.action not in (Action.RETRY, Action.REFRESH):
            raise Outcome(verdict)
        if self.retry.gives_up(verdict, attempt):
            raise Outcome(
                Verdict(Action.FAIL, f"{what}: gave up after {attempt} attempts: {verdict.reason}")
            )
        if verdict.action is Action.REFRESH:
            try:
                await self.session.refresh()
            except NeedsPairing as exc:
                raise Outcome(Verdict(Action.HOLD, exc.reason)) from None
            except Exception as exc:  # the refresh itself failed: back off, try again
                log.info("refresh after a 401 failed: %s", exc)
        delay = self.retry.delay(attempt, verdict)
        self.ledger.note_retrying(file_id, f"{what}: {verdict.reason}")
        self.ledger.emit(
            {
                "type": "retry",
                "file_id": file_id,
                "what": what,
                "reason": verdict.reason,
                "attempt": attempt,
                "delay": round(delay, 3),
            }
        )
        if self.connectivity is not None and verdict.action is Action.RETRY:
            self.connectivity.poke()
        if await sleep_or_wake(self.clock, delay, self._network_changed):
            log.info("%s: retrying now, the network changed", what)

    def network_changed(self) -> None:
        """The hub is on another network: every retry waiting out its backoff goes now (the
        failure it waits on may have been the old network's)."""
        woken, self._network_changed = self._network_changed, asyncio.Event()
        woken.set()

    async def conclude(self, file_id: int, verdict: Verdict) -> None:
        """Record a file's ending per ``verdict`` (never over a person's cancel)."""
        live = [FileState.UPLOADING, FileState.RECORDING, FileState.QUEUED]
        ledger = self.ledger
        action = verdict.action
        if action is Action.SKIP_PAUSED:
            await ledger.set_state(
                file_id, FileState.SKIPPED_PAUSED, verdict.reason, only_from=live
            )
            self.spawn(self.gate.confirm_pause(), "uploader-confirm-pause")
        elif action is Action.CORRUPT:
            await ledger.set_state(file_id, FileState.CORRUPT, verdict.reason, only_from=live)
        elif action is Action.HOLD:
            self.gate.hold(verdict.reason)
            await ledger.set_state(
                file_id, FileState.QUEUED, f"waiting: {verdict.reason}", only_from=live
            )
        else:
            await ledger.set_state(file_id, FileState.FAILED, verdict.reason, only_from=live)
