"""An emulated AES67 sender: N channels of a known signal as L16/L24 RTP, announced by SAP.

For tests, the demo and plugin authors; it also works against a real AES67 receiver on a
network the operator names. Its media clock is this machine's clock read as PTP time (TAI, the
UTC epoch plus ``tai_offset_s``), so a receiver that maps the media clock to the time of day
places its samples at "now", as it would a PTP-locked device's.

The signal is a pure function of the media clock index and the channel
(:meth:`EmulatedAes67Sender.expected`), so whatever a receiver holds at an index can be checked
sample for sample: ``"pattern"`` is a hash of (index, channel), different at every sample, so a
shift of one sample or a swapped channel shows; ``"tone"`` is a sine per channel (440 Hz times
the channel number) for ears.

Command line (stops on Ctrl-C)::

    python -m c2c_hub_plugins.aes67.emulated --count 2 --channels 8 --interface 127.0.0.1

``--ravenna`` also announces each sender as a RAVENNA session on mDNS and serves its SDP by
RTSP (:class:`EmulatedRavennaDevice`).

:class:`EmulatedMicrophones` is a set of network microphones as AES67 gear presents them (one
single-channel sender each, unicast to the receiver, announced by SAP): what ``make demo`` and
the test hubs record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from c2c_hub_plugins.aes67.ravenna import RAVENNA_SERVICE, RTSP_TYPE, RtspServer
from c2c_hub_plugins.aes67.rtp import PcmFormat, Samples, build_rtp, encode_pcm
from c2c_hub_plugins.aes67.sap import SAP_GROUPS, SAP_PORT, SapAnnouncer, multicast_sender
from c2c_hub_plugins.aes67.sdp import Origin, parse_sdp, write_sdp
from c2c_hub_plugins.aes67.source import channel_serial, interface_index
from c2c_hub_plugins.aes67.timeline import MediaTimeline

TAI_OFFSET_S = 37  # TAI - UTC since 2017 (PTP's timescale is TAI)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def pattern(indexes: np.ndarray, channel: int, bits: int) -> Samples:
    """A splitmix64 hash of (index, channel), as ``bits``-bit samples, left-justified in int32."""
    with np.errstate(over="ignore"):
        x = indexes.astype(np.uint64) * np.uint64(64) + np.uint64(channel)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    top = (x >> np.uint64(64 - bits)).astype(np.int64) - (1 << (bits - 1))
    return (top << (32 - bits)).astype(np.int32)


def tone(
    indexes: np.ndarray, channel: int, bits: int, rate: int, base_hz: float = 440.0
) -> Samples:
    """A sine at -6 dBFS, ``base_hz`` x (channel + 1), phase-locked to the index."""
    frequency = base_hz * (channel + 1)
    cycles = np.mod(indexes.astype(np.float64) * frequency, rate) / rate
    peak = (1 << (bits - 1)) - 1
    values = np.round(0.5 * peak * np.sin(2 * np.pi * cycles)).astype(np.int64)
    return (values << (32 - bits)).astype(np.int32)


class EmulatedAes67Sender:
    """One AES67 stream. ``start()`` sends on a thread of its own; ``stop()`` ends it (and
    sends the SAP deletion). Everything a receiver needs is in :attr:`sdp`.

    :param address: the destination, a multicast group or a unicast address.
    :param interface: the IPv4 address of the interface to send from (multicast and SAP).
    :param sap: announce the SDP by SAP every ``sap_interval`` seconds.
    :param clock: epoch seconds (``time.time`` by default): the media clock's reading.
    :param tone_hz: the ``"tone"`` signal's first channel's frequency (the next ones are its
        multiples).

    What real gear does wrong, on demand: :meth:`drop` (a dropout: packets not sent, their
    media time passing), :meth:`jump` (the media clock jumps, as after a PTP step),
    :meth:`set_speed` (faster or slower than the declared rate: a flood).
    """

    def __init__(
        self,
        *,
        name: str = "Emulated AES67",
        channels: int = 2,
        encoding: str = "L24",
        sample_rate: int = 48000,
        ptime_ms: float = 1.0,
        address: str = "239.69.1.1",
        port: int = 5004,
        interface: str = "127.0.0.1",
        ttl: int = 1,
        payload_type: int = 96,
        signal: str = "pattern",
        sap: bool = True,
        sap_interval: float = 1.0,
        sap_group: str = SAP_GROUPS[0],
        sap_port: int = SAP_PORT,
        mediaclk_offset: int | None = None,
        ssrc: int | None = None,
        session_id: int | None = None,
        labels: Sequence[str] | None = None,
        source_filter: bool = False,
        tai_offset_s: int = TAI_OFFSET_S,
        clock: Callable[[], float] = time.time,
        tone_hz: float = 440.0,
        username: str = "-",
        grandmaster: str | None = None,
        domain: int = 0,
    ) -> None:
        rng = random.Random()
        self.format = PcmFormat(encoding, channels, sample_rate, payload_type)
        self.name = name
        self.ptime_ms = ptime_ms
        self.frames_per_packet = max(1, round(ptime_ms * sample_rate / 1000))
        self.address = address
        self.port = port
        self.interface = interface
        self.ttl = ttl
        if signal not in ("pattern", "tone"):
            raise ValueError(f"signal {signal!r}: pattern or tone")
        self.signal = signal
        self.tone_hz = tone_hz
        self.grandmaster = grandmaster  # a=ts-refclk: this PTP grandmaster (None: traceable)
        self.domain = domain
        self.username = username
        self.mediaclk_offset = rng.getrandbits(32) if mediaclk_offset is None else mediaclk_offset
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self.session_id = rng.randrange(1, 1 << 31) if session_id is None else session_id
        self.labels = tuple(labels) if labels else tuple(f"Ch {c + 1}" for c in range(channels))
        self.tai_offset_s = tai_offset_s
        self.clock = clock
        self.source_filter = source_filter
        self.version = 1
        self.origin = Origin(username, str(self.session_id), str(self.version), interface)
        self.sdp = self._write_sdp()
        self._sap = (
            SapAnnouncer(
                self.sdp,
                origin=interface,
                interface=interface,
                interval=sap_interval,
                group=sap_group,
                port=sap_port,
            )
            if sap
            else None
        )
        self.packets_sent = 0
        self.first_index: int | None = None
        self.next_index: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._sequence = rng.getrandbits(16)
        self._control = threading.Lock()
        self._speed = 1.0
        self._jump = 0
        self._rebase = False
        self._drop_until = 0.0
        self._scope = 0  # the IPv6 interface index packets go out of (0: the routing table's)
        #: media clock ranges [first, end) of the packets :meth:`drop` kept from the wire
        self.dropped: list[tuple[int, int]] = []

    def _write_sdp(self) -> str:
        return write_sdp(
            origin=self.origin,
            name=self.name,
            address=self.address,
            port=self.port,
            encoding=self.format.encoding,
            sample_rate=self.format.sample_rate,
            channels=self.format.channels,
            payload_type=self.format.payload_type,
            ttl=self.ttl if self.ttl > 0 else 1,
            ptime_ms=self.ptime_ms,
            mediaclk_offset=self.mediaclk_offset,
            labels=self.labels,
            source=self.interface if self.source_filter else None,
            grandmaster=self.grandmaster,
            domain=self.domain,
        )

    def relabel(self, labels: Sequence[str]) -> None:
        """The operator renames the channels: a new version of the session, announced now
        (with a new SAP message id hash, as a modified session gets)."""
        if len(labels) != self.format.channels:
            raise ValueError(f"{len(labels)} labels for {self.format.channels} channels")
        self.labels = tuple(labels)
        self.version += 1
        self.origin = Origin(self.username, str(self.session_id), str(self.version), self.interface)
        self.sdp = self._write_sdp()
        if self._sap is not None:
            self._sap.announce(self.sdp)

    def change_grandmaster(
        self, grandmaster: str | None, domain: int = 0, *, new_version: bool = True
    ) -> None:
        """The sender now follows another PTP grandmaster: its SDP's ``a=ts-refclk`` names it,
        announced now, as a new version of the session or (``new_version=False``) the same
        version re-announced with only that line changed."""
        with self._control:
            self.grandmaster, self.domain = grandmaster, domain
            if new_version:
                self.version += 1
                self.origin = Origin(
                    self.username, str(self.session_id), str(self.version), self.interface
                )
            self.sdp = self._write_sdp()
        if self._sap is not None:
            self._sap.announce(self.sdp)

    def change_format(self, encoding: str) -> None:
        """The operator switches the stream to another encoding (L16/L24) mid-stream: a new
        version of the session, announced now."""
        with self._control:
            fmt = self.format
            self.format = PcmFormat(encoding, fmt.channels, fmt.sample_rate, fmt.payload_type)
            self.version += 1
            self.origin = Origin(
                self.username, str(self.session_id), str(self.version), self.interface
            )
            self.sdp = self._write_sdp()
        if self._sap is not None:
            self._sap.announce(self.sdp)

    # ------------------------------------------------------------------ the signal
    def index_now(self) -> int:
        """The media clock now: samples since the PTP epoch (TAI)."""
        return round((self.clock() + self.tai_offset_s) * self.format.sample_rate)

    def expected(self, index: int, frames: int) -> Samples:
        """Exactly what the sender sends for media clock ``index`` .. ``index + frames``:
        int32 left-justified, shape ``(frames, channels)``."""
        indexes = np.arange(index, index + frames, dtype=np.int64)
        bits = 8 * self.format.bytes_per_sample
        columns = [
            pattern(indexes, c, bits)
            if self.signal == "pattern"
            else tone(indexes, c, bits, self.format.sample_rate, self.tone_hz)
            for c in range(self.format.channels)
        ]
        return np.stack(columns, axis=1)

    def expected_at(self, position: int, frames: int, tz: tzinfo | None = None) -> Samples:
        """What a receiver that places samples on the hub's timeline (samples since local
        midnight, :class:`~c2c_hub_plugins.aes67.timeline.MediaTimeline`) holds at
        ``position`` .. ``position + frames`` of today, with nothing lost; a :meth:`jump` moves
        the sender's clock, not this."""
        return self.expected(self._today(tz) + position, frames)

    def position_of(self, index: int, tz: tzinfo | None = None) -> int:
        """Where media clock ``index`` lands on the hub's timeline today (see
        :meth:`expected_at`): for the ranges in :attr:`dropped`."""
        return index - self._today(tz)

    def _today(self, tz: tzinfo | None) -> int:
        timeline = MediaTimeline(
            self.format.sample_rate, tai_offset_s=self.tai_offset_s, clock=self.clock, tz=tz
        )
        now = timeline.index_now()
        return now - timeline.position(now)

    def packet(self, index: int) -> bytes:
        """The RTP packet for media clock ``index`` (the sequence number advances)."""
        payload = encode_pcm(self.expected(index, self.frames_per_packet), self.format)
        timestamp = (index + self.mediaclk_offset) & 0xFFFFFFFF
        data = build_rtp(self._sequence, timestamp, self.ssrc, self.format.payload_type, payload)
        self._sequence = (self._sequence + 1) & 0xFFFF
        return data

    # ------------------------------------------------------------------ misbehaviour
    def drop(self, seconds: float) -> None:
        """Send nothing for ``seconds`` while the media clock runs on (a dropout); the ranges
        kept from the wire are in :attr:`dropped`."""
        with self._control:
            self._drop_until = time.monotonic() + seconds

    def jump(self, seconds: float) -> None:
        """The media clock jumps by ``seconds`` (either way), as after a PTP step."""
        with self._control:
            self._jump += round(seconds * self.format.sample_rate)

    def set_speed(self, factor: float) -> None:
        """Send ``factor`` times the declared rate from now on (1: real time)."""
        if factor <= 0:
            raise ValueError(f"speed {factor}: must be positive")
        with self._control:
            self._speed = factor
            self._rebase = True

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        destination = ipaddress.ip_address(self.address)
        multicast = destination.is_multicast
        self._scope = 0
        if destination.version == 6:
            # out of the interface that holds the IPv4 address ``interface`` (looped back too)
            self._sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            if multicast:
                self._scope = interface_index(self.interface)
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self._scope)
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
                hops = max(1, self.ttl)
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
        elif multicast:
            self._sock = multicast_sender(self.interface, ttl=self.ttl)
        else:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._stop.clear()
        self.first_index = self.next_index = self.index_now()
        self._thread = threading.Thread(target=self._run, name=f"aes67 {self.name}", daemon=True)
        self._thread.start()
        if self._sap is not None:
            self._sap.start()

    @property
    def serials(self) -> list[str]:
        """The serial a receiving hub gives each channel (the SDP origin, m= and channel)."""
        session = parse_sdp(self.sdp)
        media = session.streams[0]
        return [channel_serial(session, media, c) for c in range(media.channels)]

    @property
    def announcements_sent(self) -> int:
        return self._sap.sent if self._sap is not None else 0

    def stop_audio(self) -> None:
        """Stop sending RTP but go on announcing: a stream that stops (a cable pulled)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sap is not None:
            self._sap.stop(delete=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> EmulatedAes67Sender:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._sock is not None and self.next_index is not None
        rate = self.format.sample_rate
        fpp = self.frames_per_packet
        start_index = self.next_index
        started = time.monotonic()
        speed = 1.0
        destination: tuple[Any, ...] = (self.address, self.port)
        if ":" in self.address:
            destination = (self.address, self.port, 0, self._scope)
        while not self._stop.is_set():
            with self._control:
                if self._jump:
                    self.next_index += self._jump
                    self._jump, self._rebase = 0, True
                if self._rebase:
                    start_index, started, speed = self.next_index, time.monotonic(), self._speed
                    self._rebase = False
                drop_until = self._drop_until
            now = time.monotonic()
            due = start_index + int((now - started) * rate * speed)
            while self.next_index + fpp <= due:
                if now < drop_until:
                    self._dropped(self.next_index, fpp)
                    self._sequence = (self._sequence + 1) & 0xFFFF
                else:
                    try:
                        self._sock.sendto(self.packet(self.next_index), destination)
                        self.packets_sent += 1
                    except OSError:
                        pass  # no route just now: the packet is lost, as on a real network
                self.next_index += fpp
            ahead = (self.next_index + fpp - due) / (rate * speed)
            self._stop.wait(max(0.0002, ahead))

    def _dropped(self, index: int, frames: int) -> None:
        if self.dropped and self.dropped[-1][1] == index:
            self.dropped[-1] = (self.dropped[-1][0], index + frames)
        else:
            self.dropped.append((index, index + frames))


#: Where :func:`free_udp_port` looks: even ports below Linux's ephemeral range (32768 up), so
#: that no socket bound to port 0 elsewhere on the machine can take one between the probe and
#: the receiver's bind (that race failed a test: "Address already in use").
RTP_PORTS = range(20000, 32768, 2)


def free_udp_port(interface: str = "127.0.0.1") -> int:
    """An even UDP port nobody uses on ``interface`` just now (RTP ports are even), chosen at
    random in :data:`RTP_PORTS`."""
    for port in random.sample(RTP_PORTS, len(RTP_PORTS)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((interface, port))
            except OSError:
                continue
        return port
    raise OSError(f"no free UDP port in {RTP_PORTS} on {interface}")


class EmulatedMicrophones:
    """Network microphones as AES67 gear presents them: one single-channel sender per name
    (its label the name, so the hub names its track after it), RTP unicast to ``receiver`` on a
    port of its own, announced by SAP on ``sap_group`` (make it a group of the test's or the
    demo's own: loopback multicast is shared by every process on the machine).

    Unicast needs no multicast route; SAP sends on ``interface`` explicitly, which loopback
    carries without one. Each sender's session id is ``session_base`` plus its number, so the
    serials are known before the hub sees them (:attr:`serials`).
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        sap_group: str,
        receiver: str = "127.0.0.1",
        interface: str = "127.0.0.1",
        sample_rate: int = 48000,
        encoding: str = "L24",
        signal: str = "tone",
        ptime_ms: float = 1.0,
        sap_interval: float = 1.0,
        session_base: int | None = None,
    ) -> None:
        base = session_base if session_base is not None else random.randrange(1, 1 << 30)
        self.sap_group = sap_group
        self.senders = [
            EmulatedAes67Sender(
                name=name,
                channels=1,
                labels=[name],
                encoding=encoding,
                sample_rate=sample_rate,
                ptime_ms=ptime_ms,
                address=receiver,
                port=free_udp_port(receiver),
                interface=interface,
                signal=signal,
                tone_hz=220.0 * (n + 1),
                sap_group=sap_group,
                sap_interval=sap_interval,
                session_id=base + n,
            )
            for n, name in enumerate(names)
        ]
        self.serials = [sender.serials[0] for sender in self.senders]

    def sender(self, serial: str) -> EmulatedAes67Sender:
        return self.senders[self.serials.index(serial)]

    def start(self) -> None:
        for sender in self.senders:
            sender.start()

    def stop(self) -> None:
        for sender in self.senders:
            sender.stop()

    def __enter__(self) -> EmulatedMicrophones:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmulatedRavennaDevice:
    """A RAVENNA device's discovery side for emulated senders: each sender's session announced
    on mDNS (``_ravenna_session._sub._rtsp._tcp``, named after the sender) and its SDP served
    by RTSP ``DESCRIBE``. The senders themselves are started and stopped by their owner."""

    def __init__(
        self,
        senders: Sequence[EmulatedAes67Sender],
        *,
        interface: str = "127.0.0.1",
        service_type: str = RAVENNA_SERVICE,
    ) -> None:
        self.senders = list(senders)
        self.interface = interface
        self.service_type = service_type
        self.rtsp = RtspServer(interface)
        self._zc: AsyncZeroconf | None = None
        self._infos: list[AsyncServiceInfo] = []

    async def start(self) -> None:
        await self.rtsp.start()
        self._zc = AsyncZeroconf(interfaces=[self.interface], ip_version=IPVersion.V4Only)
        for sender in self.senders:
            self.rtsp.sessions[sender.name] = sender.sdp
            info = AsyncServiceInfo(
                self.service_type,
                f"{sender.name}.{RTSP_TYPE}",
                addresses=[socket.inet_aton(self.interface)],
                port=self.rtsp.port,
                server=f"ravenna-{sender.session_id}.local.",
            )
            self._infos.append(info)
        await asyncio.gather(*[await self._zc.async_register_service(i) for i in self._infos])

    async def stop(self) -> None:
        if self._zc is not None:
            for info in self._infos:
                with contextlib.suppress(Exception):
                    await (await self._zc.async_unregister_service(info))
            await self._zc.async_close()
            self._zc = None
        self._infos.clear()
        await self.rtsp.stop()


