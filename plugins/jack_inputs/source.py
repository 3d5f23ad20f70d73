"""The ``jack`` source: the recorder's own inputs, one JACK input port each.

- **Connect.** A JACK client (``Options.client_name``) on the server ``Options.server``; the hub
  never starts a server. No server: the source says so and looks again every ``reconnect_s``.
- **Ports.** One input port per configured input, connected to the ports the settings name
  (and kept connected: a source port that comes back is connected again). Each input is a
  sub-device of kind ``local_input`` (no channel of its own: its track goes on the primary
  channel) whose ``address`` is what is connected to it now.
- **Audio.** JACK's process callback copies each port's buffer into a preallocated ring
  (:class:`~c2c_hub_plugins.jack_inputs.ring.InputRing`) and nothing else; this source's thread
  drains it every ``deliver_s`` and hands each input's samples to the hub, placed on the hub's
  timeline by the JACK frame time (a gap in frame time is a gap on the timeline).
- **Sample rate.** The inputs declare the server's rate, and follow it: a new rate re-attaches
  them with it (the recorder splits the take there).
- **Xruns** are counted (the server's, and cycles the ring had no room for), and shown in the
  source's health (``c2c-hub plugins``, the status).

Bad input: a source port that vanishes detaches its input (its track goes on in silence, the
rest are untouched) until it comes back; the server dying detaches every input, and the source
reconnects when a server is there again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jack

from c2c_hub import kit
from c2c_hub_plugins.jack_inputs.options import InputOption, Options
from c2c_hub_plugins.jack_inputs.ring import InputRing, Run

#: The device model of an input (the plugin's ``device_models/jack-input.toml``).
MODEL_ID = "5d0f7a3e-2c61-4b8e-9f14-6a2e8c0b7d95"
#: The ring holds whole multiples of this many frames, so no period (a power of two up to
#: JACK's largest) ever wraps round its end.
RING_GRAIN = 8192
REPORT_EVERY_S = 1.0
#: The longest any other thread of the hub may hold Python's GIL before handing it over (Python's
#: default is 5 ms, about one JACK period: the process callback would wait a whole period).
SWITCH_INTERVAL_S = 0.0005
SUPPORTED_RATES = (44100, 48000, 88200, 96000, 192000)


def seconds_since_midnight(epoch: float) -> float:
    """Local time of day, in seconds (the hub's timeline counts samples since midnight)."""
    local = datetime.fromtimestamp(epoch)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return epoch - midnight.timestamp()


class JackInputsSource:
    """The recorder's JACK inputs; options: :class:`Options`."""

    name = "jack"

    def __init__(self) -> None:
        self._run: _Inputs | None = None

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)  # reports and raises OptionsError on a bad table
        model = ctx.models.get(MODEL_ID)
        if model is None:
            ctx.report(False, f"the JACK input device model ({MODEL_ID}) is missing")
            await asyncio.Event().wait()
            return
        run = _Inputs(ctx, options, model)
        self._run = run
        try:
            await run.run()
        finally:
            self._run = None

    def snapshot(self) -> dict[str, Any] | None:
        """The connection now: server, rate, period, xruns, each input's connections."""
        return self._run.snapshot() if self._run is not None else None


@dataclass
class _Input:
    option: InputOption
    serial: str
    port: Any = None  # jack.OwnPort while connected
    attached: kit.SubDevice | None = None
    connected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # configured source ports that do not exist now


@dataclass
class _Connection:
    """One client on one server run: its ports, its ring, and what its callbacks saw."""

    client: Any
    ring: InputRing
    rate: int
    blocksize: int
    keep: list[Any] = field(default_factory=list)  # cffi objects the callback points into
    xruns: int = 0
    shutdown: str | None = None
    new_rate: int | None = None
    base: int | None = None  # hub position of frame time 0 (set by the first run)


