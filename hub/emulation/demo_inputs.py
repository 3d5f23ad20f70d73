"""The demo's local inputs: a private JACK server (dummy backend) and a player of known signals.

The recorder's own inputs reach the hub through JACK (the ``jack_inputs`` plugin). The demo
starts a JACK server of its own on the dummy backend (no sound card; a name from the pool
``c2c-demo-<k>`` that no live server holds), a player in a process of its own
(``python -m c2c_hub_plugins.jack_inputs.emulated``) whose outputs play
:func:`~c2c_hub_plugins.jack_inputs.emulated.signal`, and hands the plugin the options that
connect one hub input to each output. Both are stopped on the way out, however the demo ends
(the player first, then the server, which is sent SIGTERM and waited for: JACK2 keeps only 8
server names per machine, and a server that unregisters cleanly gives its name back).

The player's signal is a pure function of the JACK frame time, so :func:`check_signal` tells,
sample for sample, whether a recorded track is the player's output (and not silence, nor the
other input's signal) without knowing when anything started.

Only the plugin's options and its emulated server and player are used here, never its
internals: how the plugin captures is its own business.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from c2c_hub.emulation.errors import EmulationError

#: The player's JACK client name (its ports are ``demo-tones:out_N``).
PLAYER = "demo-tones"
#: The pool of server names the demo takes its server's from (``c2c-demo-0`` ...).
SERVER_PREFIX = "c2c-demo"
POOL = 8  # JACK2's table of server names holds 8 for the whole machine
#: A track is the player's signal when, at one frame offset, at least this share of what it
#: holds (its samples but the lost periods' silence) is exactly the signal ...
OF_WHAT_ARRIVED = 0.9
#: ... and that is at least this share of the take. An xrun on a busy machine costs a period
#: or more of silence (and the period beside it may carry another frame time): on a quiet
#: machine 99.5 % of the samples or more are exact (the rest are the take's edges), at a
#: load of 10 to 17 on 2 cores 68 % to 99 %, nearly all the rest silence. Silence or the other
#: input's signal match almost none (a sine's zeros: 3 %), and a block placed one frame off
#: from the rest counts for nothing.
OF_THE_TAKE = 0.25
_LSB = 1.0 / (1 << 23)


@dataclass(frozen=True)
class LocalInput:
    """One of the recorder's inputs in the demo, fed by one of the player's outputs."""

    name: str
    output: int  # the player's output (0-based)
    kind: str  # "ramp" or "sine" (:func:`~c2c_hub_plugins.jack_inputs.emulated.signal`)

    @property
    def what(self) -> str:
        return "a 750 Hz sine at -6 dBFS" if self.kind == "sine" else "a ramp (1.4 s period)"


#: The demo's local inputs: a steady tone, and a ramp whose meter moves.
INPUTS = (LocalInput("Line 1", 0, "sine"), LocalInput("Line 2", 1, "ramp"))


@dataclass
class LocalInputs:
    """The JACK server and the player, as a context manager; :attr:`reason` says why there are
    no local inputs when there are none (jackd is not installed)."""

    inputs: tuple[LocalInput, ...] = INPUTS
    server: Any = None  # a DummyServer once started
    reason: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    _player: subprocess.Popen[str] | None = None
    _player_err: Any = None  # a temporary file: its stderr, never a pipe nobody reads
    _player_out: list[str] = field(default_factory=list)  # its stdout, line by line
    _player_reader: threading.Thread | None = None
    _playing: threading.Event = field(default_factory=threading.Event)

    @property
    def available(self) -> bool:
        return self.server is not None and self._player is not None

    def start(self) -> LocalInputs:
        """Start both (at most once); without jackd, note why there are no local inputs."""
        if self.server is not None or self.reason is not None:
            return self
        if shutil.which("jackd") is None:
            self.reason = "jackd is not installed (Debian/Ubuntu: apt-get install jackd2)"
            return self
        # Imported here: the JACK binding needs libjack, which comes with jackd.
        from c2c_hub_plugins.jack_inputs.emulated import DummyServer

        try:
            problems = []
            # DummyServer.started()'s pool, walked here so that the server being started is
            # ours to stop whatever interrupts its start (SIGTERM, Ctrl-C)
            for k in range(POOL):
                self.server = DummyServer(f"{SERVER_PREFIX}-{k}")
                try:
                    self.server.start()
                    break
                except RuntimeError as exc:
                    self.server = None
                    problems.append(str(exc)[:200])
            else:
                raise LocalInputsError(
                    "the demo's JACK server did not start: " + " | ".join(problems)
                )
            self._start_player()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_player(self) -> None:
        """Start the player, without waiting for it to play (:meth:`ready` does): its Python
        and its JACK client start while the emulator and the microphones do."""
        command = [sys.executable, "-m", "c2c_hub_plugins.jack_inputs.emulated"]
        command += ["--server", self.server.name, "--name", PLAYER]
        command += ["--outputs", str(len(self.inputs))]
        for item in self.inputs:
            if item.kind == "sine":
                command += ["--sine", str(item.output + 1)]
        self._player_err = tempfile.TemporaryFile()
        self._player = player = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._player_err,
            text=True,
        )
        stdout = player.stdout
        assert stdout is not None

        def read() -> None:  # the port names once it plays, and at its end what it missed
            for line in stdout:
                self._player_out.append(line)
                self._playing.set()
            self._playing.set()

        self._player_reader = threading.Thread(target=read, name="demo-player", daemon=True)
        self._player_reader.start()

    def ready(self, within_s: float = 60.0) -> None:
        """Wait until the player plays; or :class:`LocalInputsError`, with what it said."""
        if self._player is None:
            return
        self._playing.wait(within_s)
        if self._player_out and self._player_out[0].split():
            return
        self.stop()
        err = self.result.get("player_stderr", "")
        raise LocalInputsError(f"the demo's signal player did not start: {err[-1000:]}")

    @property
    def player_pid(self) -> int | None:
        return self._player.pid if self._player is not None else None

    def options(self) -> dict[str, Any]:
        """The ``jack_inputs`` plugin's options: one input per output of the player."""
        return {
            "server": self.server.name,
            "inputs": [
                {"name": i.name, "connect": [f"{PLAYER}:out_{i.output + 1}"]} for i in self.inputs
            ],
        }

    def serials(self) -> dict[str, LocalInput]:
        """Each input by the serial the plugin gives it (from its options, as the plugin does)."""
        from c2c_hub_plugins.jack_inputs.options import Options

        options = Options.parse(self.options(), plugin="jack_inputs")
        by_name = {i.name: i for i in self.inputs}
        return {options.serial(item): by_name[item.name] for item in options.inputs}

    def stop(self) -> None:
        """The player, then the server (SIGTERM, waited for); what each reported is kept."""
        player, self._player = self._player, None
        if player is not None:
            assert player.stdin is not None
            with contextlib.suppress(OSError):
                player.stdin.close()  # its end of stdin: it stops, and says what it missed
            try:
                player.wait(20)
            except subprocess.TimeoutExpired:
                player.kill()
                player.wait()
            if self._player_reader is not None:
                self._player_reader.join(10)
            lines = [line for line in self._player_out if line.startswith("{")]
            if lines:
                self.result.update(json.loads(lines[-1]))
            if self._player_err is not None:
                self._player_err.seek(0)
                err = self._player_err.read().decode(errors="replace")
                self._player_err.close()
                self._player_err = None
                if err.strip():
                    self.result["player_stderr"] = err[-2000:]
        server, self.server = self.server, None
        if server is not None:
            server.stop()
            self.result["server"] = server.name
            self.result["xruns"] = server.xruns()

    def __enter__(self) -> LocalInputs:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LocalInputsError(EmulationError, RuntimeError):
    """The demo's JACK server or its player could not start (the reason is in the message)."""


