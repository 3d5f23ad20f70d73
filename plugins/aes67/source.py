"""The ``aes67`` source: streams found by SAP or in an SDP folder, each channel a microphone.

- Discovery: a SAP listener (:mod:`~c2c_hub_plugins.aes67.sap`) and a watched folder of
  ``*.sdp`` files. Both feed one table of announcements; a stream runs while at least one
  announcement describes it (a SAP deletion, a time-out or a removed file ends it).
- A stream's identity is its SDP origin (username, session id, address: what stays when the
  session is re-announced or modified) and the index of its ``m=`` section; each channel's
  serial adds the channel number, so it survives re-announcements and power cycles.
- Each stream has its own socket (multicast joined on the operator's interface,
  source-specific when the SDP has ``a=source-filter``) and jitter buffer
  (:class:`~c2c_hub_plugins.aes67.rtp.JitterBuffer`); every ``DELIVER_S`` its released frames
  go to the hub, one :class:`~c2c_hub.kit.AudioBlock` per channel, placed by
  :class:`~c2c_hub_plugins.aes67.timeline.MediaTimeline`.
- A channel attaches when its stream's first good packet arrives, and detaches when no
  announcement describes the stream any more.

Bad input (an SDP that cannot be parsed, a malformed packet) is logged with the reason and
dropped; a bad re-announcement leaves the running stream as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from c2c_hub import kit
from c2c_hub_plugins.aes67.mmsg import BatchReceiver
from c2c_hub_plugins.aes67.mmsg import available as batch_available
from c2c_hub_plugins.aes67.models import match_model
from c2c_hub_plugins.aes67.options import Options
from c2c_hub_plugins.aes67.ravenna import RtspError, describe, describe_url, session_name
from c2c_hub_plugins.aes67.rtp import JitterBuffer, PcmFormat
from c2c_hub_plugins.aes67.sap import (
    IP_MULTICAST_ALL,
    SapDirectory,
    SapError,
    SapEvent,
    open_sap_socket,
    parse_sap,
)
from c2c_hub_plugins.aes67.sdp import MediaStream, RefClock, SdpError, Session, parse_sdp
from c2c_hub_plugins.aes67.timeline import MediaTimeline

#: The device model of an AES67 channel (the plugin's ``device_models/aes67-channel.toml``).
MODEL_ID = "0b6f2d84-6a31-4c55-9e0a-7d1c3b5a9e21"
DELIVER_S = 0.02
#: How often the sockets are read when they are read in batches (``batch_receive``): a batch is
#: what a stream sent in this time (20 packets at AES67's 1 ms, 160 at 125 us), well within a
#: socket's buffer (1 MiB asked for). A divisor of ``DELIVER_S``; longer batches cost less
#: (one run of ``bench.aes67``, 8 mono streams, load average 12: 7.6 % of a core at 5 ms,
#: 6.6 % at 20 ms). Each packet's own arrival time comes from the kernel, so the wait does not
#: blur how fast a sender sends.
RECEIVE_S = 0.02
#: At most this many batches of ``BATCH_SLOTS`` datagrams from one socket a read (a stream
#: flooding the hub cannot hold its event loop for longer than that).
BATCH_SLOTS = 64
BATCHES_PER_READ = 16
RTSP_ATTEMPTS = 3
FOLDER_RECHECK_S = 1.0
EXPIRE_EVERY_S = 1.0
RECV_BYTES = 9000
IP_ADD_SOURCE_MEMBERSHIP = getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39)  # Linux's value
IPV6_MULTICAST_ALL = 29  # Linux's value (not in the socket module)
_SERIAL_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")


def channel_serial(session: Session, stream: MediaStream, channel: int) -> str:
    """A channel's stable serial: the SDP origin, the m= index and the channel number."""
    origin = session.origin
    parts = [origin.address, origin.session_id]
    if origin.username not in ("-", ""):
        parts.insert(0, origin.username)
    base = _SERIAL_UNSAFE.sub("-", "-".join(parts)).strip("-._:")
    suffix = f"-m{stream.index}-ch{channel + 1}"
    serial = f"aes67-{base}{suffix}"
    if len(serial) > 128:
        digest = hashlib.sha256(origin.identity.encode()).hexdigest()[:16]
        serial = f"aes67-{digest}{suffix}"
    return serial


def stream_key(session: Session, stream: MediaStream) -> str:
    return f"{session.identity} m{stream.index}"


