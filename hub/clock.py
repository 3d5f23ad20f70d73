"""Time, injected: the hub never calls ``time.time()`` or ``asyncio.sleep()`` directly for
anything a test must fast-forward (token lifetimes, heartbeats, polling, backoff).

:class:`SystemClock` is real time. :class:`ManualClock` only moves when a test advances it,
waking every sleeper whose deadline has passed, so an 8-hour token expires in a millisecond.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Coroutine
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time, counted from the call.

        The count starts when ``sleep()`` is called, not when its coroutine first runs: a
        sleep handed to a new task (``asyncio.wait`` over a sleep and an event) starts a loop
        turn later, and the clock may move in that turn.
        """
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        return self._until(time.monotonic() + seconds)

    @staticmethod
    async def _until(deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


class ManualClock:
    """A clock for tests: ``advance()`` moves it and wakes the sleepers that are due."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        # The deadline is taken now: a test that advances the clock before the sleeping task
        # first runs must still wake it (an advance past a deadline not yet registered was lost).
        return self._until(self._now + seconds)

    async def _until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move forward; sleepers due by then wake (in deadline order) on the next loop turn."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())
