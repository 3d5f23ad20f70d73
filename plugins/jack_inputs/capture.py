"""The capture process: the hub's JACK client, in a small process of its own.

``python -m c2c_hub_plugins.jack_inputs.capture --ring-fd N --published-fd P --freed-fd F
--server S --client-name C --inputs JSON`` (the source starts it; nobody else needs to). It
owns the JACK client and its ports; its process callback copies each period into the
shared-memory ring (:class:`~c2c_hub_plugins.jack_inputs.ring.InputRing` over the memory file
``--ring-fd``, which the hub made and maps too, published and freed through the eventfds
``--published-fd`` and ``--freed-fd``, the hub's too) and does nothing else. Its main thread
only waits: for what JACK's other callbacks noted, for the hub's stdin to end, and for the next
heartbeat. So the process callback waits for no hub thread's GIL: the hub's Python is in
another process.

It tells the hub over stdout, one JSON object a line (``"event"`` says which):

- ``waiting``: no client yet (``message``), because there is no server, or because the server
  ``refused`` it (JACK's first error of the attempt: ``said``); it tries again every
  ``--reconnect-s``;
- ``open``: connected and running: ``rate``, ``blocksize``, ``client``, ``realtime`` (the
  server's), the ring's shape (``capacity``, ``cycles``, ``inputs``);
- ``ports``: each input's port, what is connected to it and which configured source ports do
  not exist now (after any change of JACK's graph, and looked at again every second);
- ``rate``: the server's new sample rate;
- ``status``: the heartbeat (every ``HEARTBEAT_S``, and at once on an xrun): ``xruns``, and
  ``scheduling``, the policy and priority JACK gave the process callback's thread;
- ``shutdown``: the server went (``reason``); the process then exits *without* closing its
  client (libjack has been seen to hang for good closing a dead server's client);
- ``error``: it cannot go on (``message``); it exits.

The end of stdin (the hub stopping, or gone) closes the client, bounded, and exits. A process
that stops answering is the hub's to kill: nothing here can hang the hub. Imports only
``jack``, numpy and the ring.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import mmap
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

import jack

from c2c_hub_plugins.jack_inputs.ring import InputRing

#: The ring holds whole multiples of this many frames, so no period (a power of two up to
#: JACK's largest) ever wraps round its end.
RING_GRAIN = 8192
RING_CYCLES = 4096
HEARTBEAT_S = 0.5
LOOK_EVERY_S = 1.0
CLOSE_WITHIN_S = 3.0
COLLECT_EVERY_S = 10.0
_MCL_CURRENT = 1  # <sys/mman.h>
RETRY_S = 0.1  # a connection refused is tried again this soon
FAILURES_LOGGED = 10
SAID = 8  # JACK's messages kept from one failed attempt to open the client ...
SAID_CHARS = 300  # ... of which the first, this long at most, goes to the hub
_POLICIES = {
    getattr(os, "SCHED_OTHER", 0): "other",
    getattr(os, "SCHED_FIFO", 1): "fifo",
    getattr(os, "SCHED_RR", 2): "rr",
}


class _Out:
    """JSON lines to the hub, from any thread of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}) + "\n"
        with self._lock:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):  # the hub is gone: so are we
                os._exit(0)


def _exit(code: int) -> None:
    sys.stdout.flush()
    os._exit(code)  # never through libjack's teardown: the hub may be waiting for us