class Aes67Source:
    """AES67/RAVENNA/Dante (AES67 mode) streams; options: :class:`Options`."""

    name = "aes67"

    def __init__(self) -> None:
        self._run: _Discovery | None = None

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)  # reports and raises OptionsError on a bad table
        model = ctx.models.get(MODEL_ID)
        if model is None:
            ctx.report(False, f"the AES67 channel device model ({MODEL_ID}) is missing")
            await asyncio.Event().wait()
            return
        run = _Discovery(ctx, options, model)
        self._run = run
        try:
            await run.run()
        finally:
            self._run = None

    def streams(self) -> list[dict[str, Any]]:
        """Every running stream: identity, address, format, state and counters."""
        return self._run.snapshot() if self._run is not None else []


@dataclass
class _Stream:
    """One running stream: its socket, jitter buffer and channels."""

    key: str
    session: Session
    media: MediaStream
    buffer: JitterBuffer
    sock: socket.socket
    serials: list[str]
    announcers: set[str] = field(default_factory=set)
    attached: bool = False
    last_packet: float | None = None
    silent: bool = False
    foreign: int = 0
    #: what the operator should know about this stream, on each channel's status
    warnings: dict[str, str] = field(default_factory=dict)
    flood_shown: int = 0
    flood_at: float = 0.0
    #: the device model its [discovery.sdp] rules matched (None: the plugin's own)
    model: kit.DeviceModel | None = None
    #: its socket read in batches (None: a packet at a time, as the socket wakes the loop)
    batch: BatchReceiver | None = None

    def devices(self, model: kit.DeviceModel) -> list[kit.SubDevice]:
        media, session = self.media, self.session
        audio = kit.AudioFormat(sample_rate=media.sample_rate, bits=media.bits, channels=1)
        out = []
        for channel, serial in enumerate(self.serials):
            label = media.label(channel) or f"{session.name} {channel + 1}"
            details = {
                "session": session.name,
                "origin": session.identity,
                "stream": media.endpoint,
                "format": f"{media.encoding}/{media.sample_rate}/{media.channels}",
                "channel": str(channel + 1),
                "refclock": str(media.refclock) if media.refclock else "",
                "ptp_grandmaster": (media.refclock.grandmaster or "") if media.refclock else "",
                "ptp_domain": (
                    str(media.refclock.domain)
                    if media.refclock and media.refclock.domain is not None
                    else ""
                ),
            }
            if self.warnings:
                details["warning"] = "; ".join(self.warnings.values())
            out.append(
                kit.SubDevice(
                    serial=serial,
                    model_id=(self.model or model).id,
                    name=label,
                    address=media.endpoint,
                    audio=audio,
                    details=details,
                )
            )
        return out