# ---------------------------------------------------------------------------------- command
async def _serve(senders: list[EmulatedAes67Sender], args: argparse.Namespace) -> None:
    """Until the duration is over (or forever): the RAVENNA side too, if asked."""
    device = None
    if args.ravenna:
        device = EmulatedRavennaDevice(
            senders, interface=args.interface, service_type=args.ravenna_service
        )
        await device.start()
        print(f"announced {len(senders)} RAVENNA session(s) on mDNS", file=sys.stderr, flush=True)
    try:
        if args.duration is not None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        if device is not None:
            await device.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c2c_hub_plugins.aes67.emulated",
        description="Emulated AES67 senders: RTP L16/L24 announced by SAP (and mDNS).",
    )
    parser.add_argument("--count", type=int, default=1, help="how many senders (default 1)")
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--encoding", choices=["L16", "L24"], default="L24")
    parser.add_argument("--rate", type=int, choices=[44100, 48000, 96000], default=48000)
    parser.add_argument("--ptime", type=float, default=1.0, help="packet time in ms")
    parser.add_argument(
        "--address",
        default="239.69.1.1",
        help="the first sender's destination; the next ones count up from it",
    )
    parser.add_argument("--port", type=int, default=5004)
    parser.add_argument(
        "--interface", default="127.0.0.1", help="IPv4 address to send from (default loopback)"
    )
    parser.add_argument("--ttl", type=int, default=1)
    parser.add_argument("--signal", choices=["pattern", "tone"], default="tone")
    parser.add_argument("--name", default="Emulated AES67")
    parser.add_argument("--no-sap", action="store_true", help="do not announce by SAP")
    parser.add_argument(
        "--sap-group", default=SAP_GROUPS[0], help=f"the SAP group (default {SAP_GROUPS[0]})"
    )
    parser.add_argument("--sdp-dir", type=Path, help="also write each SDP into this folder")
    parser.add_argument(
        "--ravenna",
        action="store_true",
        help="also announce each sender as a RAVENNA session (mDNS, SDP by RTSP DESCRIBE)",
    )
    parser.add_argument(
        "--ravenna-service", default=RAVENNA_SERVICE, help=f"default {RAVENNA_SERVICE}"
    )
    parser.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 64:
        parser.error("--count: 1 to 64")
    try:
        first = ipaddress.IPv4Address(args.address)
        senders = [
            EmulatedAes67Sender(
                name=f"{args.name} {n + 1}" if args.count > 1 else args.name,
                channels=args.channels,
                encoding=args.encoding,
                sample_rate=args.rate,
                ptime_ms=args.ptime,
                address=str(first + n),
                port=args.port,
                interface=args.interface,
                ttl=args.ttl,
                signal=args.signal,
                sap=not args.no_sap,
                sap_group=args.sap_group,
            )
            for n in range(args.count)
        ]
    except ValueError as exc:
        parser.error(str(exc))
    for n, sender in enumerate(senders):
        if args.sdp_dir is not None:
            args.sdp_dir.mkdir(parents=True, exist_ok=True)
            (args.sdp_dir / f"emulated-{n + 1}.sdp").write_text(sender.sdp, encoding="utf-8")
        sender.start()
        print(sender.sdp, flush=True)
    try:
        asyncio.run(_serve(senders, args))
    except KeyboardInterrupt:
        pass
    finally:
        for sender in senders:
            sender.stop()
        sent = sum(s.packets_sent for s in senders)
        print(f"sent {sent} packets from {len(senders)} sender(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
