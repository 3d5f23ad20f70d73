"""Part bodies from worker threads on blocking TLS sockets (``c2c_hub.uploader.direct``).

Against a real TLS server on 127.0.0.1 that reads each PUT's body by its ``Content-Length``:
the bytes arrive whole over one kept-alive connection running the client's congestion control,
a cancelled PUT stops its thread and counts nothing more, and an http:// URL is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from c2c_hub.frameio import InsecureURLError, TransportError, make_http_client
from c2c_hub.frameio.congestion import AVAILABLE, choose, of_socket
from c2c_hub.frameio.http import direct_settings
from c2c_hub.settings import FrameioSettings
from c2c_hub.uploader.streams import StreamController
from c2c_hub.uploader.transfer import FileIdentity, PartSender, Precedence, PutResult
from c2c_hub.uploader.withdrawal import Withdrawal, Withdrawn

MiB = 1024 * 1024


@dataclass
class Sink:
    port: int
    ca_file: Path
    stall: asyncio.Event = field(default_factory=asyncio.Event)  # set: stop reading bodies
    connections: int = 0
    bodies: list[str] = field(default_factory=list)  # SHA-256 of each body received
    targets: list[str] = field(default_factory=list)


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[Sink]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    state = Sink(0, ca_file)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                state.targets.append(lines[0])
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                if state.stall.is_set():
                    await asyncio.sleep(3600)  # never reads: the sender's socket fills up
                digest = hashlib.sha256()
                while length:
                    chunk = await reader.read(min(length, MiB))
                    if not chunk:
                        return
                    digest.update(chunk)
                    length -= len(chunk)
                state.bodies.append(digest.hexdigest())
                writer.write(b'HTTP/1.1 200 OK\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in asyncio.all_tasks():  # the stalled handler
            if task.get_coro().__qualname__.startswith("sink.<locals>.serve"):  # type: ignore[union-attr]
                task.cancel()
        await server.wait_closed()


def sender_for(
    sink: Sink, congestion: str = "system", timeout: float | None = None
) -> tuple[httpx.AsyncClient, PartSender]:
    # A long client timeout: only the cancellation, never a timeout, can end a stalled PUT.
    settings = FrameioSettings(
        api_base_url="https://127.0.0.1", ca_file=sink.ca_file, timeout_s=600
    )
    http = make_http_client(settings, choose(congestion))
    direct = direct_settings(http)
    assert direct is not None  # the hub's own client: part bodies go direct
    sender = PartSender(http, streams=StreamController(pinned=2), direct=direct, timeout=timeout)
    return http, sender


def put_part(
    sender: PartSender,
    url: str,
    path: Path,
    identity: FileIdentity,
    size: int,
    *,
    offset: int = 0,
    filetype: str = "video/quicktime",
    **options: Any,
) -> Coroutine[Any, Any, PutResult]:
    """``sender.put`` of ``size`` bytes of ``path`` from ``offset`` (a movie by default)."""
    return sender.put(
        url,
        path=str(path),
        offset=offset,
        size=size,
        filetype=filetype,
        expect=identity,
        **options,
    )


def open_fds(path: Path) -> list[str]:
    """This process's descriptors open on ``path``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.append(fd)
    return found


needs_reno = pytest.mark.skipif(
    not hasattr(socket, "TCP_CONGESTION")
    or "reno" not in (AVAILABLE.read_text().split() if AVAILABLE.exists() else []),
    reason="needs Linux per-socket congestion control (reno)",
)


def media(tmp_path: Path, size: int) -> tuple[Path, FileIdentity, bytes]:
    path = tmp_path / "take.mov"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, FileIdentity.of(path.stat()), data


@needs_reno
async def test_parts_go_whole_over_one_kept_alive_connection_with_the_clients_congestion(
    sink: Sink, tmp_path: Path
) -> None:
    path, identity, data = media(tmp_path, 3 * MiB + 123)
    http, sender = sender_for(sink, "reno")
    counted: list[int] = []
    url = f"https://127.0.0.1:{sink.port}/bucket/key?partNumber=1&X-Amz-Signature=abc"
    try:
        first = await put_part(
            sender,
            url,
            path,
            identity,
            2 * MiB,
            progress=counted.append,
            want_sha=True,
        )
        assert sender.direct is not None
        idle = [c for group in sender.direct._idle.values() for c in group]
        assert len(idle) == 1 and of_socket(idle[0].sock) == "reno"
        second = await put_part(
            sender,
            url,
            path,
            identity,
            MiB + 123,
            offset=2 * MiB,
            progress=counted.append,
        )
    finally:
        sender.close()
        await http.aclose()
    assert first.sha256 == hashlib.sha256(data[: 2 * MiB]).hexdigest()
    assert (first.nbytes, second.nbytes) == (2 * MiB, MiB + 123)
    assert sink.bodies == [
        hashlib.sha256(data[: 2 * MiB]).hexdigest(),
        hashlib.sha256(data[2 * MiB :]).hexdigest(),
    ]
    assert sum(counted) == len(data)
    assert sink.connections == 1  # kept alive between parts
    assert sink.targets[0] == "PUT /bucket/key?partNumber=1&X-Amz-Signature=abc HTTP/1.1"