class _Discovery:
    """One run of the source: its SAP socket, its folder watch, its streams."""

    def __init__(self, ctx: kit.SourceContext, options: Options, model: kit.DeviceModel) -> None:
        self.ctx = ctx
        self.options = options
        self.model = model
        self.sap = SapDirectory(options.sap_timeout_s)
        self.announced: dict[str, Session] = {}  # announcement key -> its session
        self.streams: dict[str, _Stream] = {}
        self.timelines: dict[int, MediaTimeline] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_report: tuple[bool, str] | None = None
        self._problems: dict[str, str] = {}  # announcement key -> why it is not used
        self.txt: dict[str, dict[str, str]] = {}  # announcement key -> its mDNS TXT record
        self._zc: AsyncZeroconf | None = None
        self._fatal: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._fatal = loop.create_future()
        sap_sock: socket.socket | None = None
        zc: AsyncZeroconf | None = None
        browser: AsyncServiceBrowser | None = None
        try:
            if self.options.ravenna:
                try:
                    zc = AsyncZeroconf(
                        interfaces=[self.options.interface], ip_version=IPVersion.V4Only
                    )
                except OSError as exc:
                    self.ctx.report(False, f"cannot open mDNS on {self.options.interface}: {exc}")
                    raise
                self._zc = zc
                browser = AsyncServiceBrowser(
                    zc.zeroconf, [self.options.ravenna_service], handlers=[self._on_mdns]
                )
            if self.options.sap:
                try:
                    sap_sock = open_sap_socket(self.options.interface, self.options.sap_groups)
                except OSError as exc:
                    self.ctx.report(
                        False, f"cannot listen for SAP on {self.options.interface}: {exc}"
                    )
                    raise
                loop.add_reader(sap_sock.fileno(), self._sap_readable, sap_sock)
            if self.options.sdp_folder is not None:
                folder = self.options.sdp_folder
                self._spawn(self._watch_folder(folder), "aes67 sdp folder", vital=True)
            self._spawn(self._tick(), "aes67 deliver", vital=True)
            self._report()
            await self._fatal  # raises what broke a vital task: the hub restarts the source
        finally:
            if browser is not None:
                await browser.async_cancel()
            if zc is not None:
                await zc.async_close()
                self._zc = None
            if sap_sock is not None:
                loop.remove_reader(sap_sock.fileno())
                sap_sock.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            for key in list(self.streams):
                self._stop_stream(key, "the AES67 source stopped")

    def _spawn(self, coro: Any, name: str, vital: bool = False) -> None:
        """A task of this run; if a vital one fails, the run fails with it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            exc = None if task.cancelled() else task.exception()
            if exc is None:
                return
            self.ctx.log.error("%s failed: %r", name, exc, exc_info=exc)
            if vital and self._fatal is not None and not self._fatal.done():
                self._fatal.set_exception(exc)

        task.add_done_callback(done)

    def snapshot(self) -> list[dict[str, Any]]:
        out = []
        for key, stream in sorted(self.streams.items()):
            media = stream.media
            out.append(
                {
                    "stream": key,
                    "session": stream.session.name,
                    "address": media.endpoint,
                    "format": f"{media.encoding}/{media.sample_rate}/{media.channels}",
                    "refclock": str(media.refclock) if media.refclock else None,
                    "state": "silent"
                    if stream.silent
                    else ("streaming" if stream.attached else "waiting"),
                    "announced_by": sorted(stream.announcers),
                    "foreign": stream.foreign,
                    "ptp_grandmaster": media.refclock.grandmaster if media.refclock else None,
                    "ptp_domain": media.refclock.domain if media.refclock else None,
                    "warnings": list(stream.warnings.values()),
                    "receive": "per packet" if stream.batch is None else "batches",
                    **stream.buffer.counters.as_dict(),
                }
            )
        return out

    # ------------------------------------------------------------------ SAP
    def _sap_readable(self, sock: socket.socket) -> None:
        now = time.monotonic()
        for _ in range(64):
            try:
                data, (sender, _port) = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.ctx.log.warning("SAP socket: %s", exc)
                return
            try:
                packet = parse_sap(data)
            except SapError as exc:
                self.ctx.log.info("SAP packet from %s ignored: %s", sender, exc)
                continue
            for event in self.sap.feed(packet, now):
                self._sap_event(event)

    def _sap_event(self, event: SapEvent) -> None:
        key = f"sap:{event.key[0]}#{event.key[1]:04x}"
        if event.kind in ("new", "changed"):
            self._announce(key, event.sdp, f"SAP from {event.key[0]}")
        else:
            self.ctx.log.info("%s: %s", key, "deleted" if event.kind == "deleted" else "expired")
            self._withdraw(key)

    # ------------------------------------------------------------------ RAVENNA (mDNS + RTSP)
    def _on_mdns(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        """Only schedules work (zeroconf's handlers must not block)."""
        key = f"rtsp:{name}"
        if state_change is ServiceStateChange.Removed:
            self.ctx.log.info("%s: mDNS goodbye", name)
            self._withdraw(key)
            return
        self._spawn(self._describe(service_type, name), f"aes67 describe {name}")

    async def _describe(self, service_type: str, name: str) -> None:
        key = f"rtsp:{name}"
        problem = "not resolvable"
        for attempt in range(RTSP_ATTEMPTS):
            if attempt:
                await asyncio.sleep(2.0**attempt)
            if self._zc is None:
                return
            info = AsyncServiceInfo(service_type, name)
            if not await info.async_request(self._zc.zeroconf, 3000):
                problem = f"{name}: no answer to the mDNS query"
                continue
            addresses = info.parsed_addresses(IPVersion.V4Only)
            if not addresses or not info.port:
                problem = f"{name}: no IPv4 address or port in its record"
                continue
            try:
                url = describe_url(addresses[0], int(info.port), session_name(name))
                sdp = await describe(url)
            except RtspError as exc:
                problem = str(exc)
                continue
            self.txt[key] = {
                k.decode(errors="replace"): v.decode(errors="replace")
                for k, v in info.properties.items()
                if v is not None
            }
            self._announce(key, sdp, f"RTSP {url}")
            return
        self._refuse(key, problem)

    # ------------------------------------------------------------------ the SDP folder
    async def _watch_folder(self, folder: Path) -> None:
        """Read every ``*.sdp`` in ``folder``, then follow its changes. A folder that does not
        exist (yet, or any more) is waited for; its files' streams stop while it is gone."""
        from watchfiles import Change, awatch

        missing = f"folder:{folder}"
        while True:
            while not await asyncio.to_thread(folder.is_dir):
                if missing not in self._problems:
                    self.ctx.log.warning("the SDP folder %s does not exist", folder)
                self._problems[missing] = f"the SDP folder {folder} does not exist"
                self._report()
                await asyncio.sleep(FOLDER_RECHECK_S)
            self._problems.pop(missing, None)
            for path in await asyncio.to_thread(lambda: sorted(folder.glob("*.sdp"))):
                await self._read_file(path)
            self._report()
            async for changes in awatch(folder, debounce=200, step=50, recursive=False):
                if any(c is Change.deleted and Path(n) == folder for c, n in changes):
                    break  # the folder itself went away
                for change, name in sorted(changes, key=lambda c: c[1]):
                    path = Path(name)
                    if path.suffix.lower() != ".sdp":
                        continue
                    if change is Change.deleted:
                        self.ctx.log.info("%s: removed", path)
                        self._withdraw(f"file:{path}")
                    else:
                        await self._read_file(path)
            for key in [k for k in self.announced if k.startswith(f"file:{folder}/")]:
                self._withdraw(key)

    async def _read_file(self, path: Path) -> None:
        key = f"file:{path}"
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                self._withdraw(key)
                return
            self._refuse(key, f"cannot read {path}: {exc.strerror or exc}")
            return
        self._announce(key, data, str(path))

    # ------------------------------------------------------------------ announcements
    def _announce(self, key: str, sdp: str | bytes, where: str) -> None:
        try:
            session = parse_sdp(sdp)
        except SdpError as exc:
            self._refuse(key, f"{where}: {exc}")
            return
        self._problems.pop(key, None)
        previous = self.announced.get(key)
        self.announced[key] = session
        wanted: set[str] = set()
        for media in session.streams:
            if media.direction in ("recvonly", "inactive"):
                self.ctx.log.info(
                    "%s: m=%d is %s; not received", where, media.index, media.direction
                )
                continue
            skey = stream_key(session, media)
            wanted.add(skey)
            stream = self.streams.get(skey)
            if stream is not None and stream.media.same_format(media):
                stream.announcers.add(key)
                old_clock = stream.media.refclock
                clock_changed = _clock_key(old_clock) != _clock_key(media.refclock)
                if (
                    clock_changed
                    or stream.session.name != session.name
                    or stream.media.labels != media.labels
                ):
                    stream.session, stream.media = session, media
                    if clock_changed:
                        self._clock_changed(stream, old_clock, media.refclock)
                    if stream.attached:
                        for device in stream.devices(self.model):
                            self.ctx.attach(device)  # a rename: an update
                continue
            changed = None
            if stream is not None:
                old = stream.media
                changed = (
                    f"its SDP changed from {old.encoding}/{old.sample_rate}/{old.channels} on "
                    f"{old.endpoint} to {media.encoding}/{media.sample_rate}/"
                    f"{media.channels} on {media.endpoint}"
                )
                self.ctx.log.warning("%s: %s; restarting it", skey, changed)
                self._stop_stream(skey, "its SDP changed format")
            self._start_stream(skey, session, media, key)
            if changed is not None and skey in self.streams:
                self.streams[skey].warnings["format"] = changed
        if previous is not None:
            for media in previous.streams:
                skey = stream_key(previous, media)
                if skey not in wanted:
                    self._release(key, skey)
        self._report()

    def _clock_changed(self, stream: _Stream, old: RefClock | None, new: RefClock | None) -> None:
        """A re-announcement names another clock reference (a new PTP grandmaster, with the
        same session version or a new one): the old clock's timeline no longer holds, so the
        stream's placement is derived afresh, and the operator is told."""
        text = (
            f"PTP grandmaster changed from {_clock_name(old)} to {_clock_name(new)}: "
            "placement re-derived from the new clock"
        )
        self.ctx.log.warning("%s: %s", stream.key, text)
        stream.warnings["clock"] = text
        stream.buffer.new_clock()

    def _refuse(self, key: str, reason: str) -> None:
        if self._problems.get(key) != reason:
            self.ctx.log.warning("ignoring %s", reason)
        self._problems[key] = reason
        self._report()

    def _withdraw(self, key: str) -> None:
        self._problems.pop(key, None)
        self.txt.pop(key, None)
        session = self.announced.pop(key, None)
        if session is not None:
            for media in session.streams:
                self._release(key, stream_key(session, media))
        self._report()

    def _release(self, key: str, skey: str) -> None:
        stream = self.streams.get(skey)
        if stream is None:
            return
        stream.announcers.discard(key)
        if not stream.announcers:
            self._stop_stream(skey, "no longer announced")

    # ------------------------------------------------------------------ streams
    def _start_stream(self, skey: str, session: Session, media: MediaStream, key: str) -> None:
        try:
            sock = open_rtp_socket(media, self.options.interface)
        except OSError as exc:
            self._refuse(key, f"{skey}: cannot receive {media.endpoint}: {exc}")
            return
        timeline = self.timelines.setdefault(
            media.sample_rate,
            MediaTimeline(media.sample_rate, tai_offset_s=self.options.tai_offset_s),
        )
        buffer = JitterBuffer(
            PcmFormat(media.encoding, media.channels, media.sample_rate, media.payload_type),
            mediaclk_offset=media.mediaclk_offset,
            latency_frames=round(self.options.latency_ms * media.sample_rate / 1000),
            burst_s=self.options.flood_burst_s,
            anchor=timeline.anchor,
            log=self.ctx.log,
            label=f"{session.name} ({media.endpoint})",
        )
        serials = [channel_serial(session, media, c) for c in range(media.channels)]
        stream = _Stream(skey, session, media, buffer, sock, serials, {key})
        stream.model = match_model(self.ctx.models, session, media, self.txt.get(key))
        if stream.model is not None:
            self.ctx.log.info("%s: device model %s (its rules matched)", skey, stream.model.name)
        self.streams[skey] = stream
        if self.options.batch_receive and batch_available():
            stream.batch = BatchReceiver(sock, BATCH_SLOTS, RECV_BYTES)
        else:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._rtp_readable, stream)
        self.ctx.log.info(
            "receiving %s: %s %s/%d/%d on %s:%d (clock %s), %s",
            skey,
            session.name,
            media.encoding,
            media.sample_rate,
            media.channels,
            media.address,
            media.port,
            media.refclock or "not given",
            "a packet at a time" if stream.batch is None else "in batches (recvmmsg)",
        )

    def _stop_stream(self, skey: str, reason: str) -> None:
        stream = self.streams.pop(skey, None)
        if stream is None:
            return
        if stream.batch is None:
            try:
                asyncio.get_running_loop().remove_reader(stream.sock.fileno())
            except RuntimeError:
                pass
        else:
            self._read_batches(stream)  # what was queued until now still counts
        stream.sock.close()
        self._deliver(stream, flush=True)
        if stream.attached:
            for serial in stream.serials:
                self.ctx.detach(serial, reason)
        self.ctx.log.info("%s: stopped (%s); %s", skey, reason, stream.buffer.counters.as_dict())

    def _rtp_readable(self, stream: _Stream) -> None:
        allowed = stream.media.source_filter
        received = 0
        for _ in range(256):
            try:
                data, peer = stream.sock.recvfrom(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.ctx.log.warning("%s: socket: %s", stream.key, exc)
                break
            sender = peer[0]  # (host, port) for IPv4, (host, port, flow, scope) for IPv6
            if allowed is not None and not allowed.allows(sender):
                stream.foreign += 1
                continue
            stream.buffer.push(data)
            received += 1
        self._received(stream, received)

    def _rtp_batch(self, stream: _Stream) -> None:
        self._received(stream, self._read_batches(stream))

    def _read_batches(self, stream: _Stream) -> int:
        """Every datagram queued on the stream's socket, read a batch (one ``recvmmsg``) at a
        time and placed a batch at a time; foreign senders' packets are counted and dropped.
        How many reached the jitter buffer."""
        batch = stream.batch
        assert batch is not None
        allowed = stream.media.source_filter
        received = 0
        for _ in range(BATCHES_PER_READ):
            try:
                count = batch.receive()
            except OSError as exc:
                self.ctx.log.warning("%s: socket: %s", stream.key, exc)
                break
            if not count:
                break
            rows, lengths, truncated = batch.rows, batch.lengths, batch.truncated
            # the kernel's receive times (wall clock) on the jitter buffer's (monotonic)
            arrivals = batch.arrivals + (time.monotonic() - time.time())
            if np.isnan(arrivals).any():
                arrivals = np.where(np.isnan(arrivals), time.monotonic(), arrivals)
            if allowed is not None:
                senders, which = batch.senders(count)
                keep = np.array([allowed.allows(sender) for sender in senders])[which]
                if not keep.all():
                    stream.foreign += int(count - np.count_nonzero(keep))
                    kept = np.flatnonzero(keep)
                    rows, lengths, truncated = rows[kept], lengths[kept], truncated[kept]
                    arrivals = arrivals[kept]
            stream.buffer.push_batch(rows, lengths, truncated, arrivals)
            received += int(lengths.shape[0])
            if count < batch.slots:
                break
        return received

    def _received(self, stream: _Stream, received: int) -> None:
        """After a read: the stream's channels attach with its first good packet, and a
        silent stream is told to be streaming again."""
        if not received:
            return
        stream.last_packet = time.monotonic()
        if not stream.attached and stream.buffer.counters.received:
            try:
                devices = stream.devices(self.model)
            except kit.SubDeviceError as exc:
                self.ctx.log.warning("%s: cannot describe its channels: %s", stream.key, exc)
                return
            stream.attached = True
            for device in devices:
                self.ctx.attach(device)
            self._report()
        if stream.silent:
            stream.silent = False
            self.ctx.log.info("%s: packets again", stream.key)
            stream.warnings.pop("silent", None)
            self._update(stream)
            self._report()

    async def _tick(self) -> None:
        next_expire = time.monotonic() + EXPIRE_EVERY_S
        reads = max(1, round(DELIVER_S / RECEIVE_S))  # reads a delivery
        for tick in itertools.count(1):
            batched = [s for s in self.streams.values() if s.batch is not None]
            await asyncio.sleep(RECEIVE_S if batched else DELIVER_S)
            for stream in batched:
                if self.streams.get(stream.key) is stream:  # (not stopped meanwhile)
                    self._rtp_batch(stream)
            if batched and tick % reads:
                continue
            now = time.monotonic()
            for stream in list(self.streams.values()):
                quiet = stream.last_packet is not None and (
                    now - stream.last_packet > self.options.stream_timeout_s
                )
                self._deliver(stream, flush=quiet)
                self._show_flood(stream)
                if quiet and not stream.silent:
                    stream.silent = True
                    self.ctx.log.warning(
                        "%s: no packet for %.1f s", stream.key, self.options.stream_timeout_s
                    )
                    stream.warnings["silent"] = (
                        f"no packet for {self.options.stream_timeout_s:g} s (still announced)"
                    )
                    self._update(stream)
                    self._report()
            if now >= next_expire:
                next_expire = now + EXPIRE_EVERY_S
                for event in self.sap.expire(now):
                    self._sap_event(event)
                self._report()  # the loss counters, at most once a second

    def _show_flood(self, stream: _Stream) -> None:
        """A flood (a sender faster than it declares) on each channel's status, at most once
        a second; the dropped packets are counted by the jitter buffer."""
        flood = stream.buffer.counters.flood
        if flood == stream.flood_shown or not stream.attached:
            return
        now = time.monotonic()
        if stream.flood_shown and now - stream.flood_at < 1.0:
            return
        stream.flood_shown, stream.flood_at = flood, now
        rate = stream.media.sample_rate
        stream.warnings["flood"] = (
            f"sends faster than its declared {rate} Hz: {flood} packets dropped"
        )
        self._update(stream)
        self._report()

    def _update(self, stream: _Stream) -> None:
        """Its channels again, with what changed (a warning): an update the status shows."""
        if stream.attached:
            for device in stream.devices(self.model):
                self.ctx.attach(device)

    def _deliver(self, stream: _Stream, flush: bool = False) -> None:
        if not stream.attached:
            stream.buffer.pop(flush)  # nothing to deliver to yet
            return
        timeline = self.timelines[stream.media.sample_rate]
        for block in stream.buffer.pop(flush):
            position = timeline.position(block.index)
            channels = np.ascontiguousarray(block.samples.T)  # one copy: a row a channel
            for channel, serial in enumerate(stream.serials):
                self.ctx.audio(serial, kit.AudioBlock(position, channels[channel]))

    # ------------------------------------------------------------------ health
    def _report(self) -> None:
        where = []
        if self.options.sap:
            where.append(f"SAP on {self.options.interface}")
        if self.options.ravenna:
            where.append(f"RAVENNA (mDNS) on {self.options.interface}")
        if self.options.sdp_folder is not None:
            where.append(f"folder {self.options.sdp_folder}")
        streams = list(self.streams.values())
        channels = sum(len(s.serials) for s in streams if s.attached)
        silent = sum(1 for s in streams if s.silent)
        detail = (
            f"{' and '.join(where) or 'no discovery enabled'}; {len(streams)} stream"
            f"{'' if len(streams) == 1 else 's'}, {channels} channel"
            f"{'' if channels == 1 else 's'}"
        )
        if silent:
            detail += f" ({silent} silent)"
        counts = [
            (sum(getattr(s.buffer.counters, key) for s in streams), key)
            for key in ("lost", "late", "duplicate", "malformed", "flood")
        ]
        if any(n for n, _ in counts):
            detail += "; packets " + ", ".join(f"{n} {key}" for n, key in counts if n)
        clocks = {s.media.refclock.grandmaster for s in streams if s.media.refclock}
        clocks.discard(None)
        if len(clocks) > 1:
            detail += (
                f"; streams disagree on the PTP grandmaster: {', '.join(sorted(map(str, clocks)))}"
            )
        if self._problems:
            detail += f"; {len(self._problems)} ignored: {next(iter(self._problems.values()))}"
        report = (not self._problems, detail)
        if report != self._last_report:
            self._last_report = report
            self.ctx.report(*report)


def _clock_key(clock: RefClock | None) -> tuple[Any, ...] | None:
    """What identifies a clock reference (the grandmaster id is compared upper-case)."""
    if clock is None:
        return None
    if clock.source != "ptp":
        return (clock.source, clock.value)
    return ("ptp", clock.grandmaster, clock.domain, clock.traceable)


def _clock_name(clock: RefClock | None) -> str:
    if clock is None:
        return "none given"
    if clock.grandmaster is not None:
        domain = "" if clock.domain is None else f" (domain {clock.domain})"
        return f"{clock.grandmaster}{domain}"
    if clock.traceable:
        return "traceable PTP"
    return str(clock)


def interface_index(interface: str) -> int:
    """The index of the network interface that holds the IPv4 address ``interface`` (the
    operator names the audio network's interface by its address)."""
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
            except OSError:
                continue  # no IPv4 address on this one
            if socket.inet_ntoa(answer[20:24]) == interface:
                return index
    raise OSError(f"no network interface has the address {interface}")


def _open_rtp6(media: MediaStream, interface: str) -> socket.socket:
    """IPv6: bound to the group (or any address) and the port, the group joined with
    ``IPV6_JOIN_GROUP`` on the interface that holds ``interface``. A source filter is applied to
    each packet's sender (``_rtp_readable``), not joined source-specifically."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if media.multicast:
            index = interface_index(interface)
            with contextlib.suppress(OSError):  # only the groups joined here (see sap.py)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
            sock.bind((media.address, media.port, 0, index))
            mreq = socket.inet_pton(socket.AF_INET6, media.address) + struct.pack("@I", index)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        else:
            sock.bind(("::", media.port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def open_rtp_socket(media: MediaStream, interface: str) -> socket.socket:
    """A non-blocking UDP socket receiving ``media``: bound to its group and port and joined on
    ``interface`` (source-specific for an ``incl`` source filter), or its unicast port."""
    if ":" in media.address:
        return _open_rtp6(media, interface)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        with contextlib.suppress(OSError):  # only the groups joined here (see sap.py)
            sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        if media.multicast:
            sock.bind((media.address, media.port))
            group, iface = socket.inet_aton(media.address), socket.inet_aton(interface)
            sources = media.source_filter
            if sources is not None and sources.mode == "incl" and sources.sources:
                for source in sources.sources:
                    mreq = struct.pack("4s4s4s", group, iface, socket.inet_aton(source))
                    sock.setsockopt(socket.IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, mreq)
            else:
                mreq = struct.pack("4s4s", group, iface)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            sock.bind(("", media.port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
