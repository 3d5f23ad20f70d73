"""Moving bytes: streaming part PUTs, bounded concurrency, asset creation paced to the limit.

- A part is streamed from disk in ``chunk_size`` pieces (1 MiB) read with ``os.pread`` in a
  worker thread, one piece ahead of the network: memory stays flat whatever the file's size,
  and the event loop never waits on the disk.
- The PUT carries exactly the signed headers (``Content-Type: <filetype of the asset>``,
  ``x-amz-acl: private``) and ``Content-Length`` (never chunked: S3 presigned PUTs need the
  length), and no ``Authorization``.
- Before the first byte and after the last, the open file is checked against the identity it was
  queued with (size, mtime, inode): a file changed under us raises :class:`FileProblem`, as does
  a short read, so a corrupt upload is never acknowledged as good.
- :class:`PartSender` bounds the PUTs in flight across every file (one semaphore whose size
  adapts to the throughput, :mod:`c2c_hub.uploader.streams`); it uses the hub's one
  ``httpx.AsyncClient`` (HTTPS-only transport, congestion control set per socket).
- :class:`Pacer` keeps asset creates under Frame.io's 5 per second per device
  (docs/rulings.md#rate-limits).
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from c2c_hub.clock import Clock
from c2c_hub.frameio import TransportError, TransportTimeout
from c2c_hub.frameio.http import DirectSettings
from c2c_hub.frameio.urls import display_url
from c2c_hub.uploader.direct import DirectPuts
from c2c_hub.uploader.errors import FileProblem, S3Error
from c2c_hub.uploader.streams import CongestionUpgrade, Decision, Slots, StreamController
from c2c_hub.uploader.tcpinfo import LinkMeter
from c2c_hub.uploader.withdrawal import Withdrawal, Withdrawn

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileIdentity:
    """What a file was when it was queued; a change means it is not the file we promised."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    def differences(self, other: FileIdentity) -> list[str]:
        changes = []
        if other.inode != self.inode:
            changes.append("it was replaced by another file")
        if other.size != self.size:
            changes.append(f"its size changed from {self.size} to {other.size} bytes")
        if other.mtime_ns != self.mtime_ns:
            changes.append("it was modified")
        return changes


async def stat_file(path: str) -> os.stat_result:
    """``os.stat`` off the event loop."""
    return await asyncio.to_thread(os.stat, path)


