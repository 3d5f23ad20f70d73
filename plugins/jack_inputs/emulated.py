"""A JACK client that plays known signals: what a test or the benchmark feeds the hub's inputs.

Each output's sample at JACK frame ``f`` is :func:`signal` ``(output, f)``, a pure function of
the frame time, so what the hub recorded can be checked sample for sample without knowing when
anything started::

    with TonePlayer("tones", outputs=4, server="test-123") as player:
        ...  # connect "tones:out_1" ... to the hub's inputs
        player.stall(0.05)  # the next process cycle takes 50 ms: an xrun

Output 1 plays a ramp with a period of 2**16 frames, each further output the same ramp shifted
by a prime number of frames (exact in 24 bits: every value is a multiple of 2**-17); an output
can be given a sine instead (:data:`SINE`). Run it alone:
``python -m c2c_hub_plugins.jack_inputs.emulated --outputs 8 --server NAME`` (``--sine 2``:
output 2 plays the sine).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import jack
import numpy as np
import numpy.typing as npt

PROBE_WITHIN_S = 10.0
#: What jackd writes once its server is open under its name (after the check that no live
#: server holds the name: a server refused for the name never writes it).
OPENED = b"self-connect-mode"
STOP_WITHIN_S = 20.0  # a server that has not exited this long after SIGTERM is killed
#: JACK2's machine-wide table of servers (POSIX shared memory), which every server enters at
#: its start and leaves at a clean exit. Read here, never written: see :func:`reclaim_stale`.
REGISTRY = Path("/dev/shm/jack-shm-registry")
OURS = "c2c-"  # the names this project's servers take (tests, the demo, the benchmarks)
PERIOD = 1 << 16
SHIFT = 4099  # frames between one output's ramp and the next's
SINE = "sine"


def signal(
    output: int, frames: npt.NDArray[np.int64], kind: str = "ramp"
) -> npt.NDArray[np.float32]:
    """Output ``output``'s samples (0-based) at the JACK frame times ``frames``."""
    if kind == SINE:
        # 750 Hz at 48 kHz: 64 frames a cycle, which divides the ramp's period
        return (0.5 * np.sin(2 * np.pi * (frames % 64) / 64)).astype(np.float32)
    phase = (frames + output * SHIFT) % PERIOD
    return (phase.astype(np.float64) / (2 * PERIOD) - 0.25).astype(np.float32)


