"""Part streams from TCP_INFO: the kernel's reading of a real socket, and the controller's
decisions replayed from readings recorded on the packet link.

The recordings (``data/tcpinfo-*.json``) are ``bench.streams --record``: CUBIC flows across
the packet link, driven by this controller, every flow's raw ``TCP_INFO`` every 0.5 s. Replayed,
the kernel's bytes go through the same parser and meter as on a live socket.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from c2c_hub.uploader.streams import CongestionUpgrade, StreamController
from c2c_hub.uploader.tcpinfo import TCP_INFO, LinkMeter, LinkSignal, TcpInfo, read

DATA = Path(__file__).parent / "data"
MiB = 1024 * 1024

linux_only = pytest.mark.skipif(TCP_INFO is None, reason="no TCP_INFO on this system")


# ------------------------------------------------------------------ a real socket
@linux_only
def test_reads_tcp_info_of_a_real_loopback_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        received = bytearray()
        all_in = threading.Event()

        def drain() -> None:
            while chunk := peer.recv(1 << 20):
                received.extend(chunk)
                if len(received) >= 4 * MiB:
                    all_in.set()

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            meter = LinkMeter()
            meter.sample([client])  # before: nothing sent yet
            client.sendall(b"\0" * (4 * MiB))
            assert all_in.wait(60)  # every byte received: the kernel has sent them all
            info = read(client)
            meter.sample([client])
            signal = meter.epoch()
        finally:
            client.shutdown(socket.SHUT_WR)
            reader.join(30)
            client.close()
            peer.close()
    assert len(received) == 4 * MiB
    assert info is not None
    assert info.state == 1  # TCP_ESTABLISHED
    assert info.rtt_us and info.min_rtt_us and info.snd_cwnd
    assert info.bytes_sent is None or info.bytes_sent >= 4 * MiB
    assert signal is not None
    assert signal.streams == 1 and 0 <= signal.retrans < signal.sent
    assert signal.sent >= 4 * MiB or info.bytes_sent is None
    assert signal.rtt_s >= signal.min_rtt_s > 0


def test_a_socket_without_tcp_info_gives_none_and_the_meter_nothing() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert read(unix) is None
        meter = LinkMeter()
        meter.sample([unix])
        assert meter.epoch() is None


def test_an_older_kernels_shorter_struct_leaves_the_later_fields_unknown() -> None:
    raw = bytearray(104)  # up to tcpi_total_retrans (kernels before 3.15)
    raw[0] = 1
    struct.pack_into("=I", raw, 68, 80_000)  # rtt
    struct.pack_into("=I", raw, 80, 10)  # cwnd
    info = TcpInfo.parse(bytes(raw))
    assert info is not None
    assert (info.state, info.rtt_us, info.snd_cwnd) == (1, 80_000, 10)
    assert info.bytes_sent is None and info.min_rtt_us is None and info.busy_time_us is None
    assert TcpInfo.parse(b"") is None


# ------------------------------------------------------------------ the decisions
def signal(
    rtt_ms: float,
    min_rtt_ms: float = 80.0,
    loss: float = 0.0,
    rwnd: float = 0.0,
    loss_based: bool = True,
) -> LinkSignal:
    sent = 10 * MiB
    return LinkSignal(
        streams=4,
        rtt_s=rtt_ms / 1e3,
        min_rtt_s=min_rtt_ms / 1e3,
        sent=sent,
        retrans=int(sent * loss),
        busy_s=8.0,
        rwnd_limited_s=8.0 * rwnd,
        loss_based=loss_based,
    )


def step(controller: StreamController, s: LinkSignal, binding: bool = True) -> int:
    """One judged epoch (and the settling epoch after a change)."""
    before = controller.limit
    controller.observe(10e6, binding, s)
    if controller.limit != before:
        controller.observe(10e6, binding, s)  # settling
    return controller.limit


def test_loss_with_no_queue_adds_streams_up_to_the_maximum() -> None:
    controller = StreamController(start=4, minimum=4, maximum=16)
    limits = [step(controller, signal(82, loss=0.006)) for _ in range(12)]
    assert limits[:5] == [5, 6, 7, 8, 10]
    assert limits[-1] == 16
    assert "held down by loss" in controller.observe(10e6, True, signal(82, loss=0.006)).why


def test_a_full_link_holds_whatever_the_loss() -> None:
    controller = StreamController(start=4, minimum=4, maximum=16)
    for _ in range(10):  # CUBIC filling a clean link's queue: drops, and RTT far above its min
        assert step(controller, signal(120, min_rtt_ms=40, loss=0.002)) == 4
    assert controller.observe(10e6, True, signal(120, 40, 0.002)).why.startswith("the link is full")


def test_a_queue_that_stays_full_lets_a_stream_go_and_loss_brings_it_back() -> None:
    controller = StreamController(start=10, minimum=4, maximum=16)
    limits = [step(controller, signal(150, loss=0.01)) for _ in range(3)]
    assert limits == [10, 10, 9]
    assert step(controller, signal(81, loss=0.006)) > 9  # room again: back up


def test_bbr_losing_packets_is_not_held_down_by_them() -> None:
    controller = StreamController(start=4, minimum=4, maximum=16)
    for _ in range(6):
        assert step(controller, signal(82, loss=0.006, loss_based=False)) == 4


def test_flows_held_by_the_receivers_window_get_company() -> None:
    controller = StreamController(start=4, minimum=4, maximum=16)
    assert step(controller, signal(41, min_rtt_ms=40, rwnd=0.9)) == 5


def test_nothing_is_decided_without_enough_to_send_or_without_loss() -> None:
    controller = StreamController(start=4, minimum=4, maximum=16)
    for _ in range(5):
        assert step(controller, signal(82, loss=0.01), binding=False) == 4
        assert step(controller, signal(82)) == 4  # clean and empty: slow start, or app-bound


# ------------------------------------------------------------------ replayed recordings
class RecordedSocket:
    """A flow of a recording: answers ``getsockopt`` with what the kernel answered then."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.raw = b""

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        if option == getattr(socket, "TCP_CONGESTION", 13):
            return self.algorithm.encode().ljust(size, b"\0")
        return self.raw[:size]


