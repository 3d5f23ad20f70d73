"""A link simulator: a TCP proxy with bandwidth, delay and cuts, for tests and benchmarks.

The kernel here has no ``netem`` and there is no toxiproxy, so this is the network a test puts
between a client and a server::

    async with LinkSimulator(("127.0.0.1", server_port), rate_bps=50e6, delay_s=0.020) as link:
        ...  # connect to ("127.0.0.1", link.port): 50 Mbit/s each way, 40 ms added RTT

    with LinkSimulator(target, rate_bps=200e6, delay_s=0.020):  # its own thread and loop
        ...  # synchronous code (requests, http.client, a subprocess) uses link.port

What it models, per direction (``up`` = client to target, ``down`` = target to client):

- **Bandwidth**: one bottleneck shared by every connection through the link, as a real uplink
  is. Each chunk read is given a departure time on a virtual clock (``start = max(now,
  link_free_at)``, ``link_free_at = start + bits / rate``), so the average rate is exact
  whatever the timer jitter; sleeps that fire late never add up.
- **Per-flow ceiling** (``flow_rate_bps``, off by default): each connection also limited to
  its own rate, as a flow held down by loss is under a loss-based congestion control; then
  more connections carry more, up to the shared rate.
- **Delay**: one-way propagation delay added to every chunk (RTT grows by ``up + down``), and
  a TCP handshake's worth of it before a new connection's first byte reaches the target.
- **Queue**: the proxy stops reading from a sender once the bytes waiting for the bottleneck
  exceed ``queue_s`` seconds of link time (the bottleneck's buffer), so the sender's own TCP
  feels the rate: pressure reaches the application as slow writes, not as a huge buffer in the
  proxy. Bytes already "on the wire" (the delay) are held by the proxy, so one connection can
  fill the link at any RTT (there is no TCP window between the endpoints to cap it).
- **Cuts**: :meth:`cut_all` resets every open connection (network loss), ``cut_after_bytes``
  resets a connection once that many bytes have gone one way, and :meth:`set_offline` resets
  new connections at once until it is cleared. A reset is a real RST (``SO_LINGER`` 0), so the
  client sees ``ConnectionResetError`` (or an EOF/``RemoteProtocolError`` if it was not
  reading at that moment), as with a dropped Wi-Fi link.

It does not model packet loss, TCP slow start or congestion control over the emulated path:
each side's TCP runs over loopback to the proxy.

Live changes (:meth:`set_rate`, :meth:`set_delay`, :meth:`set_cut_after`, :meth:`cut_all`,
:meth:`set_offline`, :meth:`set_target`) are safe from any thread. ``python -m
c2c_hub.emulation.linksim``
runs one as a process (another process's tests can then point at its port).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import json
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

__all__ = ["Lane", "LinkSimulator", "parse_rate", "parse_seconds"]

Direction = Literal["up", "down", "both"]
T = TypeVar("T")

SEGMENT = 64 * 1024  # bytes released to the receiver at once (a burst of ~44 packets)
READ_BUFFER = 1 << 20  # the asyncio read size asked of the kernel (large reads, fewer wakeups)
WRITE_HIGH_WATER = 8 << 20  # the receiver-side transport buffer before the sender is paused
_EOF = b"<eof>"
_CUT = b"<cut>"


@dataclass
class Lane:
    """One direction of the link: its settings, its bottleneck clock and its counters."""

    rate_bps: float | None = None  # None: no bandwidth limit
    # Each connection's own ceiling, under the shared rate: a flow held down by loss (a
    # loss-based congestion control on a lossy link), so more flows carry more. None: none.
    flow_rate_bps: float | None = None
    delay_s: float = 0.0  # one-way propagation delay
    cut_after_bytes: int | None = None  # reset each connection after this many bytes this way
    queue_s: float = 0.025  # bottleneck buffer, in seconds of link time
    free_at: float = 0.0  # when the bottleneck has sent everything given to it so far
    delivered_bytes: int = 0  # bytes written to receivers so far

    def depart(self, size: int, now: float) -> float:
        """Give ``size`` bytes to the bottleneck; when their last bit has left it."""
        if self.rate_bps is None:
            self.free_at = now
            return now
        self.free_at = max(now, self.free_at) + size * 8 / self.rate_bps
        return self.free_at

    def backlog(self, now: float) -> float:
        """Seconds of data waiting for the bottleneck."""
        return max(0.0, self.free_at - now)


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Close with an RST (not a FIN): the peer sees the connection reset."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert isinstance(transport, asyncio.WriteTransport)
    transport.abort()


class _Pipe:
    """One direction of one connection: a FIFO of (arrival time, bytes) released on time."""

    def __init__(self, conn: _Connection, lane: Lane, not_before: float) -> None:
        self.conn = conn
        self.lane = lane
        self.loop = conn.loop
        self.queue: collections.deque[tuple[float, bytes | memoryview]] = collections.deque()
        self.last_arrival = not_before  # FIFO even when the delay is lowered live
        self.src: asyncio.Transport | None = None
        self.dst: asyncio.Transport | None = None
        self.sent = 0
        self.ended = False  # EOF or cut queued: nothing more is read
        self.delivered_eof = False
        self.timer: asyncio.TimerHandle | None = None
        self.resume_timer: asyncio.TimerHandle | None = None
        self.link_paused = False
        self.dst_paused = False
        self.reading = True
        self.flow_free_at = 0.0  # this connection's own bottleneck (Lane.flow_rate_bps)

    # ---------------------------------------------------------------- input
    def feed(self, data: bytes) -> None:
        if self.ended:
            return
        cut = False
        budget = self.lane.cut_after_bytes
        if budget is not None and self.sent + len(data) >= budget:
            data = data[: max(0, budget - self.sent)]
            cut = True
        self.sent += len(data)
        now = self.loop.time()
        view = memoryview(data)
        flow_rate = self.lane.flow_rate_bps
        for start in range(0, len(data), SEGMENT):
            piece = view[start : start + SEGMENT]
            departure = self.lane.depart(len(piece), now)
            if flow_rate is not None:
                self.flow_free_at = max(now, self.flow_free_at) + len(piece) * 8 / flow_rate
                departure = max(departure, self.flow_free_at)
            self._push(departure + self.lane.delay_s, piece)
        if cut:
            self._push(self.last_arrival, _CUT)
            self.ended = True
        self._arm()
        if self._backlog(now) > self.lane.queue_s and not self.link_paused:
            self.link_paused = True
            self._update_reading()
            self._schedule_resume()

    def feed_eof(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._push(max(self.last_arrival, self.loop.time() + self.lane.delay_s), _EOF)
        self._arm()

    def _push(self, arrival: float, item: bytes | memoryview) -> None:
        arrival = max(arrival, self.last_arrival)
        self.last_arrival = arrival
        self.queue.append((arrival, item))

    # ---------------------------------------------------------------- flow control
    def _backlog(self, now: float) -> float:
        """Seconds of this connection's data waiting: for the link, or for its own ceiling."""
        return max(self.lane.backlog(now), self.flow_free_at - now)

    def _schedule_resume(self) -> None:
        wake = max(self.lane.free_at, self.flow_free_at) - self.lane.queue_s / 2
        self.resume_timer = self.loop.call_at(wake, self._maybe_resume)

    def _maybe_resume(self) -> None:
        self.resume_timer = None
        if self._backlog(self.loop.time()) > self.lane.queue_s:
            self._schedule_resume()  # other connections filled the bottleneck meanwhile
            return
        self.link_paused = False
        self._update_reading()

    def set_dst_paused(self, paused: bool) -> None:
        self.dst_paused = paused
        self._update_reading()

    def _update_reading(self) -> None:
        want = not (self.link_paused or self.dst_paused)
        if want == self.reading or self.src is None or self.src.is_closing():
            return
        self.reading = want
        if want:
            self.src.resume_reading()
        else:
            self.src.pause_reading()

    # ---------------------------------------------------------------- output
    def _arm(self) -> None:
        if self.timer is None and self.queue and self.dst is not None:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def attach(self, dst: asyncio.Transport) -> None:
        self.dst = dst
        self._arm()

    def _flush(self) -> None:
        self.timer = None
        dst = self.dst
        if dst is None or self.conn.closed:
            return
        now = self.loop.time()
        chunks: list[bytes | memoryview] = []
        while self.queue and self.queue[0][0] <= now:
            _, item = self.queue.popleft()
            if item is _CUT:
                self._write(dst, chunks)
                self.conn.cut()
                return
            if item is _EOF:
                self._write(dst, chunks)
                chunks = []
                self.delivered_eof = True
                if dst.can_write_eof() and not dst.is_closing():
                    # The far side may be gone already (a killed client): nothing to tell it.
                    with contextlib.suppress(OSError):
                        dst.write_eof()
                self.conn.maybe_close()
                continue
            chunks.append(item)
        self._write(dst, chunks)
        self._arm()

    def _write(self, dst: asyncio.Transport, chunks: list[bytes | memoryview]) -> None:
        if not chunks or dst.is_closing():
            return
        size = sum(len(c) for c in chunks)
        dst.writelines(chunks)
        self.lane.delivered_bytes += size

    def stop(self) -> None:
        for timer in (self.timer, self.resume_timer):
            if timer is not None:
                timer.cancel()
        self.timer = self.resume_timer = None
        self.queue.clear()


