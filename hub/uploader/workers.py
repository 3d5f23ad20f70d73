"""The workers: claim the most urgent queued file, send it, record how it ended.

``files_in_parallel`` workers run; with parallel uploads off only the first claims. A worker
claims only while the start gate is open (not paused, not held, credentials usable) and only
files whose sub-device's channel is ready (:class:`~c2c_hub.uploader.routing.ChannelRouter`).
A claimed file is sent by the basic path, or, for a real-time file whose recording has ended
(after a restart, or started by hand), by the real-time path's ``finish``. An
:class:`~c2c_hub.uploader.failures.Outcome` ends it per the failure policy; otherwise it is
``done``.
"""

from __future__ import annotations

import asyncio

from c2c_hub.clock import Clock
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake
from c2c_hub.uploader.basic import BasicUploads
from c2c_hub.uploader.failures import FailurePolicy, Outcome
from c2c_hub.uploader.gate import StartGate
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.queue import FileRecord, FileState
from c2c_hub.uploader.realtime import RealtimeUploads
from c2c_hub.uploader.routing import ChannelRouter


class Workers:
    """``files_in_parallel`` claim loops and the file each one is sending."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        gate: StartGate,
        router: ChannelRouter,
        failures: FailurePolicy,
        basic: BasicUploads,
        realtime: RealtimeUploads,
        *,
        files_in_parallel: int,
    ) -> None:
        self.ledger = ledger
        self.queue = ledger.queue
        self.clock = clock
        self.gate = gate
        self.router = router
        self.failures = failures
        self.basic = basic
        self.realtime = realtime
        self.count = max(1, files_in_parallel)
        self._loops: list[asyncio.Task[None]] = []
        self._wakes: list[asyncio.Event] = []
        self._files: dict[int, asyncio.Task[None]] = {}

    def start(self) -> None:
        for index in range(self.count):
            wake = self.ledger.wake.listener()
            self._wakes.append(wake)
            self._loops.append(
                asyncio.create_task(self._loop(index, wake), name=f"uploader-worker-{index}")
            )

    async def stop(self) -> None:
        tasks = [*self._loops, *self._files.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await cancel_and_wait(task)
        self._loops.clear()
        self._files.clear()
        for wake in self._wakes:
            self.ledger.wake.remove(wake)
        self._wakes.clear()

    def cancel_file(self, file_id: int) -> None:
        """Abort the upload of ``file_id`` if a worker is sending it."""
        task = self._files.get(file_id)
        if task is not None:
            task.cancel()

    def _allowed(self) -> int:
        return self.count if self.ledger.parallel else 1

    async def _loop(self, index: int, wake: asyncio.Event) -> None:
        ledger = self.ledger
        while True:
            wake.clear()
            record: FileRecord | None = None
            if index < self._allowed() and self.gate.may_start():
                record = await self.queue.claim(
                    self.clock.now(),
                    manual=self.ledger.mode == "manual",
                    devices=self.router.claimable_devices(),
                )
            if record is None:
                idle = 0.5 if self.gate.polled else 30.0
                if self.router.recheck_s is not None:
                    idle = min(idle, self.router.recheck_s + 0.01)
                await sleep_or_wake(self.clock, idle, wake)
                continue
            ledger.wake.set()  # another worker may take the next file
            ledger.changed.set()
            ledger.emit_file(record)
            task = asyncio.create_task(self._process(record), name=f"upload-file-{record.id}")
            self._files[record.id] = task
            try:
                await asyncio.wait({task})
            finally:
                if self._files.get(record.id) is task:
                    del self._files[record.id]
                ledger.forget(record.id)

    async def _process(self, record: FileRecord) -> None:
        try:
            if record.realtime:
                await self.realtime.finish(record.id)
            else:
                await self.basic.run(record.id)
        except Outcome as outcome:
            await self.failures.conclude(record.id, outcome.verdict)
            return
        await self.ledger.set_state(record.id, FileState.DONE, only_from=[FileState.UPLOADING])