class TonePlayer:
    """A JACK client ``name`` with ``outputs`` outputs ``out_1`` ... playing :func:`signal`."""

    def __init__(
        self,
        name: str,
        outputs: int,
        *,
        server: str | None = None,
        kinds: dict[int, str] | None = None,
    ) -> None:
        self.name = name
        self.outputs = outputs
        self.server = server
        self.kinds = kinds or {}
        self.client: Any = None
        self.cycles = 0
        #: Cycles this player missed (late, or never called), as (first frame, frames): what it
        #: played there is not known, so a check leaves those frames out.
        self.gaps: list[tuple[int, int]] = []
        self._next: int | None = None
        self._stall_s = 0.0

    def start(self) -> TonePlayer:
        client = jack.Client(self.name, no_start_server=True, servername=self.server)
        ports = [client.outports.register(f"out_{i + 1}") for i in range(self.outputs)]
        steps = np.arange(8192, dtype=np.int64)
        kinds = [self.kinds.get(i, "ramp") for i in range(self.outputs)]

        def process(frames: int) -> None:
            first = client.last_frame_time
            if self._next is not None and first != self._next:
                self.gaps.append((self._next, (first - self._next) & 0xFFFFFFFF))
            self._next = (first + frames) & 0xFFFFFFFF
            at = first + steps[:frames]
            for i, port in enumerate(ports):
                port.get_array()[:] = signal(i, at, kinds[i])
            self.cycles += 1
            if self._stall_s:
                stall, self._stall_s = self._stall_s, 0.0
                time.sleep(stall)

        client.set_process_callback(process)
        client.activate()
        self.client = client
        return self

    @property
    def ports(self) -> list[str]:
        return [f"{self.client.name}:out_{i + 1}" for i in range(self.outputs)]

    def stall(self, seconds: float) -> None:
        """Make the next process cycle take ``seconds`` longer: the server sees an xrun."""
        self._stall_s = seconds

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.deactivate()
            client.close()

    def __enter__(self) -> TonePlayer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="tones")
    parser.add_argument("--outputs", type=int, default=8)
    parser.add_argument("--server", default=None)
    parser.add_argument(
        "--sine",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="output N (1-based) plays the 750 Hz sine instead of the ramp (repeatable)",
    )
    args = parser.parse_args(argv)
    if any(not 1 <= n <= args.outputs for n in args.sine):
        parser.error(f"--sine takes an output number from 1 to {args.outputs}, got {args.sine}")
    kinds = {n - 1: SINE for n in args.sine}
    # One line of port names once playing; then commands on stdin ("stall SECONDS"); at the
    # end of stdin, one JSON line: the cycles it missed.
    # the collector out of the process callback (as the capture process does): what exists
    # now is frozen, and nothing this loop makes needs it
    gc.disable()
    gc.freeze()
    with TonePlayer(args.name, args.outputs, server=args.server, kinds=kinds) as player:
        print(" ".join(player.ports), flush=True)
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["stall"]:
                player.stall(float(words[1]))
                print("stalled", flush=True)
        print(json.dumps({"gaps": player.gaps, "cycles": player.cycles}), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()


class DummyServer:
    """A private JACK server on the dummy backend (no sound card): ``jackd -n NAME -d dummy``.

    Clients reach it by its name (``servername=``, or ``JACK_DEFAULT_SERVER``). Realtime
    scheduling is asked for and, where the system refuses it, done without.
    """

    def __init__(
        self, name: str, *, rate: int = 48000, period: int = 256, realtime: bool | None = None
    ) -> None:
        self.name = name
        self.rate = rate
        self.period = period
        #: Asked: realtime (``-R``), not (``--no-realtime``), or ``None``: realtime where the
        #: system allows it. Once started: what the server runs as.
        self.realtime = realtime
        self._ask = realtime
        self.process: subprocess.Popen[bytes] | None = None
        self.log = b""
        self._log_file: IO[bytes] | None = None

    def start(self, *, rate: int | None = None, within_s: float = 20.0) -> DummyServer:
        if rate is not None:
            self.rate = rate
        modes = [True, False] if self._ask is None else [self._ask]
        swept = False
        while modes:
            realtime = modes[0]
            flags = ["-R", "-P", "70"] if realtime else ["--no-realtime"]
            command = ["jackd", "-n", self.name, *flags, "-d", "dummy"]
            command += ["-r", str(self.rate), "-p", str(self.period)]
            self._log_file = tempfile.TemporaryFile()  # never a pipe nobody reads
            self.process = subprocess.Popen(
                command, stdout=self._log_file, stderr=subprocess.STDOUT
            )
            if self._answers(within_s):
                self.realtime = realtime
                return self
            self.stop()
            if b"Too many servers" in self.log and not swept:
                # the table is full: of live servers, or of entries left by ours that died
                swept = True
                if reclaim_stale():
                    self.log = b""
                    continue  # the same name and mode again
            if b"already" in self.log:
                break  # the name is taken (or the table full): realtime or not, no matter
            modes.pop(0)
        raise RuntimeError(f"jackd -n {self.name} did not start: {self.log[-2000:]!r}")

    @classmethod
    def started(cls, prefix: str, *, slots: int = 8, **kwargs: Any) -> DummyServer:
        """A server of this process's own under the first free name ``<prefix>-<k>``.

        JACK2 keeps every server's name in one table of 8 for the whole machine, and reclaims
        an entry left by a server that died without unregistering (a kill, a crash) only when
        a server of the *same name* starts: a fresh name for every run would fill the table
        ("Too many servers already active"); names from a small pool clean up after
        themselves. A name a live server holds is skipped.
        """
        problems = []
        for k in range(slots):
            server = cls(f"{prefix}-{k}", **kwargs)
            try:
                return server.start()
            except RuntimeError as exc:
                problems.append(str(exc)[:200])
        raise RuntimeError("no JACK server could start: " + " | ".join(problems))

    def _answers(self, within_s: float) -> bool:
        """Whether the server answers within ``within_s``: asked by ``jack_wait``, a process of
        its own, so that no client of this process ever talks to a server that may die (libjack
        has been seen to hang a process for good closing a dead server's client)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                probe = subprocess.run(
                    ["jack_wait", "--check", "--server", self.name],
                    capture_output=True,
                    timeout=PROBE_WITHIN_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:  # killed by run(); look again
                continue
            if b"not running" in probe.stdout or probe.returncode != 0:
                time.sleep(0.1)
                continue
            # The server that answered must be this one: a name held by a live server makes
            # ours say so and exit, and the probe would have reached the other. Ours says it
            # opened its server (its "self-connect-mode" line comes after the name's check) or
            # that the name is taken; wait for one of them, not a fixed time (a loaded machine
            # takes longer than any fixed time to say either).
            while time.monotonic() < deadline:
                said = self._said()
                if b"already active" in said or b"Failed to open server" in said:
                    return False
                if self.process.poll() is not None:
                    return False
                if OPENED in said:
                    return True
                time.sleep(0.05)
        return False

    def _said(self) -> bytes:
        """What the server wrote to its log so far (it stays open for :meth:`stop`)."""
        return b"" if self._log_file is None else _written(self._log_file)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        killed = False
        if process.poll() is None:
            if OPENED in self._said():
                # ours holds the name until it exits: the name's semaphores are its clients',
                # and a client it still has at its exit leaves its own behind (seen: a player)
                _remove_semaphores(self.name)
            process.terminate()
            try:
                process.wait(STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                killed = True
        if self._log_file is not None:
            self._log_file.seek(0)
            self.log += self._log_file.read()
            self._log_file.close()
            self._log_file = None
        if killed or (process.returncode or 0) < 0:
            # killed, or dead of a signal (jackd 1.9.21 has been seen to die of SIGPIPE on its
            # way out when a client went at the same time): its table entry is still there
            self._reclaim()
        # Nothing of the name is touched once ours has gone: a server refused for a name a
        # live server holds (or one that has exited, whose name another may hold by now) must
        # leave that server's files alone. It once removed the clients' semaphores of the name
        # here, and so every later client of the live server was refused (status 0x21).

    def _reclaim(self) -> None:
        """Give back the machine-wide table entry a killed server left: JACK2 frees it only
        when a server of the same name starts, so start one and stop it cleanly. While that
        server holds the name, and only then, the semaphores the dead one's clients left are
        removed (the way JACK2 cleans a name's files: once registered under it)."""
        command = ["jackd", "-n", self.name, "--no-realtime", "-d", "dummy", "-r", str(self.rate)]
        log = tempfile.TemporaryFile()
        again = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STOP_WITHIN_S
            while time.monotonic() < deadline and again.poll() is None:
                if OPENED in _written(log) and again.poll() is None:
                    # ours holds the name now (a refused server never says it): the leftovers
                    # of the name are the dead server's, and this one's own, which it is
                    # about to give back anyway
                    _remove_semaphores(self.name)
                    break
                time.sleep(0.1)
        finally:
            again.terminate()
            try:
                again.wait(STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                again.kill()
                again.wait()
            log.close()

    def xruns(self) -> int:
        """The xruns the server logged so far (read at :meth:`stop`)."""
        return self.log.count(b"XRun")


#: The registry's layout in JACK2 (``common/shm.h``): a 24-byte header (the magic word "JACK",
#: protocol, type, size, header length, entry length, each in the machine's byte order), then
#: 8 servers of a ``pid_t`` and a 257-byte name, 264 bytes each.
_MAGIC = 0x4A41434B
_SERVERS = 8
_HEADER = 24
_ENTRY = 264
_NAME = 257


def stale_registrations(prefix: str = OURS) -> list[str]:
    """The names (starting ``prefix``) of servers of this user that JACK2's table still holds
    for a process that is gone: a server killed, or dead of a signal, never left it.

    JACK2 gives such an entry back only when a server of the same name starts; until then it
    counts against the table's 8, and once 8 are held no server starts on the machine ("Too
    many servers already active"). A table of another layout than JACK2's is not read.
    """
    try:
        with REGISTRY.open("rb") as registry:
            data = registry.read(_HEADER + _SERVERS * _ENTRY)
    except OSError:
        return []
    if len(data) < _HEADER + _SERVERS * _ENTRY or int.from_bytes(data[:4], sys.byteorder) != _MAGIC:
        return []
    if int.from_bytes(data[16:20], sys.byteorder) != _HEADER + _SERVERS * _ENTRY:
        return []
    stale = []
    for k in range(_SERVERS):
        at = _HEADER + k * _ENTRY
        pid = int.from_bytes(data[at : at + 4], sys.byteorder, signed=True)
        raw = data[at + 4 : at + 4 + _NAME].split(b"\0")[0].decode("utf-8", "replace")
        owner, _, rest = raw.partition(":")  # "jack-<uid>:<server name>:"
        if pid <= 0 or owner != f"jack-{os.getuid()}" or not rest.endswith(":"):
            continue
        name = rest[:-1]
        if name.startswith(prefix) and not _alive(pid):
            stale.append(name)
    return stale


def leftover_semaphores(name: str) -> list[Path]:
    """The semaphores (``/dev/shm/jack_sem.<uid>_<server>_<client>``) of server ``name``'s
    clients: a server that dies unclean leaves them all. Removing them is only safe while a
    server of ours holds the name (:meth:`DummyServer._reclaim`): a live server's clients find
    each other by them, and a client of a server whose are gone is refused."""
    return sorted(Path("/dev/shm").glob(f"jack_sem.{os.getuid()}_{name}_*"))


def _remove_semaphores(name: str) -> None:
    """Remove :func:`leftover_semaphores` (only while a server of ours holds ``name``)."""
    for leftover in leftover_semaphores(name):
        leftover.unlink(missing_ok=True)


def _written(log: IO[bytes]) -> bytes:
    """What a running jackd wrote so far to ``log``, its stdout: read with ``pread``, since
    the file's offset is the server's too and must not move."""
    fd = log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0)


def reclaim_stale(prefix: str = OURS) -> list[str]:
    """Give back every entry :func:`stale_registrations` finds, the way JACK2 itself does: a
    server of that name starts (JACK2 frees the dead entry under the table's lock) and stops
    cleanly (it leaves the table). Returns the names given back."""
    names = stale_registrations(prefix)
    for name in names:
        DummyServer(name)._reclaim()
    left = set(stale_registrations(prefix))  # read once, after every reclaim
    return [name for name in names if name not in left]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process (JACK2's own test: ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True
