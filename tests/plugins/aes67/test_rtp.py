"""L16/L24 packets and the jitter buffer: every frame at the place its timestamp says."""

from __future__ import annotations

import itertools
import logging
import random

import numpy as np
import pytest

from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.rtp import (
    JitterBuffer,
    Malformed,
    PcmFormat,
    build_rtp,
    decode_pcm,
    encode_pcm,
    parse_rtp,
)


def test_l24_decodes_big_endian_interleaved_to_left_justified_int32() -> None:
    payload = bytes([0x7F, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xFF])
    samples = decode_pcm(payload, PcmFormat("L24", 2))
    assert samples.dtype == np.int32 and samples.shape == (2, 2)
    assert (samples >> 8).tolist() == [[8388607, -8388608], [1, -1]]


def test_l16_decodes_big_endian_interleaved_to_left_justified_int32() -> None:
    payload = bytes([0x7F, 0xFF, 0x80, 0x00, 0x00, 0x01, 0xFF, 0xFF])
    samples = decode_pcm(payload, PcmFormat("L16", 1))
    assert (samples >> 16).reshape(-1).tolist() == [32767, -32768, 1, -1]


@pytest.mark.parametrize("encoding", ["L16", "L24"])
def test_encode_and_decode_are_exact_inverses(encoding: str) -> None:
    fmt = PcmFormat(encoding, 8)
    bits = 8 * fmt.bytes_per_sample
    rng = np.random.default_rng(7)
    values = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(480, 8))
    samples = (values << (32 - bits)).astype(np.int32)
    assert np.array_equal(decode_pcm(encode_pcm(samples, fmt), fmt), samples)


def test_header_fields_csrcs_extension_and_padding() -> None:
    payload = b"\x01\x02\x03"
    plain = build_rtp(65535, 0xFFFFFFFF, 0xDEADBEEF, 97, payload, marker=True)
    packet = parse_rtp(plain)
    assert (packet.sequence, packet.timestamp, packet.ssrc) == (65535, 0xFFFFFFFF, 0xDEADBEEF)
    assert packet.payload_type == 97 and packet.marker and packet.payload == payload
    # one CSRC, a one-word extension and two bytes of padding around the same payload
    fancy = bytearray(plain[:12])
    fancy[0] |= 0x10 | 0x20 | 0x01
    fancy += b"\x00\x00\x00\x09" + b"\xbe\xde\x00\x01" + b"\x00\x00\x00\x00" + payload
    fancy += b"\x00\x02"
    assert parse_rtp(bytes(fancy)).payload == payload


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x80\x60\x00", "short"),
        (b"\x40\x60" + bytes(10) + b"\x00\x00\x00", "version"),
        (b"\x90\x60" + bytes(10), "short"),  # an extension bit with no extension
        (b"\xa0\x60" + bytes(10) + b"\x00\x00\x00\x09", "padding"),
    ],
)
def test_malformed_headers_are_named(data: bytes, kind: str) -> None:
    with pytest.raises(Malformed) as caught:
        parse_rtp(data)
    assert caught.value.kind == kind


def sender(channels: int = 2, encoding: str = "L24", ptime_ms: float = 1.0) -> EmulatedAes67Sender:
    return EmulatedAes67Sender(
        channels=channels, encoding=encoding, ptime_ms=ptime_ms, sap=False, mediaclk_offset=4000
    )


def buffer_for(s: EmulatedAes67Sender, **kwargs: object) -> JitterBuffer:
    """A buffer fed faster than real time by the tests: no flood limit unless asked."""
    kwargs.setdefault("burst_s", None)
    return JitterBuffer(s.format, mediaclk_offset=s.mediaclk_offset, **kwargs)  # type: ignore[arg-type]


def collect(buffer: JitterBuffer) -> dict[int, np.ndarray]:
    return {b.index: b.samples for b in buffer.pop(flush=True)}


