"""``Uploader``: the uploader's one public surface, a facade over parts that never call back.

``Uploader(queue_path, session, http, ...)``; ``await start()`` … ``await stop()``. Callers
(the runtime, the recorder, the control API, the CLI, the standalone process, the bench) use
only this class: enqueue, begin/end recording, controls, snapshot and events. It builds the
parts (see the map in :mod:`c2c_hub.uploader`), hands each the few others it needs, and keeps
no upload logic of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from c2c_hub.clock import Clock, SystemClock
from c2c_hub.frameio.congestion import CongestionControl
from c2c_hub.frameio.http import direct_settings
from c2c_hub.session import Session
from c2c_hub.tasks import BackgroundTasks, cancel_and_wait
from c2c_hub.uploader.basic import BasicUploads
from c2c_hub.uploader.config import Mode, UploadConfig, stream_controller
from c2c_hub.uploader.failures import FailurePolicy
from c2c_hub.uploader.filetypes import guess_filetype
from c2c_hub.uploader.gate import StartGate
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.mediacheck import check_file
from c2c_hub.uploader.pause import PauseLike
from c2c_hub.uploader.progress import Event, EventListener, EventStream, Throughput
from c2c_hub.uploader.queue import (
    ACTIVE_STATES,
    FINAL_STATES,
    FileRecord,
    FileState,
    NewFile,
    UploadQueue,
)
from c2c_hub.uploader.realtime import RealtimeUploads
from c2c_hub.uploader.routing import ChannelResolver, ChannelRouter
from c2c_hub.uploader.steps import SendSteps
from c2c_hub.uploader.streams import CongestionUpgrade
from c2c_hub.uploader.transfer import Pacer, PartSender, stat_file
from c2c_hub.uploader.workers import Workers

if TYPE_CHECKING:  # only its type: the monitor (and ifaddr) is the hub's, not the uploader's
    from c2c_hub.connectivity import ConnectivityMonitor

log = logging.getLogger(__name__)


class Uploader:
    """The durable, resumable uploader (see :mod:`c2c_hub.uploader` and ``docs/uploader.md``)."""

    def __init__(
        self,
        queue_path: Path,
        session: Session,
        http: httpx.AsyncClient,
        *,
        clock: Clock | None = None,
        config: UploadConfig | None = None,
        pause: PauseLike = None,
        connectivity: ConnectivityMonitor | None = None,
        channels: ChannelResolver | None = None,
        congestion: CongestionControl | None = None,
    ) -> None:
        self.config = config = config or UploadConfig()
        self.session = session
        self.clock = clock = clock or SystemClock()
        self.queue = UploadQueue(queue_path)
        self.sender = PartSender(
            http,
            streams=stream_controller(config),
            epoch_s=config.stream_epoch_s,
            chunk_size=config.chunk_size,
            timeout=config.part_timeout_s,
            direct=direct_settings(http) if config.direct_puts else None,
            upgrade=CongestionUpgrade(congestion.upgrade)
            if congestion is not None and congestion.upgrade
            else None,
        )
        self.congestion = congestion
        self.ledger = ledger = Ledger(
            self.queue, clock, throughput_window_s=config.throughput_window_s
        )
        self.gate = StartGate(ledger, session, clock, pause, pause_poll_s=config.pause_poll_s)
        self.router = ChannelRouter(ledger, channels, wait_s=config.channel_wait_s)
        self.tasks = BackgroundTasks(log)  # the parts' own background tasks
        self.failures = FailurePolicy(
            ledger, session, clock, config.retry, self.gate, self.tasks.spawn, connectivity
        )
        self.steps = SendSteps(
            ledger,
            session,
            clock,
            self.failures,
            self.sender,
            Pacer(clock, rate=config.create_rate, per=config.create_per_s),
            url_margin_s=config.url_margin_s,
            connectivity=connectivity,
        )
        self.realtime = RealtimeUploads(
            ledger,
            session,
            clock,
            self.steps,
            self.failures,
            self.gate,
            self.router,
            self.tasks.spawn,
            part_size=config.realtime_part_size,
            poll_s=config.realtime_poll_s,
            tail_limit=config.realtime_tail_limit,
        )
        basic = BasicUploads(
            ledger,
            session,
            self.steps,
            self.router,
            part_size=config.basic_part_size,
            max_recreates=config.max_recreates,
        )
        self.workers = Workers(
            ledger,
            clock,
            self.gate,
            self.router,
            self.failures,
            basic,
            self.realtime,
            files_in_parallel=config.files_in_parallel,
        )
        self._enqueue_lock = asyncio.Lock()

    # ================================================================== lifecycle
    @property
    def running(self) -> bool:
        return self.gate.running

    async def start(self) -> None:
        """Open the queue, give back what a crash left in flight, start the workers."""
        if self.running:
            return
        await self.queue.open(self.clock.now())
        if any(self.queue.recovered.values()):
            log.warning("upload queue recovered after an interruption: %s", self.queue.recovered)
        await self.realtime.recover()
        self.gate.open()
        self.workers.start()

    async def stop(self) -> None:
        """Stop every task; files under way go back to ``queued`` (nothing is lost).

        The queue is closed however the rest ends: its connection's thread is not a daemon,
        and one left open keeps the process from ending. (A give-back that fails is done by
        the next open's recovery.)
        """
        if not self.running and not self.queue.is_open:
            return
        try:
            poll = self.gate.close()
            if poll is not None:
                poll.cancel()
            spawned = self.tasks.cancel()
            await self.workers.stop()
            for task in [*spawned, poll]:
                await cancel_and_wait(task)
            await self.tasks.stop()
            self.sender.close()
            if self.queue.is_open:
                await self.queue.give_back(self.clock.now())
        finally:
            await self.queue.close()

    # ================================================================== pause and holds
    @property
    def held_by_operator(self) -> bool:
        """An operator paused uploading here (persisted; Frame.io's pause is separate)."""
        return self.gate.held_by_operator

    async def set_held(self, on: bool) -> None:
        """Pause (or resume) uploading: no new part starts; parts in flight finish."""
        await self.gate.set_held(on)

    @property
    def paused(self) -> bool:
        return self.gate.paused

    @property
    def paused_reason(self) -> str | None:
        return self.gate.paused_reason

    def may_start(self) -> bool:
        return self.gate.may_start()

    def network_changed(self) -> None:
        """The hub is on another network: retries waiting out a backoff go at once."""
        self.failures.network_changed()

    def channels_changed(self) -> None:
        """A channel was connected or disconnected: files waiting for one look again."""
        self.router.changed()

    # ================================================================== enqueue
    async def enqueue(
        self,
        path: str | os.PathLike[str],
        *,
        filetype: str | None = None,
        name: str | None = None,
        channel: int = 0,
        device: str | None = None,
        capture_time: float | None = None,
        priority: int = 0,
        kind: str | None = None,
    ) -> int:
        """Queue a finished file; returns its id (the same id again for the same file).

        ``device`` routes it to a sub-device's channel (looked up when its asset is created;
        the file waits while that channel is not connected), else it goes on ``channel``.

        ``capture_time`` (seconds since the epoch) is when the media was captured; it decides
        ``offset``, hence pause windows and the date folder. Default: the file's mtime.
        """
        full = _absolute(path)
        st = await stat_file(full)  # FileNotFoundError for a path that is not there
        async with self._enqueue_lock:
            existing = await self.queue.find(full, st.st_size, st.st_mtime_ns)
            if existing is not None:
                return existing.id
            shown = name or os.path.basename(full)
            # Checked before it is queued: a WAV cut short is corrupt, with the reason.
            problem = await asyncio.to_thread(check_file, full, shown, filetype)
            if problem is not None:
                log.warning("%s is corrupt, not uploaded: %s", shown, problem)
            record = await self.queue.add(
                path=full,
                name=shown,
                filetype=filetype or guess_filetype(shown),
                channel=channel,
                device=device,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                inode=st.st_ino,
                capture_time=capture_time if capture_time is not None else st.st_mtime,
                now=self.clock.now(),
                priority=priority,
                state=FileState.QUEUED if problem is None else FileState.CORRUPT,
                reason=problem,
                kind=kind,
            )
        self.ledger.set_changed(record)
        return record.id

    async def enqueue_many(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        filetype: str | None = None,
        channel: int = 0,
        device: str | None = None,
        capture_time: float | None = None,
        priority: int = 0,
    ) -> list[int]:
        """Queue many finished files at once; their ids, in order (as :meth:`enqueue` each).

        One thread hop stats and checks them all, and one transaction (one fsync) adds the new
        ones: thousands of files a second, where one :meth:`enqueue` each pays a commit each.
        A path that is not there raises ``FileNotFoundError`` before anything is queued.
        """
        fulls = [_absolute(path) for path in paths]
        stats = await asyncio.to_thread(lambda: [os.stat(full) for full in fulls])
        async with self._enqueue_lock:
            ids: list[int | None] = []
            fresh: dict[tuple[str, int, int], int] = {}  # identity -> index in ``new``
            new: list[tuple[str, os.stat_result]] = []
            for full, st in zip(fulls, stats, strict=True):
                existing = self.queue.files.find(full, st.st_size, st.st_mtime_ns)
                if existing is not None:
                    ids.append(existing.id)
                    continue
                key = (full, st.st_size, st.st_mtime_ns)
                if key not in fresh:
                    fresh[key] = len(new)
                    new.append((full, st))
                ids.append(None)
            problems = await asyncio.to_thread(
                lambda: [check_file(full, os.path.basename(full), filetype) for full, _ in new]
            )
            batch = []
            for (full, st), problem in zip(new, problems, strict=True):
                shown = os.path.basename(full)
                if problem is not None:
                    log.warning("%s is corrupt, not uploaded: %s", shown, problem)
                batch.append(
                    NewFile(
                        path=full,
                        name=shown,
                        filetype=filetype or guess_filetype(shown),
                        channel=channel,
                        device=device,
                        size=st.st_size,
                        mtime_ns=st.st_mtime_ns,
                        inode=st.st_ino,
                        capture_time=capture_time if capture_time is not None else st.st_mtime,
                        priority=priority,
                        state=FileState.QUEUED if problem is None else FileState.CORRUPT,
                        reason=problem,
                    )
                )
            records = await self.queue.add_many(batch, self.clock.now())
        for record in records:
            self.ledger.emit_file(record)
        if records:
            self.ledger.changed.set()
            self.ledger.wake.set()
        out = []
        for full, st, file_id in zip(fulls, stats, ids, strict=True):
            if file_id is None:
                file_id = records[fresh[(full, st.st_size, st.st_mtime_ns)]].id
            out.append(file_id)
        return out

    async def begin_recording(
        self,
        path: str | os.PathLike[str],
        *,
        filetype: str | None = None,
        name: str | None = None,
        channel: int = 0,
        device: str | None = None,
        capture_time: float | None = None,
        priority: int = 0,
        kind: str | None = None,
        append_only: bool = False,
    ) -> int:
        """A file the recorder has started writing; parts go up while it grows.

        ``kind`` (``proxy``, ``mix``, ``iso``, ``poly``) is what the recorder's file is: the
        type priorities may name it (``kind:mix``), which orders the ends of a take's files.
        ``append_only``: no byte of it ever changes once written (no header rewritten at
        close), so its part 1 goes up while it grows too, and is checked like the others.
        """
        return await self.realtime.begin(
            _absolute(path),
            filetype=filetype,
            name=name,
            channel=channel,
            device=device,
            capture_time=capture_time,
            priority=priority,
            kind=kind,
            append_only=append_only,
        )

    def recording_grew(self, file_id: int, durable_size: int | None = None) -> None:
        """A hint from the recorder: more data is on disk (else the size is polled).

        ``durable_size``: the file's bytes ``[0, durable_size)`` are durable (fsynced). Once
        one is reported, no byte at or beyond the latest one reported is sent while recording
        (after :meth:`end_recording` the file is taken as complete and whole).
        """
        self.realtime.grew(file_id, durable_size)

    async def end_recording(self, file_id: int) -> None:
        """The recorder closed the file (its header may have been rewritten)."""
        await self.realtime.end(file_id)

    async def fail_recording(self, file_id: int, reason: str) -> bool:
        """The producer could not write this recording (an encoder failed): the file ends
        ``failed`` with ``reason`` and nothing more of it is sent. False if it had ended."""
        updated = await self.ledger.set_state(
            file_id, FileState.FAILED, reason, only_from=ACTIVE_STATES
        )
        if updated is None:
            return False
        self.workers.cancel_file(file_id)
        await self.realtime.cancelled(file_id)
        log.warning("%s: %s", updated.name, reason)
        return True

    # ================================================================== controls
    @property
    def mode(self) -> Mode:
        return self.ledger.mode

    @property
    def parallel(self) -> bool:
        return self.ledger.parallel

    async def set_mode(self, mode: Mode) -> None:
        """``auto``: every queued file goes; ``manual``: files wait for :meth:`start_file`."""
        if mode not in ("auto", "manual"):
            raise ValueError("mode must be 'auto' or 'manual'")
        await self.queue.set_setting("mode", mode)
        self.ledger.wake.set()

    async def set_parallel(self, on: bool) -> None:
        """Parallel uploads: several files at once (on) or one at a time (off)."""
        await self.queue.set_setting("parallel", bool(on))
        self.ledger.wake.set()

    async def start_file(self, file_id: int) -> None:
        """Manual mode: let this file go (a no-op in auto mode, where every file goes)."""
        record = self.ledger.record(file_id)
        await self.queue.update(file_id, released=True)
        if record.state is FileState.RECORDING:
            self.realtime.released(file_id)
        self.ledger.wake.set()

    async def upload_now(self, file_ids: Iterable[int]) -> None:
        """Manual selection of several files (also raises them above the others)."""
        top = max((r.effective_priority for r in self.queue.files.values()), default=0)
        for file_id in file_ids:
            record = self.ledger.record(file_id)
            await self.queue.update(file_id, priority=top + 1 - record.type_priority)
            await self.start_file(file_id)

    async def cancel(self, file_id: int) -> bool:
        """Cancel one file (a PUT in progress is aborted). False if it had already ended."""
        updated = await self.queue.set_state(
            file_id,
            FileState.CANCELLED,
            self.clock.now(),
            "cancelled by the user",
            only_from=ACTIVE_STATES,
        )
        if updated is None:
            return False
        self.ledger.emit_file(updated)
        self.ledger.changed.set()
        self.workers.cancel_file(file_id)
        await self.realtime.cancelled(file_id)
        return True

    async def cancel_all(self) -> int:
        cancelled = 0
        for record in list(self.queue.active()):
            cancelled += await self.cancel(record.id)
        return cancelled

    async def retry(self, file_id: int) -> bool:
        """Put a failed, corrupt, skipped or cancelled file back in the queue."""
        record = self.ledger.record(file_id)
        if record.state not in FINAL_STATES or record.state is FileState.DONE:
            return False
        if record.state is FileState.CANCELLED and self.realtime.still_recording(file_id):
            # Cancelled mid-take, retried before the take ends: it records on, and the take's
            # end queues it whole (queued now, it would go up cut at the size it had).
            updated = await self.ledger.set_state(
                file_id, FileState.RECORDING, None, only_from=[FileState.CANCELLED]
            )
            return updated is not None
        if record.state is FileState.CORRUPT:
            # The file is not what it was: take it as it is now, to a new asset.
            try:
                st = await stat_file(record.path)
            except OSError:
                st = None
            if st is not None:
                await self.queue.update(
                    file_id, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino
                )
            if record.asset_id is not None:
                await self.queue.forget_asset(file_id, self.clock.now())
        updated = await self.ledger.set_state(file_id, FileState.QUEUED, None)
        await self.queue.update(file_id, released=True)
        self.ledger.wake.set()
        return updated is not None

    async def retry_failed(self) -> int:
        """Retry every failed file (not the corrupt, skipped or cancelled ones)."""
        failed = [r.id for r in self.queue.files.values() if r.state is FileState.FAILED]
        for file_id in failed:
            await self.retry(file_id)
        return len(failed)

    async def set_priority(self, file_id: int, priority: int) -> None:
        """Higher goes first (plus the file type's priority); ties go in enqueue order."""
        self.ledger.record(file_id)
        await self.queue.update(file_id, priority=int(priority))
        self.ledger.wake.set()

    async def set_type_priority(self, key: str, priority: int) -> None:
        """Priority for a file type: ``".wav"``/``"wav"``, ``"audio/wav"`` or ``"audio/*"``."""
        await self.queue.set_type_priority(key, priority, self.clock.now())
        self.ledger.wake.set()

    # ================================================================== state and progress
    @property
    def events(self) -> EventStream:
        return self.ledger.events

    @property
    def throughput(self) -> Throughput:
        return self.ledger.throughput

    def on_event(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every progress event; returns the unsubscribe."""
        return self.ledger.events.on_event(listener)

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]:
        """``async with uploader.subscribe() as events: async for event in events: ...``"""
        return self.ledger.events.subscribe()

    def files(self) -> list[dict[str, Any]]:
        """Every file the queue knows, with its state and reason."""
        return self.ledger.files_json()

    def files_page(self, *, after: int = 0, limit: int = 500) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` files with ids above ``after``, by id; and whether more follow."""
        page: list[dict[str, Any]] = []
        for file_id in sorted(i for i in self.queue.files if i > after):
            if len(page) == limit:
                return page, True
            page.append(self.queue.files[file_id].to_json())
        return page, False

    def file_count(self) -> int:
        return len(self.queue.files)

    def file(self, file_id: int) -> dict[str, Any]:
        return self.ledger.record(file_id).to_json()

    async def parts(self, file_id: int) -> list[dict[str, Any]]:
        """A file's parts (number, offset, size, state, attempts), for status and tests."""
        return [
            {
                "number": p.number,
                "offset": p.offset,
                "size": p.size,
                "is_final": p.is_final,
                "state": p.state.value,
                "attempts": p.attempts,
                "acked_at": p.acked_at,
            }
            for p in await self.queue.parts(file_id)
        ]

    def snapshot(self) -> dict[str, Any]:
        """Files remaining, bytes remaining, current files' progress, counts, throughput."""
        if not self.queue.is_open:
            return {"running": False}
        ledger = self.ledger
        files = self.queue.files
        # Kept up to date by the queue's index: no walk over every file (a queue of 10,000).
        remaining_bytes = files.active_remaining
        current = []
        for record in files.in_states(FileState.UPLOADING, FileState.RECORDING):
            in_flight = ledger.in_flight(record.id)
            done = record.bytes_acked + in_flight
            size = record.size
            if size is not None:
                remaining_bytes -= min(in_flight, max(0, size - record.bytes_acked))
            entry = {
                "id": record.id,
                "name": record.name,
                "state": record.state.value,
                "size": size,
                "bytes_done": done,
                "progress": round(done / size, 4) if size else None,
                "retrying": ledger.retrying(record.id),
            }
            if "recovered_mismatch" in record.info:
                entry["recovered"] = record.info["recovered_mismatch"]
            current.append(entry)
        problems = [
            {"id": r.id, "name": r.name, "state": r.state.value, "reason": r.reason}
            for r in files.in_states(FileState.FAILED, FileState.CORRUPT, FileState.SKIPPED_PAUSED)[
                -20:
            ]
        ]
        return {
            "running": self.running,
            "mode": self.mode,
            "parallel": self.parallel,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "held": self.held_by_operator,
            "waiting_for": self.gate.waiting_for,
            "files_remaining": self.queue.active_count(),
            "bytes_remaining": remaining_bytes,
            "counts": self.queue.counts(),
            "current": current,
            "throughput_bps": round(self.throughput.rate(), 1),
            "throughput_window_s": self.throughput.window,
            "bytes_sent": self.throughput.total,
            "parts_in_flight": self.sender.in_flight,
            "part_streams": self.sender.status(),
            "congestion_control": None
            if self.congestion is None
            else {**self.congestion.status(), **self.sender.congestion_status()},
            "problems": problems,
            "recovered": self.queue.recovered,
            # creates that may have left an incomplete asset on Frame.io (devices cannot look)
            "possible_duplicates": self.queue.possible_duplicates(),
        }

    async def wait_idle(self) -> None:
        """Until no file is recording, queued or uploading (wrap in ``asyncio.timeout``)."""
        await self.ledger.wait_idle()

    async def wait_for(self, file_id: int) -> FileRecord:
        """Until ``file_id`` is in a final state; returns its record."""
        return await self.ledger.wait_for(file_id)


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(path))


__all__ = ["Uploader"]