class Capture:
    """One client on one server's life."""

    def __init__(self, args: argparse.Namespace, out: _Out) -> None:
        self.args = args
        self.out = out
        self.inputs: list[dict[str, Any]] = json.loads(args.inputs)
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.client: Any = None
        self.ports: list[Any] = []
        self.xruns = 0
        self.scheduling: tuple[int, int] | None = None  # noted by the first process cycle
        self.rate = 0
        self._sent_ports: Any = None
        self._raised: set[int] = set()  # threads (native ids) given a realtime policy
        self._failed: dict[str, int] = {}  # source ports that refused a connection, and how often
        self._keep: list[Any] = []

    # ------------------------------------------------------------------ connect
    def connect(self) -> None:
        """Open the client (waiting for a server), map the ring, register, activate."""
        said: list[str] = []  # JACK's own words on an attempt that failed, for the hub

        def note(message: str) -> None:
            if len(said) < SAID:
                said.append(message)

        jack.set_error_function(note)
        jack.set_info_function(lambda _message: None)
        while True:
            said.clear()
            try:
                self.client = jack.Client(
                    self.args.client_name, no_start_server=True, servername=self.args.server
                )
                break
            except jack.JackError as exc:
                status = getattr(exc, "status", None)
                # a server answered, and refused the client (not: there is no server)
                refused = bool(status is not None and status.server_error)
                why = said[0][:SAID_CHARS] if said else None  # the first is the specific one
                self.out("waiting", message=str(exc), refused=refused, said=why)
                self._wait_or_stop(self.args.reconnect_s)
        jack.set_error_function(lambda _message: None)  # open: the reasons go to the hub
        client = self.client
        self.rate, blocksize = int(client.samplerate), int(client.blocksize)
        inputs = max(1, len(self.inputs))
        frames = max(1, math.ceil(self.args.ring_s * self.rate / RING_GRAIN)) * RING_GRAIN
        size = InputRing.nbytes(inputs, frames, RING_CYCLES)
        os.ftruncate(self.args.ring_fd, size)  # the hub maps it once told the shape
        memory = mmap.mmap(self.args.ring_fd, size)
        ring = InputRing(
            inputs,
            frames,
            cycles=RING_CYCLES,
            buffer=memory,
            fds=(self.args.published_fd, self.args.freed_fd),
        )
        ring.samples.fill(0.0)  # every page in memory now, not at the callback's first lap
        self.ports = [client.inports.register(item["name"]) for item in self.inputs]
        self._install(ring)
        _settle_memory()
        client.activate()
        self.out(
            "open",
            rate=self.rate,
            blocksize=blocksize,
            client=str(client.name),
            realtime=bool(client.realtime),
            capacity=frames,
            cycles=RING_CYCLES,
            inputs=inputs,
        )

    def _install(self, ring: InputRing) -> None:
        client = self.client
        ffi, lib = jack._ffi, jack._lib
        whole = ffi.from_buffer(ring.samples)
        base = [ffi.cast("char *", whole) + row * ring.capacity * 4 for row in range(ring.inputs)]
        self._keep += [ring, whole, *base]
        port_ptrs = [port._ptr for port in self.ports]
        client_ptr = client._ptr
        get_buffer, last_frame_time, memmove = (
            lib.jack_port_get_buffer,
            lib.jack_last_frame_time,
            ffi.memmove,
        )
        events = self.events

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
            if self.scheduling is None:
                self.scheduling = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)

        follow = self.follow_realtime

        def xrun(_delay_us: float) -> None:
            follow()
            self.xruns += 1
            events.put(("xrun", None))

        def shutdown(_status: Any, reason: str) -> None:
            events.put(("shutdown", reason or "the server shut down"))

        def graph(*_args: Any) -> None:
            follow()
            events.put(("graph", None))

        def samplerate(value: int) -> None:
            follow()
            events.put(("rate", int(value)))

        client.set_process_callback(process)
        client.set_xrun_callback(xrun)
        client.set_shutdown_callback(shutdown)
        client.set_port_registration_callback(graph, only_available=False)
        client.set_port_connect_callback(graph, only_available=False)
        client.set_samplerate_callback(samplerate)

    # ------------------------------------------------------------------ serve
    def serve(self) -> None:
        """Wait for JACK's news and the heartbeat; tell the hub. Returns never."""
        self._reconcile()
        beat = looked = collected = time.monotonic()
        while True:
            try:
                kind, value = self.events.get(timeout=RETRY_S if self._failed else HEARTBEAT_S)
            except queue.Empty:
                kind, value = "", None
            if kind == "stop":
                self._close_and_exit()
            if kind == "shutdown":
                self.out("shutdown", reason=str(value))
                _exit(0)
            if kind == "rate" and value != self.rate:
                self.rate = value
                self.out("rate", rate=value)
            now = time.monotonic()
            retry = self._failed and now - looked >= RETRY_S
            if kind == "graph" or retry or now - looked >= LOOK_EVERY_S:
                # also once a second: a notification lost in a port's going (its connection
                # gone a moment before the port) must not leave an input as it was
                looked = now
                self._reconcile()
            self.follow_realtime()
            if kind == "xrun" or now - beat >= HEARTBEAT_S:
                beat = now
                self._beat()
            if now - collected >= COLLECT_EVERY_S:
                collected = now
                gc.collect()  # in this thread, over what is new since the freeze: short

    def follow_realtime(self) -> None:
        """Give the calling thread a realtime policy just below the process callback's, once.

        The process callback is Python: it needs this process's GIL, which the main thread and
        libjack's notification thread take now and then. A thread of normal policy holding the
        GIL can be preempted by any busy process of the machine, and the realtime callback
        then waits for it (priority inversion: most of the xruns left on a loaded machine).
        One step below the callback, the holder runs until it hands the GIL over.
        """
        scheduling = self.scheduling
        if scheduling is None or scheduling[0] not in (os.SCHED_FIFO, os.SCHED_RR):
            return
        me = threading.get_native_id()
        if me in self._raised:
            return
        self._raised.add(me)
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return  # libjack made it realtime already: never lowered here
        with contextlib.suppress(OSError):  # not allowed: the callback then may wait, alone
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(max(1, scheduling[1] - 1)))

    def _beat(self) -> None:
        scheduling = self.scheduling
        policy = (
            f"{_POLICIES.get(scheduling[0], scheduling[0])} {scheduling[1]}"
            if scheduling is not None
            else None
        )
        self.out("status", xruns=self.xruns, scheduling=policy)

    def _reconcile(self) -> None:
        """Connect what the settings name; tell the hub what each input has now."""
        client = self.client
        report = []
        for item, port in zip(self.inputs, self.ports, strict=True):
            present: list[str] = []
            for name in item["connect"]:
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
                        self._failed.pop(name, None)
                    except jack.JackError as exc:
                        # a port registered by a client not yet active refuses connections
                        # for a moment: counted missing until it connects, looked at again soon
                        self._failed[name] = failures = self._failed.get(name, 0) + 1
                        if failures == FAILURES_LOGGED:
                            self.out("log", message=f"cannot connect {name} to {port.name}: {exc}")
            report.append(
                {
                    "port": str(port.name),
                    "connected": sorted(connected),
                    "missing": [
                        n for n in item["connect"] if n not in present or n in self._failed
                    ],
                }
            )
        if report != self._sent_ports:
            self._sent_ports = report
            self.out("ports", inputs=report)

    # ------------------------------------------------------------------ stop
    def _wait_or_stop(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                kind, _value = self.events.get(timeout=min(left, HEARTBEAT_S))
            except queue.Empty:
                self._beat()  # alive, however long the wait for a server
                continue
            if kind == "stop":
                _exit(0)

    def _close_and_exit(self) -> None:
        """Close the client in a thread, waiting at most ``CLOSE_WITHIN_S``; exit either way."""

        def close() -> None:
            try:
                self.client.deactivate(ignore_errors=True)
                self.client.close(ignore_errors=True)
            except jack.JackError:
                pass
            _exit(0)

        threading.Thread(target=close, name="jack-close", daemon=True).start()
        time.sleep(CLOSE_WITHIN_S)
        _exit(0)


def _settle_memory() -> None:
    """Keep the collector and the pager out of the process callback.

    Python's cyclic garbage collector runs in whichever thread allocates past its threshold:
    the callback allocates a little every period, so sooner or later a collection ran in it,
    walking every object of the process (imports included: ~47,000 objects, 8 ms for a
    second-generation pass and 70 ms for a full one measured on a loaded machine, against a
    5.3 ms period). Everything made so far is frozen out of the collector's sight, and the
    collector runs only from the main thread (:data:`COLLECT_EVERY_S`), over what is new. The
    memory mapped now is locked in RAM where the memlock limit allows it (a page fault in
    the callback is a wait on the disk).
    """
    gc.disable()
    gc.collect()
    gc.freeze()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mlockall(_MCL_CURRENT)  # refused under a small memlock limit: then unlocked


def _read_stdin(events: queue.SimpleQueue[tuple[str, Any]]) -> None:
    for _line in sys.stdin:
        pass  # nothing to say yet: the hub speaks by closing
    events.put(("stop", None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ring-fd", type=int, required=True)
    parser.add_argument("--published-fd", type=int, required=True, help="eventfd: cycles written")
    parser.add_argument("--freed-fd", type=int, required=True, help="eventfd: cycles read")
    parser.add_argument("--server", default=None)
    parser.add_argument("--client-name", default="c2c-hub")
    parser.add_argument("--inputs", default="[]", help='[{"name": ..., "connect": [...]}, ...]')
    parser.add_argument("--ring-s", type=float, default=2.0)
    parser.add_argument("--reconnect-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    # the process callback shares this process's GIL with the main thread and libjack's
    # notification thread only, both nearly always asleep; hand it over promptly anyway
    sys.setswitchinterval(0.0005)
    # Ctrl-C at a terminal reaches the whole process group: the hub decides when this stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = _Out()
    capture = Capture(args, out)
    threading.Thread(target=_read_stdin, args=(capture.events,), daemon=True).start()
    try:
        capture.connect()
        capture.serve()
    except jack.JackError as exc:
        out("error", message=str(exc))
        _exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