class _Inputs:
    """One run of the source: connect, serve, and on a server's death, connect again."""

    def __init__(self, ctx: kit.SourceContext, options: Options, model: kit.DeviceModel) -> None:
        self.ctx = ctx
        self.options = options
        self.model = model
        self.inputs = [_Input(o, options.serial(o)) for o in options.inputs]
        self.conn: _Connection | None = None
        self.xruns = 0  # over every connection of this run
        self.overruns = 0
        self.connects = 0
        self._wake = asyncio.Event()
        self._graph_changed = True
        self._last_report: tuple[bool, str] | None = None
        self._reported_at = 0.0
        self._server_label = options.server or "default"
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.inputs and sys.getswitchinterval() > SWITCH_INTERVAL_S:
            # The process callback needs the GIL within a period (5.3 ms at 256 frames), and
            # Python lets a thread keep it 5 ms by default: 16 inputs on a loaded machine had
            # about five times the xruns with the default (380 against 73 in 10 s).
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        jack.set_error_function(lambda message: self.ctx.log.debug("jack: %s", message))
        jack.set_info_function(lambda message: self.ctx.log.debug("jack: %s", message))
        while True:
            try:
                conn = await asyncio.to_thread(self._open)
            except jack.JackError as exc:
                self._report(
                    False,
                    f"no JACK server {self._server_label!r} ({exc}); "
                    f"looking again every {self.options.reconnect_s:g} s",
                )
                await asyncio.sleep(self.options.reconnect_s)
                continue
            self.connects += 1
            self.conn = conn
            reason = "the hub stopped its JACK inputs"
            try:
                reason = await self._serve(conn)
            finally:
                self.conn = None
                self._detach_all(reason)
                for item in self.inputs:
                    item.port = None  # the client's, closed with it
                await _close_bounded(conn.client, self.ctx)
            self.ctx.log.warning("%s; reconnecting", reason)
            self._report(False, f"{reason}; reconnecting")
            await asyncio.sleep(self.options.reconnect_s)

    def _open(self) -> _Connection:
        client = jack.Client(
            self.options.client_name, no_start_server=True, servername=self.options.server
        )
        try:
            return self._prepare(client)
        except BaseException:
            _close(client)
            raise

    def _prepare(self, client: Any) -> _Connection:
        loop = self._loop
        rate, blocksize = int(client.samplerate), int(client.blocksize)
        frames = max(1, math.ceil(self.options.ring_s * rate / RING_GRAIN)) * RING_GRAIN
        ring = InputRing(max(1, len(self.inputs)), frames)
        ports = [client.inports.register(i.option.name) for i in self.inputs]
        for item, port in zip(self.inputs, ports, strict=True):
            item.port = port
        conn = _Connection(client, ring, rate, blocksize)
        ffi, lib = jack._ffi, jack._lib
        whole = ffi.from_buffer(ring.samples)
        base = [ffi.cast("char *", whole) + row * ring.capacity * 4 for row in range(ring.inputs)]
        conn.keep += [whole, *base]
        port_ptrs = [port._ptr for port in ports]
        client_ptr = client._ptr
        get_buffer, last_frame_time, memmove = (
            lib.jack_port_get_buffer,
            lib.jack_last_frame_time,
            ffi.memmove,
        )

        def char(pointer: Any) -> Any:
            return ffi.cast("char *", pointer)

        # The real-time thread: copy each port into the ring, note the frame time; no more.
        def process(frames: int) -> None:
            ring.write(
                last_frame_time(client_ptr),
                frames,
                [get_buffer(p, frames) for p in port_ptrs],
                memmove,
                base,
                char,
            )

        wake = self._wake

        def poke() -> None:
            if loop is not None:
                loop.call_soon_threadsafe(wake.set)

        def xrun(_delay_us: float) -> None:
            conn.xruns += 1

        def shutdown(_status: Any, reason: str) -> None:
            conn.shutdown = reason or "the server shut down"
            poke()

        def graph(*_args: Any) -> None:
            self._graph_changed = True
            poke()

        def samplerate(value: int) -> None:
            if int(value) != conn.rate:
                conn.new_rate = int(value)
                poke()

        client.set_process_callback(process)
        client.set_xrun_callback(xrun)
        client.set_shutdown_callback(shutdown)
        client.set_port_registration_callback(graph, only_available=False)
        client.set_port_connect_callback(graph, only_available=False)
        client.set_samplerate_callback(samplerate)
        client.activate()
        self._graph_changed = True
        return conn

    # ------------------------------------------------------------------ serving one connection
    async def _serve(self, conn: _Connection) -> str:
        """Deliver until the server goes; the reason it went."""
        log = self.ctx.log
        log.info(
            "connected to JACK server %r as %s: %d Hz, %d frames a period, %d input(s)",
            self._server_label,
            conn.client.name,
            conn.rate,
            conn.blocksize,
            len(self.inputs),
        )
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.deliver_s):
                    await self._wake.wait()
            self._wake.clear()
            if conn.shutdown is not None:
                self._deliver(conn)  # what reached the ring before the server went
                return f"the JACK server {self._server_label!r} stopped: {conn.shutdown}"
            if conn.new_rate is not None:
                self._deliver(conn)
                log.warning("JACK's sample rate changed: %d Hz to %d Hz", conn.rate, conn.new_rate)
                conn.rate, conn.new_rate, conn.base = conn.new_rate, None, None
                for item in self.inputs:
                    item.attached = None  # attached again, at the new rate
                self._graph_changed = True
            if self._graph_changed:
                self._graph_changed = False
                self._reconcile(conn)
            self._deliver(conn)
            self._health(conn)

    def _deliver(self, conn: _Connection) -> None:
        runs = conn.ring.read()
        if not runs:
            return
        if conn.base is None:
            conn.base = self._anchor(conn, runs[0])
        for run in runs:
            position = conn.base + run.frame
            for row, item in enumerate(self.inputs):
                if item.attached is not None:
                    self.ctx.audio(item.serial, kit.AudioBlock(position, run.samples[row]))

    def _anchor(self, conn: _Connection, first: Run) -> int:
        """The hub position of frame 0: the first run placed at the time of day it arrived,
        less the frames JACK has counted since."""
        now_frame = int(conn.client.frame_time)
        now = time.time()
        since = (now_frame - first.frame) & 0xFFFFFFFF
        if since >= 1 << 31:
            since = 0
        return round(seconds_since_midnight(now) * conn.rate) - since - first.frame

    # ------------------------------------------------------------------ ports and connections
    def _reconcile(self, conn: _Connection) -> None:
        """Connect what the settings name; attach, update or detach each input to match."""
        client = conn.client
        if conn.rate not in SUPPORTED_RATES:
            self._detach_all(f"JACK runs at {conn.rate} Hz, which the hub does not record")
            return
        audio = kit.AudioFormat(sample_rate=conn.rate, bits=24, channels=1)
        for item in self.inputs:
            port = item.port
            present: list[str] = []
            for name in item.option.connect:
                try:
                    client.get_port_by_name(name)
                except jack.JackError:
                    continue
                present.append(name)
            try:
                connected = {p.name for p in client.get_all_connections(port)}
            except jack.JackError:
                connected = set()
            for name in present:
                if name not in connected:
                    try:
                        client.connect(name, port)
                        connected.add(name)
                        self.ctx.log.info("connected %s to %s", name, port.name)
                    except jack.JackError as exc:
                        self.ctx.log.warning("cannot connect %s to %s: %s", name, port.name, exc)
            item.connected = tuple(sorted(connected))
            item.missing = tuple(n for n in item.option.connect if n not in present)
            if item.option.connect and not present:
                if item.attached is not None:
                    item.attached = None
                    self.ctx.detach(
                        item.serial, f"its source port {', '.join(item.missing)} vanished"
                    )
                continue
            device = kit.SubDevice(
                serial=item.serial,
                model_id=self.model.id,
                name=item.option.name,
                address=", ".join(item.connected) or "not connected",
                audio=audio,
                details={
                    "port": str(port.name),
                    "server": self._server_label,
                    "connected": ", ".join(item.connected),
                    "missing": ", ".join(item.missing),
                },
            )
            if item.attached != device:
                item.attached = device
                self.ctx.attach(device)

    def _detach_all(self, reason: str) -> None:
        for item in self.inputs:
            if item.attached is not None:
                item.attached = None
                self.ctx.detach(item.serial, reason)

    # ------------------------------------------------------------------ health
    def _health(self, conn: _Connection) -> None:
        now = time.monotonic()
        if now - self._reported_at < REPORT_EVERY_S:
            return
        self._reported_at = now
        # Look at the ports once a second too: a notification lost in a port's going (its
        # connection gone a moment before the port) must not leave an input as it was.
        self._graph_changed = True
        self.xruns, self.overruns = conn.xruns, conn.ring.overruns
        attached = sum(1 for i in self.inputs if i.attached is not None)
        missing = [m for i in self.inputs for m in i.missing]
        detail = (
            f"JACK {self._server_label!r} {conn.rate} Hz/{conn.client.blocksize}: "
            f"{attached}/{len(self.inputs)} inputs; {conn.xruns} xruns; "
            f"{conn.ring.overruns} overruns"
        )
        if missing:
            detail += f"; missing {', '.join(missing)}"
        self._report(not missing and conn.rate in SUPPORTED_RATES, detail)

    def _report(self, healthy: bool, detail: str) -> None:
        if self._last_report != (healthy, detail):
            self._last_report = (healthy, detail)
            self.ctx.report(healthy, detail)

    def snapshot(self) -> dict[str, Any]:
        conn = self.conn
        return {
            "server": self._server_label,
            "connected": conn is not None,
            "rate": conn.rate if conn else None,
            "blocksize": conn.blocksize if conn else None,
            "xruns": conn.xruns if conn else self.xruns,
            "overruns": conn.ring.overruns if conn else self.overruns,
            "connects": self.connects,
            "inputs": [
                {
                    "name": i.option.name,
                    "serial": i.serial,
                    "attached": i.attached is not None,
                    "connected": list(i.connected),
                    "missing": list(i.missing),
                }
                for i in self.inputs
            ],
        }


CLOSE_WITHIN_S = 5.0


async def _close_bounded(client: Any, ctx: kit.SourceContext) -> None:
    """Close ``client`` in a daemon thread of its own, waiting at most ``CLOSE_WITHIN_S``:
    after a server's death libjack's close has been seen to never return, and a worker of the
    loop's default executor would then hold up the loop's (and the hub's) shutdown."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def close() -> None:
        try:
            _close(client)
        finally:
            loop.call_soon_threadsafe(_settle, done)

    threading.Thread(target=close, name="jack-close", daemon=True).start()
    try:
        await asyncio.wait_for(asyncio.shield(done), CLOSE_WITHIN_S)
    except TimeoutError:
        ctx.log.warning("the JACK client did not close within %g s: abandoned", CLOSE_WITHIN_S)


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _close(client: Any) -> None:
    with contextlib.suppress(jack.JackError):
        client.deactivate(ignore_errors=True)
    with contextlib.suppress(jack.JackError):
        client.close(ignore_errors=True)


__all__ = ["MODEL_ID", "JackInputsSource", "seconds_since_midnight"]
