"""The live view's keys: a take started and stopped, pairing and its cancel, uploads held,
from the terminal the hub runs in.

rich draws the screen and stays (the view is a pure render of the status, tested as such);
keys come from the terminal in cbreak mode (one key at a time, no echo, Ctrl-C still a signal),
read by the hub's own event loop (``add_reader``), so no thread and no second UI framework.
Every action is what the control API does, with the same refusals (a take with no source,
:mod:`c2c_hub.ui.take_rules`); its outcome is one line on the screen, under the help line.

=======  ==================================================================================
key      does
=======  ==================================================================================
``r``    start a take (refused with no source), or stop the one rolling
``R``    start a take even with no source attached
``p``    pair (when not paired); ``c`` or Esc cancels pairing (so does Ctrl-C while pairing)
``u``    hold uploads, or let them go
``q``    stop the hub (as Ctrl-C does when not pairing)
``?``    the help line, longer or shorter
=======  ==================================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from c2c_hub.ui.take_rules import sources

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub

log = logging.getLogger(__name__)

SHORT_HELP = "r take  p pair  c cancel  u uploads  q quit  ? help"
LONG_HELP = (
    "r start/stop take  R start with no source  p pair  c/Esc cancel pairing  "
    "u hold/release uploads  q quit (Ctrl-C too)  ? less"
)
NOTICE_FOR_S = 8.0


@contextlib.contextmanager
def cbreak(stream: IO[str]) -> Iterator[bool]:
    """The terminal in cbreak mode (restored on the way out); False when it is no terminal."""
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error, AttributeError):
        yield False
        return
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Keys:
    """What the keys do to ``hub``; ``stop`` ends the hub (``q``)."""

    def __init__(self, hub: Hub, stop: asyncio.Event | None = None) -> None:
        self.hub = hub
        self.stop = stop
        self.long = False
        self.notice = ""
        self.notice_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.changed: Callable[[], None] | None = None  # the view draws again

    # -- what the screen shows
    def line(self, now: float | None = None) -> dict[str, str]:
        now = time.monotonic() if now is None else now
        notice = self.notice if now - self.notice_at < NOTICE_FOR_S else ""
        return {"help": LONG_HELP if self.long else SHORT_HELP, "notice": notice}

    def say(self, text: str) -> None:
        self.notice, self.notice_at = text, time.monotonic()
        if self.changed is not None:
            self.changed()

    # -- reading
    def attach(self, stream: IO[str] | None = None) -> None:
        """Read keys from ``stream`` (stdin) on the running loop."""
        stream = sys.stdin if stream is None else stream
        fd = stream.fileno()
        asyncio.get_running_loop().add_reader(fd, self._readable, fd)

    def detach(self, stream: IO[str] | None = None) -> None:
        stream = sys.stdin if stream is None else stream
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(stream.fileno())

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        for char in data.decode("utf-8", "ignore"):
            self.press(char)

    # -- doing
    def press(self, key: str) -> None:
        """One key; its action runs as a task on the hub's loop."""
        action = {
            "r": self._take,
            "R": self._forced_take,
            "p": self._pair,
            "c": self._cancel,
            "\x1b": self._cancel,
            "u": self._uploads,
            "q": self._quit,
            "?": self._help,
        }.get(key)
        if action is None:
            return
        task = asyncio.get_running_loop().create_task(self._run(action), name=f"key-{key!r}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, action: Any) -> None:
        try:
            await action()
        except Exception as exc:  # a refusal, said on the screen; the hub goes on
            self.say(str(exc) or type(exc).__name__)
            log.info("key action refused: %s", exc)

    async def _take(self, *, force: bool = False) -> None:
        recorder = self.hub.recorder
        if recorder.take is not None:
            take = await recorder.stop_take()
            self.say(f"Stopped {take.label}.")
            return
        if not force and not sources(self.hub):
            self.say("No source to record (no microphone or input): R starts an empty take.")
            return
        take = await recorder.start_take()
        self.say(f"Recording {take.label}.")

    async def _forced_take(self) -> None:
        await self._take(force=True)

    async def _pair(self) -> None:
        if self.hub.session.state.value in ("paired", "refreshing"):
            self.say("Already paired: unpair first ('c2c-hub unpair' or the web page).")
            return
        self.hub.start_pairing()
        self.say("Pairing: enter the code in Frame.io; c, Esc or Ctrl-C cancels.")

    async def _cancel(self) -> None:
        self.say("Pairing cancelled." if self.hub.cancel_pairing() else "Not pairing.")

    async def _uploads(self) -> None:
        uploader = self.hub.uploader
        hold = not uploader.held_by_operator
        await uploader.set_held(hold)
        self.say("Uploads held: no new part starts." if hold else "Uploads released.")

    async def _quit(self) -> None:
        if self.stop is not None:
            self.stop.set()

    async def _help(self) -> None:
        self.long = not self.long
        if self.changed is not None:
            self.changed()

    def interrupt(self) -> bool:
        """Ctrl-C: cancels pairing while it runs (True), else leaves it to the caller."""
        flow = self.hub.pairing_flow
        if flow is not None and flow.running:
            self.hub.cancel_pairing()
            self.say("Pairing cancelled (Ctrl-C). Ctrl-C again stops the hub.")
            return True
        return False
