"""RTP (RFC 3550) carrying L16/L24 audio (RFC 3190): packets, PCM, and a jitter buffer.

- :func:`parse_rtp` / :func:`build_rtp`: one packet, fixed header, CSRCs, extension, padding.
- :func:`decode_pcm` / :func:`encode_pcm`: big-endian interleaved L16/L24 to and from int32
  frames, left-justified (a 24-bit value shifted left by 8, soundfile's convention), with numpy
  over whole batches of packets, never per sample in Python.
- :class:`JitterBuffer`: packets in, :class:`Block` s out, every frame placed by its RTP
  timestamp. It reorders, drops duplicates, unwraps sequence numbers and timestamps across
  their wrap-around, and a lost packet becomes silence at exactly its place once the packet
  after it is released. Bad packets (short header, wrong version, wrong payload type, a payload
  that is not whole frames) are counted and logged, never raised.

The timeline: a packet's *index* is ``(timestamp - mediaclk_offset) mod 2**32`` (the media
clock of the SDP's ``a=mediaclk:direct=<offset>``), extended to 64 bits. The first packet of a
stream is placed by ``anchor`` (the caller's knowledge of what the media clock reads now; by
default the 32-bit value itself), every later one relative to the newest packet so far.

Pure: no sockets, no hub imports.
"""

from __future__ import annotations

import itertools
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from c2c_hub.kit import HubError

Samples = npt.NDArray[np.int32]

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")
#: The fixed header as numpy reads a batch of them: V/P/X/CC and M/PT as one word.
_FIXED = np.dtype([("flags", ">u2"), ("sequence", ">u2"), ("timestamp", ">u4"), ("ssrc", ">u4")])
BYTES_PER_SAMPLE = {"L16": 2, "L24": 3}
LOG_EVERY_S = 5.0
_RECENT = 1024  # released packets remembered, to tell a duplicate from a late packet