def test_in_order_packets_come_out_as_the_sender_sent_them() -> None:
    s = sender(channels=8)
    jb = buffer_for(s, latency_frames=96)
    out = []
    for k in range(200):
        jb.push(s.packet(10_000 + 48 * k))
        out += jb.pop()
    out += jb.pop(flush=True)
    assert out[0].index == 10_000
    joined = np.concatenate([b.samples for b in out])
    assert all(b.index == a.index + a.frames for a, b in itertools.pairwise(out))
    assert np.array_equal(joined, s.expected(10_000, 9600))
    assert jb.counters.as_dict() == {
        "received": 200,
        "frames": 9600,
        "lost": 0,
        "lost_frames": 0,
        "late": 0,
        "duplicate": 0,
        "malformed": 0,
        "jumps": 0,
        "ssrc_changes": 0,
        "flood": 0,
        "clock_changes": 0,
    }


def test_reordered_duplicated_and_lost_packets_land_exactly_in_place() -> None:
    s = sender(channels=2, ptime_ms=0.25)  # 12 frames a packet
    packets = [s.packet(500 + 12 * k) for k in range(400)]
    rng = random.Random(5)
    lost = set(rng.sample(range(1, 399), 20))
    order = [k for k in range(400) if k not in lost]
    for i in range(0, len(order) - 3, 7):  # swap neighbours within the latency
        order[i], order[i + 2] = order[i + 2], order[i]
    order[100:100] = order[50:55]  # five duplicates, while the originals are still held
    jb = buffer_for(s, latency_frames=12 * 80)
    for k in order:
        jb.push(packets[k])
    (first, samples), *rest = collect(jb).items()
    assert rest == [] and first == 500 and samples.shape == (4800, 2)
    expected = s.expected(500, 4800)
    for k in range(400):
        chunk = samples[12 * k : 12 * (k + 1)]
        if k in lost:
            assert not chunk.any(), f"packet {k} was lost: silence in its place"
        else:
            assert np.array_equal(chunk, expected[12 * k : 12 * (k + 1)]), f"packet {k}"
    assert jb.counters.lost == 20 and jb.counters.lost_frames == 240
    assert jb.counters.duplicate == 5 and jb.counters.late == 0


def test_a_packet_later_than_the_latency_is_counted_late_and_its_place_stays_silent() -> None:
    s = sender(channels=1)
    jb = buffer_for(s, latency_frames=48 * 4)
    packets = [s.packet(48 * k) for k in range(20)]
    for k in range(20):
        if k != 3:
            jb.push(packets[k])
    blocks = jb.pop()
    jb.push(packets[3])  # too late: its place was released as silence
    blocks += jb.pop(flush=True)
    assert jb.counters.late == 1 and jb.counters.lost == 1
    samples = np.concatenate([b.samples for b in blocks])
    assert not samples[48 * 3 : 48 * 4].any()
    assert np.array_equal(samples[48 * 4 :], s.expected(48 * 4, 48 * 16))


