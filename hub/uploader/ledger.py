"""The bookkeeping every part of the uploader shares: the queue, what is in flight, and events.

:class:`Ledger` holds the durable :class:`~c2c_hub.uploader.queue.UploadQueue` and the
:class:`~c2c_hub.uploader.progress.EventStream`, and keeps the rule that a change is stored
before anyone is told: :meth:`Ledger.set_state` commits, then emits the ``file`` event, then
wakes the workers and the waiters. It also keeps what only lives in memory while files move:
bytes of part PUTs under way (for progress), the last reason a file is retrying or waiting,
and the two signals the uploader runs on (``wake``: a worker may find work; ``changed``: a
waiter may find its file ended).

Nothing here sends anything or decides anything; it never calls back into the facade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from c2c_hub.clock import Clock
from c2c_hub.uploader.config import Mode
from c2c_hub.uploader.progress import Event, EventStream, Throughput
from c2c_hub.uploader.queue import FileRecord, FileState, UploadQueue


class Wake:
    """A wake-up every worker hears: one event per listener, so no listener clears another's.

    (One shared ``asyncio.Event`` loses wake-ups: a worker that may not claim clears it while
    the one that may is still busy claiming, and then sleeps through the news.)
    """

    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []

    def listener(self) -> asyncio.Event:
        event = asyncio.Event()
        event.set()  # look once at the start
        self._events.append(event)
        return event

    def remove(self, event: asyncio.Event) -> None:
        if event in self._events:
            self._events.remove(event)

    def set(self) -> None:
        for event in self._events:
            event.set()


class Ledger:
    """The queue, the event stream and the in-memory progress of files under way."""

    def __init__(self, queue: UploadQueue, clock: Clock, *, throughput_window_s: float) -> None:
        self.queue = queue
        self.clock = clock
        self.events = EventStream()
        self.throughput = Throughput(throughput_window_s)
        self.wake = Wake()  # a worker may find something to do
        self.changed = asyncio.Event()  # a file's state or progress changed
        self._inflight: dict[int, int] = {}  # bytes of unacknowledged PUTs in progress
        self._retrying: dict[int, str] = {}  # the last reason a file is retrying or waiting

    # ------------------------------------------------------------------ records
    def record(self, file_id: int) -> FileRecord:
        """The stored record of ``file_id`` (KeyError with a readable message)."""
        try:
            return self.queue.files[file_id]
        except KeyError:
            raise KeyError(f"no file {file_id} in the upload queue") from None

    @property
    def mode(self) -> Mode:
        """``auto``: every queued file goes; ``manual``: files wait for a start."""
        mode: Mode = self.queue.setting("mode", "auto")
        return mode

    @property
    def parallel(self) -> bool:
        """Several files at once (on) or one at a time (off)."""
        return bool(self.queue.setting("parallel", True))

    def now(self) -> float:
        return self.clock.now()

    async def set_state(
        self,
        file_id: int,
        state: FileState,
        reason: str | None = None,
        /,
        *,
        only_from: Iterable[FileState] | None = None,
        **changes: Any,
    ) -> FileRecord | None:
        """Store a file's state (with ``only_from``: only from those) and any plain columns
        ``changes`` in one commit, then tell everyone."""
        record = await self.queue.set_state(
            file_id, state, self.clock.now(), reason, only_from=only_from, **changes
        )
        if record is not None:
            self.set_changed(record)
        return record

    def set_changed(self, record: FileRecord) -> None:
        """Tell listeners and waiters that ``record`` changed (it is stored already)."""
        self.emit_file(record)
        self.changed.set()
        self.wake.set()

    def emit(self, event: Event) -> None:
        self.events.emit(event)

    def emit_file(self, record: FileRecord) -> None:
        self.events.emit(
            {
                "type": "file",
                "file_id": record.id,
                "name": record.name,
                "path": record.path,
                "state": record.state.value,
                "reason": record.reason,
                "asset_id": record.asset_id,
                "bytes_acked": record.bytes_acked,
                "size": record.size,
            }
        )

    # ------------------------------------------------------------------ in flight
    def sent(self, file_id: int, nbytes: int) -> None:
        """``nbytes`` of a PUT of ``file_id`` went out (negative: taken back)."""
        self._inflight[file_id] = self._inflight.get(file_id, 0) + nbytes
        if nbytes > 0:
            self.throughput.add(nbytes)

    def taken_back(self, file_id: int, nbytes: int) -> None:
        """A PUT ended (acknowledged or not): its bytes no longer count as in flight."""
        self._inflight[file_id] = self._inflight.get(file_id, 0) - nbytes

    def in_flight(self, file_id: int) -> int:
        return max(0, self._inflight.get(file_id, 0))

    def retrying(self, file_id: int) -> str | None:
        return self._retrying.get(file_id)

    def note_retrying(self, file_id: int, reason: str) -> None:
        self._retrying[file_id] = reason

    def clear_retrying(self, file_id: int) -> None:
        self._retrying.pop(file_id, None)

    def forget(self, file_id: int) -> None:
        """A worker let go of the file: nothing of it is in flight any more."""
        self._inflight.pop(file_id, None)
        self._retrying.pop(file_id, None)

    # ------------------------------------------------------------------ waiting
    async def wait_idle(self) -> None:
        """Until no file is recording, queued or uploading (wrap in ``asyncio.timeout``)."""
        while True:
            self.changed.clear()
            if not self.queue.active():
                return
            await self.changed.wait()

    async def wait_for(self, file_id: int) -> FileRecord:
        """Until ``file_id`` is in a final state; returns its record."""
        while True:
            self.changed.clear()
            if self.record(file_id).final:
                return self.record(file_id)
            await self.changed.wait()

    def files_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in sorted(self.queue.files.values(), key=lambda r: r.id)]