def replay(name: str, upgrade: CongestionUpgrade | None = None) -> list[tuple[int, str]]:
    """The recording through a fresh meter and controller, with the flows it had live; the
    decision of every epoch (with ``upgrade``, each epoch's signal is shown to it first, and
    an epoch where it switches is marked ``switch``)."""
    data: dict[str, Any] = json.loads((DATA / f"tcpinfo-{name}.json").read_text())
    flows: dict[int, RecordedSocket] = {}
    meter = LinkMeter(reader=lambda sock: TcpInfo.parse(sock.raw) if sock.raw else None)
    controller = StreamController(start=4, minimum=4, maximum=16)
    decisions = []
    batch: list[RecordedSocket] = []
    at = None
    for t, who, value in data["readings"]:
        if who == "epoch" or t != at:
            if batch:
                meter.sample(batch)
            batch, at = [], t
        if who == "epoch":
            signal = meter.epoch()
            if upgrade is not None and upgrade.observe(signal) is not None:
                decisions.append((controller.limit, "switch"))
                continue
            decision = controller.observe(10e6, True, signal)
            decisions.append((decision.limit, decision.why))
            continue
        sock = flows.setdefault(who, RecordedSocket(data["algorithm"]))
        sock.raw = bytes.fromhex(value)
        batch.append(sock)
    return decisions


def test_replayed_lossy_cubic_link_climbs_on_loss() -> None:
    """50 Mbit/s, 80 ms RTT, 0.5 % loss: CUBIC flows lose packets with the RTT at its minimum."""
    decisions = replay("lossy-cubic")
    limits = [limit for limit, _ in decisions]
    assert limits == sorted(limits) and limits[-1] >= 8, decisions
    judged = [why for _, why in decisions if why != "settling"]
    assert judged and all("held down by loss" in why for why in judged), decisions


def test_replayed_clean_cubic_link_holds() -> None:
    """50 Mbit/s, 40 ms RTT, no loss: 4 CUBIC flows fill the queue; no stream is added."""
    decisions = replay("clean-50-cubic")
    assert {limit for limit, _ in decisions} == {4}, decisions
    assert all(why.startswith("the link is full") for _, why in decisions[1:]), decisions


def test_replayed_lossy_cubic_link_switches_to_bbr_in_its_first_epochs() -> None:
    """Random loss with the RTT at its minimum: the streams move to BBR after the first epoch."""
    upgrade = CongestionUpgrade("bbr")
    decisions = replay("lossy-cubic", upgrade)
    whys = [why for _, why in decisions]
    assert whys[0] == "switch", decisions
    assert upgrade.why is not None and upgrade.why.startswith("bbr since random loss")
    assert whys.count("switch") == 1  # once switched, it stays


def test_replayed_clean_cubic_link_stays_on_cubic() -> None:
    """CUBIC filling a clean link's queue loses packets too, but with the RTT far above its
    minimum: no switch, the streams keep CUBIC (which fills a clean link best)."""
    upgrade = CongestionUpgrade("bbr")
    decisions = replay("clean-50-cubic", upgrade)
    assert "switch" not in [why for _, why in decisions], decisions
    assert upgrade.why is None


def test_only_random_loss_switches() -> None:
    upgrade = CongestionUpgrade("bbr")
    assert upgrade.observe(signal(82)) is None  # clean
    assert upgrade.observe(signal(150, loss=0.006)) is None  # a full queue explains it
    assert upgrade.observe(signal(82, loss=0.006, loss_based=False)) is None  # BBR already
    assert upgrade.observe(signal(82, loss=0.0005)) is None  # under 0.1 %
    few = dataclasses.replace(signal(82), sent=100_000, retrans=600)  # 0.6 %, but 600 bytes
    assert upgrade.observe(few) is None
    assert upgrade.observe(signal(82, loss=0.006)) is not None
    assert upgrade.why is not None and "0.6% sent again" in upgrade.why
    assert upgrade.observe(signal(82, loss=0.006)) is None  # once
