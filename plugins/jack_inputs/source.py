"""The ``jack`` source: the recorder's own inputs, one JACK input port each.

- **Capture, out of the hub's process.** The JACK client lives in a small process of its own
  (:mod:`c2c_hub_plugins.jack_inputs.capture`), started by this source: its process callback
  copies each period into a ring in shared memory (an anonymous memory file both map) and
  waits for no thread of the hub. It tells this source, in JSON lines, about the server, the
  ports and connections, the rate, xruns and the server's death. Nothing of libjack runs in
  the hub's process: a capture process that dies, or stops answering for
  ``capture_timeout_s`` (libjack stuck), is killed and a new one started.
- **Connect.** A JACK client (``Options.client_name``) on the server ``Options.server``; the hub
  never starts a server. No server: the source says so and looks again every ``reconnect_s``.
- **Ports.** One input port per configured input, connected to the ports the settings name
  (and kept connected: a source port that comes back is connected again). Each input is a
  sub-device of kind ``local_input`` (no channel of its own: its track goes on the primary
  channel) whose ``address`` is what is connected to it now.
- **Audio.** This source drains the ring every ``deliver_s`` and hands each input's samples to
  the hub, placed on the hub's timeline by the JACK frame time (a gap in frame time is a gap on
  the timeline).
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
import json
import mmap
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from c2c_hub import kit
from c2c_hub_plugins.jack_inputs.options import InputOption, Options
from c2c_hub_plugins.jack_inputs.ring import InputRing, Run, signals

#: The device model of an input (the plugin's ``device_models/jack-input.toml``).
MODEL_ID = "5d0f7a3e-2c61-4b8e-9f14-6a2e8c0b7d95"
REPORT_EVERY_S = 1.0
SUPPORTED_RATES = (44100, 48000, 88200, 96000, 192000)
#: How long a capture process that was asked to stop may take before it is killed.
STOP_WITHIN_S = 5.0
#: How long a new capture process may take to say its first word (Python's start on a loaded
#: machine) before it is taken for stuck.
START_WITHIN_S = 30.0
CAPTURE_MODULE = "c2c_hub_plugins.jack_inputs.capture"


def seconds_since_midnight(epoch: float) -> float:
    """Local time of day, in seconds (the hub's timeline counts samples since midnight)."""
    local = datetime.fromtimestamp(epoch)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return epoch - midnight.timestamp()


async def _killed(process: asyncio.subprocess.Process) -> None:
    """SIGKILL ``process`` (if it still runs) and wait for it: it cannot refuse, so this is
    quick."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    await process.wait()


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
        """The connection now: server, rate, period, xruns, each input's connections, the
        capture process."""
        return self._run.snapshot() if self._run is not None else None


@dataclass
class _Input:
    option: InputOption
    serial: str
    port: str = ""  # the JACK port's full name, while connected
    attached: kit.SubDevice | None = None
    connected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # configured source ports that do not exist now


@dataclass
class _Capture:
    """One capture process: its pipe, its ring (once it is connected) and what it said."""

    process: asyncio.subprocess.Process
    memory_fd: int
    signal_fds: tuple[int, int]  # the ring's eventfds: published, freed
    memory: mmap.mmap | None = None
    ring: InputRing | None = None
    rate: int = 0
    blocksize: int = 0
    client: str = ""
    realtime: bool | None = None
    scheduling: str | None = None
    xruns: int = 0
    base: int | None = None  # hub position of frame time 0 (set by the first run)
    heard: float = field(default_factory=time.monotonic)
    answered: bool = False  # said anything yet (a Python starting on a loaded machine: slow)


class _Inputs:
    """One run of the source: start a capture process, serve it, and when it ends (the
    server's death, a crash, a hang), start another."""

    def __init__(self, ctx: kit.SourceContext, options: Options, model: kit.DeviceModel) -> None:
        self.ctx = ctx
        self.options = options
        self.model = model
        self.inputs = [_Input(o, options.serial(o)) for o in options.inputs]
        self.capture: _Capture | None = None
        self.xruns = 0  # over every connection of this run
        self.overruns = 0
        self.connects = 0
        self.captures = 0  # capture processes started
        self.killed = 0  # of those, killed for not answering
        self._last_report: tuple[bool, str] | None = None
        self._reported_at = 0.0
        self._server_label = options.server or "default"

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        while True:
            capture = await self._start()
            self.capture = capture
            reason = "the hub stopped its JACK inputs"
            try:
                reason = await self._serve(capture)
            finally:
                self.capture = None
                self._detach_all(reason)
                for item in self.inputs:
                    item.port = ""
                if capture.ring is not None:
                    self.xruns += capture.xruns
                    self.overruns += capture.ring.overruns
                await asyncio.shield(self._stop(capture))
            self.ctx.log.warning("%s; reconnecting", reason)
            self._report(False, f"{reason}; reconnecting")
            await asyncio.sleep(self.options.reconnect_s)

    async def _start(self) -> _Capture:
        """A capture process, sharing an (empty) memory file it sizes once connected."""
        fd = os.memfd_create("c2c-hub-jack-ring", os.MFD_CLOEXEC)
        try:
            published, freed = signals()
        except BaseException:
            os.close(fd)
            raise
        inputs = [{"name": i.option.name, "connect": list(i.option.connect)} for i in self.inputs]
        command = [sys.executable, "-m", CAPTURE_MODULE, "--ring-fd", str(fd)]
        command += ["--published-fd", str(published), "--freed-fd", str(freed)]
        command += ["--client-name", self.options.client_name, "--inputs", json.dumps(inputs)]
        command += ["--ring-s", str(self.options.ring_s)]
        command += ["--reconnect-s", str(self.options.reconnect_s)]
        if self.options.server is not None:
            command += ["--server", self.options.server]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=(fd, published, freed),
                limit=1 << 20,
            )
        except BaseException:
            for each in (fd, published, freed):
                os.close(each)
            raise
        self.captures += 1
        self.ctx.log.debug("JACK capture process %d started", process.pid)
        return _Capture(process, fd, (published, freed))

    async def _stop(self, capture: _Capture) -> None:
        """Ask the capture process to stop (end of its stdin), kill it if it does not soon.

        However the stop ends, the process has ended and been waited for on this loop when it
        returns: its transport closes here (once the process exited and its pipes closed), not
        when the garbage collector finds it after the loop closed ("Event loop is closed").
        """
        process = capture.process
        try:
            if process.returncode is None and process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_WITHIN_S)
            except TimeoutError:
                self.ctx.log.warning(
                    "the JACK capture process %d did not stop within %g s: killed",
                    process.pid,
                    STOP_WITHIN_S,
                )
                await _killed(process)
        except asyncio.CancelledError:
            # Cut short (the source's loop shutting down: the hub's stop gave up waiting for
            # it): no time to ask any more, but the process still ends, and is waited for.
            await _killed(process)
            raise
        finally:
            capture.ring = None  # the numpy views into the mapping go with it
            if capture.memory is not None:
                with contextlib.suppress(BufferError):
                    capture.memory.close()
            for fd in (capture.memory_fd, *capture.signal_fds):
                os.close(fd)

    # ------------------------------------------------------------------ serving one process
    async def _serve(self, capture: _Capture) -> str:
        """Deliver and follow the capture process until it ends; the reason it ended."""
        stdout = capture.process.stdout
        assert stdout is not None
        pending: asyncio.Task[bytes] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(stdout.readline())
                done, _ = await asyncio.wait({pending}, timeout=self.options.deliver_s)
                now = time.monotonic()
                if done:
                    line, pending = pending.result(), None
                    if not line:
                        self._deliver(capture)
                        code = await capture.process.wait()
                        return f"the JACK capture process exited (code {code})"
                    capture.heard, capture.answered = now, True
                    ended = self._handle(capture, line)
                    if ended is not None:
                        self._deliver(capture)  # what reached the ring before the server went
                        return ended
                elif now - capture.heard > self._patience(capture):
                    self.killed += 1
                    with contextlib.suppress(ProcessLookupError):
                        capture.process.send_signal(signal.SIGKILL)
                    return (
                        f"the JACK capture process did not answer for "
                        f"{self.options.capture_timeout_s:g} s (libjack stuck?): killed"
                    )
                self._deliver(capture)
                self._health(capture)
        finally:
            if pending is not None:
                pending.cancel()

    def _patience(self, capture: _Capture) -> float:
        """How long ``capture`` may stay silent: ``capture_timeout_s``, and at least
        ``START_WITHIN_S`` before its first word."""
        timeout = self.options.capture_timeout_s
        return timeout if capture.answered else max(timeout, START_WITHIN_S)

    def _handle(self, capture: _Capture, line: bytes) -> str | None:
        """One message of the capture process; the reason, if it is the end."""
        try:
            message = json.loads(line)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self.ctx.log.warning("the JACK capture process said %r", line[:200])
            return None
        log = self.ctx.log
        if event == "waiting":
            if message.get("refused"):
                # it answers, and will not take the client: say what JACK said, not "no server"
                said = message.get("said") or message.get("message")
                self._report(
                    False,
                    f"the JACK server {self._server_label!r} answers but refuses the hub's "
                    f"client (JACK: {said}); trying again every {self.options.reconnect_s:g} s",
                )
            else:
                self._report(
                    False,
                    f"no JACK server {self._server_label!r} ({message.get('message')}); "
                    f"looking again every {self.options.reconnect_s:g} s",
                )
        elif event == "open":
            self._open(capture, message)
        elif event == "ports":
            for item, state in zip(self.inputs, message["inputs"], strict=False):
                item.port = str(state["port"])
                item.connected = tuple(state["connected"])
                item.missing = tuple(state["missing"])
            self._reconcile(capture)
        elif event == "rate":
            new = int(message["rate"])
            if new != capture.rate:
                self._deliver(capture)
                log.warning("JACK's sample rate changed: %d Hz to %d Hz", capture.rate, new)
                capture.rate, capture.base = new, None
                for item in self.inputs:
                    item.attached = None  # attached again, at the new rate
                self._reconcile(capture)
        elif event == "status":
            capture.xruns = int(message["xruns"])
            capture.scheduling = message.get("scheduling")
        elif event == "shutdown":
            return f"the JACK server {self._server_label!r} stopped: {message.get('reason')}"
        elif event == "error":
            return f"the JACK client failed: {message.get('message')}"
        elif event == "log":
            log.warning("jack: %s", message.get("message"))
        return None

    def _open(self, capture: _Capture, message: dict[str, Any]) -> None:
        capture.rate, capture.blocksize = int(message["rate"]), int(message["blocksize"])
        capture.client, capture.realtime = str(message["client"]), bool(message["realtime"])
        inputs, frames, cycles = message["inputs"], message["capacity"], message["cycles"]
        size = InputRing.nbytes(inputs, frames, cycles)
        capture.memory = mmap.mmap(capture.memory_fd, size)
        capture.ring = InputRing(
            inputs, frames, cycles=cycles, buffer=capture.memory, fds=capture.signal_fds
        )
        self.connects += 1
        self.ctx.log.info(
            "connected to JACK server %r as %s: %d Hz, %d frames a period, %d input(s); "
            "capture process %d",
            self._server_label,
            capture.client,
            capture.rate,
            capture.blocksize,
            len(self.inputs),
            capture.process.pid,
        )

    def _deliver(self, capture: _Capture) -> None:
        ring = capture.ring
        if ring is None:
            return
        runs = ring.read()
        if not runs:
            return
        if capture.base is None:
            capture.base = self._anchor(capture, ring, runs[0])
        for run in runs:
            position = capture.base + run.frame
            for row, item in enumerate(self.inputs):
                if item.attached is not None:
                    self.ctx.audio(item.serial, kit.AudioBlock(position, run.samples[row]))

    def _anchor(self, capture: _Capture, ring: InputRing, first: Run) -> int:
        """The hub position of frame 0: the first run placed at the time of day it arrived,
        less the frames JACK has counted since (to the end of the last cycle written: within
        a period of now)."""
        now = time.time()
        latest = ring.latest()
        since = 0
        if latest is not None:
            since = (latest[0] + latest[1] - first.frame) & 0xFFFFFFFF
            if since >= 1 << 31:
                since = 0
        return round(seconds_since_midnight(now) * capture.rate) - since - first.frame

    # ------------------------------------------------------------------ ports and connections
    def _reconcile(self, capture: _Capture) -> None:
        """Attach, update or detach each input to match what the capture process said."""
        if capture.ring is None:
            return
        if capture.rate not in SUPPORTED_RATES:
            self._detach_all(f"JACK runs at {capture.rate} Hz, which the hub does not record")
            return
        audio = kit.AudioFormat(sample_rate=capture.rate, bits=24, channels=1)
        for item in self.inputs:
            if not item.port:
                continue
            if item.option.connect and len(item.missing) == len(item.option.connect):
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
                    "port": item.port,
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
    def _health(self, capture: _Capture) -> None:
        ring = capture.ring
        now = time.monotonic()
        if ring is None or now - self._reported_at < REPORT_EVERY_S:
            return
        self._reported_at = now
        attached = sum(1 for i in self.inputs if i.attached is not None)
        missing = [m for i in self.inputs for m in i.missing]
        detail = (
            f"JACK {self._server_label!r} {capture.rate} Hz/{capture.blocksize}: "
            f"{attached}/{len(self.inputs)} inputs; {self.xruns + capture.xruns} xruns; "
            f"{self.overruns + ring.overruns} overruns"
        )
        if capture.scheduling:
            detail += f"; capture thread {capture.scheduling}"
        if missing:
            detail += f"; missing {', '.join(missing)}"
        if capture.realtime is False:
            detail += "; the server is not realtime"
        elif capture.realtime and (capture.scheduling or "").startswith("other"):
            # libjack could not give the process thread the server's realtime priority
            detail += "; the capture thread is not realtime (the hub's user needs an rtprio limit)"
        self._report(not missing and capture.rate in SUPPORTED_RATES, detail)

    def _report(self, healthy: bool, detail: str) -> None:
        if self._last_report != (healthy, detail):
            self._last_report = (healthy, detail)
            self.ctx.report(healthy, detail)

    def snapshot(self) -> dict[str, Any]:
        capture = self.capture
        ring = capture.ring if capture is not None else None
        connected = capture is not None and ring is not None
        return {
            "server": self._server_label,
            "connected": connected,
            "rate": capture.rate if connected and capture else None,
            "blocksize": capture.blocksize if connected and capture else None,
            "xruns": self.xruns + (capture.xruns if capture and ring else 0),
            "overruns": self.overruns + (ring.overruns if ring else 0),
            "connects": self.connects,
            "realtime": capture.realtime if capture else None,
            "scheduling": capture.scheduling if capture else None,
            "capture_pid": capture.process.pid if capture else None,
            "captures": self.captures,
            "captures_killed": self.killed,
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


__all__ = ["MODEL_ID", "JackInputsSource", "seconds_since_midnight"]
