"""Batch receive: datagrams read many at a time (``recvmmsg``) and placed a batch at a time
land exactly as the same datagrams pushed one by one, whatever the batch holds."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from c2c_hub_plugins.aes67 import mmsg
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, free_udp_port
from c2c_hub_plugins.aes67.rtp import Block, JitterBuffer, build_rtp, encode_pcm

from .conftest import FakeSourceContext
from .test_source import assert_exact, serials

needs_recvmmsg = pytest.mark.skipif(not mmsg.available(), reason="recvmmsg is Linux's")


def as_rows(datagrams: list[bytes], slot: int = 9000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Datagrams as a :class:`~c2c_hub_plugins.aes67.mmsg.BatchReceiver` leaves them: one a
    row of ``slot`` bytes (a longer one cut short and flagged), their lengths."""
    rows = np.zeros((len(datagrams), slot), dtype=np.uint8)
    for i, data in enumerate(datagrams):
        rows[i, : min(len(data), slot)] = np.frombuffer(data[:slot], dtype=np.uint8)
    lengths = np.array([min(len(d), slot) for d in datagrams], dtype=np.uint32)
    truncated = np.array([len(d) > slot for d in datagrams], dtype=bool)
    return rows, lengths, truncated


def fancy(packet: bytes) -> bytes:
    """The same packet with a CSRC, a header extension and padding: valid, not the usual."""
    head = bytearray(packet[:12])
    head[0] |= 0x10 | 0x20 | 0x01
    return (
        bytes(head)
        + b"\x00\x00\x00\x09\xbe\xde\x00\x01\x00\x00\x00\x00"
        + packet[12:]
        + b"\x00\x02"
    )


def pair(s: EmulatedAes67Sender, now: list[float], **kwargs: Any) -> tuple[JitterBuffer, ...]:
    """Two buffers alike: one fed packet by packet, the other in batches."""
    kwargs.setdefault("burst_s", 1.0)
    kwargs.setdefault("latency_frames", 480)
    return tuple(
        JitterBuffer(s.format, mediaclk_offset=s.mediaclk_offset, clock=lambda: now[0], **kwargs)
        for _ in range(2)
    )


def same(a: list[Block], b: list[Block]) -> bool:
    return [x.index for x in a] == [x.index for x in b] and all(
        np.array_equal(x.samples, y.samples) for x, y in zip(a, b, strict=True)
    )