def url_expiry(url: str) -> float | None:
    """When a presigned URL expires (``X-Amz-Date`` + ``X-Amz-Expires``), or None if unsigned.

    Read with ``urllib.parse`` (a few microseconds), not ``httpx.URL`` (~0.1 ms for a signed
    URL of ~700 characters, checked character by character): one call per part."""
    try:
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        issued = calendar.timegm(time.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
        return float(issued + int(params["X-Amz-Expires"][0]))
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Growing:
    """A file still being written: only its inode must stay, and it must reach ``end``."""

    inode: int


Expect = FileIdentity | Growing


class _PartReader:
    """Reads ``[offset, offset + size)`` of an open file, one chunk ahead, in a thread."""

    def __init__(
        self,
        path: str,
        offset: int,
        size: int,
        expect: Expect,
        chunk_size: int,
        want_sha: bool,
        withdrawal: Withdrawal | None = None,
    ) -> None:
        self.path = path
        self.offset = offset
        self.size = size
        self.expect = expect
        self.chunk_size = chunk_size
        self.sha = hashlib.sha256() if want_sha else None
        self.fd: int | None = None
        self._pending: asyncio.Future[bytes] | None = None
        self.problem: FileProblem | None = None
        self.withdrawal = withdrawal

    def _hand_over(self, data: bytes, last: bool, count: bool) -> None:
        """Before a chunk is handed to the sender: the last one only if not withdrawn. With
        ``count``, the chunk counts as handed over now (the httpx path, which cannot tell
        more); a direct PUT's thread counts each piece as the socket takes it."""
        withdrawal = self.withdrawal
        if withdrawal is None:
            return
        if last and not withdrawal.last_chunk():
            raise Withdrawn(
                f"{self.path}: bytes {self.offset}..{self.offset + self.size} withdrawn"
            )
        if count:
            withdrawal.handed_over(len(data))

    def _check(self, when: str) -> None:
        assert self.fd is not None
        st = os.fstat(self.fd)
        end = self.offset + self.size
        if isinstance(self.expect, Growing):
            if st.st_ino != self.expect.inode:
                raise FileProblem(f"{self.path}: replaced by another file {when}")
            if st.st_size < end:
                raise FileProblem(
                    f"{self.path}: shrank to {st.st_size} bytes {when} (bytes up to {end} "
                    "were expected)"
                )
            return
        changes = self.expect.differences(FileIdentity.of(st))
        if changes:
            raise FileProblem(
                f"{self.path} changed since it was queued {when}: " + "; ".join(changes)
            )

    def _open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise FileProblem(f"{self.path}: cannot be read ({exc.strerror or exc})") from None
        try:
            self._check("before sending")
        except BaseException:
            self._close_now()
            raise

    def _read(self, at: int, count: int, last: bool) -> bytes:
        assert self.fd is not None
        try:
            data = os.pread(self.fd, count, at)
        except OSError as exc:
            raise FileProblem(
                f"{self.path}: read error at byte {at} ({exc.strerror or exc})"
            ) from None
        if not data:
            raise FileProblem(
                f"{self.path}: truncated: ends at byte {at}, {self.offset + self.size} expected"
            )
        if self.sha is not None:
            self.sha.update(data)
        if last and at + len(data) >= self.offset + self.size:
            self._check("while sending")
        return data

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _schedule(self, at: int) -> asyncio.Future[bytes]:
        end = self.offset + self.size
        count = min(self.chunk_size, end - at)
        last = at + count >= end
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._read, at, count, last)
        self._pending = future
        return future

    async def chunks(self) -> AsyncIterator[bytes]:
        end = self.offset + self.size
        position = self.offset
        if position >= end:
            return
        upcoming = self._schedule(position)
        while position < end:
            try:
                data = await upcoming
            except FileProblem as exc:
                self.problem = exc
                raise
            position += len(data)
            if position < end:
                upcoming = self._schedule(position)
            else:
                self._pending = None
            self._hand_over(data, position >= end, count=True)
            yield data

    def blocking_chunks(self) -> Iterator[bytes]:
        """The part's bytes, read in the calling thread (a direct PUT's worker)."""
        end = self.offset + self.size
        position = self.offset
        while position < end:
            count = min(self.chunk_size, end - position)
            try:
                data = self._read(position, count, position + count >= end)
            except FileProblem as exc:
                self.problem = exc
                raise
            position += len(data)
            self._hand_over(data, position >= end, count=False)
            yield data

    def _close_now(self, _: Any = None) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def close(self) -> None:
        """Close the file once a read still running in its thread is done."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.add_done_callback(self._close_now)
            with contextlib.suppress(Exception):
                pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        else:
            if pending is not None and not pending.cancelled():
                pending.exception()  # retrieved
            self._close_now()


@dataclass(frozen=True)
class PutResult:
    nbytes: int
    seconds: float
    sha256: str | None


ProgressCallback = Callable[[int], None]


class Precedence:
    """While a recording's stop sends its tail, part bodies of lower-priority files wait.

    At a take's stop the mix's proxy has a couple of MB left to send, and the take's WAVs have
    5 MiB parts in flight on the same link: sharing it, the proxy's tail took twice as long
    (issue 16: stop → mix proxy acknowledged). A stop's tail is sent inside :meth:`hold` with
    its file's priority; a part's worker thread asks :meth:`wait` before each 128 KiB piece,
    and waits while a higher priority holds, at most ``max_pause_s`` at a time (a PUT's
    connection must not idle into the server's timeout, S3's is about 20 s). Bytes already in
    the kernel still go; only the next pieces wait. Equal priorities never wait for each other.
    Thread-safe: holds are taken on the event loop, waits happen in worker threads.
    """

    def __init__(self, max_pause_s: float = 5.0, step_s: float = 0.05) -> None:
        self.max_pause_s = max_pause_s
        self.step_s = step_s
        self._cond = threading.Condition()
        self._holds: list[int] = []
        self.paused_s = 0.0  # worker time spent waiting, in total
        self.pauses = 0

    @contextlib.contextmanager
    def hold(self, priority: int) -> Iterator[None]:
        with self._cond:
            self._holds.append(priority)
        try:
            yield
        finally:
            with self._cond:
                self._holds.remove(priority)
                self._cond.notify_all()

    def holding(self) -> list[int]:
        with self._cond:
            return list(self._holds)

    def wait(self, priority: int) -> float:
        """(worker thread) Wait while a higher priority holds, up to ``max_pause_s`` (a hold
        ends when its tail is sent, or cancelled: an uploader that stops releases it). Returns
        the seconds waited."""
        started = time.monotonic()
        with self._cond:
            if not any(p > priority for p in self._holds):
                return 0.0
            self.pauses += 1
            while any(p > priority for p in self._holds):
                left = started + self.max_pause_s - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, self.step_s))
            waited = time.monotonic() - started
            self.paused_s += waited
        return waited


class PartSender:
    """Streams parts to their presigned URLs through one shared ``httpx.AsyncClient``.

    How many PUTs run at once is ``streams``' limit (:mod:`c2c_hub.uploader.streams`): pinned,
    or adapted every ``epoch_s`` from what the part streams' connections' ``TCP_INFO`` said
    meanwhile (read every ``sample_s`` as bytes go, on the direct path), else from the bytes
    the PUTs sent.
    """

    sample_s = 0.1  # TCP_INFO of the sockets sending parts, at most this often

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_in_flight: int = 4,
        streams: StreamController | None = None,
        epoch_s: float = 2.0,
        chunk_size: int = CHUNK,
        timeout: float | None = None,
        now: Callable[[], float] = time.monotonic,
        direct: DirectSettings | None = None,
        upgrade: CongestionUpgrade | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.http = http
        self.streams = streams or StreamController(pinned=max_in_flight)
        threads = max(self.streams.maximum, self.streams.limit)
        #: part bodies from worker threads on blocking TLS sockets (None: through ``http``)
        self.direct = DirectPuts(direct, threads) if direct is not None else None
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.epoch_s = epoch_s
        self._now = now
        self._slots = Slots(self.streams.limit)
        self._epoch_start = now()
        self._epoch_bytes = 0
        self.last_decision = Decision(self.streams.limit, "start")
        self._meter = LinkMeter()
        self._sampled_at = 0.0
        self.precedence = Precedence()
        #: part streams started on CUBIC switch to BBR on random loss (direct PUTs only: the
        #: httpx path's sockets cannot be read or switched)
        self.upgrade = upgrade if self.direct is not None else None

    @property
    def max_in_flight(self) -> int:
        """The current limit on part PUTs in flight."""
        return self._slots.limit

    @property
    def in_flight(self) -> int:
        return self._slots.in_use

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the ``max_in_flight`` PUT slots (hold it around the intent and the PUT)."""
        if self._slots.in_use == 0 and self._epoch_bytes == 0:
            # Nothing sent since the last epoch ended: the next one starts with this PUT, not
            # with the idle time before it (the first epoch decides a lossy link's switch).
            self._epoch_start = self._now()
        async with self._slots.hold():
            yield

    def _sent(self, nbytes: int) -> None:
        """Bytes written by a PUT; at the end of an epoch the stream count is decided."""
        self._epoch_bytes += nbytes
        now = self._now()
        watching = not self.streams.pinned or (
            self.upgrade is not None and self.upgrade.why is None
        )
        if self.direct is not None and watching and now - self._sampled_at >= self.sample_s:
            self._sampled_at = now
            self._meter.sample(self.direct.sockets())
        elapsed = now - self._epoch_start
        if elapsed < self.epoch_s:
            return
        slots = self._slots
        binding = slots.min_demand >= slots.limit
        rate = self._epoch_bytes * 8 / elapsed
        signal = self._meter.epoch()
        if self.upgrade is not None and self.direct is not None:
            why = self.upgrade.observe(signal)
            if why is not None and signal is not None:
                switched = self.direct.use_congestion(self.upgrade.to)
                self._meter.recheck()
                log.info("part streams: %s (%d connections switched)", why, switched)
                # This epoch's loss was CUBIC's; the streams now run what does not shrink on it.
                signal = dataclasses.replace(signal, loss_based=False)
        decision = self.streams.observe(rate, binding, signal)
        if decision.limit != slots.limit:
            log.info(
                "part streams %d -> %d (%s; %.1f Mbit/s)",
                slots.limit,
                decision.limit,
                decision.why,
                rate / 1e6,
            )
            slots.set_limit(decision.limit)
        self.last_decision = decision
        self._epoch_start, self._epoch_bytes = now, 0
        slots.reset_demand()

    def congestion_status(self) -> dict[str, Any]:
        """What the part streams run now, if they switched (merged into the congestion
        control's status)."""
        upgrade = self.upgrade
        if upgrade is None or upgrade.why is None:
            return {"switched": False}
        return {"switched": True, "algorithm": upgrade.to, "reason": upgrade.why}

    def status(self) -> dict[str, Any]:
        """The part streams, for the uploads section of the status."""
        streams = self.streams
        return {
            "mode": "pinned" if streams.pinned else "adaptive",
            "limit": self._slots.limit,
            "min": streams.minimum,
            "max": streams.maximum,
            "in_flight": self._slots.in_use,
            # part bodies that waited for a higher-priority stop's tail (Precedence)
            "paused_for_stops": self.precedence.pauses,
            "paused_for_stops_s": round(self.precedence.paused_s, 2),
            "last_change": self.last_decision.why,
            # what the last epoch's TCP_INFO said (None: decided on throughput alone)
            "signal": None if streams.signal is None else streams.signal.to_json(),
            # the last epochs: [limit, Mbit/s], oldest first
            "recent": [[n, round(rate / 1e6, 1)] for n, rate in list(streams.history)[-16:]],
        }

    async def put(
        self,
        url: str,
        *,
        path: str,
        offset: int,
        size: int,
        filetype: str,
        expect: Expect,
        progress: ProgressCallback | None = None,
        want_sha: bool = False,
        withdrawal: Withdrawal | None = None,
        priority: int | None = None,
    ) -> PutResult:
        """PUT ``size`` bytes of ``path`` from ``offset``; raises S3Error, FileProblem, ...,
        and :class:`Withdrawn` if ``withdrawal`` was withdrawn before the last chunk went.
        With a ``priority`` (the file's), a direct PUT's body waits between chunks while a
        higher-priority stop holds :attr:`precedence`."""
        reader = _PartReader(path, offset, size, expect, self.chunk_size, want_sha, withdrawal)
        await reader.open()
        if self.direct is not None:
            pause = None if priority is None else functools.partial(self.precedence.wait, priority)
            return await self._put_direct(url, reader, filetype, progress, pause)
        shown = display_url(url)

        async def body() -> AsyncIterator[bytes]:
            async for chunk in reader.chunks():
                yield chunk
                self._sent(len(chunk))
                if progress is not None:
                    progress(len(chunk))

        headers = {
            "Content-Type": filetype,
            "x-amz-acl": "private",
            "Content-Length": str(size),
        }
        started = time.perf_counter()
        try:
            extensions: dict[str, Any] = {}
            if self.timeout is not None:
                extensions["timeout"] = httpx.Timeout(self.timeout).as_dict()
            request = self.http.build_request(
                "PUT", url, content=body(), headers=headers, extensions=extensions
            )
            try:
                response = await self.http.send(request, follow_redirects=False)
            except httpx.TimeoutException as exc:
                if reader.problem is not None:
                    raise reader.problem from None
                raise TransportTimeout(
                    f"PUT {shown}: timed out ({type(exc).__name__})", endpoint=f"PUT {shown}"
                ) from None
            except httpx.TransportError as exc:
                if reader.problem is not None:
                    raise reader.problem from None
                raise TransportError(
                    f"PUT {shown}: no answer ({type(exc).__name__}: {exc or 'no detail'})",
                    endpoint=f"PUT {shown}",
                ) from None
            except FileProblem:
                raise
        finally:
            reader.close()
        if reader.problem is not None:
            raise reader.problem
        if response.status_code >= 300:
            raise S3Error.from_response(response.status_code, response.content)
        return PutResult(
            size, time.perf_counter() - started, reader.sha.hexdigest() if reader.sha else None
        )

    async def _put_direct(
        self,
        url: str,
        reader: _PartReader,
        filetype: str,
        progress: ProgressCallback | None,
        pause: Callable[[], object] | None,
    ) -> PutResult:
        assert self.direct is not None

        def sent(nbytes: int) -> None:
            self._sent(nbytes)
            if progress is not None:
                progress(nbytes)

        headers = {
            "Content-Type": filetype,
            "x-amz-acl": "private",
            "Content-Length": str(reader.size),
        }
        started = time.perf_counter()
        try:
            answer = await self.direct.put(
                url,
                headers,
                reader.blocking_chunks,
                sent,
                self.timeout,
                reader._close_now,
                withdrawal=reader.withdrawal,
                pause=pause,
            )
        except (TransportError, TransportTimeout):
            if reader.problem is not None:
                raise reader.problem from None
            raise
        if answer.status >= 300:
            raise S3Error.from_response(answer.status, answer.body)
        return PutResult(
            reader.size,
            time.perf_counter() - started,
            reader.sha.hexdigest() if reader.sha else None,
        )

    def close(self) -> None:
        """Stop the direct PUTs' threads and close their connections (the uploader stops)."""
        if self.direct is not None:
            self.direct.close()


