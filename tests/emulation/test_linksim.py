"""The link simulator: its rate, its delay and its cuts, measured (each test a second or two)."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from c2c_hub.emulation.linksim import LinkSimulator, parse_rate, parse_seconds

pytestmark = pytest.mark.timeout(20)

BLOCK = b"\x5a" * (1 << 20)


@dataclass
class Sink:
    """A server that counts what it receives, noting when the first and last bytes came."""

    port: int = 0
    received: int = 0
    first_size: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    errors: list[BaseException] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 20):
                now = time.perf_counter()
                if not self.received:
                    self.first_at, self.first_size = now, len(data)
                self.received += len(data)
                self.last_at = now
            writer.write(b"%d" % self.received)
            await writer.drain()
        except ConnectionError as exc:
            self.errors.append(exc)
        finally:
            writer.close()

    def rate_bps(self) -> float:
        """Bytes after the first read over the time they took: the link's rate, no delays."""
        return (self.received - self.first_size) * 8 / (self.last_at - self.first_at)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    result = Sink()
    server = await asyncio.start_server(result.handle, "127.0.0.1", 0)
    result.port = server.sockets[0].getsockname()[1]
    async with server:
        yield result


async def _send(port: int, size: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    while sent < size:
        writer.write(BLOCK[: min(len(BLOCK), size - sent)])
        sent += min(len(BLOCK), size - sent)
        await writer.drain()
    writer.write_eof()
    answer = int(await reader.read())
    writer.close()
    return answer


@pytest.mark.parametrize("rate_mbit", [50, 200])
async def test_the_rate_is_the_setting_within_ten_percent(sink: Sink, rate_mbit: int) -> None:
    rate = rate_mbit * 1e6
    size = int(rate / 8 * 1.2)  # about 1.2 s on the link
    async with LinkSimulator(("127.0.0.1", sink.port), rate_bps=rate, delay_s=0.020) as link:
        started = time.perf_counter()
        assert await _send(link.port, size) == size
        elapsed = time.perf_counter() - started
        assert link.stats()["up_bytes"] == size
    # The cap is a hard ceiling; below it, a loaded machine may be slower (never faster).
    assert 0.75 * rate <= sink.rate_bps() <= 1.05 * rate
    # End to end: the transfer, the handshake RTT, one delay there and one back.
    assert elapsed >= 0.97 * (size * 8 / rate + 0.080)


async def test_the_downlink_has_its_own_rate() -> None:
    size = int(50e6 / 8)  # 1 s at 50 Mbit/s

    async def source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\0" * size)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(source, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        link = LinkSimulator(("127.0.0.1", port), delay_s=0.010)
        link.down.rate_bps = 50e6
        async with link:
            reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
            got, first_at, first = 0, 0.0, 0
            while data := await reader.read(1 << 20):
                if not got:
                    first_at, first = time.perf_counter(), len(data)
                got += len(data)
            last_at = time.perf_counter()
            writer.close()
    assert got == size
    assert 0.75 * 50e6 <= (got - first) * 8 / (last_at - first_at) <= 1.05 * 50e6


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_the_added_round_trip_is_twice_the_delay() -> None:
    """Delays long enough that a loaded machine's few tens of ms cannot blur once from twice."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with LinkSimulator(("127.0.0.1", port), rate_bps=200e6, delay_s=0.200) as link:
            reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
            rtts = []
            for _ in range(5):
                started = time.perf_counter()
                writer.write(b"ping")
                await reader.readexactly(4)
                rtts.append(time.perf_counter() - started)
            writer.close()
            # Lowered live: applies to what is sent from now on.
            link.set_delay(0.050)
            reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
            writer.write(b"ping")
            await reader.readexactly(4)
            started = time.perf_counter()
            writer.write(b"ping")
            await reader.readexactly(4)
            lowered = time.perf_counter() - started
            writer.close()
    # A delay is never shorter than set (asyncio may wake ~1 ms early); a loaded machine adds.
    # 0.2 s each way: a 0.4 s round trip, not 0.2 (one way only) nor 0.6; lowered, 0.1 s.
    assert 0.398 <= statistics.median(rtts) < 0.400 + 0.150
    assert 0.099 <= lowered < 0.100 + 0.150


async def test_cut_all_resets_the_client(sink: Sink) -> None:
    async with LinkSimulator(("127.0.0.1", sink.port), rate_bps=50e6, delay_s=0.005) as link:
        task = asyncio.create_task(_send(link.port, 100 << 20))  # far more than 0.3 s of link
        await asyncio.sleep(0.3)
        assert link.cut_all() == 1
        with pytest.raises((ConnectionError, ValueError)):  # ValueError: no count came back
            await asyncio.wait_for(task, 30)
        assert link.stats()["cuts"] == 1
        assert link.stats()["open"] == 0
    assert 0 < sink.received < 100 << 20


async def test_a_byte_budget_cuts_the_connection(sink: Sink) -> None:
    async with LinkSimulator(("127.0.0.1", sink.port), cut_after_bytes=100_000) as link:
        with pytest.raises((ConnectionError, ValueError)):
            await asyncio.wait_for(_send(link.port, 10 << 20), 5)
        await asyncio.sleep(0.05)
    assert sink.received == 100_000
    assert sink.errors and isinstance(sink.errors[0], ConnectionResetError)


async def test_offline_refuses_connections_until_back_online(sink: Sink) -> None:
    async with LinkSimulator(("127.0.0.1", sink.port)) as link:
        link.set_offline()
        with pytest.raises((ConnectionError, ValueError)):
            await asyncio.wait_for(_send(link.port, 1000), 5)
        link.set_offline(False)
        assert await _send(link.port, 1000) == 1000


async def test_a_target_set_later_is_used_by_new_connections(sink: Sink) -> None:
    async with LinkSimulator() as link:
        with pytest.raises((ConnectionError, ValueError)):
            await asyncio.wait_for(_send(link.port, 10), 5)
        link.set_target("127.0.0.1", sink.port)
        assert await _send(link.port, 10) == 10


def _blocking_round_trip(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"ping")
        sock.recv(4)
        started = time.perf_counter()
        sock.sendall(b"ping")
        sock.recv(4)
        return time.perf_counter() - started


async def test_its_own_thread_serves_synchronous_code_and_cuts_from_outside() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        with LinkSimulator(("127.0.0.1", port), delay_s=0.015) as link:
            rtt = await asyncio.to_thread(_blocking_round_trip, link.port)
            assert 0.028 <= rtt < 0.030 + 0.030
            reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
            writer.write(b"ping")
            await reader.readexactly(4)
            assert link.cut_all() == 1
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                writer.write(b"ping")
                await reader.readexactly(4)
            writer.close()
        assert link._thread is None  # stopped and joined


def test_rates_and_delays_parse() -> None:
    assert parse_rate("50M") == 50e6
    assert parse_rate("200mbit") == 200e6
    assert parse_rate("1.5G") == 1.5e9
    assert parse_rate("none") is None
    assert parse_seconds("20ms") == pytest.approx(0.020)
    assert parse_seconds("0.5s") == 0.5
