"""An emulated network microphone: real mDNS on loopback, real TCP, the protocol of
:mod:`c2c_hub_plugins.mdns_microphones.protocol`, and a deterministic signal a test can compare
against.

::

    mic = EmulatedMicrophone("MIC-1", "Boom 1", zeroconf=shared_aiozc)
    await mic.start()            # listens on 127.0.0.1, registers _c2cmic._tcp.local.
    await mic.drop(0.2)          # the next 0.2 s of frames are lost: a position jump
    await mic.garbage(1000)      # 1000 random bytes mid-stream, then valid frames again
    await mic.jump(7200)         # its clock jumps 2 h ahead; it keeps sending in real time
    await mic.set_speed(20)      # it sends 20x faster than real time (a broken clock)
    await mic.vanish()           # silent: no mDNS goodbye, streams stall, no more connections
    await mic.come_back()        # "rebooted": listens and registers again, same clock
    await mic.leave()            # mDNS goodbye, streams closed
    await mic.stop()

The signal is a pure function of the sample position (:meth:`EmulatedMicrophone.expected_samples`),
so whatever the hub recorded at a position can be checked sample for sample. Positions come
from ``clock`` once, at :meth:`~EmulatedMicrophone.start` (samples since local midnight), and
are then counted, paced by the event loop's monotonic clock: they never drift and never wrap
while the microphone runs.

``python -m c2c_hub_plugins.mdns_microphones.emulated --count 4`` runs microphones on loopback
until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import math
import random
import re
import signal as os_signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from zeroconf import IPVersion
from zeroconf._dns import DNSPointer, DNSRecord  # the cache, to forget our own records
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from c2c_hub.kit import AudioFormat
from c2c_hub_plugins.mdns_microphones.protocol import (
    SERVICE_TYPE,
    Hello,
    encode_frame,
    encode_hello,
    encode_txt,
)

log = logging.getLogger(__name__)

Signal = Literal["tone", "speech"]
TxtValue = str | bytes | None  # None removes the key
Samples = npt.NDArray[np.int32]

# Ready-made bad TXT records: each one is a reason the hub must log and ignore the service.
GARBAGE_TXT: dict[str, dict[str, TxtValue]] = {
    "missing-serial": {"serial": None},
    "bad-serial": {"serial": "no spaces/allowed"},
    "non-numeric-rate": {"rate": "48k"},
    "non-utf8": {"serial": b"\xff\xfe\xfa"},
    "wrong-vendor": {"vendor": "acme"},
    "unsupported-proto": {"proto": "9"},
    "bad-channels": {"ch": "0"},
}

_WRITE_BUFFER_LIMIT = 4 * 1024 * 1024  # a client this far behind is dropped (a full radio queue)
_VOWELS = ((730.0, 1090.0), (270.0, 2290.0), (300.0, 870.0), (530.0, 1840.0), (660.0, 1720.0))


def samples_since_midnight(wall: float, sample_rate: int) -> int:
    """The BWF time reference of wall time ``wall``: samples since the local midnight before it."""
    local = dt.datetime.fromtimestamp(wall)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return round((wall - midnight) * sample_rate)


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64, elementwise: a counter-based hash, so noise is a function of position."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _noise(positions: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.float64]:
    keyed = positions.astype(np.uint64) ^ np.uint64((seed * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF)
    return (_mix(keyed) >> np.uint64(11)).astype(np.float64) * (2.0 / 2**53) - 1.0


def tone(positions: npt.NDArray[np.int64], rate: int, frequency: float) -> npt.NDArray[np.float64]:
    """A sine at -6 dBFS, phase-locked to the position (position 0 is phase 0)."""
    cycles = np.mod(positions.astype(np.float64) * frequency, rate) / rate
    return 0.5 * np.sin(2.0 * np.pi * cycles)


def speech(positions: npt.NDArray[np.int64], rate: int, seed: int) -> npt.NDArray[np.float64]:
    """Speech-like: a gliding voiced pitch through vowel formants, syllables at 4 Hz with
    pauses, fricative noise at some onsets. Deterministic from ``seed`` and the position."""
    syllable = rate // 4
    index = positions // syllable
    u = (positions % syllable).astype(np.float64) / syllable
    h = _mix(index.astype(np.uint64) + np.uint64(seed << 32))
    voiced_on = (h % np.uint64(5) != 0).astype(np.float64)  # one syllable in five is a pause
    loud = 0.6 + 0.4 * (((h >> np.uint64(16)) % np.uint64(100)).astype(np.float64) / 100.0)
    vowel = ((h >> np.uint64(8)) % np.uint64(len(_VOWELS))).astype(np.int64)
    f1 = np.array([v[0] for v in _VOWELS])[vowel]
    f2 = np.array([v[1] for v in _VOWELS])[vowel]
    t = positions.astype(np.float64) / rate
    glide = 2.0 * np.pi * 0.7
    f0 = 120.0 + 25.0 * np.sin(glide * t)
    phase = 2.0 * np.pi * (120.0 * t - (25.0 / glide) * np.cos(glide * t))
    voiced = np.zeros_like(t)
    weights = np.zeros_like(t)
    for k in range(1, 13):
        w = (
            np.exp(-(((k * f0 - f1) / 150.0) ** 2))
            + 0.7 * np.exp(-(((k * f0 - f2) / 200.0) ** 2))
            + 0.05
        )
        voiced += w * np.sin(k * phase)
        weights += w
    envelope = np.sin(np.pi * u) ** 2 * voiced_on * loud
    fricative = ((h >> np.uint64(24)) % np.uint64(2)).astype(np.float64) * (u < 0.12)
    out: npt.NDArray[np.float64] = 0.45 * envelope * voiced / weights
    return out + 0.15 * fricative * _noise(positions, seed)


def quantize(values: npt.NDArray[np.float64], bits: int) -> Samples:
    """Floats in [-1, 1] to int32 left-justified samples of ``bits``."""
    full = (1 << (bits - 1)) - 1
    ints = np.clip(np.round(values * full), -full - 1, full).astype(np.int64)
    return (ints << (32 - bits)).astype(np.int32)


class EmulatedMicrophone:
    """One network microphone. See the module docstring; every command is a coroutine.

    ``zeroconf`` is shared by several microphones when given (else the microphone opens its own
    on ``host``). ``txt`` overrides TXT keys (``None`` removes one); ``hello`` replaces the
    hello line with raw bytes; ``service_type`` other than ``_c2cmic._tcp.local.`` keeps a test
    apart from anything else browsing the same loopback.
    """

    def __init__(
        self,
        serial: str,
        name: str,
        *,
        zeroconf: AsyncZeroconf | None = None,
        signal: Signal = "tone",
        frequency: float = 440.0,
        sample_rate: int = 48000,
        bits: int = 24,
        channels: int = 1,
        block_frames: int = 480,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        vendor: str = "c2c-hub",
        model: str = "netmic-1",
        txt: Mapping[str, TxtValue] | None = None,
        hello: bytes | None = None,
        service_type: str = SERVICE_TYPE,
    ) -> None:
        self.serial = serial
        self.name = name
        self.audio = AudioFormat(sample_rate, bits, channels)
        self.signal: Signal = signal
        self.frequency = frequency
        self.block_frames = block_frames
        self.seed = seed
        self.host = host
        self.vendor = vendor
        self.model = model
        self.hello_override = hello
        self.service_type = service_type
        self._clock = clock
        self._zc = zeroconf
        self._owns_zc = zeroconf is None
        self._port = port
        self._txt: dict[str, TxtValue] = dict(
            encode_txt(serial=serial, name=name, vendor=vendor, model=model, audio=self.audio)
        )
        self._txt.update(txt or {})
        self._info: AsyncServiceInfo | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._held: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._producer: asyncio.Task[None] | None = None
        self._announcing: asyncio.Future[Any] | None = None
        self._origin_position = 0
        self._origin_monotonic = 0.0
        self._speed = 1.0
        self._jump_pending = 0
        self._cursor = 0
        self._seq = 0
        self._drop_pending = 0
        self._garbage_pending: list[bytes] = []
        self._corrupt_pending = 0
        self._rng = random.Random(seed)
        self.state: Literal["stopped", "on-air", "vanished", "left"] = "stopped"
        self.announced_at: float | None = None  # loop time of the last announcement
        self.frames_sent = 0
        self.history: deque[tuple[int, int, int]] = deque(maxlen=60_000)  # (seq, position, n)

    # ------------------------------------------------------------------ what it looks like
    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self._port}"

    @property
    def service_name(self) -> str:
        return self._info.name if self._info is not None else self._instance_name()

    @property
    def clients(self) -> int:
        return len(self._clients)

    @property
    def txt(self) -> dict[str, TxtValue]:
        return dict(self._txt)

    def _instance_name(self) -> str:
        return f"{self.name}.{self.service_type}"

    def position_now(self) -> int:
        """The sample position of "now" on this microphone's clock."""
        elapsed = asyncio.get_running_loop().time() - self._origin_monotonic
        return self._origin_position + int(elapsed * self.audio.sample_rate * self._speed)

    def expected_samples(self, position: int, frames: int) -> Samples:
        """The signal at ``position`` .. ``position + frames``: exactly what the mic sends."""
        positions = np.arange(position, position + frames, dtype=np.int64)
        columns = []
        for channel in range(self.audio.channels):
            if self.signal == "tone":
                values = tone(positions, self.audio.sample_rate, self.frequency * (channel + 1))
            else:
                values = speech(positions, self.audio.sample_rate, self.seed + channel)
            columns.append(quantize(values, self.audio.bits))
        if self.audio.channels == 1:
            return columns[0]
        return np.stack(columns, axis=1)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen on ``host``, start the clock and the stream, register on mDNS."""
        if self.state != "stopped":
            raise RuntimeError(f"{self.serial} is already started")
        if self._zc is None:
            self._zc = AsyncZeroconf(interfaces=[self.host], ip_version=IPVersion.V4Only)
        loop = asyncio.get_running_loop()
        self._origin_monotonic = loop.time()
        self._origin_position = samples_since_midnight(self._clock(), self.audio.sample_rate)
        self._cursor = self._origin_position
        await self._go_on_air()

    async def stop(self) -> None:
        """Goodbye (if registered), close everything; nothing of this microphone keeps running."""
        if self._info is not None and self.state == "on-air":
            await self._unregister()
        await self._go_off_air(close_streams=True)
        for writer in list(self._held):
            writer.close()
        self._held.clear()
        await self._wait_tasks()
        if self._owns_zc and self._zc is not None:
            await self._zc.async_close()
            self._zc = None
        self.state = "stopped"

    # ------------------------------------------------------------------ commands
    async def vanish(self, *, hold_streams: bool = True) -> None:
        """Disappear silently: no mDNS goodbye, no more answers or connections, no frames.

        With ``hold_streams`` (the default, like a power cut) open connections stay open but
        carry nothing, so the hub can only notice by a timeout; otherwise they are reset.
        """
        if self._info is not None and self.state == "on-air":
            assert self._zc is not None
            self._zc.zeroconf.registry.async_remove(self._info)  # stop answering; no goodbye
            self._cancel_announcement()
        if hold_streams:
            self._held.update(self._clients)
            self._clients.clear()
        else:
            for writer in self._clients:
                writer.transport.abort()
        await self._go_off_air(close_streams=not hold_streams)
        self.state = "vanished"

    async def leave(self) -> None:
        """Leave properly: mDNS goodbye, then close every stream."""
        if self._info is not None and self.state == "on-air":
            await self._unregister()
        await self._go_off_air(close_streams=True)
        self.state = "left"

    async def come_back(self) -> None:
        """Come back as if rebooted: same port, same clock (the gap is a position jump)."""
        if self.state not in ("vanished", "left"):
            raise RuntimeError(f"{self.serial} is {self.state}, not away")
        for writer in list(self._held):
            writer.transport.abort()
        self._held.clear()
        self._forget_own_records()
        block = self.block_frames
        behind = max(0, self.position_now() - self._cursor)
        self._cursor += -(-behind // block) * block  # stay on the block grid of the first start
        self._seq = 0
        await self._go_on_air()

    async def drop(self, seconds: float) -> None:
        """Lose the next ``seconds`` of frames: the stream stays up, positions jump by exactly
        ``round(seconds * sample_rate)`` samples."""
        self._drop_pending += round(seconds * self.audio.sample_rate)

    async def jump(self, seconds: float) -> None:
        """Its clock jumps by ``seconds`` (back if negative) while it keeps sending in real
        time: every position from now on is off by ``round(seconds * sample_rate)``, the pace is
        not (a bad timecode jam)."""
        self._jump_pending += round(seconds * self.audio.sample_rate)

    async def set_speed(self, factor: float) -> None:
        """Send ``factor`` times faster (or slower) than real time from now on, positions
        following on from each other (a broken sample clock)."""
        if factor <= 0:
            raise ValueError(f"speed: must be more than 0, got {factor}")
        loop = asyncio.get_running_loop()
        self._origin_position = self.position_now()
        self._origin_monotonic = loop.time()
        self._speed = factor

    async def garbage(self, nbytes: int) -> None:
        """Send ``nbytes`` random bytes (never containing the frame magic) before the next frame."""
        while True:
            data = self._rng.randbytes(nbytes)
            if b"C2CF" not in data:
                break
        self._garbage_pending.append(data)

    async def corrupt(self, frames: int = 1) -> None:
        """Flip one payload byte in each of the next ``frames`` frames (their CRC fails)."""
        self._corrupt_pending += frames

    async def set_txt(
        self, changes: Mapping[str, TxtValue] | None = None, **more: TxtValue
    ) -> None:
        """Change the TXT record (a value of ``None`` removes the key) and announce it."""
        self._txt.update(changes or {})
        self._txt.update(more)
        for key in [k for k, v in self._txt.items() if v is None]:
            del self._txt[key]
        if self._info is not None and self.state == "on-air":
            assert self._zc is not None
            info = self._make_info(self._info.name)
            self._cancel_announcement()
            self._announcing = asyncio.ensure_future(await self._zc.async_update_service(info))
            self._info = info

    async def set_garbage_txt(self, kind: str) -> None:
        """Advertise one of the :data:`GARBAGE_TXT` records."""
        await self.set_txt(GARBAGE_TXT[kind])

    # ------------------------------------------------------------------ internals
    def _properties(self) -> dict[str | bytes, str | bytes | None]:
        return {k: v for k, v in self._txt.items() if v is not None}

    def _make_info(self, name: str) -> AsyncServiceInfo:
        server = re.sub(r"[^A-Za-z0-9-]", "-", self.serial) + ".local."
        return AsyncServiceInfo(
            self.service_type,
            name,
            addresses=[socket.inet_aton(self.host)],
            port=self._port,
            properties=self._properties(),
            server=server,
        )

    async def _go_on_air(self) -> None:
        assert self._zc is not None
        self._server = await asyncio.start_server(self._on_client, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self.state = "on-air"
        self._producer = self._spawn(self._produce(), f"mic {self.serial} stream")
        info = self._make_info(self._info.name if self._info is not None else self._instance_name())
        announce = await self._zc.async_register_service(info, allow_name_change=True)
        self._info = info
        self.announced_at = asyncio.get_running_loop().time()
        self._announcing = asyncio.ensure_future(announce)

    async def _go_off_air(self, *, close_streams: bool) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
            self._producer = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if close_streams:
            for writer in list(self._clients):
                writer.close()
            self._clients.clear()

    async def _unregister(self) -> None:
        assert self._zc is not None and self._info is not None
        self._cancel_announcement()
        goodbye = await self._zc.async_unregister_service(self._info)
        await goodbye

    def _cancel_announcement(self) -> None:
        if self._announcing is not None and not self._announcing.done():
            self._announcing.cancel()
        self._announcing = None

    def _forget_own_records(self) -> None:
        """A rebooted microphone has an empty cache: drop what our zeroconf cached of us, or
        probing would see our own old records as a name conflict."""
        if self._zc is None or self._info is None:
            return
        cache = self._zc.zeroconf.cache
        name = self._info.name.lower()
        stale: list[DNSRecord] = [
            r
            for r in cache.async_entries_with_name(self.service_type)
            if isinstance(r, DNSPointer) and r.alias.lower() == name
        ]
        stale += cache.async_entries_with_name(self._info.name)
        if self._info.server:
            stale += cache.async_entries_with_name(self._info.server)
        cache.async_remove_records(stale)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _wait_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._cancel_announcement()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"mic {self.serial} client")
            self._tasks.add(task)
        try:
            if self.state != "on-air":
                return
            writer.write(self._hello())
            self._clients.add(writer)
            while await reader.read(4096):
                pass  # the protocol has nothing for the hub to say; ignore it
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            self._held.discard(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _hello(self) -> bytes:
        if self.hello_override is not None:
            return self.hello_override
        return encode_hello(Hello(self.serial, self.name, self.vendor, self.model, self.audio))

    async def _produce(self) -> None:
        """Frames at real-time pace: a block is sent once its last sample is in the past."""
        loop = asyncio.get_running_loop()
        rate = self.audio.sample_rate
        block = self.block_frames
        while True:
            if self._drop_pending:
                dropped, self._drop_pending = self._drop_pending, 0
                self._cursor += dropped
                self._seq += math.ceil(dropped / block)
            if self._jump_pending:
                jumped, self._jump_pending = self._jump_pending, 0
                self._cursor += jumped
                self._origin_position += jumped
            due = self._origin_monotonic + (self._cursor + block - self._origin_position) / (
                rate * self._speed
            )
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self._clients:
                self._send(self._cursor)
            else:
                self._garbage_pending.clear()
            self._cursor += block
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            await asyncio.sleep(0)

    def _send(self, position: int) -> None:
        samples = self.expected_samples(position, self.block_frames)
        data = encode_frame(self._seq, position, samples, self.audio)
        if self._corrupt_pending:
            self._corrupt_pending -= 1
            corrupted = bytearray(data)
            corrupted[-1] ^= 0xFF
            data = bytes(corrupted)
        prefix = b"".join(self._garbage_pending)
        self._garbage_pending.clear()
        for writer in list(self._clients):
            if writer.transport.get_write_buffer_size() > _WRITE_BUFFER_LIMIT:
                log.warning("mic %s: a client is too far behind; dropping it", self.serial)
                self._clients.discard(writer)
                writer.transport.abort()
                continue
            writer.write(prefix + data)
        self.frames_sent += 1
        self.history.append((self._seq, position, self.block_frames))


# ---------------------------------------------------------------------------------- CLI
async def _run_cli(args: argparse.Namespace) -> None:
    zc = AsyncZeroconf(interfaces=[args.interface], ip_version=IPVersion.V4Only)
    mics = [
        EmulatedMicrophone(
            f"{args.serial_prefix}{i}",
            f"{args.name_prefix} {i}",
            zeroconf=zc,
            signal=args.signal,
            frequency=args.frequency * i,
            sample_rate=args.rate,
            bits=args.bits,
            channels=args.channels,
            seed=i,
            host=args.interface,
            service_type=args.service_type,
        )
        for i in range(1, args.count + 1)
    ]
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (os_signal.SIGINT, os_signal.SIGTERM):  # also when started in the background
        if main is not None:
            loop.add_signal_handler(signum, main.cancel)
    try:
        await asyncio.gather(*(mic.start() for mic in mics))
        for mic in mics:
            print(f"{mic.serial}\t{mic.service_name}\t{mic.address}", flush=True)
        print("streaming; Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()
    finally:
        await asyncio.gather(*(mic.stop() for mic in mics), return_exceptions=True)
        await zc.async_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m c2c_hub_plugins.mdns_microphones.emulated",
        description="Run emulated network microphones (mDNS _c2cmic._tcp) until Ctrl-C.",
    )
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--serial-prefix", default="EMU-MIC-")
    parser.add_argument("--name-prefix", default="Emulated Mic")
    parser.add_argument("--signal", choices=["tone", "speech"], default="tone")
    parser.add_argument("--frequency", type=float, default=440.0, help="mic i plays i x this")
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--bits", type=int, default=24)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument(
        "--interface", default="127.0.0.1", help="the IPv4 address to announce and listen on"
    )
    parser.add_argument("--service-type", default=SERVICE_TYPE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_run_cli(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
