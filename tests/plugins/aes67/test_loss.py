"""Loss, reordering and duplication on the way, through a small UDP relay: every lost packet
is silence exactly where it was, everything else is exactly the sender's, nothing shifts."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np

from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.rtp import parse_rtp
from c2c_hub_plugins.aes67.sap import multicast_sender
from c2c_hub_plugins.aes67.sdp import parse_sdp
from c2c_hub_plugins.aes67.source import channel_serial
from c2c_hub_plugins.aes67.timeline import MediaTimeline

from .conftest import FakeSourceContext, Groups


class Relay:
    """Forwards the sender's packets to the group, losing ~1 %, swapping some neighbours and
    sending some twice; it remembers the timestamps of what it lost."""

    def __init__(self, destination: tuple[str, int], seed: int = 11) -> None:
        self.inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inbound.bind(("127.0.0.1", 0))
        self.inbound.settimeout(0.2)
        self.port = self.inbound.getsockname()[1]
        self.outbound = multicast_sender("127.0.0.1")
        self.destination = destination
        self.rng = random.Random(seed)
        self.lost: list[int] = []  # RTP timestamps
        self.swapped = self.duplicated = self.forwarded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.inbound.close()
        self.outbound.close()

    def _send(self, data: bytes) -> None:
        self.outbound.sendto(data, self.destination)

    def _run(self) -> None:
        held: bytes | None = None
        count = 0
        while not self._stop.is_set():
            try:
                data = self.inbound.recv(9000)
            except TimeoutError:
                continue
            count += 1
            self.forwarded += 1
            faulty = 20 < count < 1900  # the first and last packets pass untouched
            if faulty and self.rng.random() < 0.01:
                self.lost.append(parse_rtp(data).timestamp)
                continue
            if held is not None:  # the one held back goes after its successor
                self._send(data)
                self._send(held)
                held = None
                continue
            if faulty and self.rng.random() < 0.03:
                held = data
                self.swapped += 1
                continue
            self._send(data)
            if faulty and self.rng.random() < 0.03:
                self._send(data)
                self.duplicated += 1


async def test_loss_reorder_and_duplicates_through_a_relay(
    run_source: Any, groups: Groups, tmp_path: Path
) -> None:
    relay = Relay((groups.rtp[0], groups.port))
    sender = EmulatedAes67Sender(
        channels=2, address="127.0.0.1", port=relay.port, sap=False, name="Relayed"
    )
    # what the receiver is told: the group the relay sends to
    sdp = sender.sdp.replace("c=IN IP4 127.0.0.1", f"c=IN IP4 {groups.rtp[0]}/1").replace(
        f"m=audio {relay.port} ", f"m=audio {groups.port} "
    )
    (tmp_path / "relayed.sdp").write_text(sdp)
    run = await run_source(sap=False, sdp_folder=str(tmp_path))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("the stream", lambda: run.source.streams())
    relay.start()
    sender.start()
    try:
        await ctx.wait_for("2000 packets", lambda: sender.packets_sent >= 2000, within=30)
    finally:
        sender.stop()
    session = parse_sdp(sdp)
    serials = [channel_serial(session, session.streams[0], c) for c in range(2)]
    stream = await ctx.wait_for(
        "the end of the stream",
        lambda: [s for s in run.source.streams() if s["state"] == "silent"],
        within=10,
    )
    relay.stop()
    counters = stream[0]
    assert relay.lost and relay.swapped and relay.duplicated
    assert counters["lost"] == len(relay.lost), (counters, len(relay.lost))
    assert counters["lost_frames"] == 48 * len(relay.lost)
    assert counters["duplicate"] == relay.duplicated and counters["late"] == 0
    assert counters["malformed"] == 0 and counters["jumps"] == 0
    shown = f"packets {len(relay.lost)} lost, {relay.duplicated} duplicate"
    await ctx.wait_for("the counts in the health", lambda: shown in ctx.last_report[1])

    timeline = MediaTimeline(48000)
    assert sender.first_index is not None
    day = sender.first_index - timeline.position(sender.first_index)
    lost = [
        sender.first_index + ((ts - sender.mediaclk_offset - sender.first_index) & 0xFFFFFFFF)
        for ts in relay.lost
    ]
    for channel, serial in enumerate(serials):
        first, got = ctx.span(serial)
        assert first == sender.first_index - day  # the first packet is at its place
        assert got.size == sender.packets_sent * 48
        expected = sender.expected(day + first, got.size)[:, channel].astype(np.int64)
        for index in lost:
            at = index - (day + first)
            expected[at : at + 48] = 0
        assert np.array_equal(got, expected), "a sample is off its place"
