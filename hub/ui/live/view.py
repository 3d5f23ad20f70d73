"""The live view: takes the hub's snapshots and draws them, on a timer and at once on an event."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console, RenderableType

from c2c_hub.logs import RedactingFilter
from c2c_hub.ui.live.format import FINAL_PAIRING_STEPS, Status
from c2c_hub.ui.live.plain import PlainLog
from c2c_hub.ui.live.screen import render

if TYPE_CHECKING:
    from c2c_hub.pairing import Pairing, PairingUpdate
    from c2c_hub.runtime import Hub
    from c2c_hub.ui.live.keys import Keys

log = logging.getLogger(__name__)

REFRESH_PER_SECOND = 4.0
RATE_WINDOW_S = 3.0
MESSAGES_KEPT = 20
METERS_EVERY_S = 0.1


def wants_plain(stream: IO[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` (stdout) is not a terminal, or the terminal is ``TERM=dumb``."""
    stream = sys.stdout if stream is None else stream
    env = os.environ if environ is None else environ
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty or env.get("TERM", "") == "dumb"


class _Capture(logging.Handler):
    """The hub's recent warnings, redacted, for the screen (the terminal's log lines would
    tear through it)."""

    def __init__(self, keep: int = MESSAGES_KEPT) -> None:
        super().__init__(logging.WARNING)
        self.addFilter(RedactingFilter())
        self.messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string must not break the screen
            text = str(record.msg)
        self.messages.append({"at": record.created, "level": record.levelno, "text": text})


@contextlib.contextmanager
def _logs_to_screen(capture: _Capture) -> Iterator[None]:
    """While the screen is up: warnings go to it; handlers writing to the terminal pause."""
    root = logging.getLogger()
    muted: list[tuple[logging.Handler, int]] = []
    for handler in root.handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            try:
                tty = bool(stream is not None and stream.isatty())
            except (AttributeError, ValueError):
                tty = False
            if tty:
                muted.append((handler, handler.level))
                handler.setLevel(logging.CRITICAL + 1)
    root.addHandler(capture)
    try:
        yield
    finally:
        root.removeHandler(capture)
        for handler, level in muted:
            handler.setLevel(level)


