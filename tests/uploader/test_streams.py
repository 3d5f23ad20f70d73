"""Adaptive part streams: the controller on throughput series, and a real climb through a link.

The controller is fed, epoch by epoch, the rate a link model gives for its current limit (with
a fixed pseudo-random noise of a few per cent, as measured rates have): a lossy link where each
flow is held down by loss (rate grows with the flows up to the link), a clean shared
bottleneck (a few flows fill it), and a link that gets worse midway.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import statistics
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trustme

from c2c_hub.emulation.linksim import LinkSimulator
from c2c_hub.frameio import make_http_client
from c2c_hub.frameio.http import direct_settings
from c2c_hub.settings import FrameioSettings
from c2c_hub.uploader import tcpinfo
from c2c_hub.uploader.streams import Slots, StreamController
from c2c_hub.uploader.transfer import FileIdentity, PartSender

MiB = 1024 * 1024


def drive(
    controller: StreamController,
    rate_of: Callable[[int, int], float],
    epochs: int,
    noise: float = 0.03,
) -> list[int]:
    """Run ``epochs`` epochs; ``rate_of(limit, epoch)`` in bit/s; the limits, epoch by epoch."""
    rng = random.Random(20)
    limits = []
    for epoch in range(epochs):
        rate = rate_of(controller.limit, epoch) * (1 + rng.uniform(-noise, noise))
        controller.observe(rate, binding=True)
        limits.append(controller.limit)
    return limits


def lossy(per_flow: float, link: float) -> Callable[[int, int], float]:
    return lambda n, _: min(n * per_flow, link)


def test_climbs_while_each_flow_adds_throughput() -> None:
    # CUBIC at 0.5 % loss and 80 ms RTT: ~2.5 Mbit/s a flow, a 50 Mbit/s link.
    controller = StreamController(start=4, minimum=2, maximum=16)
    limits = drive(controller, lossy(2.5e6, 50e6), 60)
    assert limits[-1] == 16  # the ceiling: every flow still paid
    assert limits == sorted(limits) or max(limits) == 16


def test_climbs_through_the_swings_of_loss_bound_flows() -> None:
    # CUBIC's sawtooth: a 2 s epoch's rate swings by +-20 %; 90 epochs = 3 minutes. Noise
    # this large misleads some steps, so over 20 runs: where it settles, not every step.
    settled = []
    for seed in range(20):
        controller = StreamController(start=4, minimum=2, maximum=16)
        rng = random.Random(seed)
        limits = []
        for _ in range(90):
            rate = min(controller.limit * 2.5e6, 50e6) * (1 + rng.uniform(-0.2, 0.2))
            controller.observe(rate, binding=True)
            limits.append(controller.limit)
        settled.append(sum(limits[-30:]) / 30)
    assert statistics.median(settled) >= 12, settled
    assert sum(x >= 8 for x in settled) >= 15, settled


def test_stops_where_the_link_is_full_and_lets_extra_streams_go() -> None:
    # 10 Mbit/s a flow on a 45 Mbit/s link: 5 flows fill it; more gain nothing.
    controller = StreamController(start=2, minimum=2, maximum=16)
    limits = drive(controller, lossy(10e6, 45e6), 80)
    assert max(limits) <= 7
    assert 4 <= limits[-1] <= 6
    # and it keeps probing without running away
    assert sum(1 for x in limits[-30:] if x >= 7) <= 6


def test_a_clean_link_filled_by_few_flows_stays_low() -> None:
    # BBR or a clean link: 2 flows already fill it.
    controller = StreamController(start=4, minimum=2, maximum=16)
    limits = drive(controller, lossy(40e6, 50e6), 60)
    assert max(limits) <= 5
    assert limits[-1] <= 4


def test_shrinks_when_the_link_gets_worse() -> None:
    # 40 Mbit/s link for 40 epochs, then the uplink falls back to 12 Mbit/s (a modem drops).
    def rate(n: int, epoch: int) -> float:
        return min(n * 3e6, 40e6 if epoch < 40 else 12e6)

    controller = StreamController(start=4, minimum=2, maximum=16)
    limits = drive(controller, rate, 120)
    assert max(limits[:40]) >= 12
    assert limits[-1] <= 6


def test_does_not_judge_epochs_with_too_little_to_send() -> None:
    controller = StreamController(start=4, minimum=2, maximum=16)
    for _ in range(20):
        controller.observe(1e6, binding=False)
    assert controller.limit == 4


def test_pinned_never_moves() -> None:
    controller = StreamController(pinned=3)
    assert drive(controller, lossy(2e6, 100e6), 30) == [3] * 30
    assert (controller.minimum, controller.maximum) == (3, 3)


async def test_slots_follow_a_changing_limit() -> None:
    slots = Slots(2)
    await slots.acquire()
    await slots.acquire()
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    assert not third.done() and slots.demand == 3
    slots.set_limit(3)  # a higher limit lets a waiter in at once
    await asyncio.wait_for(third, 5)
    slots.set_limit(1)  # a lower one takes effect as holders leave
    fourth = asyncio.create_task(slots.acquire())
    slots.release()
    slots.release()
    await asyncio.sleep(0)
    assert not fourth.done()
    slots.release()
    await asyncio.wait_for(fourth, 5)
    assert slots.in_use == 1
    cancelled = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert slots.demand == 1


# ------------------------------------------------------------------ a real climb
@pytest.fixture
async def part_sink(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """An HTTPS sink on 127.0.0.1: reads each PUT's body, answers 200 (port, CA file)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while length:
                    length -= len(await reader.read(min(length, 1 << 20)))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], ca_file
    finally:
        server.close()


