"""The uploader: workers that take files from the durable queue and put them in Frame.io.

``Uploader(queue_path, session, http, ...)``; ``await start()`` … ``await stop()``.

- Workers claim files by priority (per file, plus per file type). With parallel uploads on,
  ``files_in_parallel`` files are sent at once; off, one. Either way the parts of a file go up
  concurrently, at most ``max_in_flight`` PUTs in flight across everything.
- A basic upload creates its asset (paced to 5/s, ``offset`` = now - the capture time persisted
  at enqueue, the file's ``channel``), plans the parts from ``upload_urls`` (R8), then for each
  part: ``sending`` (stored) → PUT → ``acked`` (stored) → event. After a restart it goes on from
  the acknowledged parts, re-creating the asset only if the stored URLs have expired.
- Real-time uploads of growing files are in :mod:`c2c_hub.uploader.realtime`.
- While the device is paused (the pause source says so, or a 409 was just confirmed by
  ``/v2/devices/me``) no new upload starts; files already under way finish. When the pause ends
  the queue goes on by itself.
- Every failure goes through :func:`c2c_hub.uploader.policy.classify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import httpx

from c2c_hub.clock import Clock, SystemClock
from c2c_hub.connectivity import ConnectivityMonitor
from c2c_hub.frameio import ApiError, TransportError, TransportTimeout, plan_parts
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake
from c2c_hub.uploader.content_types import content_type
from c2c_hub.uploader.errors import FileProblem, NothingToSend
from c2c_hub.uploader.mediacheck import check_file
from c2c_hub.uploader.pause import PauseLike, as_pause_source
from c2c_hub.uploader.policy import Action, RetryPolicy, Verdict, classify
from c2c_hub.uploader.progress import Event, EventListener, EventStream, Throughput
from c2c_hub.uploader.queue import (
    ACTIVE_STATES,
    FINAL_STATES,
    FileRecord,
    FileState,
    NewPart,
    PartRecord,
    PartState,
    UploadQueue,
)
from c2c_hub.uploader.transfer import (
    Expect,
    FileIdentity,
    Pacer,
    PartSender,
    stat_file,
    url_expiry,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Mode = Literal["auto", "manual"]
MIN_PART = 5 * 1024 * 1024


class ChannelResolver(Protocol):
    """Where a sub-device's files go now (the channel manager): looked up at asset create."""

    def index_of(self, serial: str) -> int | None: ...

    def available(self) -> set[str]: ...

    def absent_for(self, serial: str) -> float:
        """Seconds the sub-device has not been attached (0 while it is)."""
        ...


@dataclass(frozen=True)
class UploadConfig:
    """Knobs, with the defaults the hub runs with."""

    max_in_flight: int = 4  # part PUTs in flight across every file
    files_in_parallel: int = 2  # files sent at once when parallel uploads are on
    part_timeout_s: float | None = None  # per read/write of a PUT; None: the client's timeout
    chunk_size: int = 1 << 20  # bytes read from disk at a time
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    create_rate: int = 5  # asset creates per create_per_s (R16)
    create_per_s: float = 1.0
    url_margin_s: float = 300.0  # URLs expiring sooner than this are renewed before a PUT
    basic_part_size: int | None = None  # ask for parts of this size; None: Frame.io decides (R8)
    realtime_part_size: int = MIN_PART  # parts of a growing file (>= 5 MiB)
    realtime_poll_s: float = 0.2  # how often a growing file's size is read
    pause_poll_s: float = 15.0  # after a confirmed 409 (no presence): ask /me this often
    throughput_window_s: float = 10.0
    max_recreates: int = 3  # basic assets re-created for expired URLs, in a row
    # A file whose sub-device is gone (not attached at all) waits this long for it to come
    # back, then goes on the primary channel rather than never (the reason is kept).
    channel_wait_s: float = 120.0

    def __post_init__(self) -> None:
        if self.realtime_part_size < MIN_PART:
            raise ValueError("realtime_part_size must be at least 5 MiB")
        if self.basic_part_size is not None and self.basic_part_size < MIN_PART:
            raise ValueError("basic_part_size must be at least 5 MiB")


