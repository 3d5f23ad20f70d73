"""``c2c-hub run`` with an emulated button remote in range: the process the whole-hub chaos
benchmark and the soak kill, restart and watch.

``python -m tests.ui.hub_child`` runs exactly what ``c2c-hub run`` runs (:func:`c2c_hub.ui.cli.main`
with ``run``), configured by the usual ``C2C_HUB_*`` environment and config file, after putting one
emulated BLE remote on the in-process radio named by ``C2C_CHILD_RADIO`` (the plugin's options
say ``radio = "emulated"`` and the same ``emulated_radio``): a radio only reaches a remote in
its own process, which is why the hub is run this way rather than as the bare command.

The remote is driven through stdin, one command a line (from the parent, while the hub runs):

- ``burst N RATE``: press N times at RATE presses a second, inputs 0, 1, 2 in turn.

What it did goes to the file named by ``C2C_CHILD_MARKS``, a line each, flushed at once:
``burst-start N``, then ``burst-end N PRESSED`` (presses the radio delivered to a subscriber).
A SIGKILL mid-burst leaves a ``burst-start`` without its ``burst-end``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from c2c_hub.ui import cli
from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote

REMOTE = ("C2:C0:00:00:0C:01", "C2C-Remote Chaos", "RMT-CHAOS")
CODES = (1, 2, 3)  # device_models/c2c-button-remote.toml: inputs 0, 1, 2


def _burst(remote: EmulatedRemote, count: int, rate: float, marks: TextIO, n: int) -> None:
    marks.write(f"burst-start {n}\n")
    marks.flush()
    pressed = 0
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pressed += int(remote.press(CODES[i % len(CODES)]))
    marks.write(f"burst-end {n} {pressed}\n")
    marks.flush()


def _commands(remote: EmulatedRemote, marks: TextIO) -> None:
    bursts = 0
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "burst":
            bursts += 1
            _burst(remote, int(words[1]), float(words[2]), marks, bursts)


def main() -> int:
    remote = EmulatedRemote(*REMOTE, radio=os.environ["C2C_CHILD_RADIO"])
    marks = open(os.environ["C2C_CHILD_MARKS"], "a", buffering=1)
    threading.Thread(target=_commands, args=(remote, marks), daemon=True).start()
    return cli.main(["run"])


if __name__ == "__main__":
    raise SystemExit(main())
