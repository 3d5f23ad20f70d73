"""Progress: a stream of events for listeners, and the throughput over the last seconds.

Events are plain JSON-able dicts (``type`` plus fields), told only after what they report is
stored (a ``part_acked`` event follows the part's commit). Types:

- ``file``: a file changed state (``state``, ``reason``);
- ``part_acked``: a part was acknowledged (``part``, ``bytes_acked``, ``size``);
- ``retry``: an attempt failed and will be retried (``reason``, ``attempt``, ``delay``);
- ``asset``: an asset was created (``asset_id``, ``parts``; ``recreated`` after an expiry);
- ``paused``: the uploader stopped starting new uploads, or started again (``paused``, ``reason``).
- ``recovered``: after a restart, acknowledged parts no longer matched the file on disk; the
  asset is created again (``reason``, ``abandoned_asset``, ``bytes_abandoned``,
  ``bytes_resent``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]
EventListener = Callable[[Event], None]


class EventStream:
    """Listeners (callbacks) and async iterators over the same events."""

    def __init__(self, *, buffer: int = 10_000) -> None:
        self._listeners: list[EventListener] = []
        self._queues: set[asyncio.Queue[Event]] = set()
        self._buffer = buffer
        self.dropped = 0

    def on_event(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event; returns the unsubscribe callable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: Event) -> None:
        event.setdefault("at", time.time())
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("upload event listener failed")
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Event]]:
        """``async with stream.subscribe() as events: async for event in events: ...``"""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._buffer)
        self._queues.add(queue)

        async def iterate() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield iterate()
        finally:
            self._queues.discard(queue)


class Throughput:
    """Bytes per second over the last ``window`` seconds (monotonic time: a measurement)."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self.total = 0

    def add(self, nbytes: int, at: float | None = None) -> None:
        now = time.monotonic() if at is None else at
        self._samples.append((now, nbytes))
        self.total += nbytes
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self.window:
            self._samples.popleft()

    def rate(self, at: float | None = None) -> float:
        now = time.monotonic() if at is None else at
        self._trim(now)
        if not self._samples:
            return 0.0
        span = max(now - self._samples[0][0], 1.0 if len(self._samples) == 1 else 0.25)
        return sum(n for _, n in self._samples) / min(max(span, 0.25), self.window)
