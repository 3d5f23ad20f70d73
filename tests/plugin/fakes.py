"""Sources and plugins with behaviour, for the plugin host's tests (no mocks).

Each source does one thing a real plugin might: attach and stay, fail at start, fail later,
block its loop with a synchronous call, ignore cancellation. They record what happened to them
(thread-safely enough for the assertions: lists appended from one thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from c2c_hub.plugin.spec import hookimpl
from c2c_hub.subdevices import AudioFormat, DeviceSource, RouteRule, SourceContext, SubDevice

NETWORK_MIC = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
BUTTON_REMOTE = "d4e6f8a0-2c4e-4a6b-9d1f-3e5a7c9e1f24"

#: Released by the tests' teardown: a plugin module that waits on it "hangs at import".
IMPORT_GATE = threading.Event()


def mic(serial: str, name: str | None = None) -> SubDevice:
    return SubDevice(serial, NETWORK_MIC, name or f"Mic {serial}", audio=AudioFormat())


class MicSource:
    """Attaches its microphones, stays until cancelled, detaches them on the way out."""

    def __init__(self, name: str, serials: Iterable[str]) -> None:
        self.name = name
        self.serials = list(serials)
        self.contexts: list[SourceContext] = []
        self.threads: list[str] = []

    async def run(self, ctx: SourceContext) -> None:
        self.contexts.append(ctx)
        self.threads.append(threading.current_thread().name)
        for serial in self.serials:
            ctx.attach(mic(serial))
        ctx.report(True, f"{len(self.serials)} mics")
        try:
            await asyncio.Event().wait()
        finally:
            for serial in self.serials:
                ctx.detach(serial, "source stopped")


class FlakySource:
    """Attaches its microphone, then raises at once for its first ``failures`` runs."""

    def __init__(self, name: str, serial: str, failures: int) -> None:
        self.name = name
        self.serial = serial
        self.failures = failures
        self.starts: list[float] = []

    async def run(self, ctx: SourceContext) -> None:
        self.starts.append(time.monotonic())
        ctx.attach(mic(self.serial))
        if len(self.starts) <= self.failures:
            raise RuntimeError(f"adapter not ready (run {len(self.starts)})")
        await asyncio.Event().wait()


class FailOnCommand:
    """Attaches its microphone and runs until the test calls :meth:`fail`; then raises."""

    def __init__(self, name: str, serial: str) -> None:
        self.name = name
        self.serial = serial
        self.runs = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fail: asyncio.Event | None = None

    def fail(self) -> None:
        """From the test's thread: make the current run raise."""
        assert self._loop is not None and self._fail is not None
        self._loop.call_soon_threadsafe(self._fail.set)

    async def run(self, ctx: SourceContext) -> None:
        self._loop, self._fail = asyncio.get_running_loop(), asyncio.Event()
        self.runs += 1
        ctx.attach(mic(self.serial))
        await self._fail.wait()
        raise ConnectionError("the network went away")


class ReturningSource:
    """Returns from run at once: a bug (a source runs until cancelled)."""

    name = "returns"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, ctx: SourceContext) -> None:
        self.runs += 1


class TickerSource:
    """Attaches a new microphone every ``interval`` seconds: proof that it is being run."""

    def __init__(self, name: str, interval: float, prefix: str = "T") -> None:
        self.name = name
        self.interval = interval
        self.prefix = prefix

    async def run(self, ctx: SourceContext) -> None:
        n = 0
        while True:
            ctx.attach(mic(f"{self.prefix}-{n}"))
            n += 1
            await asyncio.sleep(self.interval)


class BlockingSource:
    """Blocks its own event loop with ``time.sleep`` (a sync driver call, say), in chunks."""

    def __init__(self, name: str, block: float, chunk: float = 0.05) -> None:
        self.name = name
        self.block = block
        self.chunk = chunk
        self.blocking = threading.Event()

    async def run(self, ctx: SourceContext) -> None:
        ctx.attach(mic(f"{self.name}-1"))
        self.blocking.set()
        time.sleep(self.block)  # noqa: ASYNC251 (the point: a source that blocks its loop)
        while True:
            time.sleep(self.chunk)  # noqa: ASYNC251
            await asyncio.sleep(0)


class StubbornSource:
    """Ignores cancellation: keeps running whatever the hub asks."""

    def __init__(self, name: str, serial: str) -> None:
        self.name = name
        self.serial = serial
        self.ignored = 0
        self.running = threading.Event()

    async def run(self, ctx: SourceContext) -> None:
        ctx.attach(mic(self.serial))
        self.running.set()
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.ignored += 1


class Plugin:
    """A plugin object: registers the sources (and rules) it was given."""

    def __init__(self, *sources: Any, routes: Iterable[Any] = ()) -> None:
        self.to_register = list(sources)
        self.rules = list(routes)

    @hookimpl
    def register_sources(self, register: Callable[[DeviceSource], None]) -> None:
        for source in self.to_register:
            register(source)

    @hookimpl
    def register_routes(self, register: Callable[[RouteRule], None]) -> None:
        for rule in self.rules:
            register(rule)


async def wait_until(
    predicate: Callable[[], bool], within: float = 15.0, what: str = "the condition"
) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)