async def test_streams_climb_through_a_link_where_each_flow_is_held_down(
    part_sink: tuple[int, Path], tmp_path: Path
) -> None:
    """Each connection capped at 8 Mbit/s (a loss-bound flow): the limit climbs past its start."""
    port, ca_file = part_sink
    source = tmp_path / "part.bin"
    source.write_bytes(random.randbytes(MiB))
    expect = FileIdentity.of(source.stat())
    async with LinkSimulator(("127.0.0.1", port), delay_s=0.005) as link:
        link.set_flow_rate(8e6, "up")
        settings = FrameioSettings(api_base_url="https://127.0.0.1", ca_file=ca_file)
        async with make_http_client(settings) as http:
            sender = PartSender(http, streams=StreamController(start=4), epoch_s=0.5)
            url = f"https://127.0.0.1:{link.port}/part"

            async def one() -> None:
                async with sender.slot():
                    await sender.put(
                        url,
                        path=str(source),
                        offset=0,
                        size=MiB,
                        filetype="application/octet-stream",
                        expect=expect,
                    )

            async def keep_busy() -> None:  # always more parts waiting than streams
                pending: set[asyncio.Task[None]] = set()
                while True:
                    while len(pending) < sender.max_in_flight + 4:
                        pending.add(asyncio.create_task(one()))
                    done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                    for task in done:
                        task.result()

            busy = asyncio.create_task(keep_busy())
            try:
                for _ in range(1200):  # up to 120 s on a loaded machine; ~5 s here
                    if sender.max_in_flight >= 7 or busy.done():
                        break
                    await asyncio.sleep(0.1)
            finally:
                busy.cancel()
                await asyncio.gather(busy, return_exceptions=True)
            assert sender.max_in_flight >= 7, sender.streams.history
            assert sender.status()["mode"] == "adaptive"


async def test_direct_part_streams_are_read_through_tcp_info(
    part_sink: tuple[int, Path], tmp_path: Path
) -> None:
    """On the direct path (the hub's own client) each epoch reads the sending sockets'
    TCP_INFO, and the status says what it read; the decision comes from it, not throughput."""
    if tcpinfo.TCP_INFO is None:
        pytest.skip("no TCP_INFO on this system")
    port, ca_file = part_sink
    source = tmp_path / "part.bin"
    source.write_bytes(random.randbytes(8 * MiB))
    expect = FileIdentity.of(source.stat())
    settings = FrameioSettings(api_base_url="https://127.0.0.1", ca_file=ca_file)
    async with make_http_client(settings) as http:
        sender = PartSender(
            http, streams=StreamController(start=2), epoch_s=0.2, direct=direct_settings(http)
        )
        url = f"https://127.0.0.1:{port}/part"

        async def one() -> None:
            async with sender.slot():
                await sender.put(
                    url,
                    path=str(source),
                    offset=0,
                    size=8 * MiB,
                    filetype="application/octet-stream",
                    expect=expect,
                )

        try:
            for _ in range(200):  # a few rounds on a quiet machine
                await asyncio.gather(*(one() for _ in range(4)))
                if sender.status()["signal"] is not None:
                    break
        finally:
            assert sender.direct is not None
            sender.direct.close()
    status = sender.status()
    assert status["signal"] is not None, status
    assert status["signal"]["streams"] >= 1 and status["signal"]["rtt_ms"] >= 0
    assert sender.streams.signal is not None