def scenario(
    seed: int, s: EmulatedAes67Sender, other: EmulatedAes67Sender, packets: int = 600
) -> list[bytes]:
    """What a bad network and bad senders make of a stream: in-order runs, loss, duplicates,
    reordering within the latency, packets far too late, CSRCs/extensions/padding, malformed
    packets of every kind, a stray far timestamp, an SSRC change, all across the wrap of the
    sequence number and of the timestamp."""
    rng = random.Random(seed)
    fpp = s.frames_per_packet
    s._sequence = 65536 - 40
    start = (1 << 32) - 60 * fpp - s.mediaclk_offset  # the RTP timestamp wraps at packet 60
    out: list[bytes] = []
    later: list[bytes] = []
    lost: list[tuple[int, bytes]] = []
    for k in range(packets):
        packet = s.packet(start + fpp * k)
        roll = rng.random()
        if roll < 0.03:
            lost.append((k, packet))
            continue
        if roll < 0.06:
            later.append(packet)  # reordered: a few packets on
        elif roll < 0.08:
            out += [packet, packet]  # duplicated at once
        elif roll < 0.10:
            out.append(fancy(packet))
        elif roll < 0.12:
            out.append(
                rng.choice(
                    [
                        packet[:7],  # short
                        bytes([0x40]) + packet[1:],  # version 1
                        packet[:1] + bytes([99]) + packet[2:],  # another payload type
                        packet[:-1],  # not whole frames
                        packet[:12],  # no payload
                    ]
                )
            )
        elif roll < 0.125 and lost and k - lost[0][0] > 80:
            out.append(lost.pop(0)[1])  # a lost one after all, far too late (beyond the latency)
        elif roll < 0.13:
            out.append(s.packet(start + 50_000_000))  # a stray far timestamp
        else:
            out.append(packet)
        if later and rng.random() < 0.3:
            out.append(later.pop(0))
    other._sequence = 65530
    base = start + fpp * packets + 48_000
    out += [other.packet(base + fpp * k) for k in range(100)]  # a new SSRC: a new timeline
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("encoding", "channels", "ptime_ms"), [("L24", 1, 1.0), ("L24", 8, 1.0), ("L16", 2, 0.25)]
)
@pytest.mark.parametrize("timed", [False, True], ids=["read-now", "arrival-times"])
def test_a_batch_lands_exactly_as_packet_by_packet(
    seed: int, encoding: str, channels: int, ptime_ms: float, timed: bool
) -> None:
    """Whatever the network did to the stream, and however it is cut into batches (1 to 70
    datagrams), the blocks (place and samples) and every counter are those of the same
    datagrams pushed one by one: at the batch's reading (``read-now``), or each at its own
    arrival time (the kernel's, as the source passes them), with a stretch that arrives ten
    times faster than real time (a flood, beyond a 50 ms burst)."""
    s = EmulatedAes67Sender(
        channels=channels, encoding=encoding, ptime_ms=ptime_ms, sap=False, mediaclk_offset=4000
    )
    other = EmulatedAes67Sender(
        channels=channels, encoding=encoding, ptime_ms=ptime_ms, sap=False, mediaclk_offset=4000
    )
    second = round(1000 / ptime_ms)  # packets a second
    datagrams = scenario(seed, s, other, packets=second * 3 // 5)
    now = [1000.0]
    burst = {"burst_s": 0.05} if timed else {}
    one, batched = pair(s, now, anchor=lambda value: value + (3 << 32), **burst)
    rng = random.Random(seed * 7)
    gaps = [ptime_ms / 1000 * rng.uniform(0.2, 1.8) for _ in datagrams]
    fast = slice(second * 2 // 5, second * 3 // 5)  # once its pace has settled (0.25 s)
    gaps[fast] = [ptime_ms / 10_000] * len(gaps[fast])  # ten times too fast
    arrivals = 2000.0 + np.cumsum(gaps)
    out_one: list[Block] = []
    out_batched: list[Block] = []
    at = 0
    while at < len(datagrams):
        size = rng.choice([1, 2, 5, 20, 64, 70])
        batch = datagrams[at : at + size]
        times = arrivals[at : at + size]
        at += size
        now[0] += len(batch) / 1000  # the clock moves between batches, not within one
        for data, arrival in zip(batch, times, strict=True):
            if timed:
                now[0] = float(arrival)
            one.push(data)
        if timed:
            now[0] = 0.0  # (a batch with arrival times must not read the clock)
        batched.push_batch(*as_rows(batch), arrivals=times if timed else None)
        out_one += one.pop()
        out_batched += batched.pop()
    out_one += one.pop(flush=True)
    out_batched += batched.pop(flush=True)
    assert batched.counters == one.counters
    assert same(out_batched, out_one)
    counters = one.counters  # and the scenario did exercise what it says
    assert counters.lost and counters.duplicate and counters.late and counters.malformed
    assert counters.ssrc_changes == 1
    assert counters.flood if timed else not counters.flood


def test_a_batch_mixing_good_and_malformed_packets_keeps_the_good_ones_in_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = EmulatedAes67Sender(channels=2, sap=False, mediaclk_offset=4000)
    now = [1000.0]
    (jb,) = pair(s, now, latency_frames=0, log=logging.getLogger("test.batch"))[:1]
    good = [s.packet(48 * k) for k in range(6)]
    batch = [good[0], good[1][:7], good[1], bytes([0x40]) + good[2][1:], good[2]]
    batch += [fancy(good[3]), good[4][:-1], good[4], good[5]]
    with caplog.at_level(logging.WARNING, logger="test.batch"):
        jb.push_batch(*as_rows(batch))
    blocks = jb.pop(flush=True)
    assert [(b.index, b.frames) for b in blocks] == [(0, 288)]
    assert np.array_equal(blocks[0].samples, s.expected(0, 288))
    assert jb.counters.received == 6 and jb.counters.malformed == 3
    assert "shorter than an RTP header" in caplog.text and "RTP version 1" in caplog.text
    assert "is not whole frames" in caplog.text


def test_a_batch_across_the_sequence_and_timestamp_wrap_is_one_run() -> None:
    """Sequence numbers 65526 .. 9 and timestamps across 2**32 in one batch: one block, exact;
    a packet lost in it is one packet lost (not 65,535), silent at its place."""
    s = EmulatedAes67Sender(channels=2, sap=False, mediaclk_offset=4000)
    s._sequence = 65526
    start = (1 << 32) - 48 * 5 - s.mediaclk_offset
    now = [1000.0]
    (jb,) = pair(s, now, latency_frames=0, anchor=lambda value: value + (7 << 32))[:1]
    first = s.packet(start)
    jb.push(first)  # the timeline is placed: the rest take the batch path
    packets = [s.packet(start + 48 * k) for k in range(1, 20)]
    del packets[12]  # sequence 3, after both wraps
    jb.push_batch(*as_rows(packets))
    (block,) = jb.pop(flush=True)
    assert block.index == (7 << 32) + (start & 0xFFFFFFFF) and block.frames == 20 * 48
    silent = slice(13 * 48, 14 * 48)
    assert not block.samples[silent].any()
    expected = s.expected(start, 20 * 48)
    expected[silent] = 0
    assert np.array_equal(block.samples, expected)
    assert jb.counters.lost == 1 and jb.counters.received == 19


def test_a_datagram_longer_than_the_buffer_is_counted_not_placed_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row holds ``slot`` bytes: a longer datagram arrives cut short (here to whole frames
    of the stream, which would look usable): it is refused as malformed, with the reason, and
    the packets around it keep their places."""
    s = EmulatedAes67Sender(channels=1, sap=False, mediaclk_offset=4000)
    now = [1000.0]
    (jb,) = pair(s, now, latency_frames=0, log=logging.getLogger("test.batch"))[:1]
    jb.push(s.packet(0))
    # 96 frames (2 ms: valid for the stream) in 12 + 288 bytes, received into rows of 12 + 144
    payload = encode_pcm(s.expected(48, 96), s.format)
    big = build_rtp(s._sequence, 48 + s.mediaclk_offset, s.ssrc, 96, payload)
    s._sequence += 1
    with caplog.at_level(logging.WARNING, logger="test.batch"):
        jb.push_batch(*as_rows([big, s.packet(144)], slot=12 + 144))
    assert jb.counters.malformed == 1 and "cut short" in caplog.text
    (block,) = jb.pop(flush=True)
    assert block.frames == 192 and not block.samples[48:144].any()
    assert np.array_equal(block.samples[144:], s.expected(144, 48))
    assert jb.counters.lost == 1 and jb.counters.received == 2


@needs_recvmmsg
def test_the_receiver_reads_every_queued_datagram_in_order_with_its_sender() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ours = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        ours.bind(("127.0.0.1", 0))
        theirs.bind(("127.0.0.2", 0))
        batch = mmsg.BatchReceiver(receiver, slots=4, slot_bytes=64)
        assert batch.receive() == 0  # nothing queued: no error
        for n in range(6):
            (theirs if n == 2 else ours).sendto(bytes([n]) * (10 + 30 * n), receiver.getsockname())
        assert batch.receive() == 4  # a full batch, then the rest
        assert batch.lengths.tolist() == [10, 40, 64, 64]
        assert batch.truncated.tolist() == [False, False, True, True]
        assert [int(batch.rows[i, 0]) for i in range(4)] == [0, 1, 2, 3]
        names, which = batch.senders(4)
        assert [names[i] for i in which] == ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1"]
        assert batch.receive() == 2 and batch.rows[1, 0] == 5
    finally:
        for sock in (receiver, ours, theirs):
            sock.close()
    with pytest.raises(OSError):
        batch.receive()  # a closed socket is an error, as recvfrom's would be


@needs_recvmmsg
@pytest.mark.parametrize("batch_receive", [True, False], ids=["batches", "per-packet"])
async def test_foreign_and_malformed_packets_in_a_burst_are_counted_the_rest_exact(
    run_source: Any, batch_receive: bool, tmp_path: Path
) -> None:
    """A unicast stream whose SDP names its source (``a=source-filter: incl``, applied to each
    packet's sender): a burst mixing its packets with another host's (127.0.0.2) and with
    malformed ones. Read in batches or one by one: the foreign ones are counted as such, the
    malformed ones as malformed, and every sample of the stream is exact at its place."""
    port = free_udp_port()
    sender = EmulatedAes67Sender(channels=2, address="127.0.0.1", port=port, sap=False)
    rtpmap = "a=rtpmap:96 L24/48000/2\r\n"
    sdp = sender.sdp.replace(
        rtpmap, "a=source-filter: incl IN IP4 127.0.0.1 127.0.0.1\r\n" + rtpmap
    )
    assert sdp != sender.sdp
    (tmp_path / "ours.sdp").write_text(sdp)
    run = await run_source(
        sap=False,
        ravenna=False,
        sdp_folder=str(tmp_path),
        batch_receive=batch_receive,
        stream_timeout_s=0.5,
    )
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("the stream", lambda: run.source.streams())
    ours = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ours.bind(("127.0.0.1", 0))
        theirs.bind(("127.0.0.2", 0))
        start = sender.first_index = sender.index_now()
        fpp = sender.frames_per_packet
        for burst in range(4):  # 4 bursts of 30 ms of audio
            for k in range(30 * burst, 30 * burst + 30):
                packet = sender.packet(start + fpp * k)
                ours.sendto(packet, ("127.0.0.1", port))
                if k % 5 == 0:
                    theirs.sendto(packet, ("127.0.0.1", port))  # same bytes, wrong host
                if k % 7 == 0:
                    ours.sendto(packet[:-2], ("127.0.0.1", port))  # not whole frames
            await asyncio.sleep(0.03)
    finally:
        ours.close()
        theirs.close()
    (serial, _) = serials(sender)
    await ctx.wait_for("the bursts' audio", lambda: ctx.frames(serial) >= 120 * fpp - 960)
    await ctx.wait_for("silence", lambda: run.source.streams()[0]["state"] == "silent")
    (stream,) = run.source.streams()
    assert stream["receive"] == ("batches" if batch_receive else "per packet")
    assert stream["foreign"] == 24 and stream["malformed"] == 18
    assert stream["received"] == 120 and stream["lost"] == 0 and stream["flood"] == 0
    assert assert_exact(ctx, sender, 0) == 120 * fpp
    assert assert_exact(ctx, sender, 1) == 120 * fpp
