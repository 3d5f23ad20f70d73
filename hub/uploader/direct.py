"""Part bodies sent by a thread per stream on a blocking TLS socket (``http.client``).

Through the hub's ``httpx.AsyncClient`` every MiB of a part cost the event loop a thread hop
(the read), TLS encryption into anyio's in-memory BIO, a copy out of it and another into
asyncio's transport buffer; that was most of the uploader's CPU per byte. Here a worker thread
reads the part (``os.pread``, no hop) and ``sendall``s it on an ``ssl`` socket: one encryption
straight to the kernel, as a plain streaming PUT does. The event loop only gets one progress
callback per chunk and the answer.

Same rules as the httpx path (:meth:`c2c_hub.uploader.transfer.PartSender.put`): https:// URLs
only, the client's TLS trust and socket options (congestion control), the signed headers and
``Content-Length``, no redirect followed, the client's timeout per socket operation (or
``part_timeout_s``). Connections are kept alive and reused per host, one per thread at a time.
A cancelled PUT shuts its socket down, so its thread stops at once; nothing it sends after that
is counted, and its part is not acknowledged (it stays ``sending``, sent again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from c2c_hub.frameio import TransportError, TransportTimeout
from c2c_hub.frameio.congestion import TCP_CONGESTION
from c2c_hub.frameio.http import DirectSettings
from c2c_hub.frameio.urls import display_url, require_https
from c2c_hub.uploader.withdrawal import Withdrawal, send_queue

#: The most bytes of an error answer kept (an S3 error document is well under this).
MAX_ANSWER = 1 << 20
#: ``SO_LINGER`` on, 0 s: closing resets the connection and discards its send queue
RESET = struct.pack("ii", 1, 0)
#: A stream tells the event loop of the bytes it sent at most this often (and at its end).
REPORT_EVERY_S = 0.1
#: A body is handed to the socket in pieces of this size, so that a PUT asked to wait (a stop's
#: tail goes first, ``transfer.Precedence``) waits within a piece's time on a slow link, not
#: a 1 MiB chunk's (0.8 s at 10 Mbit/s, seconds when the link is shared).
PIECE = 128 * 1024


class _Connection(http.client.HTTPSConnection):
    """``http.client``'s HTTPS connection with the hub client's socket options set before
    ``connect`` (``TCP_CONGESTION``), as httpx sets them."""

    def __init__(
        self,
        host: str,
        port: int,
        settings: DirectSettings,
        timeout: float | None,
        congestion: bytes | None = None,
    ):
        super().__init__(host, port, timeout=timeout, context=settings.ssl_context)
        self.settings = settings
        self.congestion = congestion  # the part streams' congestion control, if switched

    def connect(self) -> None:
        problem: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                for level, option, value in self.settings.socket_options:
                    sock.setsockopt(level, option, value)
                if self.congestion is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, self.congestion)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                problem = exc
                continue
            try:
                self.sock = self.settings.ssl_context.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
            return
        raise problem or OSError(f"{self.host}: no address")

    def stale(self) -> bool:
        """An idle connection the server closed (or that has bytes nobody asked for)."""
        if self.sock is None:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


@dataclass
class DirectAnswer:
    status: int
    body: bytes


class DirectPuts:
    """The worker threads (one per part stream) and their idle keep-alive connections."""

    def __init__(self, settings: DirectSettings, threads: int) -> None:
        self.settings = settings
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None  # made at the first PUT
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self._live: set[_Put] = set()
        self._generation = 0  # a connection of an earlier generation (before close) is closed
        self._congestion: bytes | None = None  # set by use_congestion

    async def put(
        self,
        url: str,
        headers: dict[str, str],
        body: Callable[[], Iterator[bytes]],
        on_chunk: Callable[[int], None],
        socket_timeout: float | None,
        ended: Callable[[], None],
        withdrawal: Withdrawal | None = None,
        pause: Callable[[], object] | None = None,
    ) -> DirectAnswer:
        """PUT what ``body()`` yields to ``url`` from a worker thread; ``on_chunk(n)`` runs on
        the event loop after each chunk is handed to the socket, ``ended()`` once the thread is
        done with the body (at once, or after a cancelled PUT's thread has stopped). Raises
        TransportError, TransportTimeout, or what the body raised."""
        try:
            parsed = require_https(url, what="part URL")
        except BaseException:
            ended()
            raise
        loop = asyncio.get_running_loop()
        job = _Put(
            self, loop, parsed, parsed.host, parsed.port or 443, parsed.raw_path.decode("ascii")
        )
        job.generation = self._generation
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="c2c-part")
        job.headers, job.body, job.on_chunk = headers, body, on_chunk
        job.withdrawal = withdrawal
        job.pause = pause
        job.timeout = socket_timeout if socket_timeout is not None else self.settings.timeout
        self._live.add(job)
        future = loop.run_in_executor(self._executor, job.run)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.abort()
            raise
        finally:
            job.live = False
            self._live.discard(job)
            if future.done():
                ended()
            else:
                future.add_done_callback(lambda _: ended())
                future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def sockets(self) -> list[socket.socket]:
        """The sockets PUTs are sending on now (for their ``TCP_INFO``; one may close as it is
        read, which the reader takes as no answer)."""
        out = []
        for job in list(self._live):
            connection = job.connection
            sock = connection.sock if connection is not None else None
            if sock is not None:
                out.append(sock)
        return out

    def _take(self, host: str, port: int, timeout: float | None) -> _Connection:
        with self._lock:
            idle = self._idle.get((host, port), [])
            while idle:
                connection = idle.pop()
                if not connection.stale():
                    if connection.sock is not None:
                        connection.sock.settimeout(timeout)
                    return connection
                connection.close()
        return _Connection(host, port, self.settings, timeout, self._congestion)

    def _give_back(self, host: str, port: int, connection: _Connection, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._idle.setdefault((host, port), []).append(connection)
                return
        connection.close()

    def use_congestion(self, algorithm: str) -> int:
        """Run every part stream's connection with ``algorithm`` from now on: the live ones and
        the idle ones switched in place (Linux lets an established socket change its
        congestion control), new ones set before they connect. Returns how many were
        switched; one the kernel refuses keeps what it had."""
        name = algorithm.encode()
        with self._lock:
            self._congestion = name
            idle = [c for group in self._idle.values() for c in group]
        switched = 0
        for connection in [*idle, *(job.connection for job in list(self._live))]:
            sock = connection.sock if connection is not None else None
            if sock is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, name)
                switched += 1
        return switched

    def close(self) -> None:
        """Abort PUTs still running, close idle connections, let the threads end (a later PUT
        starts afresh)."""
        with self._lock:
            self._generation += 1
            idle = [c for group in self._idle.values() for c in group]
            self._idle.clear()
        for job in list(self._live):
            job.abort()
        for connection in idle:
            connection.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class _Put:
    """One PUT, run by a worker thread."""

    headers: dict[str, str]
    body: Callable[[], Iterator[bytes]]
    on_chunk: Callable[[int], None]
    timeout: float | None
    generation: int
    withdrawal: Withdrawal | None = None
    pause: Callable[[], object] | None = None  # asked before each piece (Precedence)

    def __init__(
        self,
        owner: DirectPuts,
        loop: asyncio.AbstractEventLoop,
        url: httpx.URL,
        host: str,
        port: int,
        target: str,
    ) -> None:
        self.owner, self.loop, self.url = owner, loop, url
        self.host, self.port, self.target = host, port, target
        self.live = True  # read on the event loop: chunk reports after the end are dropped
        self.aborted = threading.Event()
        self.connection: _Connection | None = None
        # Bytes sent but not yet told to the event loop, and when it was last told (thread side)
        self._unreported = 0
        self._reported_at = 0.0

    @functools.cached_property
    def shown(self) -> str:
        """The URL without its signature, for errors (parsing it again costs ~0.1 ms)."""
        return display_url(self.url)

    def abort(self) -> None:
        """Drop the PUT: its socket reset (``SO_LINGER`` 0), so what its kernel still holds to
        send is discarded, not sent after a FIN on a link the next PUTs need (a withdrawn
        re-send's last MB would otherwise go on for seconds); the shutdown wakes the thread."""
        self.aborted.set()
        connection = self.connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
                connection.sock.shutdown(socket.SHUT_RDWR)

    def _report(self, nbytes: int) -> None:
        if self.live:
            self.on_chunk(nbytes)

    def _sent(self, nbytes: int, last: bool) -> None:
        """(thread) ``nbytes`` more handed to the socket. The event loop is told at most every
        :data:`REPORT_EVERY_S` and after the last chunk: each report wakes it (a cross-thread
        call, a write to its self-pipe), once per MiB per stream before."""
        self._unreported += nbytes
        if not self._unreported:
            return
        now = time.monotonic()
        if last or now - self._reported_at >= REPORT_EVERY_S:
            self.loop.call_soon_threadsafe(self._report, self._unreported)
            self._unreported, self._reported_at = 0, now

    def run(self) -> DirectAnswer:
        connection = self.owner._take(self.host, self.port, self.timeout)
        self.connection = connection
        reusable = False
        try:
            if self.aborted.is_set():
                endpoint = f"PUT {self.shown}"
                raise TransportError(f"{endpoint}: cancelled", endpoint=endpoint)
            try:
                connection.putrequest("PUT", self.target, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                if self.withdrawal is not None:  # what is queued counts as still to go
                    self.withdrawal.queued = send_queue(connection.sock)
                pause, withdrawal = self.pause, self.withdrawal
                for chunk in self.body():
                    if self.aborted.is_set():  # cancelled before its socket existed
                        raise OSError("cancelled")
                    if pause is None and withdrawal is None:
                        connection.send(chunk)
                    else:  # in pieces: to wait between them, and to count what went
                        view = memoryview(chunk)
                        for at in range(0, len(view), PIECE):
                            if pause is not None:
                                pause()
                            if self.aborted.is_set():
                                raise OSError("cancelled")
                            piece = view[at : at + PIECE]
                            connection.send(piece)
                            if withdrawal is not None:
                                withdrawal.handed_over(len(piece))
                    self._sent(len(chunk), last=False)
                self._sent(0, last=True)
                response = connection.getresponse()
                body = response.read(MAX_ANSWER)
                reusable = not response.will_close and response.isclosed()
            except TimeoutError as exc:
                endpoint = f"PUT {self.shown}"
                raise TransportTimeout(
                    f"{endpoint}: timed out ({type(exc).__name__})", endpoint=endpoint
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._sent(0, last=True)  # what did go out before it failed
                why = "cancelled" if self.aborted.is_set() else f"{type(exc).__name__}: {exc}"
                endpoint = f"PUT {self.shown}"
                raise TransportError(f"{endpoint}: no answer ({why})", endpoint=endpoint) from None
            return DirectAnswer(response.status, body)
        finally:
            self.connection = None
            if reusable and not self.aborted.is_set():
                self.owner._give_back(self.host, self.port, connection, self.generation)
            else:
                connection.close()