class Malformed(HubError, ValueError):
    """One packet the receiver cannot use; ``kind`` names the reason for the counters."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PcmFormat:
    """What an RTP stream carries (from its SDP)."""

    encoding: str  # "L16" or "L24"
    channels: int
    sample_rate: int = 48000
    payload_type: int = 96

    def __post_init__(self) -> None:
        if self.encoding not in BYTES_PER_SAMPLE:
            raise ValueError(f"encoding {self.encoding!r}: only L16 and L24")
        if not 1 <= self.channels <= 64:
            raise ValueError(f"channels {self.channels}: expected 1..64")

    @property
    def bytes_per_sample(self) -> int:
        return BYTES_PER_SAMPLE[self.encoding]

    @property
    def frame_bytes(self) -> int:
        return self.bytes_per_sample * self.channels


@dataclass(frozen=True)
class RtpPacket:
    sequence: int
    timestamp: int
    ssrc: int
    payload_type: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """One RTP packet; :class:`Malformed` if it is not one."""
    if len(data) < _HEADER.size:
        raise Malformed("short", f"{len(data)} bytes, shorter than an RTP header (12)")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise Malformed("version", f"RTP version {b0 >> 6}, expected 2")
    offset = _HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            raise Malformed("short", "header extension cut short")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding: the last byte says how many bytes to drop
        if end <= offset or data[-1] == 0 or data[-1] > end - offset:
            raise Malformed("padding", "padding longer than the payload")
        end -= data[-1]
    if end < offset:
        raise Malformed("short", "header longer than the packet")
    return RtpPacket(seq, ts, ssrc, b1 & 0x7F, bool(b1 & 0x80), bytes(data[offset:end]))


def build_rtp(
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload_type: int,
    payload: bytes,
    marker: bool = False,
) -> bytes:
    b1 = (0x80 if marker else 0) | (payload_type & 0x7F)
    head = _HEADER.pack(0x80, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    return head + payload


def decode_pcm(payload: bytes | bytearray | memoryview, fmt: PcmFormat) -> Samples:
    """Big-endian interleaved PCM to int32 frames ``(frames, channels)``, left-justified."""
    raw = np.frombuffer(payload, dtype=np.uint8)
    if fmt.encoding == "L16":
        values = raw.view(">i2").astype(np.int32) << 16
    else:
        wide = np.zeros((raw.size // 3, 4), dtype=np.uint8)
        wide[:, :3] = raw.reshape(-1, 3)
        values = wide.view(">i4").reshape(-1).astype(np.int32)
    return values.reshape(-1, fmt.channels)


def encode_pcm(samples: Samples, fmt: PcmFormat) -> bytes:
    """int32 frames (left-justified, ``(frames, channels)`` or mono ``(frames,)``) to the
    payload bytes: the top 16 or 24 bits of each sample, big-endian, interleaved."""
    flat = np.ascontiguousarray(samples, dtype=np.int32).reshape(-1)
    big = flat.astype(">i4").view(np.uint8).reshape(-1, 4)
    return big[:, : fmt.bytes_per_sample].tobytes()


@dataclass(frozen=True)
class Block:
    """Frames released by the jitter buffer: ``samples[i]`` is at media clock ``index + i``."""

    index: int
    samples: Samples

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Counters:
    """Per stream. ``lost`` counts packets (by sequence number), ``lost_frames`` the silence
    put in their place; ``jumps`` counts accepted timeline discontinuities (a sender restart);
    ``flood`` counts packets dropped because the stream sent faster than its declared rate;
    ``clock_changes`` the times its clock reference changed (a new PTP grandmaster) and its
    timeline was placed afresh."""

    received: int = 0
    frames: int = 0
    lost: int = 0
    lost_frames: int = 0
    late: int = 0
    duplicate: int = 0
    malformed: int = 0
    jumps: int = 0
    ssrc_changes: int = 0
    flood: int = 0
    clock_changes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(slots=True)
class _Held:
    sequence: int
    payload: bytes | memoryview
    frames: int


@dataclass
class _Stray:
    """Packets far off the timeline, each continuing the last: a new timeline if they keep
    real time for ``CONFIRM_S`` of media, a flood if they arrive much faster."""

    index: int
    end: int
    packets: list[tuple[int, RtpPacket, int]]  # (index, packet, frames)
    since: float  # this machine's clock at the first


#: A jump of the timeline is taken once this much media continues it (at no more than twice
#: real time); faster than that, it is a flood.
CONFIRM_S = 0.05
#: How long a new timeline's pace follows its earliest packet before it is held to it.
SETTLE_S = 0.25


class JitterBuffer:
    """Places every packet of one RTP stream by its timestamp; see the module docstring.

    :param latency_frames: how long (in frames behind the newest packet) a packet may still
        arrive and be put in its place; after that its place is released, as silence if it
        never came. Release is by timestamps, not by the clock of this machine.
    :param max_gap_frames: a gap longer than this between two packets is not filled with
        silence: the next block simply starts at the later index. A packet this far from the
        stream (ahead or behind) starts a new timeline only when the packet after it confirms
        it (a sender that restarted); a lone one is dropped and counted as malformed.
    :param anchor: maps the first packet's 32-bit media clock value to its 64-bit index.
    :param burst_s: flood limit: the stream may deliver its declared rate of frames (by this
        machine's ``clock``, monotonic seconds) plus a burst of this many seconds of frames
        (what a stalled reader finds queued); a packet beyond that is dropped and counted as
        ``flood``, so a sender faster than it declares fills nothing more than real time.
        ``None``: no limit.
    """

    def __init__(
        self,
        fmt: PcmFormat,
        *,
        mediaclk_offset: int = 0,
        latency_frames: int = 960,
        max_gap_frames: int | None = None,
        anchor: Callable[[int], int] | None = None,
        log: logging.Logger | None = None,
        label: str = "rtp",
        burst_s: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fmt = fmt
        self.offset = mediaclk_offset & 0xFFFFFFFF
        self.latency = max(0, latency_frames)
        self.max_gap = max_gap_frames if max_gap_frames is not None else fmt.sample_rate
        self.anchor = anchor or (lambda value: value)
        self.log = log or logging.getLogger(__name__)
        self.label = label
        self.counters = Counters()
        self.ssrc: int | None = None
        self._held: dict[int, _Held] = {}
        self._cursor: int | None = None  # the next index to release (None: not yet started)
        self._newest: int | None = None  # the highest end (index + frames) accepted
        self._last_seq: int | None = None  # the sequence number of the last released packet
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._recent_set: set[int] = set()
        self._stray: _Stray | None = None
        self._ready: list[Block] = []
        self._logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self.clock = clock
        self._burst = None if burst_s is None else burst_s * fmt.sample_rate
        # (end, clock) the timeline's pace is reckoned from, and until when it may settle
        self._pace: tuple[int, float, float] | None = None
        self._arrival: float | None = None  # the packet's own arrival time (push_batch)

    # ------------------------------------------------------------------ packets in
    def push(self, data: bytes) -> None:
        """One datagram as received. Never raises for what the network sent."""
        try:
            packet = parse_rtp(data)
        except Malformed as exc:
            self._malformed(exc.kind, str(exc))
            return
        if packet.payload_type != self.fmt.payload_type:
            self._malformed(
                "payload type",
                f"payload type {packet.payload_type}, expected {self.fmt.payload_type}",
            )
            return
        size = len(packet.payload)
        if size == 0 or size % self.fmt.frame_bytes:
            self._malformed(
                "length",
                f"payload of {size} bytes is not whole frames of {self.fmt.channels} x "
                f"{self.fmt.encoding} ({self.fmt.frame_bytes} bytes)",
            )
            return
        self._accept(packet, size // self.fmt.frame_bytes)

    def _accept(self, packet: RtpPacket, frames: int) -> None:
        """A packet of this stream's payload type, whole frames: its SSRC, then its place."""
        if self.ssrc is not None and packet.ssrc != self.ssrc:
            self.counters.ssrc_changes += 1
            self._note(
                "ssrc", f"new SSRC {packet.ssrc:#010x} (was {self.ssrc:#010x}): a new timeline"
            )
            self._restart()
        self.ssrc = packet.ssrc
        self._place(packet, frames)

    def push_batch(
        self,
        rows: npt.NDArray[np.uint8],
        lengths: npt.NDArray[np.integer[Any]],
        truncated: npt.NDArray[np.bool_] | None = None,
        arrivals: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Datagrams as received, in order: ``rows[i, :lengths[i]]`` is the i-th
        (``truncated[i]``: it was longer than a row, and cut short). The outcome is
        :meth:`push` of each in turn. The usual packet (the fixed 12-byte header alone, this
        stream's payload type and SSRC, whole frames) is parsed and placed with numpy, a run
        of them at a time; any other (CSRCs, an extension, padding, a new SSRC, or malformed)
        goes through :meth:`push` alone.

        ``arrivals[i]``: when the i-th arrived, on ``clock`` (the kernel's receive time): the
        flood limit and a jump's confirmation judge each packet by it, as if it had been pushed
        then. Without it, every packet arrived now."""
        count = int(lengths.shape[0])
        if count == 0:
            return
        try:
            self._push_batch(rows, lengths, truncated, arrivals, count)
        finally:
            self._arrival = None

    def _push_batch(
        self,
        rows: npt.NDArray[np.uint8],
        lengths: npt.NDArray[np.integer[Any]],
        truncated: npt.NDArray[np.bool_] | None,
        arrivals: npt.NDArray[np.float64] | None,
        count: int,
    ) -> None:
        head = np.ascontiguousarray(rows[:count, : _HEADER.size]).view(_FIXED).reshape(count)
        size, fb = int(lengths[0]), self.fmt.frame_bytes
        ssrcs, timestamps = head["ssrc"], head["timestamp"]
        if (  # the usual batch: every packet usual, one size, one SSRC, each following on
            (truncated is None or not truncated.any())
            and size > _HEADER.size
            and (size - _HEADER.size) % fb == 0
            and (lengths == size).all()
            and ((head["flags"] & 0xFF7F) == (RTP_VERSION << 14 | self.fmt.payload_type)).all()
            and (ssrcs == ssrcs[0]).all()
            and (count == 1 or ((timestamps[1:] - timestamps[:-1]) == (size - 12) // fb).all())
            and self._extend(
                int(timestamps[0]),
                head["sequence"].tolist(),
                int(ssrcs[0]),
                rows[:count, _HEADER.size : size],
                arrivals,
            )
        ):
            return
        lengths = lengths.astype(np.int64)
        usual = (
            (lengths > _HEADER.size)
            & ((lengths - _HEADER.size) % fb == 0)
            & ((head["flags"] & 0xFF7F) == (RTP_VERSION << 14 | self.fmt.payload_type))
        )
        if truncated is not None:
            usual &= ~truncated
        # runs of usual packets of one size and one SSRC (and runs of the others)
        cuts = (usual[1:] != usual[:-1]) | (lengths[1:] != lengths[:-1]) | (ssrcs[1:] != ssrcs[:-1])
        bounds = [0, *(np.flatnonzero(cuts) + 1).tolist(), count]
        for start, stop in itertools.pairwise(bounds):
            if usual[start]:
                payloads = rows[start:stop, _HEADER.size : int(lengths[start])]
                times = None if arrivals is None else arrivals[start:stop]
                self._push_run(head[start:stop], payloads, times)
                continue
            for i in range(start, stop):
                if arrivals is not None:
                    self._arrival = float(arrivals[i])
                if truncated is not None and truncated[i]:
                    self._malformed(
                        "length",
                        f"a datagram longer than the {rows.shape[1]} bytes received: cut short",
                    )
                    continue
                self.push(rows[i, : int(lengths[i])].tobytes())

    def _push_run(
        self,
        head: npt.NDArray[np.void],
        payloads: npt.NDArray[np.uint8],
        arrivals: npt.NDArray[np.float64] | None,
    ) -> None:
        """Usual packets of one SSRC and one size: each stretch whose timestamps follow on
        (each packet starts where the one before ends) placed at once when it simply extends
        the stream; any packet that does not is placed alone, as :meth:`push` would."""
        frames = payloads.shape[1] // self.fmt.frame_bytes
        timestamps = head["timestamp"]
        breaks = (timestamps[1:] - timestamps[:-1]) != frames  # (uint32: across the wrap too)
        bounds = [0, *(np.flatnonzero(breaks) + 1).tolist(), len(head)]
        sequences = head["sequence"].tolist()
        ssrc = int(head["ssrc"][0])
        for start, stop in itertools.pairwise(bounds):
            at = start
            while at < stop and not self._extend(
                int(timestamps[at]),
                sequences[at:stop],
                ssrc,
                payloads[at:stop],
                None if arrivals is None else arrivals[at:stop],
            ):
                if arrivals is not None:
                    self._arrival = float(arrivals[at])
                packet = RtpPacket(
                    sequences[at],
                    int(timestamps[at]),
                    ssrc,
                    self.fmt.payload_type,
                    False,
                    payloads[at].tobytes(),
                )
                self._accept(packet, frames)
                at += 1

    def _extend(
        self,
        timestamp: int,
        sequences: list[int],
        ssrc: int,
        payloads: npt.NDArray[np.uint8],
        arrivals: npt.NDArray[np.float64] | None,
    ) -> bool:
        """Packets contiguous on the media clock, the first stamped ``timestamp``, held at
        once if what :meth:`_place` would do with each is simply that: the same SSRC, no stray
        pending, the first at or after the newest end so far (no duplicate, nothing late, no
        gap beyond ``max_gap``), within the flood limit. False (nothing done) otherwise."""
        newest, size = self._newest, payloads.shape[1]
        frames = size // self.fmt.frame_bytes
        if newest is None or self._stray is not None or ssrc != self.ssrc or frames > self.max_gap:
            return False
        index = newest + _signed32(((timestamp - self.offset) & 0xFFFFFFFF) - newest)
        if index < newest or index + frames - newest > self.max_gap:
            return False
        end = index + len(sequences) * frames
        if not self._paced_run(index, frames, len(sequences), arrivals):
            return False
        self.counters.received += len(sequences)
        data = memoryview(payloads.tobytes())
        held = self._held
        for k, sequence in enumerate(sequences):
            held[index + k * frames] = _Held(sequence, data[k * size : (k + 1) * size], frames)
        self._newest = end
        return True

    def _paced_run(
        self, index: int, frames: int, count: int, arrivals: npt.NDArray[np.float64] | None
    ) -> bool:
        """Whether :meth:`_paced` would pass each of ``count`` packets from ``index`` on, and
        leave the pace where placing them one by one would (False: place them one by one)."""
        if self._burst is None:
            return True
        if arrivals is None:
            # All at once: the last packet's end within the limit means every earlier one's
            # is, and the pace (while it settles) ends where it would after each in turn.
            return self._paced(index + count * frames)
        if self._pace is None or arrivals[0] < self._pace[2]:
            return False  # the pace is not settled yet: one by one
        first, since, _ = self._pace
        rate, end = self.fmt.sample_rate, index + count * frames
        if end <= first + (float(arrivals[0]) - since) * rate + self._burst:
            return True  # even the last within the limit at the first's arrival: all are
        ends = index + frames * np.arange(1, count + 1, dtype=np.int64)
        allowed = first + (arrivals - since) * self.fmt.sample_rate + self._burst
        return bool((ends <= allowed).all())

    def _now(self) -> float:
        """The packet's arrival time if it is known (:meth:`push_batch`), else the clock's."""
        return self.clock() if self._arrival is None else self._arrival

    def _paced(self, end: int) -> bool:
        """Whether the timeline stays within real time (plus the burst) since its start.

        For the first ``SETTLE_S`` the reference follows the earliest packet (a first packet
        that waited in a stalled socket must not make every later one look early)."""
        if self._burst is None:
            return True
        now = self._now()
        if self._pace is None:
            self._pace = (end, now, now + SETTLE_S)
            return True
        first, since, settling = self._pace
        allowed = first + (now - since) * self.fmt.sample_rate
        if now < settling and end > allowed:
            self._pace = (end, now, settling)
            return True
        return end <= allowed + self._burst

    def _flood(self, packets: int = 1) -> None:
        self.counters.flood += packets
        self._note(
            "flood",
            f"faster than its declared {self.fmt.sample_rate} Hz: packets dropped "
            f"({self.counters.flood} so far)",
        )

    def _place(self, packet: RtpPacket, frames: int) -> None:
        value = (packet.timestamp - self.offset) & 0xFFFFFFFF
        if self._newest is None:
            index = self.anchor(value)
            self._newest = index
        else:
            index = self._newest + _signed32(value - self._newest)
        end = index + frames
        floor = self._cursor if self._cursor is not None else self._newest
        if end - self._newest > self.max_gap or floor - index > self.max_gap:
            self._far(packet, index, end)
            return
        if self._stray is not None:
            self._malformed("timestamp", "a timestamp far off the stream's timeline")
            self._stray = None
        if not self._paced(end):
            self._flood()
            return
        self.counters.received += 1
        if self._cursor is not None and index < self._cursor:
            if index in self._recent_set or index in self._held:
                self.counters.duplicate += 1
            else:
                self.counters.late += 1
                self._note("late", f"a packet {self._cursor - index} frames late; dropped")
            return
        if index in self._held:
            self.counters.duplicate += 1
            return
        self._held[index] = _Held(packet.sequence, packet.payload, frames)
        self._newest = max(self._newest, end)

    def _far(self, packet: RtpPacket, index: int, end: int) -> None:
        """A packet far off the timeline: a restart if the next ones continue it at no more
        than twice real time for ``CONFIRM_S``; a flood if they come faster."""
        stray = self._stray
        now = self._now()
        if stray is not None and index == stray.end:
            stray.packets.append((index, packet, end - index))
            stray.end = end
            media_s = (end - stray.index) / self.fmt.sample_rate
            if self._burst is not None and media_s < CONFIRM_S:
                return  # (without a flood limit, the second packet confirms it)
            if self._burst is not None and now - stray.since < media_s / 2:
                self._flood(len(stray.packets))
                self._stray = None
                return
            self.counters.jumps += 1
            self._note("jump", f"the timeline jumped by {stray.index - (self._newest or 0)} frames")
            pace = self._carried_pace(stray)
            self._release(flush=True)
            self._cursor, self._newest = None, stray.index
            self._last_seq = None
            self._pace = pace
            self._stray = None
            for at, held, frames in stray.packets:
                self._place(held, frames)
                del at
            return
        if stray is not None:
            self._malformed("timestamp", "a timestamp far off the stream's timeline")
        self._stray = _Stray(index, end, [(index, packet, end - index)], now)

    def _carried_pace(self, stray: _Stray) -> tuple[int, float, float] | None:
        """The flood limit across a jump: the new timeline may run as far ahead of real time as
        the old one still could when the jump's first packet came (at least a quarter of the
        burst, so a restart straight after a flood is not held at the edge; at most all of it),
        and it does not settle again. A flood that a stalled sender or reader makes look like a
        restart (its packets spread over more than half their media's time) thus gains no
        fresh burst and settling window. None (a fresh start) if there is no limit or no pace."""
        if self._burst is None or self._pace is None or self._newest is None:
            return None
        first, since, _ = self._pace
        allowed = first + (stray.since - since) * self.fmt.sample_rate + self._burst
        credit = min(self._burst, max(self._burst / 4, allowed - self._newest))
        return (round(stray.index + credit - self._burst), stray.since, stray.since)

    def new_clock(self) -> None:
        """The stream's clock reference changed (another PTP grandmaster, whose time may differ
        from the old one's by any amount): what is held is released, and the next packet is
        placed by ``anchor`` as a first packet is, not against the old clock's timeline."""
        self.counters.clock_changes += 1
        self._restart()

    def _restart(self) -> None:
        self._release(flush=True)
        self._cursor = self._newest = self._last_seq = None
        self._stray = None
        self._pace = None

    # ------------------------------------------------------------------ blocks out
    def pop(self, flush: bool = False) -> list[Block]:
        """The blocks whose time has come (every held packet with ``flush``, at a stream's end)."""
        self._release(flush)
        ready, self._ready = self._ready, []
        return ready

    @property
    def held_frames(self) -> int:
        return sum(h.frames for h in self._held.values())

    def _release(self, flush: bool) -> None:
        if self._newest is None or not self._held:
            if flush and self._stray is not None:
                self._malformed("timestamp", "a timestamp far off the stream's timeline")
                self._stray = None
            return
        limit = self._newest - (0 if flush else self.latency)
        due = sorted(k for k in self._held if k < limit)
        if not due:
            return
        runs: list[tuple[int, list[tuple[int, _Held]]]] = []
        run: list[tuple[int, _Held]] = []
        start = cursor = self._cursor if self._cursor is not None else due[0]
        for index in due:
            held = self._held.pop(index)
            gap = index - cursor
            if gap > self.max_gap:
                if run:
                    runs.append((start, run))
                run, start, cursor = [], index, index
                gap = 0
            if gap > 0:
                self.counters.lost_frames += gap
                missing = 1
                if self._last_seq is not None:
                    missing = max(1, (held.sequence - self._last_seq - 1) & 0xFFFF)
                self.counters.lost += missing
                self._note("lost", f"{gap} frames lost at index {cursor}; silence in their place")
            run.append((index, held))
            cursor = index + held.frames
            self._last_seq = held.sequence
        self._remember(due)
        runs.append((start, run))
        self._cursor = cursor
        for first, packets in runs:
            self._ready.append(self._assemble(first, packets))

    def _assemble(self, first: int, packets: list[tuple[int, _Held]]) -> Block:
        """One block from packets in order: silence in the gaps, decoded in one numpy pass."""
        last_index, last = packets[-1]
        total = last_index + last.frames - first
        size = self.fmt.frame_bytes
        contiguous = packets[0][0] == first and all(
            index == before + held.frames
            for (before, held), (index, _) in itertools.pairwise(packets)
        )
        if contiguous:
            buffer: bytes | bytearray = b"".join(h.payload for _, h in packets)
        else:
            buffer = bytearray(total * size)
            for index, held in packets:
                at = (index - first) * size
                buffer[at : at + len(held.payload)] = held.payload
        samples = decode_pcm(buffer, self.fmt)
        self.counters.frames += int(samples.shape[0])
        return Block(first, samples)

    def _remember(self, indexes: list[int]) -> None:
        """The released packets' indexes, the last ``_RECENT`` of them kept."""
        recent, known = self._recent, self._recent_set
        if len(indexes) > _RECENT:
            indexes = indexes[-_RECENT:]
        for _ in range(max(0, len(recent) + len(indexes) - _RECENT)):
            known.discard(recent.popleft())
        recent.extend(indexes)
        known.update(indexes)

    # ------------------------------------------------------------------ counting and logging
    def _malformed(self, kind: str, message: str) -> None:
        self.counters.malformed += 1
        self._note(f"malformed {kind}", f"malformed packet dropped: {message}")

    def _note(self, kind: str, message: str) -> None:
        """Log the first of a kind, then at most once per LOG_EVERY_S with how many were quiet."""
        now = time.monotonic()
        last = self._logged.get(kind)
        if last is not None and now - last < LOG_EVERY_S:
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        self._logged[kind] = now
        quiet = self._unlogged.pop(kind, 0)
        more = f" (and {quiet} more since the last report)" if quiet else ""
        self.log.warning("%s: %s%s", self.label, message, more)


__all__ = [
    "Block",
    "Counters",
    "JitterBuffer",
    "Malformed",
    "PcmFormat",
    "RtpPacket",
    "Samples",
    "build_rtp",
    "decode_pcm",
    "encode_pcm",
    "parse_rtp",
]
