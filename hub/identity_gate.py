"""``GET /v2/devices/me``, asked politely: one call in flight, one a minute, except after news.

Seed 001 asks a device to read ``/v2/devices/me`` no more than once a minute. Several parts of
the hub want it (presence confirming a pause, the channel manager resolving a 409, the uploader
confirming a "Channel Paused", the session after a token refresh), often at the same moment,
so every one of them asks through one :class:`IdentityGate`:

- **one in flight**: whoever asks while a call is under way shares its answer;
- **one a minute**: a plain ask within ``min_interval`` of the last call gets the last answer
  (an ask with no answer to give waits until a call is allowed);
- **except after news**: an ask with a reason (:data:`NEWS`: a ``status_updated`` push, a 409,
  a token refresh, a reconnect, a new pairing) makes the last answer stale, so it is allowed a
  call at once. News that arrives before that call starts shares it; news that arrives while a
  call is in flight, or within ``coalesce_s`` (1 s, wall time) of the last call's start, gets one
  more call once that second is over, shared by all of it: a burst of news costs a call a
  second at most, not one each.

The minute is the injected clock's (a test crosses it with ``ManualClock.advance``); the
one-second spacing of news calls is wall time, a debounce no test needs to fast-forward.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from c2c_hub.clock import Clock
from c2c_hub.frameio import ProjectDevice
from c2c_hub.tasks import sleep_or_wake

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 60.0
NEWS = frozenset({"status_updated", "conflict", "token_refresh", "reconnect", "pairing"})


class IdentityGate:
    """Every ``/v2/devices/me`` of the hub goes through :meth:`ask` (see the module docstring)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[ProjectDevice]],
        last_answer: Callable[[], ProjectDevice | None],
        clock: Clock,
        *,
        min_interval: float = MIN_INTERVAL_S,
        unsent: tuple[type[BaseException], ...] = (),
        coalesce_s: float = 1.0,
    ) -> None:
        if min_interval <= 0:
            raise ValueError("min_interval must be positive")
        self._fetch = fetch
        self._last_answer = last_answer
        self.clock = clock
        self.min_interval = min_interval
        self._unsent = unsent  # errors raised before a request went out: the call does not count
        self.coalesce_s = coalesce_s  # wall seconds between two calls made for news
        self._last_wall = -coalesce_s  # time.monotonic() of the last call's start
        self._started = asyncio.Event()  # replaced (after being set) whenever a call starts
        self._flight: asyncio.Future[ProjectDevice] | None = None
        self._flight_covers = 0  # the news the call in flight (or the last one) answers
        self._news = 0  # news seen so far (a sequence number)
        self.last_started_at: float | None = None
        self.calls = 0
        self.spared = 0  # asks answered with the last answer, no call made
        self.reasons: collections.Counter[str] = collections.Counter()  # calls made for news

    def due_at(self) -> float:
        """When a plain ask may next make a call (now, if it may already)."""
        if self.last_started_at is None:
            return self.clock.now()
        return self.last_started_at + self.min_interval

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "spared": self.spared,
            "last_started_at": self.last_started_at,
            "next_plain_call_at": self.due_at(),
            "calls_for_news": dict(self.reasons),
        }

    async def ask(self, reason: str | None = None) -> ProjectDevice:
        """The project device as Frame.io last told it, asking again only when allowed."""
        wanted: int | None = None
        if reason is not None:
            if reason not in NEWS:
                raise ValueError(f"unknown reason {reason!r}; one of {sorted(NEWS)}")
            self._news += 1
            wanted = self._news
        while True:
            flight = self._flight
            if flight is not None and flight.done() and not self._answers(wanted):
                # Landed, its done callback not run yet, and too early for this news. Awaiting
                # a done future never yields to the loop, so going round again would spin for
                # ever (the callback could never run): let it land, then ask again.
                self._landed(flight)
                flight = None
            if flight is not None:
                covers = self._flight_covers
                answer = await asyncio.shield(flight)
                if wanted is None or covers >= wanted:
                    return answer
                continue  # news came while it was in flight: one more call, shared
            if wanted is not None:
                if self._flight_covers >= wanted:  # a call started after the news has ended
                    last = self._last_answer()
                    if last is not None:
                        return last
                # A burst of news (409s a create apart, one event heard by several parts of
                # the hub) shares calls: one at most every coalesce_s, the rest wait for it.
                spacing = self._last_wall + self.coalesce_s - time.monotonic()
                if spacing > 0:
                    await asyncio.sleep(spacing)
                    continue
                await asyncio.sleep(0)  # news of this very moment shares this call
                if self._flight is not None:
                    continue
                return await self._start(reason)
            due = self.due_at()
            if self.clock.now() >= due:
                return await self._start(None)
            last = self._last_answer()
            if last is not None:
                self.spared += 1
                return last
            # Nothing to give yet: wait for the minute, or for a call someone else starts.
            await sleep_or_wake(self.clock, due - self.clock.now(), self._started)

    def _answers(self, wanted: int | None) -> bool:
        """Whether the call in flight (or the last one) answers news number ``wanted``."""
        return wanted is None or self._flight_covers >= wanted

    async def _start(self, reason: str | None) -> ProjectDevice:
        self._flight_covers = self._news
        previous, previous_wall = self.last_started_at, self._last_wall
        self.last_started_at = self.clock.now()
        self._last_wall = time.monotonic()
        self.calls += 1
        started, self._started = self._started, asyncio.Event()
        started.set()
        if reason is not None:
            self.reasons[reason] += 1
        future = asyncio.ensure_future(self._fetch())
        self._flight = future
        future.add_done_callback(self._landed)
        try:
            return await asyncio.shield(future)
        except self._unsent:
            if self.last_started_at is not None and self._flight is None:
                self.last_started_at, self.calls = previous, self.calls - 1
                self._last_wall = previous_wall
            raise

    def _landed(self, future: asyncio.Future[ProjectDevice]) -> None:
        if self._flight is future:
            self._flight = None
        if not future.cancelled():
            future.exception()  # retrieved here: every waiter may have gone

    async def stop(self) -> None:
        """Cancel a call still in flight (its waiters see CancelledError)."""
        flight, self._flight = self._flight, None
        if flight is not None and not flight.done():
            flight.cancel()
            await asyncio.gather(flight, return_exceptions=True)