class _Outcome(Exception):
    """Ends a file's attempt with a verdict (raised out of the retry loops)."""

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


def _worst(outcomes: Iterable[_Outcome]) -> _Outcome:
    return min(outcomes, key=lambda o: _SEVERITY.get(o.verdict.action, 9))


def _lost_answer(exc: BaseException) -> bool:
    """True when a create may have reached Frame.io although no answer came back."""
    if isinstance(exc, TransportTimeout):
        return "ConnectTimeout" not in str(exc) and "PoolTimeout" not in str(exc)
    if isinstance(exc, TransportError):
        return "ConnectError" not in str(exc)
    return False


class Uploader:
    """The durable, resumable uploader (see the module docstring and ``docs/uploader.md``)."""

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
    ) -> None:
        self.config = config or UploadConfig()
        self.channels = channels
        self._channel_event = asyncio.Event()
        self._recheck_s: float | None = None  # when a file held for its channel may go
        self.session = session
        self.clock: Clock = clock or SystemClock()
        self.queue = UploadQueue(queue_path)
        self.sender = PartSender(
            http,
            max_in_flight=self.config.max_in_flight,
            chunk_size=self.config.chunk_size,
            timeout=self.config.part_timeout_s,
        )
        self.pacer = Pacer(self.clock, rate=self.config.create_rate, per=self.config.create_per_s)
        self.connectivity = connectivity
        self._pause_source, self._pause_polled = as_pause_source(pause)
        self.events = EventStream()
        self.throughput = Throughput(self.config.throughput_window_s)
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._file_tasks: dict[int, asyncio.Task[None]] = {}
        self._inflight: dict[int, int] = {}  # bytes of unacknowledged PUTs in progress, per file
        self._retrying: dict[int, str] = {}  # file id -> the reason of the last retry
        self._server_paused = False  # a 409 confirmed by /v2/devices/me
        self._pause_poll: asyncio.Task[None] | None = None
        self._hold: str | None = None  # nothing can be sent (not paired): the reason
        self._unsubscribe: list[Callable[[], None]] = []
        self._enqueue_lock = asyncio.Lock()
        self._was_paused = False
        self.running = False
        # Real-time uploads (growing files): see hub.uploader.realtime.
        from c2c_hub.uploader.realtime import RealtimeUploads

        self.realtime = RealtimeUploads(self)

    # ================================================================== lifecycle
    async def start(self) -> None:
        """Open the queue, give back what a crash left in flight, start the workers."""
        if self.running:
            return
        await self.queue.open(self.clock.now())
        if any(self.queue.recovered.values()):
            log.warning("upload queue recovered after an interruption: %s", self.queue.recovered)
        await self.realtime.recover()
        if self._pause_source is not None:
            self._unsubscribe.append(self._pause_source.on_change(lambda _: self._pause_changed()))
        self._unsubscribe.append(self.session.on_change(lambda _: self._session_changed()))
        self._was_paused = self.paused
        self.running = True
        for index in range(max(1, self.config.files_in_parallel)):
            self._workers.append(
                asyncio.create_task(self._worker(index), name=f"uploader-worker-{index}")
            )
        self._wake.set()

    async def stop(self) -> None:
        """Stop every task; files under way go back to ``queued`` (nothing is lost)."""
        if not self.running and not self.queue.is_open:
            return
        self.running = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        tasks = [*self._workers, *self._file_tasks.values(), *self._tasks]
        if self._pause_poll is not None:
            tasks.append(self._pause_poll)
        for task in tasks:
            task.cancel()
        for task in tasks:
            await cancel_and_wait(task)
        self._workers.clear()
        self._file_tasks.clear()
        self._tasks.clear()
        self._pause_poll = None
        if self.queue.is_open:
            await self.queue.give_back(self.clock.now())
            await self.queue.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("uploader task %s failed", task.get_name(), exc_info=task.exception())

    # ================================================================== pause and holds
    @property
    def held_by_operator(self) -> bool:
        """An operator paused uploading here (persisted; Frame.io's pause is separate)."""
        return bool(self.queue.setting("held", False)) if self.queue.is_open else False

    async def set_held(self, on: bool) -> None:
        """Pause (or resume) uploading: no new part starts; parts in flight finish."""
        await self.queue.set_setting("held", bool(on))
        self._pause_changed()

    @property
    def paused(self) -> bool:
        source = self._pause_source.paused if self._pause_source is not None else None
        return bool(source) or self._server_paused or self.held_by_operator

    @property
    def paused_reason(self) -> str | None:
        if self.held_by_operator:
            return "uploading is paused by the operator (c2c-hub resume, or the web page)"
        if self._pause_source is not None and self._pause_source.paused:
            return "the device is paused in Frame.io"
        if self._server_paused:
            return "Frame.io answered 409 Channel Paused and /v2/devices/me confirms the pause"
        return None

    def _pause_changed(self) -> None:
        if self._pause_source is not None and self._pause_source.paused is False:
            self._server_paused = False
        now_paused = self.paused
        if now_paused != self._was_paused:
            self._was_paused = now_paused
            self.events.emit({"type": "paused", "paused": now_paused, "reason": self.paused_reason})
            log.info("uploads %s", "paused" if now_paused else "resumed")
        self._wake.set()

    def _session_changed(self) -> None:
        if self._hold is not None and self.session.paired:
            self._hold = None
        self._wake.set()

    async def _confirm_pause(self) -> None:
        """After a 409: is the device paused now? If so, hold new starts until it is not."""
        try:
            device = await self.session.call(self.session.client.me)
        except (ApiError, TransportError, NeedsPairing) as exc:
            log.info("could not confirm the pause (%s)", exc)
            return
        if device.paused and not self._server_paused:
            self._server_paused = True
            self._pause_changed()
            if self._pause_poll is None or self._pause_poll.done():
                self._pause_poll = asyncio.create_task(self._poll_pause(), name="uploader-pause")

    async def _poll_pause(self) -> None:
        while self._server_paused:
            await self.clock.sleep(self.config.pause_poll_s)
            try:
                device = await self.session.call(self.session.client.me)
            except (ApiError, TransportError, NeedsPairing):
                continue
            if not device.paused:
                self._server_paused = False
                self._pause_changed()

    def may_start(self) -> bool:
        return self.running and not self.paused and self._hold is None

    # ================================================================== workers
    @property
    def mode(self) -> Mode:
        mode: Mode = self.queue.setting("mode", "auto")
        return mode

    @property
    def parallel(self) -> bool:
        return bool(self.queue.setting("parallel", True))

    def _workers_allowed(self) -> int:
        return max(1, self.config.files_in_parallel) if self.parallel else 1

    async def _worker(self, index: int) -> None:
        while True:
            self._wake.clear()
            record: FileRecord | None = None
            if index < self._workers_allowed() and self.may_start():
                record = await self.queue.claim(
                    self.clock.now(),
                    manual=self.mode == "manual",
                    devices=self._claimable_devices(),
                )
            if record is None:
                idle = 0.5 if self._pause_polled else 30.0
                if self._recheck_s is not None:
                    idle = min(idle, self._recheck_s + 0.01)
                await sleep_or_wake(self.clock, idle, self._wake)
                continue
            self._wake.set()  # another worker may take the next file
            self._changed.set()
            self._emit_file(record)
            task = asyncio.create_task(self._process(record), name=f"upload-file-{record.id}")
            self._file_tasks[record.id] = task
            try:
                await asyncio.wait({task})
            finally:
                if self._file_tasks.get(record.id) is task:
                    del self._file_tasks[record.id]
                self._inflight.pop(record.id, None)
                self._retrying.pop(record.id, None)

    async def _process(self, record: FileRecord) -> None:
        try:
            if record.realtime:
                await self.realtime.finish(record.id)
            else:
                await self._basic(record.id)
        except _Outcome as outcome:
            await self.conclude(record.id, outcome.verdict)
            return
        await self.set_state(record.id, FileState.DONE, only_from=[FileState.UPLOADING])

    async def conclude(self, file_id: int, verdict: Verdict) -> None:
        """Record a file's ending per ``verdict`` (never over a person's cancel)."""
        live = [FileState.UPLOADING, FileState.RECORDING, FileState.QUEUED]
        action = verdict.action
        if action is Action.SKIP_PAUSED:
            await self.set_state(file_id, FileState.SKIPPED_PAUSED, verdict.reason, only_from=live)
            self.spawn(self._confirm_pause(), name="uploader-confirm-pause")
        elif action is Action.CORRUPT:
            await self.set_state(file_id, FileState.CORRUPT, verdict.reason, only_from=live)
        elif action is Action.HOLD:
            self._hold = verdict.reason
            await self.set_state(
                file_id, FileState.QUEUED, f"waiting: {verdict.reason}", only_from=live
            )
        else:
            await self.set_state(file_id, FileState.FAILED, verdict.reason, only_from=live)

    # ================================================================== retry loops
    async def attempt(self, file_id: int, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` until it succeeds or the policy says stop (then raise _Outcome)."""
        attempt = 0
        while True:
            try:
                return await fn()
            except (asyncio.CancelledError, _Outcome):
                raise
            except Exception as exc:
                attempt += 1
                verdict = self.verdict(exc)
                await self.retry_or_raise(file_id, what, verdict, attempt)

    def verdict(self, exc: BaseException) -> Verdict:
        return classify(exc, suspicious_attempts=self.config.retry.suspicious_attempts)

    async def retry_or_raise(self, file_id: int, what: str, verdict: Verdict, attempt: int) -> None:
        """Wait before the next attempt, or raise :class:`_Outcome` when there is none."""
        if verdict.action not in (Action.RETRY, Action.REFRESH):
            raise _Outcome(verdict)
        if self.config.retry.gives_up(verdict, attempt):
            raise _Outcome(
                Verdict(Action.FAIL, f"{what}: gave up after {attempt} attempts: {verdict.reason}")
            )
        if verdict.action is Action.REFRESH:
            try:
                await self.session.refresh()
            except NeedsPairing as exc:
                raise _Outcome(Verdict(Action.HOLD, exc.reason)) from None
            except Exception as exc:  # the refresh itself failed: back off, try again
                log.info("refresh after a 401 failed: %s", exc)
        delay = self.config.retry.delay(attempt, verdict)
        self._retrying[file_id] = f"{what}: {verdict.reason}"
        self.events.emit(
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
        await self.clock.sleep(delay)

    # ================================================================== basic uploads
    async def check_identity(self, record: FileRecord) -> FileIdentity:
        try:
            st = await stat_file(record.path)
        except OSError as exc:
            raise _Outcome(
                Verdict(Action.CORRUPT, f"{record.path}: cannot be read ({exc.strerror or exc})")
            ) from None
        now = FileIdentity.of(st)
        if record.size is None or record.mtime_ns is None or record.inode is None:
            return now
        queued = FileIdentity(record.size, record.mtime_ns, record.inode)
        changes = queued.differences(now)
        if changes:
            raise _Outcome(
                Verdict(
                    Action.CORRUPT,
                    f"{record.path} changed since it was queued: " + "; ".join(changes),
                )
            )
        return queued

    def _claimable_devices(self) -> set[str] | None:
        """Sub-devices whose files may start: channel connected, or gone too long to wait."""
        if self.channels is None:
            return None
        ready = self.channels.available()
        self._recheck_s = None
        for record in self.queue.files.values():
            serial = record.device
            if serial is None or serial in ready or record.state is not FileState.QUEUED:
                continue
            absent = self.channels.absent_for(serial)  # 0 while it is attached
            left = self.config.channel_wait_s - absent
            if left <= 0:
                ready.add(serial)
            elif absent > 0:
                # Look again when it will have been gone too long to wait for.
                self._recheck_s = min(left, self._recheck_s or left)
        return ready

    def channels_changed(self) -> None:
        """A channel was connected or disconnected: files waiting for one look again."""
        event, self._channel_event = self._channel_event, asyncio.Event()
        event.set()
        self._wake.set()

    async def channel_for(self, file_id: int) -> int:
        """The channel (``external_index``) to create this file's asset on, waiting for it.

        A file routed to a sub-device uses that sub-device's channel *now*: channel indexes
        are never trusted across power cycles (seed 002), so none is stored for later.
        """
        record = self.queue.files[file_id]
        if record.device is None or self.channels is None:
            return record.channel
        while True:
            record = self.queue.files[file_id]
            assert record.device is not None
            index = self.channels.index_of(record.device)
            if index is not None:
                if index != record.channel:
                    self.set_changed(await self.queue.update(file_id, channel=index))
                self._retrying.pop(file_id, None)
                return index
            if self.channels.absent_for(record.device) >= self.config.channel_wait_s:
                return await self._primary_instead(file_id, record.device)
            waiting = f"waiting for the channel of sub-device {record.device}"
            if self._retrying.get(file_id) != waiting:
                self._retrying[file_id] = waiting
                self.events.emit({"type": "waiting", "file_id": file_id, "reason": waiting})
                self._changed.set()
            event = self._channel_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(5.0, self.config.channel_wait_s))

    async def _primary_instead(self, file_id: int, serial: str) -> int:
        reason = (
            f"sub-device {serial} has been gone for {self.config.channel_wait_s:.0f} s: "
            "uploading on the primary channel instead"
        )
        log.warning("%s: %s", self.queue.files[file_id].name, reason)
        info = dict(self.queue.files[file_id].info)
        info["channel_fallback"] = reason
        self.set_changed(await self.queue.update(file_id, channel=0, info=info))
        self._retrying.pop(file_id, None)
        self.events.emit({"type": "channel_fallback", "file_id": file_id, "reason": reason})
        return 0

    def offset_of(self, record: FileRecord) -> int:
        """Seconds since capture (never negative), from the capture time stored at enqueue."""
        return max(0, int(self.clock.now() - record.capture_time))

    async def create_asset(
        self, file_id: int, call: Callable[[str], Awaitable[T]], what: str = "create asset"
    ) -> T:
        """One asset create, paced, with its intent stored first (see ``lost_creates``)."""

        async def once() -> T:
            await self.pacer.wait()
            await self.queue.begin_create(file_id, self.clock.now())
            try:
                return await self.session.call(call)
            except BaseException as exc:
                if _lost_answer(exc):
                    await self.queue.bump_info(file_id, "lost_creates")
                if not isinstance(exc, asyncio.CancelledError):
                    await self.queue.create_failed(file_id, self.clock.now())
                raise

        return await self.attempt(file_id, what, once)

    async def _basic(self, file_id: int) -> None:
        recreates = 0
        while True:
            record = self.queue.files[file_id]
            identity = await self.check_identity(record)
            if identity.size == 0:
                raise _Outcome(self.verdict(NothingToSend(f"{record.path} is empty (0 bytes)")))
            parts = await self.queue.parts(file_id) if record.asset_id else []
            expiring = [
                p
                for p in parts
                if p.state is not PartState.ACKED
                and (
                    p.url is None
                    or (
                        p.url_expires_at is not None
                        and p.url_expires_at - self.config.url_margin_s <= self.clock.now()
                    )
                )
            ]
            if record.asset_id is None or not parts or expiring:
                if record.asset_id is not None:
                    log.info("%s: upload URLs expired; creating the asset again", record.name)
                parts = await self._create_basic(record, identity.size)
            todo = [p for p in parts if p.state is not PartState.ACKED]
            try:
                await self.send_parts(file_id, todo, identity, record.filetype)
                return
            except _Outcome as outcome:
                if outcome.verdict.action is not Action.NEW_URL:
                    raise
                recreates += 1
                if recreates > self.config.max_recreates:
                    raise _Outcome(
                        Verdict(Action.FAIL, "upload URLs kept expiring; gave up")
                    ) from None
                # §5.2 [INF]: a basic upload's URLs cannot be renewed; a new asset takes them.
                await self.queue.bump_info(file_id, "recreated_for_expiry")
                await self.queue.forget_asset(file_id, self.clock.now())

    async def _create_basic(self, record: FileRecord, size: int) -> list[PartRecord]:
        wanted = None
        if self.config.basic_part_size is not None:
            # floor: every part but the last at least basic_part_size (S3 minimum 5 MiB)
            wanted = max(1, size // self.config.basic_part_size)
        channel = await self.channel_for(record.id)
        offset = self.offset_of(record)
        client = self.session.client
        asset = await self.create_asset(
            record.id,
            lambda token: client.create_asset(
                token,
                record.name,
                record.filetype,
                size,
                offset,
                channel,
                parts=wanted,
            ),
        )
        if not asset.upload_urls:
            raise _Outcome(Verdict(Action.FAIL, "Frame.io created the asset without upload URLs"))
        plan = plan_parts(size, len(asset.upload_urls))
        new = [
            NewPart(number, part.offset, part.size, url, url_expiry(url))
            for number, (part, url) in enumerate(zip(plan, asset.upload_urls, strict=True), 1)
        ]
        recreated = record.asset_id is not None or bool(record.info.get("abandoned_assets"))
        await self.queue.asset_created(record.id, asset.id, new, self.clock.now())
        self.events.emit(
            {
                "type": "asset",
                "file_id": record.id,
                "asset_id": asset.id,
                "parts": len(new),
                "offset": offset,
                "recreated": recreated,
            }
        )
        return await self.queue.parts(record.id)

    async def send_parts(
        self,
        file_id: int,
        parts: list[PartRecord],
        expect: Expect,
        filetype: str,
        *,
        renew: Callable[[PartRecord], Awaitable[PartRecord]] | None = None,
        want_sha: bool = False,
    ) -> None:
        """Send ``parts`` concurrently; raise the worst _Outcome if any part ends the file."""
        if not parts:
            return
        tasks = [
            asyncio.create_task(
                self.send_part(file_id, p, expect, filetype, renew=renew, want_sha=want_sha),
                name=f"upload-part-{file_id}-{p.number}",
            )
            for p in parts
        ]
        await self.gather_parts(tasks)

    async def gather_parts(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for part tasks; on the first _Outcome cancel the rest and raise the worst."""
        try:
            pending: set[asyncio.Task[None]] = set(tasks)
            outcomes: list[_Outcome] = []
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    exc = task.exception()
                    if isinstance(exc, _Outcome):
                        outcomes.append(exc)
                    elif exc is not None:
                        outcomes.append(_Outcome(self.verdict(exc)))
                if outcomes:
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    raise _worst(outcomes)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def send_part(
        self,
        file_id: int,
        part: PartRecord,
        expect: Expect,
        filetype: str,
        *,
        renew: Callable[[PartRecord], Awaitable[PartRecord]] | None = None,
        want_sha: bool = False,
    ) -> None:
        """One part, retried per the policy, acknowledged durably before it is reported."""
        attempt = 0
        renewals = 0
        record = self.queue.files[file_id]
        while True:
            if part.url is None or (
                part.url_expires_at is not None
                and part.url_expires_at - self.config.url_margin_s <= self.clock.now()
            ):
                if renew is None:
                    raise _Outcome(Verdict(Action.NEW_URL, "upload URL expired"))
                part = await renew(part)
            assert part.url is not None
            sent = 0

            def progress(nbytes: int) -> None:
                nonlocal sent
                sent += nbytes
                self._inflight[file_id] = self._inflight.get(file_id, 0) + nbytes
                self.throughput.add(nbytes)

            failure: BaseException | None = None
            async with self.sender.slot():
                await self.queue.part_sending(file_id, part.number)
                try:
                    result = await self.sender.put(
                        part.url,
                        path=record.path,
                        offset=part.offset,
                        size=part.size,
                        filetype=filetype,
                        expect=expect,
                        progress=progress,
                        want_sha=want_sha,
                    )
                except asyncio.CancelledError:
                    self._inflight[file_id] = self._inflight.get(file_id, 0) - sent
                    raise
                except Exception as exc:
                    failure = exc
                    self._inflight[file_id] = self._inflight.get(file_id, 0) - sent
                    await self.queue.part_unsent(file_id, part.number)
                else:
                    record = await self.queue.part_acked(
                        file_id, part.number, self.clock.now(), result.sha256
                    )
                    self._inflight[file_id] = self._inflight.get(file_id, 0) - sent
            if failure is None:
                self._retrying.pop(file_id, None)
                if self.connectivity is not None:
                    self.connectivity.record_upload(result.nbytes, result.seconds)
                self.events.emit(
                    {
                        "type": "part_acked",
                        "file_id": file_id,
                        "name": record.name,
                        "part": part.number,
                        "part_size": part.size,
                        "bytes_acked": record.bytes_acked,
                        "size": record.size,
                        "seconds": round(result.seconds, 4),
                    }
                )
                self._changed.set()
                return
            verdict = self.verdict(failure)
            if verdict.action is Action.NEW_URL and renew is not None:
                renewals += 1
                if renewals > 3:
                    raise _Outcome(Verdict(Action.FAIL, "upload URL kept expiring; gave up"))
                part = await renew(part)
                continue
            attempt += 1
            await self.retry_or_raise(file_id, f"part {part.number}", verdict, attempt)

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
            )
        self._emit_file(record)
        self._wake.set()
        self._changed.set()
        return record.id

    async def enqueue_many(
        self, paths: Iterable[str | os.PathLike[str]], **kwargs: Any
    ) -> list[int]:
        return [await self.enqueue(path, **kwargs) for path in paths]

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
    ) -> int:
        """A file the recorder has started writing; parts go up while it grows."""
        return await self.realtime.begin(
            _absolute(path),
            filetype=filetype,
            name=name,
            channel=channel,
            device=device,
            capture_time=capture_time,
            priority=priority,
        )

    def recording_grew(self, file_id: int) -> None:
        """Optional hint from the recorder: more data is on disk (else the size is polled)."""
        self.realtime.grew(file_id)

    async def end_recording(self, file_id: int) -> None:
        """The recorder closed the file (its header may have been rewritten)."""
        await self.realtime.end(file_id)

    # ================================================================== controls
    async def set_mode(self, mode: Mode) -> None:
        """``auto``: every queued file goes; ``manual``: files wait for :meth:`start_file`."""
        if mode not in ("auto", "manual"):
            raise ValueError("mode must be 'auto' or 'manual'")
        await self.queue.set_setting("mode", mode)
        self._wake.set()

    async def set_parallel(self, on: bool) -> None:
        """Parallel uploads: several files at once (on) or one at a time (off)."""
        await self.queue.set_setting("parallel", bool(on))
        self._wake.set()

    async def start_file(self, file_id: int) -> None:
        """Manual mode: let this file go (a no-op in auto mode, where every file goes)."""
        record = self._record(file_id)
        await self.queue.update(file_id, released=True)
        if record.state is FileState.RECORDING:
            self.realtime.released(file_id)
        self._wake.set()

    async def upload_now(self, file_ids: Iterable[int]) -> None:
        """Manual selection of several files (also raises them above the others)."""
        top = max((r.effective_priority for r in self.queue.files.values()), default=0)
        for file_id in file_ids:
            record = self._record(file_id)
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
        self._emit_file(updated)
        self._changed.set()
        task = self._file_tasks.get(file_id)
        if task is not None:
            task.cancel()
        await self.realtime.cancelled(file_id)
        return True

    async def cancel_all(self) -> int:
        cancelled = 0
        for record in list(self.queue.active()):
            cancelled += await self.cancel(record.id)
        return cancelled

    async def retry(self, file_id: int) -> bool:
        """Put a failed, corrupt, skipped or cancelled file back in the queue."""
        record = self._record(file_id)
        if record.state not in FINAL_STATES or record.state is FileState.DONE:
            return False
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
        updated = await self.set_state(file_id, FileState.QUEUED, None)
        await self.queue.update(file_id, released=True)
        self._wake.set()
        return updated is not None

    async def retry_failed(self) -> int:
        """Retry every failed file (not the corrupt, skipped or cancelled ones)."""
        failed = [r.id for r in self.queue.files.values() if r.state is FileState.FAILED]
        for file_id in failed:
            await self.retry(file_id)
        return len(failed)

    async def set_priority(self, file_id: int, priority: int) -> None:
        """Higher goes first (plus the file type's priority); ties go in enqueue order."""
        self._record(file_id)
        await self.queue.update(file_id, priority=int(priority))
        self._wake.set()

    async def set_type_priority(self, key: str, priority: int) -> None:
        """Priority for a file type: ``".wav"``/``"wav"``, ``"audio/wav"`` or ``"audio/*"``."""
        await self.queue.set_type_priority(key, priority, self.clock.now())
        self._wake.set()

    def _record(self, file_id: int) -> FileRecord:
        try:
            return self.queue.files[file_id]
        except KeyError:
            raise KeyError(f"no file {file_id} in the upload queue") from None

    # ================================================================== state and progress
    async def set_state(
        self,
        file_id: int,
        state: FileState,
        reason: str | None = None,
        *,
        only_from: Iterable[FileState] | None = None,
    ) -> FileRecord | None:
        record = await self.queue.set_state(
            file_id, state, self.clock.now(), reason, only_from=only_from
        )
        if record is not None:
            self._emit_file(record)
            self._changed.set()
            self._wake.set()
        return record

    def set_changed(self, record: FileRecord) -> None:
        """Tell listeners and waiters that ``record`` changed (it is stored already)."""
        self._emit_file(record)
        self._changed.set()
        self._wake.set()

    def _emit_file(self, record: FileRecord) -> None:
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

    def on_event(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every progress event; returns the unsubscribe."""
        return self.events.on_event(listener)

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]:
        """``async with uploader.subscribe() as events: async for event in events: ...``"""
        return self.events.subscribe()

    def files(self) -> list[dict[str, Any]]:
        """Every file the queue knows, with its state and reason."""
        return [r.to_json() for r in sorted(self.queue.files.values(), key=lambda r: r.id)]

    def file(self, file_id: int) -> dict[str, Any]:
        return self._record(file_id).to_json()

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
        active = self.queue.active()
        remaining_bytes = 0
        current = []
        for record in active:
            done = record.bytes_acked + max(0, self._inflight.get(record.id, 0))
            size = record.size
            if size is not None:
                remaining_bytes += max(0, size - done)
            if record.state in (FileState.UPLOADING, FileState.RECORDING):
                current.append(
                    {
                        "id": record.id,
                        "name": record.name,
                        "state": record.state.value,
                        "size": size,
                        "bytes_done": done,
                        "progress": round(done / size, 4) if size else None,
                        "retrying": self._retrying.get(record.id),
                    }
                )
        problems = [
            {"id": r.id, "name": r.name, "state": r.state.value, "reason": r.reason}
            for r in self.queue.files.values()
            if r.state in (FileState.FAILED, FileState.CORRUPT, FileState.SKIPPED_PAUSED)
        ][-20:]
        return {
            "running": self.running,
            "mode": self.mode,
            "parallel": self.parallel,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "held": self.held_by_operator,
            "waiting_for": self._hold,
            "files_remaining": len(active),
            "bytes_remaining": remaining_bytes,
            "counts": self.queue.counts(),
            "current": current,
            "throughput_bps": round(self.throughput.rate(), 1),
            "throughput_window_s": self.throughput.window,
            "bytes_sent": self.throughput.total,
            "parts_in_flight": self.sender.in_flight,
            "problems": problems,
            "recovered": self.queue.recovered,
        }

    async def wait_idle(self) -> None:
        """Until no file is recording, queued or uploading (wrap in ``asyncio.timeout``)."""
        while True:
            self._changed.clear()
            if not self.queue.active():
                return
            await self._changed.wait()

    async def wait_for(self, file_id: int) -> FileRecord:
        """Until ``file_id`` is in a final state; returns its record."""
        while True:
            self._changed.clear()
            if self._record(file_id).final:
                return self._record(file_id)
            await self._changed.wait()


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(path))


def guess_filetype(name: str) -> str:
    """The one table's type for ``name`` (:mod:`c2c_hub.uploader.content_types`)."""
    return content_type(name)


__all__ = [
    "FileProblem",
    "FileState",
    "Mode",
    "UploadConfig",
    "Uploader",
    "guess_filetype",
]