class _Side(asyncio.Protocol):
    """The proxy's end of one socket: what it reads goes into ``pipe_in``."""

    def __init__(self, conn: _Connection, which: Literal["client", "target"]) -> None:
        self.conn = conn
        self.which = which
        self.transport: asyncio.Transport | None = None

    @property
    def pipe_in(self) -> _Pipe:
        return self.conn.up if self.which == "client" else self.conn.down

    @property
    def pipe_out(self) -> _Pipe:
        return self.conn.down if self.which == "client" else self.conn.up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.pipe_in.src = transport
        self.pipe_out.attach(transport)
        if self.which == "client":
            self.conn.client_made(self)
        else:
            self.conn.target = self

    def data_received(self, data: bytes) -> None:
        self.pipe_in.feed(data)

    def eof_received(self) -> bool:
        self.pipe_in.feed_eof()
        return True  # half-close: keep delivering the other way

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:  # a reset on one side is a reset on the other
            self.conn.cut()
        else:
            self.pipe_in.feed_eof()
            self.conn.maybe_close()

    def pause_writing(self) -> None:
        self.pipe_out.set_dst_paused(True)

    def resume_writing(self) -> None:
        self.pipe_out.set_dst_paused(False)

    def get_buffer_size(self) -> int:  # pragma: no cover - for BufferedProtocol users
        return READ_BUFFER