class _Rates:
    """Each current file's rate, from the bytes it moved over the last seconds."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self.window = window
        self._seen: dict[Any, collections.deque[tuple[float, float]]] = {}

    def annotate(self, status: dict[str, Any], at: float) -> None:
        current = (status.get("uploads") or {}).get("current") or []
        alive = set()
        for entry in current:
            key = entry.get("id")
            alive.add(key)
            samples = self._seen.setdefault(key, collections.deque())
            samples.append((at, float(entry.get("bytes_done") or 0)))
            while len(samples) > 2 and at - samples[0][0] > self.window:
                samples.popleft()
            span = samples[-1][0] - samples[0][0]
            if "rate_bps" not in entry and span >= 0.2:
                entry["rate_bps"] = max(0.0, (samples[-1][1] - samples[0][1]) / span)
        for key in set(self._seen) - alive:
            del self._seen[key]


class LiveView:
    """``c2c-hub run``'s screen (see :mod:`c2c_hub.ui.live`).

    :param hub: the running hub (its :meth:`~c2c_hub.runtime.Hub.status` is what is shown).
    :param console: where to draw (a new ``Console()`` on stdout by default).
    :param plain: plain lines instead of the screen; by default when stdout is not a terminal
        or ``TERM=dumb`` (:func:`wants_plain`).
    :param screen: use the terminal's alternate screen (restored on the way out); ``False``
        leaves the last frame in the scrollback (the demo does).
    :param status: where snapshots come from (default ``c2c_hub.status``).
    """

    def __init__(
        self,
        hub: Hub | None = None,
        *,
        console: Console | None = None,
        plain: bool | None = None,
        screen: bool = True,
        show_qr: bool = True,
        refresh_per_second: float = REFRESH_PER_SECOND,
        status: Callable[[], dict[str, Any]] | None = None,
        write: Callable[[str], None] | None = None,
        keys: Keys | None = None,
    ) -> None:
        if hub is None and status is None:
            raise ValueError("LiveView needs a hub or a status callable")
        self.hub = hub
        self.console = console or Console()
        if plain is None:
            plain = wants_plain(self.console.file) or not self.console.is_terminal
        self.plain = plain
        self.screen = screen
        self.show_qr = show_qr
        self.interval = 1.0 / refresh_per_second
        self._status = status or (hub.status if hub is not None else dict)
        self.log = PlainLog(write)
        self._capture = _Capture()
        self._rates = _Rates()
        self._flow: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._meters_drawn = 0.0
        self._stop: asyncio.Event | None = None
        self.keys = keys  # read from stdin while the screen is up (never in plain mode)
        self._task: asyncio.Task[None] | None = None

    # -- what is shown
    def follow(self, pairing: Pairing) -> Callable[[], None]:
        """Show ``pairing`` 's code while it runs (else the control API's pairing, if any)."""
        return pairing.subscribe(self._pairing_update)

    def _pairing_update(self, update: PairingUpdate) -> None:
        self._flow = {
            "running": update.step.value not in FINAL_PAIRING_STEPS,
            "step": update.step.value,
            "user_code": update.user_code,
            "verification_uri": update.verification_uri,
            "verification_uri_complete": update.verification_uri_complete,
            "expires_at": update.expires_at,
            "message": update.message,
        }
        self._wake.set()

    def snapshot(self) -> dict[str, Any]:
        """The status shown now: the hub's, the pairing flow's public part, recent warnings."""
        status = dict(self._status())
        flow = status.get("pairing_flow") or {}
        if flow.get("step") is None and self._flow is not None:
            status["pairing_flow"] = self._flow  # a flow the hub does not run itself (the demo)
        status["messages"] = list(self._capture.messages)[-5:]
        control = self.hub.attached("control") if self.hub is not None else None
        login_code = getattr(control, "login_code", None)
        if callable(login_code) and not self.plain:
            # Only on the hub's own screen: never in the status the API serves, never a log line.
            status["login_code"] = login_code()
        self._rates.annotate(status, time.monotonic())
        if self.keys is not None and not self.plain:
            status["keys"] = self.keys.line()
        return status

    def render(self, status: Status, now: float) -> RenderableType:
        return render(status, now, show_qr=self.show_qr, reserve=0 if self.screen else 1)

    # -- running
    async def run_until(self, stop: asyncio.Event) -> None:
        """Show the hub until ``stop`` is set."""
        unsubscribe = self._subscribe()
        try:
            if self.plain:
                await self._run_plain(stop)
            else:
                await self._run_live(stop)
        finally:
            for undo in unsubscribe:
                undo()

    async def __aenter__(self) -> LiveView:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.run_until(self._stop), name="live-view")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            await self._task
        self._task = self._stop = None

    def _subscribe(self) -> list[Callable[[], None]]:
        hub = self.hub
        if hub is None:
            return []
        return [
            hub.events.on_event(self._event),
            hub.presence.on_change(lambda *_: self._wake.set()),
        ]

    def _event(self, event: dict[str, Any]) -> None:
        """The hub's one event stream: draw again now (a press, a take, a channel, pairing),
        and in plain mode, a line for a file done or failed."""
        kind = event.get("kind")
        if kind == "meters":
            # the meters move at least ten times a second; the rest of the screen with them
            now = time.monotonic()
            if not self.plain and now - self._meters_drawn >= METERS_EVERY_S:
                self._meters_drawn = now
                self._wake.set()
            return
        if kind != "upload" or event.get("type") == "file":
            self._wake.set()
        if kind == "upload" and self.plain:
            self._upload_event(event)

    def _upload_event(self, event: dict[str, Any]) -> None:
        try:
            self.log.event(event)
        except Exception:  # the view never takes the uploader down
            log.exception("the live view could not show an upload event")

    async def _tick(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _run_plain(self, stop: asyncio.Event) -> None:
        while True:
            try:
                self.log.observe(self.snapshot(), time.time())
            except Exception:
                log.exception("the live view could not read the hub's status")
            if stop.is_set():
                return
            await self._tick(stop)

    async def _run_live(self, stop: asyncio.Event) -> None:
        from rich.live import Live

        from c2c_hub.ui.live.keys import cbreak

        keyboard_mode = cbreak(sys.stdin) if self.keys else contextlib.nullcontext(False)
        with (
            keyboard_mode as keyboard,
            _logs_to_screen(self._capture),
            Live(
                console=self.console,
                screen=self.screen,
                auto_refresh=False,
                transient=False,
                vertical_overflow="crop",
            ) as live,
        ):
            reading = self.keys is not None and keyboard
            if reading and self.keys is not None:
                self.keys.changed = self._wake.set  # a key's outcome is drawn at once
                self.keys.attach(sys.stdin)
            try:
                await self._draw_until(live, stop)
            finally:
                if reading and self.keys is not None:
                    self.keys.detach(sys.stdin)

    async def _draw_until(self, live: Any, stop: asyncio.Event) -> None:
        while True:
            try:
                # The snapshot is taken here, on the hub's loop; drawing it (rich takes a
                # few tens of ms) happens in a thread, so audio and uploads keep flowing.
                frame = self.render(self.snapshot(), time.time())
                await asyncio.to_thread(live.update, frame, refresh=True)
            except Exception:
                log.exception("the live view could not draw the hub's status")
            if stop.is_set():
                return
            await self._tick(stop)
