"""A tracker pool: one task per device, claims by serial, restarts with backoff, health once.

A source that follows many devices (every mDNS service, every BLE address) keeps one
*tracker* per device, each an object with an ``async run()`` that follows it for as long as it
is there. :class:`TrackerPool` is the scaffolding every such source needs:

- **one task per device**: :meth:`TrackerPool.start` makes a tracker for a key only if there is
  none (a device discovered twice is tracked once); each task is named ``"<name> <key>"``;
- **claims by serial**: two keys (two services, two addresses) may turn out to be one device;
  the first to :meth:`~TrackerPool.claim` its serial attaches it, the other is told who holds it;
- **restart with backoff**: a tracker whose ``run`` raises (a bug) is logged with its traceback,
  told it is :meth:`~Tracker.retired` (it detaches its device), and made again after a capped,
  jittered backoff (:class:`~c2c_hub.plugin.runner.RestartPolicy`), until it is retired;
- **health reports once**: :meth:`~TrackerPool.report` passes a report on to ``ctx.report``
  only when it differs from the last one;
- :meth:`~TrackerPool.close` cancels every task and pending restart and waits for them.

It lives on the source's own event loop (a source runs in its own thread); nothing is
thread-safe, nothing needs to be.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, Protocol, TypeVar

from c2c_hub.plugin.runner import RestartPolicy, describe_error

K = TypeVar("K", bound=Hashable)
T = TypeVar("T", bound="Tracker")

#: How a crashed tracker is made again: 1 s, then doubling to 30 s; a run of a minute resets it.
TRACKER_RESTARTS = RestartPolicy(initial=1.0, max=30.0, jitter=0.5, reset_after=60.0)


class Tracker(Protocol):
    """What the pool runs: one device's follower."""

    async def run(self) -> None:
        """Follow the device until cancelled (returning means: nothing more to do for it)."""
        ...

    def retired(self, reason: str) -> None:
        """The pool let it go (:meth:`TrackerPool.retire`, or its ``run`` raised): detach now."""
        ...


class _Reporting(Protocol):
    @property
    def log(self) -> logging.Logger: ...

    def report(self, healthy: bool, detail: str) -> None: ...


class TrackerPool(Generic[K, T]):
    """Trackers by key (one task each), claims by serial, restarts, de-duplicated health.

    :param ctx: the source's context (for its logger and its health reports).
    :param name: the prefix of the trackers' task names (the source's name, say).
    :param restarts: the backoff before a crashed tracker is made again.
    :param on_change: called when a tracker is added, retired or restarted (to report health).
    """

    def __init__(
        self,
        ctx: _Reporting,
        *,
        name: str,
        restarts: RestartPolicy = TRACKER_RESTARTS,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.restarts = restarts
        self.on_change = on_change
        self._trackers: dict[K, T] = {}
        self._makers: dict[K, Callable[[], T]] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._pending: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._started_at: dict[K, float] = {}
        self._claims: dict[str, K] = {}
        self._last_report: tuple[bool, str] | None = None
        self._closed = False

    # ------------------------------------------------------------------ trackers
    def start(self, key: K, make: Callable[[], T]) -> T:
        """The tracker of ``key``: the one there is, else ``make()``'s, started on its task."""
        tracker = self._trackers.get(key)
        if tracker is not None:
            return tracker
        if self._closed:
            raise RuntimeError(f"{self.name}: the tracker pool is closed")
        self._makers[key] = make
        tracker = self._launch(key)
        self._changed()
        return tracker

    def _launch(self, key: K) -> T:
        tracker = self._makers[key]()
        self._trackers[key] = tracker
        loop = asyncio.get_running_loop()
        task = loop.create_task(tracker.run(), name=f"{self.name} {key}")
        self._tasks[key] = task
        self._started_at[key] = loop.time()
        task.add_done_callback(lambda t: self._ended(key, tracker, t))
        return tracker

    def retire(self, key: K, reason: str) -> T | None:
        """Stop tracking ``key`` (its device left): told :meth:`Tracker.retired`, task cancelled."""
        tracker = self._trackers.pop(key, None)
        self._makers.pop(key, None)
        self._failures.pop(key, None)
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending.cancel()
        task = self._tasks.pop(key, None)
        if tracker is None:
            return None
        tracker.retired(reason)
        if task is not None and not task.done():
            task.cancel()
        self._release_all(key)
        self._changed()
        return tracker

    def _ended(self, key: K, tracker: T, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if task.cancelled() or self._trackers.get(key) is not tracker:
            return
        error = task.exception()
        if error is None:
            return  # it has nothing more to do: it stays known (a refused device, say)
        loop = asyncio.get_running_loop()
        if loop.time() - self._started_at.get(key, 0.0) >= self.restarts.reset_after:
            self._failures[key] = 0
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = self.restarts.delay(failures)
        self.ctx.log.error(
            "%s: tracker failed (%s); restarting it in %.1f s",
            key,
            describe_error(error),
            delay,
            exc_info=error if failures == 1 else None,
        )
        tracker.retired(f"internal error: {describe_error(error)}")
        self._release_all(key)
        if not self._closed:
            self._pending[key] = loop.call_later(delay, self._restart, key)
        self._changed()

    def _restart(self, key: K) -> None:
        self._pending.pop(key, None)
        if self._closed or key not in self._makers:
            return
        self._trackers.pop(key, None)
        self._launch(key)
        self._changed()

    def get(self, key: K) -> T | None:
        return self._trackers.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._trackers

    def __len__(self) -> int:
        return len(self._trackers)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._trackers.values()))

    def items(self) -> list[tuple[K, T]]:
        return list(self._trackers.items())

    # ------------------------------------------------------------------ claims
    def claim(self, serial: str, key: K) -> K | None:
        """Claim ``serial`` for ``key``: None when it is ``key``'s now, else the holder's key."""
        holder = self._claims.get(serial)
        if holder is not None and holder != key:
            return holder
        self._claims[serial] = key
        return None

    def take(self, serial: str, key: K) -> K | None:
        """Claim ``serial`` for ``key`` whoever holds it; the key it was taken from, if any."""
        holder = self._claims.get(serial)
        self._claims[serial] = key
        return holder if holder != key else None

    def holder(self, serial: str) -> T | None:
        """The tracker that holds ``serial`` (None if nobody does)."""
        key = self._claims.get(serial)
        return None if key is None else self._trackers.get(key)

    def holds(self, serial: str, key: K) -> bool:
        return self._claims.get(serial) == key

    def release(self, serial: str, key: K) -> bool:
        """Give ``serial`` up, if ``key`` holds it."""
        if self._claims.get(serial) == key:
            del self._claims[serial]
            return True
        return False

    def _release_all(self, key: K) -> None:
        for serial in [s for s, k in self._claims.items() if k == key]:
            del self._claims[serial]

    # ------------------------------------------------------------------ health
    def report(self, healthy: bool, detail: str) -> None:
        """``ctx.report(healthy, detail)``, unless it is what was reported last."""
        report = (bool(healthy), str(detail))
        if report != self._last_report:
            self._last_report = report
            self.ctx.report(*report)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ the end
    async def close(self) -> None:
        """Cancel every tracker and pending restart, and wait for the tasks to end."""
        self._closed = True
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