class Pacer:
    """At most ``rate`` calls in any ``per`` seconds as the server counts them: on arrival.

    A call arrives somewhere between its start and its answer, so each holds its place in the
    window from its start until its answer, and a call starts only ``per`` after the answer of
    the call ``rate`` places before it. Then however long a call takes on the way (a busy
    machine, a slow network, a database write before it), calls never bunch up at the server
    (a sliding window on the injected clock)::

        async with pacer.slot():
            await create_the_asset()
    """

    def __init__(self, clock: Clock, *, rate: int = 5, per: float = 1.0, margin: float = 0.05):
        self.clock = clock
        self.rate = rate
        self.per = per + margin
        self._calls: collections.deque[_PacedCall] = collections.deque(maxlen=rate)
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a place in the window; hold it until the call is over (answered or not)."""
        call = _PacedCall()
        async with self._lock:
            while len(self._calls) >= self.rate:
                oldest = self._calls[0]
                if oldest.answered_at is None:
                    await oldest.over.wait()
                    continue
                wait = oldest.answered_at + self.per - self.clock.now()
                if wait <= 0:
                    break
                await self.clock.sleep(wait)
            self._calls.append(call)
        try:
            yield
        finally:
            call.answered_at = self.clock.now()
            call.over.set()


@dataclass
class _PacedCall:
    """One paced call: its answer's time once it is over (``None`` while in flight)."""

    answered_at: float | None = None
    over: asyncio.Event = field(default_factory=asyncio.Event)