class _Connection:
    def __init__(self, link: LinkSimulator) -> None:
        self.link = link
        self.loop = asyncio.get_running_loop()
        now = self.loop.time()
        # The TCP handshake over the emulated path: the client's first byte leaves after SYN,
        # SYN-ACK (one RTT), then takes the one-way delay to arrive.
        handshake = link.up.delay_s + link.down.delay_s if link.handshake else 0.0
        self.up = _Pipe(self, link.up, now + handshake)
        self.down = _Pipe(self, link.down, now)
        self.client: _Side | None = None
        self.target: _Side | None = None
        self.closed = False
        self.connect_task: asyncio.Task[None] | None = None

    def client_made(self, side: _Side) -> None:
        self.client = side
        self.link._connections.add(self)
        if self.link.offline or self.link.target is None:
            self.cut()
            return
        self.up.set_dst_paused(True)  # read nothing more until the target is connected
        self.connect_task = self.loop.create_task(self._connect(self.link.target))

    async def _connect(self, target: tuple[str, int]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.link._tune(sock)
            sock.setblocking(False)
            await self.loop.sock_connect(sock, target)
            await self.loop.create_connection(lambda: _Side(self, "target"), sock=sock)
        except (OSError, asyncio.CancelledError):
            sock.close()
            self.cut()
            return
        if self.closed:
            _reset(self.target.transport if self.target else None)
            return
        self.up.set_dst_paused(False)

    def cut(self) -> None:
        """Reset both sockets now; whatever was in flight is lost."""
        if self.closed:
            return
        self.closed = True
        self.link._cuts += 1
        self._finish()
        for side in (self.client, self.target):
            _reset(side.transport if side else None)

    def maybe_close(self) -> None:
        """Both directions delivered their EOF: close gracefully."""
        if self.closed or not (self.up.delivered_eof and self.down.delivered_eof):
            return
        self.closed = True
        self._finish()
        for side in (self.client, self.target):
            if side is not None and side.transport is not None:
                side.transport.close()

    def _finish(self) -> None:
        self.up.stop()
        self.down.stop()
        if self.connect_task is not None and not self.connect_task.done():
            self.connect_task.cancel()
        self.link._connections.discard(self)


@dataclass
class LinkSimulator:
    """A TCP proxy ``listen`` → ``target`` that behaves like a slow, distant link.

    ``rate_bps``/``delay_s``/``cut_after_bytes`` set both directions; ``up``/``down`` lanes
    can be given separately. ``target`` may be None at first (connections are reset until
    :meth:`set_target`), so the listening port can be known before the server behind it exists.
    """

    target: tuple[str, int] | None = None
    rate_bps: float | None = None
    delay_s: float = 0.0
    cut_after_bytes: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    handshake: bool = True  # a new connection's first byte waits one RTT (SYN, SYN-ACK)
    socket_buffer: int | None = 4 << 20  # SO_SNDBUF/SO_RCVBUF; None: the kernel's autotuning
    up: Lane = field(default_factory=Lane)
    down: Lane = field(default_factory=Lane)

    def __post_init__(self) -> None:
        for lane in (self.up, self.down):
            if self.rate_bps is not None and lane.rate_bps is None:
                lane.rate_bps = self.rate_bps
            if self.delay_s and not lane.delay_s:
                lane.delay_s = self.delay_s
            if self.cut_after_bytes is not None and lane.cut_after_bytes is None:
                lane.cut_after_bytes = self.cut_after_bytes
        self.offline = False
        self._connections: set[_Connection] = set()
        self._cuts = 0
        self._accepted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tune(self._listener)  # accepted sockets inherit the buffer sizes
        self._listener.bind((self.host, self.port))
        self.port = self._listener.getsockname()[1]

    # ------------------------------------------------------------------ addresses
    @property
    def address(self) -> str:
        """``host:port`` clients use (e.g. an emulator's ``advertise``)."""
        return f"{self.host}:{self.port}"

    def _tune(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.socket_buffer:
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, self.socket_buffer)

    # ------------------------------------------------------------------ asyncio lifecycle
    async def start(self) -> LinkSimulator:
        self._loop = asyncio.get_running_loop()
        self._listener.listen(256)
        self._listener.setblocking(False)
        self._server = await self._loop.create_server(self._accept, sock=self._listener)
        return self

    def _accept(self) -> _Side:
        self._accepted += 1
        return _Side(_Connection(self), "client")

    async def stop(self) -> None:
        """Stop listening, reset every connection, cancel every task and timer."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.cut()
        tasks = [c.connect_task for c in list(self._connections) if c.connect_task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        self._listener.close()

    async def __aenter__(self) -> LinkSimulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ thread lifecycle
    def start_thread(self, timeout: float = 10.0) -> LinkSimulator:
        """Run on its own event loop in a daemon thread (for synchronous callers)."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._stopped = asyncio.Event()

            async def main() -> None:
                try:
                    await self.start()
                except BaseException as exc:
                    ready.set_exception(exc)
                    return
                ready.set_result(None)
                assert self._stopped is not None
                await self._stopped.wait()
                await self.stop()

            try:
                loop.run_until_complete(main())
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"linksim-{self.port}", daemon=True)
        self._thread.start()
        ready.result(timeout)
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> LinkSimulator:
        return self.start_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # ------------------------------------------------------------------ live changes
    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the link's loop (at once if already there, or not started)."""
        loop = self._loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # pragma: no cover - handed to the caller
                future.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return future.result(10)

    def _lanes(self, direction: Direction) -> tuple[Lane, ...]:
        return {"up": (self.up,), "down": (self.down,), "both": (self.up, self.down)}[direction]

    def set_rate(self, rate_bps: float | None, direction: Direction = "both") -> None:
        """Change the bandwidth (bits/s; None: unlimited) from now on."""

        def apply() -> None:
            for lane in self._lanes(direction):
                lane.rate_bps = rate_bps

        self._call(apply)

    def set_flow_rate(self, rate_bps: float | None, direction: Direction = "both") -> None:
        """Each connection's own ceiling (see :class:`Lane`); None: none."""

        def apply() -> None:
            for lane in self._lanes(direction):
                lane.flow_rate_bps = rate_bps

        self._call(apply)

    def set_delay(self, delay_s: float, direction: Direction = "both") -> None:
        """Change the one-way delay of bytes read from now on (order is kept)."""

        def apply() -> None:
            for lane in self._lanes(direction):
                lane.delay_s = delay_s

        self._call(apply)

    def set_cut_after(self, size: int | None, direction: Direction = "both") -> None:
        """Reset connections opened from now on after ``size`` bytes (None: never)."""

        def apply() -> None:
            for lane in self._lanes(direction):
                lane.cut_after_bytes = size

        self._call(apply)

    def set_target(self, host: str, port: int) -> None:
        self._call(lambda: setattr(self, "target", (host, port)))

    def set_offline(self, offline: bool = True) -> int:
        """Network down: reset every connection and every new one until set back online."""

        def apply() -> int:
            self.offline = offline
            return self._cut_all() if offline else 0

        return self._call(apply)

    def cut_all(self) -> int:
        """Reset every open connection (in both directions); return how many."""
        return self._call(self._cut_all)

    def _cut_all(self) -> int:
        conns = list(self._connections)
        for conn in conns:
            conn.cut()
        return len(conns)

    def stats(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            return {
                "accepted": self._accepted,
                "open": len(self._connections),
                "cuts": self._cuts,
                "up_bytes": self.up.delivered_bytes,
                "down_bytes": self.down.delivered_bytes,
            }

        return self._call(read)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# ---------------------------------------------------------------------- command line
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_rate(text: str) -> float | None:
    """``50M``, ``200mbit``, ``1.5G``, ``0``/``none`` (unlimited) → bits per second."""
    value = text.strip().lower().removesuffix("bit/s").removesuffix("bit").removesuffix("bps")
    if value in {"", "0", "none", "inf", "unlimited"}:
        return None
    unit = value[-1] if value[-1] in "kmg" else ""
    return float(value.removesuffix(unit)) * _UNITS[unit]


def parse_seconds(text: str) -> float:
    """``20ms``, ``0.02``, ``0.02s`` → seconds."""
    value = text.strip().lower()
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    return float(value.removesuffix("s"))


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c2c_hub.emulation.linksim",
        description="A TCP proxy with bandwidth, delay and cuts. Prints its port as JSON, "
        "runs until stdin closes or SIGINT/SIGTERM.",
    )
    parser.add_argument("--target", required=True, type=_host_port, help="host:port")
    parser.add_argument("--listen", default="127.0.0.1:0", type=_host_port, help="host:port")
    parser.add_argument("--rate", type=parse_rate, default=None, help="each way, e.g. 50M")
    parser.add_argument("--up-rate", type=parse_rate, default=None)
    parser.add_argument("--down-rate", type=parse_rate, default=None)
    parser.add_argument("--delay", type=parse_seconds, default=0.0, help="one way, e.g. 20ms")
    parser.add_argument("--cut-after", type=int, default=None, help="bytes per connection")
    args = parser.parse_args(argv)

    async def run() -> None:
        link = LinkSimulator(
            args.target,
            rate_bps=args.rate,
            delay_s=args.delay,
            cut_after_bytes=args.cut_after,
            host=args.listen[0],
            port=args.listen[1],
        )
        if args.up_rate is not None:
            link.up.rate_bps = args.up_rate
        if args.down_rate is not None:
            link.down.rate_bps = args.down_rate
        async with link:
            print(json.dumps({"host": link.host, "port": link.port}), flush=True)
            loop = asyncio.get_running_loop()
            done = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, done.set)
            stdin_closed = loop.run_in_executor(None, sys.stdin.read)
            stdin_closed.add_done_callback(lambda _: done.set())
            await done.wait()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