def check_signal(path: Path, item: LocalInput) -> dict[str, Any]:
    """Whether the track at ``path`` holds ``item``'s output of the player, sample for sample.

    The player's sample at JACK frame ``f`` is ``signal(output, f)``; the track's sample ``k``
    is frame ``k + D`` for one unknown ``D``: find the ``D`` under which the most samples agree
    (within one 24-bit step: JACK's samples are float32), and count them.
    """
    from c2c_hub_plugins.jack_inputs.emulated import PERIOD, SHIFT, signal

    data, _rate = sf.read(str(path), dtype="float64", always_2d=True)
    samples = data[:, 0]
    frames = samples.size
    nonzero = np.flatnonzero(samples)
    found: dict[str, Any] = {
        "frames": frames,
        "signal": item.what,
        "silent": nonzero.size == 0,
        "matching": 0,
        "share": 0.0,
    }
    if nonzero.size == 0:
        found["is_signal"] = False
        return found
    if item.kind == "sine":
        candidates = list(range(64))  # its period, in frames
    else:
        # signal(): v = phase / 2**17 - 0.25, phase = (frame + output * SHIFT) % PERIOD
        picks = nonzero[np.linspace(0, nonzero.size - 1, 9).astype(np.int64)]
        candidates = sorted(
            {
                (round((samples[k] + 0.25) * (1 << 17)) - item.output * SHIFT - int(k)) % PERIOD
                for k in picks
            }
        )

    def agree(offset: int, first: int = 0, last: int = frames) -> npt.NDArray[np.bool_]:
        at = np.arange(first, last, dtype=np.int64) + offset
        expected = signal(item.output, at, item.kind).astype(np.float64)
        close: npt.NDArray[np.bool_] = np.abs(samples[first:last] - expected) <= 1.5 * _LSB
        return close

    # the offset chosen on a window in the middle of the track, then every sample counted
    middle = frames // 2
    window = (max(0, middle - 2400), min(frames, middle + 2400))
    best = max(candidates, key=lambda offset: int(np.count_nonzero(agree(offset, *window))))
    close = agree(best)
    matching = int(np.count_nonzero(close))
    dropped = int(np.count_nonzero(~close & (samples == 0)))
    found.update(
        matching=matching,
        share=round(matching / frames, 4),
        # what the rest is: silence (a lost period) or other samples (a period beside it)
        dropped=dropped,
        other=frames - matching - dropped,
        is_signal=(
            matching >= OF_WHAT_ARRIVED * (frames - dropped) and matching >= OF_THE_TAKE * frames
        ),
    )
    return found