def test_sequence_and_timestamp_wrap_around() -> None:
    s = sender(channels=2)
    s._sequence = 65530
    start = (1 << 32) - 48 * 5 - s.mediaclk_offset  # the RTP timestamp wraps after 5 packets
    jb = buffer_for(s, latency_frames=0, anchor=lambda value: value + (7 << 32))
    for k in range(12):
        if k != 8:  # lose one after both wraps: counted as one packet
            jb.push(s.packet(start + 48 * k))
    blocks = jb.pop(flush=True)
    assert [b.index for b in blocks] == [(7 << 32) + (start & 0xFFFFFFFF)]
    samples = blocks[0].samples
    assert samples.shape == (576, 2) and not samples[8 * 48 : 9 * 48].any()
    assert np.array_equal(samples[: 8 * 48], s.expected(start, 8 * 48))
    assert jb.counters.lost == 1 and jb.counters.jumps == 0


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda p: p[:7], "shorter than an RTP header"),
        (lambda p: bytes([0x40]) + p[1:], "RTP version 1"),
        (lambda p: p[:1] + bytes([99]) + p[2:], "payload type 99, expected 96"),
        (lambda p: p[:-1], "is not whole frames"),
        (lambda p: p[:12], "is not whole frames"),
    ],
)
def test_malformed_packets_are_counted_and_logged_never_raised(
    mangle: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = sender(channels=2)
    jb = buffer_for(s, latency_frames=0, log=logging.getLogger("test.rtp"))
    with caplog.at_level(logging.WARNING, logger="test.rtp"):
        jb.push(s.packet(0))
        jb.push(mangle(s.packet(48)))  # type: ignore[operator]
        jb.push(s.packet(96))
    assert jb.counters.malformed == 1 and jb.counters.received == 2
    assert reason in caplog.text
    blocks = jb.pop(flush=True)
    assert sum(b.frames for b in blocks) == 144  # the bad packet's place is silence


def test_a_sender_restart_starts_a_new_timeline_a_stray_packet_does_not() -> None:
    s = sender(channels=1)
    jb = buffer_for(s, latency_frames=0)
    for k in range(5):
        jb.push(s.packet(48 * k))
    jb.push(s.packet(10_000_000))  # one packet far away, then the stream goes on
    for k in range(5, 8):
        jb.push(s.packet(48 * k))
    assert jb.counters.malformed == 1 and jb.counters.jumps == 0
    restarted = 5_000_000
    for k in range(4):  # the sender restarted elsewhere on its media clock
        jb.push(s.packet(restarted + 48 * k))
    blocks = jb.pop(flush=True)
    assert [(b.index, b.frames) for b in blocks] == [(0, 384), (restarted, 192)]
    assert jb.counters.jumps == 1
    assert np.array_equal(blocks[1].samples, s.expected(restarted, 192))


@pytest.mark.parametrize("step", [-24_000, 30_000, 3_000_000_000], ids=["back", "ahead", "far"])
def test_a_new_clock_is_placed_afresh_not_against_the_old_timeline(step: int) -> None:
    """Another PTP grandmaster: the sender's media clock may now read anything (half a second
    behind, ahead, or hours off). Told of the new clock, the buffer places its first packet by
    ``anchor`` as a first packet, so nothing is dropped as late or held as a stray, and every
    later packet follows it."""
    s = sender(channels=1)
    start = 5_000_000_000  # indexes in [2**32, 2**33): the anchor below is exact for them
    jb = buffer_for(s, latency_frames=96, anchor=lambda value: value + (1 << 32))
    for k in range(10):
        jb.push(s.packet(start + 48 * k))
    before = jb.pop(flush=False)
    jb.new_clock()
    at = start + 480 + step
    jb.push(s.packet(at))  # the one packet of the new clock that is there yet
    blocks = before + jb.pop(flush=True)
    assert jb.counters.late == 0 and jb.counters.malformed == 0
    assert jb.counters.clock_changes == 1
    placed = {b.index: b for b in blocks}
    assert at in placed, sorted(placed)
    assert np.array_equal(placed[at].samples, s.expected(at, 48))
    assert sum(b.frames for b in blocks) == 11 * 48  # the old clock's packets, and the new one


def test_a_new_ssrc_is_a_new_stream() -> None:
    a, b = sender(channels=1), sender(channels=1)
    b.mediaclk_offset = a.mediaclk_offset
    jb = buffer_for(a, latency_frames=0, anchor=lambda value: value)
    for k in range(3):
        jb.push(a.packet(48 * k))
    for k in range(3):
        jb.push(b.packet(96_000 + 48 * k))
    blocks = jb.pop(flush=True)
    assert [(x.index, x.frames) for x in blocks] == [(0, 144), (96_000, 144)]
    assert jb.counters.ssrc_changes == 1


def test_a_timeline_faster_than_real_time_is_dropped_as_a_flood() -> None:
    """A stream under way (its pace settled) sends 2 s of packets in half a second: what
    real time allows (0.5 s) and the burst (0.1 s) pass; the rest is a flood, counted, and a
    far jump made of flood packets never becomes a new timeline; packets at real time again
    do."""
    s = sender(channels=2)
    now = [1000.0]
    jb = buffer_for(s, latency_frames=96, burst_s=0.1, clock=lambda: now[0])
    for k in range(10):
        jb.push(s.packet(10_000 + 48 * k))
    now[0] = 1000.5
    for k in range(10, 2010):  # 2 s of packets at once
        jb.push(s.packet(10_000 + 48 * k))
    out = jb.pop(flush=True)
    assert sum(b.frames for b in out) <= 480 + 0.6 * 48000 + 48
    assert jb.counters.flood >= 1300 and jb.counters.jumps == 0
    received = jb.counters.received
    now[0] += 10.0  # the sender goes on at real time, 1.5 s ahead of what was taken:
    for k in range(2010, 2210):  # once 50 ms of it keep real time, a new timeline
        now[0] += 0.001
        jb.push(s.packet(10_000 + 48 * k))
    assert jb.counters.jumps == 1 and jb.counters.received >= received + 150


def test_a_flood_that_a_stall_makes_look_like_a_restart_gains_no_fresh_burst() -> None:
    """A sender floods at 10x; its thread stalls 30 ms inside a run of packets far ahead, so
    the run keeps under twice real time and is taken for a restart (as on a loaded machine).
    The new timeline inherits the old one's flood limit: in the next second of flood at most
    that second passes (and what the old limit had left), not a settling window's worth at
    10x (2.5 s) and a fresh burst."""
    s = sender(channels=2)
    now = [1000.0]
    burst = 0.1
    jb = buffer_for(s, latency_frames=96, burst_s=burst, clock=lambda: now[0])
    for k in range(10):
        jb.push(s.packet(10_000 + 48 * k))
    now[0] = 1001.0  # settled
    index = 10_000 + 480
    for _ in range(3000):  # 3 s of media at once: what real time allows passes, then flood
        jb.push(s.packet(index))
        index += 48
    assert jb.counters.flood > 0 and jb.counters.jumps == 0
    now[0] = 1001.05
    for k in range(60):  # a run of 60 ms of media, with a 30 ms stall after its first packet
        if k == 1:
            now[0] += 0.03
        jb.push(s.packet(index))
        index += 48
    assert jb.counters.jumps == 1  # taken for a restart
    received = jb.counters.received
    for _ in range(1000):  # a second of flood at 10x: 10 packets a millisecond
        now[0] += 0.001
        for _ in range(10):
            jb.push(s.packet(index))
            index += 48
    passed_s = (jb.counters.received - received) * 48 / 48000
    assert passed_s <= 1.0 + burst + 0.01, passed_s  # a fresh settle and burst: 2.6 s
    assert jb.counters.jumps == 1


def test_a_first_packet_that_waited_does_not_make_the_stream_a_flood() -> None:
    """The reader stalled 2 s (more than the burst) as the stream began: its first 2000
    packets are read at once, then the next ones come on time. The pace settles on the
    earliest packet, so nothing is taken for a flood."""
    s = sender(channels=2)
    now = [1000.0]
    jb = buffer_for(s, latency_frames=96, burst_s=0.5, clock=lambda: now[0])
    for k in range(2000):  # queued in the socket, read in one go at t=1000
        jb.push(s.packet(10_000 + 48 * k))
    for k in range(2000, 4000):  # then one a millisecond
        now[0] = 1000.0 + (k - 1999) / 1000
        jb.push(s.packet(10_000 + 48 * k))
    assert jb.counters.flood == 0 and jb.counters.received == 4000