async def test_a_cancelled_put_stops_its_thread_and_counts_nothing_after(
    sink: Sink, tmp_path: Path
) -> None:
    path, identity, _ = media(tmp_path, 64 * MiB)
    sink.stall.set()
    http, sender = sender_for(sink)
    counted: list[int] = []
    before = {t.name for t in threading.enumerate()}
    put = asyncio.create_task(
        put_part(
            sender,
            f"https://127.0.0.1:{sink.port}/p",
            path,
            identity,
            64 * MiB,
            progress=counted.append,
        )
    )
    try:
        for _ in range(500):  # the server reads nothing: the sender blocks once buffers fill
            await asyncio.sleep(0.02)
            if counted and sender.direct is not None and sender.direct._live:
                break
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
        at_cancel = sum(counted)
        assert at_cancel < 64 * MiB
        # Its socket was shut down, so its thread ends and only then closes the file it read.
        for _ in range(1500):
            if not open_fds(path):
                break
            await asyncio.sleep(0.02)
        assert not open_fds(path)
        await asyncio.sleep(0.2)
        assert sum(counted) == at_cancel  # nothing reported after the cancellation
    finally:
        sender.close()
        await http.aclose()

    def part_threads() -> set[str]:
        return {t.name for t in threading.enumerate() if t.name.startswith("c2c-part")} - before

    for _ in range(1500):  # close() let the worker threads end
        if not part_threads():
            break
        await asyncio.sleep(0.02)
    assert not part_threads()


async def test_a_withdrawn_put_never_sends_its_last_chunk_and_counts_the_kernels_queue(
    sink: Sink, tmp_path: Path
) -> None:
    """A part's PUT withdrawn mid-body: the server never gets the whole body (so S3 could not
    store it), and what the socket still holds counted as left to send."""
    size = 16 * MiB
    path, identity, _ = media(tmp_path, size)
    sink.stall.set()
    http, sender = sender_for(sink)
    withdrawal = Withdrawal(size)
    put = asyncio.create_task(
        put_part(
            sender,
            f"https://127.0.0.1:{sink.port}/p",
            path,
            identity,
            size,
            withdrawal=withdrawal,
        )
    )
    try:
        # The server reads nothing: the sender blocks once the buffers fill.
        for _ in range(500):
            await asyncio.sleep(0.02)
            if withdrawal.handed and withdrawal.queued is not None and withdrawal.queued():
                break
        queued = withdrawal.queued() if withdrawal.queued is not None else 0
        assert queued > 0  # handed over, but still in the kernel: not yet at the server
        assert withdrawal.left() >= size - withdrawal.handed + queued > size - withdrawal.handed
        assert withdrawal.withdraw(lambda left: left > 0)
        put.cancel()
        with pytest.raises((asyncio.CancelledError, Withdrawn)):
            await put
        assert not withdrawal.last_chunk()  # the last chunk can never go now
    finally:
        sender.close()
        await http.aclose()
    assert sink.bodies == []  # no body arrived whole


async def test_a_put_is_withdrawn_only_before_its_last_chunk_goes(
    sink: Sink, tmp_path: Path
) -> None:
    size = 3 * MiB
    path, identity, data = media(tmp_path, size)
    http, sender = sender_for(sink)
    try:
        # Withdrawn before it starts: the body stops short of its last chunk, nothing stored.
        early = Withdrawal(size)
        assert early.withdraw()
        with pytest.raises(Withdrawn):
            await put_part(
                sender,
                f"https://127.0.0.1:{sink.port}/early",
                path,
                identity,
                size,
                withdrawal=early,
            )
        assert sink.bodies == []
        # Not withdrawn: the PUT goes whole, and then it cannot be.
        late = Withdrawal(size)
        await put_part(
            sender,
            f"https://127.0.0.1:{sink.port}/late",
            path,
            identity,
            size,
            withdrawal=late,
        )
        assert sink.bodies == [hashlib.sha256(data).hexdigest()]
        assert late.handed == size
        assert not late.withdraw()
    finally:
        sender.close()
        await http.aclose()


def test_withdraw_asks_whether_it_is_worth_it_with_what_is_left() -> None:
    withdrawal = Withdrawal(10 * MiB)
    withdrawal.handed_over(4 * MiB)
    withdrawal.queued = lambda: MiB
    asked: list[int] = []

    def never(left: int) -> bool:
        asked.append(left)
        return False

    assert not withdrawal.withdraw(never)
    assert asked == [7 * MiB]  # 6 MiB never handed over, 1 MiB still in the kernel
    assert withdrawal.withdraw(lambda left: left > 3 * MiB)
    assert withdrawal.withdrawn and not withdrawal.last_chunk()


@needs_reno
async def test_switching_congestion_control_changes_live_and_new_connections(
    sink: Sink, tmp_path: Path
) -> None:
    """The part streams move to another algorithm mid-PUT: the live socket is switched in
    place (as ``ss -ti`` would show it), and the next connection starts with it."""
    path, identity, _ = media(tmp_path, 16 * MiB)
    sink.stall.set()
    http, sender = sender_for(sink, congestion="cubic")
    assert sender.direct is not None
    put = asyncio.create_task(
        put_part(
            sender,
            f"https://127.0.0.1:{sink.port}/p",
            path,
            identity,
            16 * MiB,
        )
    )
    try:
        for _ in range(500):
            await asyncio.sleep(0.02)
            if sender.direct.sockets():
                break
        live = sender.direct.sockets()
        assert [of_socket(sock) for sock in live] == ["cubic"]
        assert sender.direct.use_congestion("reno") == 1
        assert of_socket(live[0]) == "reno"
        fresh = sender.direct._take("127.0.0.1", sink.port, 10)
        try:
            await asyncio.to_thread(fresh.connect)  # the server runs on this loop
            assert of_socket(fresh.sock) == "reno"
        finally:
            fresh.close()
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
    finally:
        sender.close()
        await http.aclose()


async def test_a_lower_priority_body_waits_while_a_stops_tail_holds(
    sink: Sink, tmp_path: Path
) -> None:
    """A take's stop sends its proxy's tail while a WAV part is on its way: the WAV's body
    waits between chunks until the tail is sent, then goes on whole."""
    size = 8 * MiB
    path, identity, data = media(tmp_path, size)
    http, sender = sender_for(sink)
    sender.precedence.max_pause_s = 600  # only the release may end the wait here
    counted: list[int] = []
    try:
        with sender.precedence.hold(10):  # the proxy's tail (priority 10) is being sent
            put = asyncio.create_task(
                put_part(
                    sender,
                    f"https://127.0.0.1:{sink.port}/wav",
                    path,
                    identity,
                    size,
                    filetype="audio/wav",
                    progress=counted.append,
                    priority=0,
                )
            )
            for _ in range(100):  # the worker reaches its first chunk and waits there
                await asyncio.sleep(0.02)
                if sender.precedence.pauses:
                    break
            assert sender.precedence.pauses == 1
            await asyncio.sleep(0.3)
            assert not put.done() and sum(counted) == 0 and sink.bodies == []
        await put  # released: the body goes on, whole
        assert sink.bodies == [hashlib.sha256(data).hexdigest()]
        assert sender.status()["paused_for_stops"] == 1
        # An equal priority, or no priority, never waits.
        with sender.precedence.hold(0):
            await put_part(
                sender,
                f"https://127.0.0.1:{sink.port}/same",
                path,
                identity,
                size,
                filetype="audio/wav",
                priority=0,
            )
        assert sender.precedence.pauses == 1
    finally:
        sender.close()
        await http.aclose()


def test_a_wait_for_precedence_is_bounded_and_ends_with_the_hold() -> None:
    precedence = Precedence(max_pause_s=0.2, step_s=0.01)
    with precedence.hold(5):
        assert precedence.wait(5) == 0.0  # equal: no wait
        assert precedence.wait(9) == 0.0  # higher: no wait
        assert precedence.wait(1) >= 0.2  # lower: at most max_pause_s (a connection's idle)
    assert precedence.holding() == []
    precedence.max_pause_s = 600
    waited: list[float] = []
    with precedence.hold(5):
        worker = threading.Thread(target=lambda: waited.append(precedence.wait(1)))
        worker.start()
        worker.join(0.2)
        assert worker.is_alive()  # still waiting: the hold is on
    worker.join(60)  # the hold's end wakes it
    assert not worker.is_alive() and waited and waited[0] < 600
    assert precedence.pauses == 2


async def test_an_http_url_is_refused_before_connecting(sink: Sink, tmp_path: Path) -> None:
    path, identity, _ = media(tmp_path, 1000)
    http, sender = sender_for(sink)
    try:
        with pytest.raises(InsecureURLError):
            await put_part(
                sender,
                f"http://127.0.0.1:{sink.port}/p",
                path,
                identity,
                1000,
            )
    finally:
        sender.close()
        await http.aclose()
    assert sink.connections == 0


async def test_a_server_gone_is_a_transport_error(tmp_path: Path, sink: Sink) -> None:
    path, identity, _ = media(tmp_path, 1000)
    http, sender = sender_for(sink)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    try:
        with pytest.raises(TransportError):
            await put_part(
                sender,
                f"https://127.0.0.1:{port}/p",
                path,
                identity,
                1000,
            )
    finally:
        sender.close()
        await http.aclose()
