"""Fixtures for the BLE remote tests: BlueZ mocked on a private D-Bus, a context with behaviour.

:class:`FakeSourceContext` is the hub's side of the plugin API without the hub: the real device
models, the real :class:`~c2c_hub.devices.DeviceRegistry` validating attaches and presses (a press
of an input the model does not declare is refused there, as in the hub), every call recorded in
order with its loop time, wall time and ``perf_counter``, and ways to await what a test expects.

Everything goes through bleak's real BlueZ backend against
:class:`c2c_hub.emulation.bluez.BlueZMock`
(a ``dbus-daemon`` on a unix socket in a temporary directory); nothing touches a real bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.subdevices import AudioBlock, SubDevice
from c2c_hub_plugins.ble_remotes import BleRemoteSource

DEVICE_MODELS = shipped_models_dir()
SOURCE = "ble-remotes"
REMOTE_MODEL_ID = "d4e6f8a0-2c4e-4a6b-9d1f-3e5a7c9e1f24"
# Short timings: every behaviour is seen in well under a second.
FAST: dict[str, Any] = {
    "reconnect_grace_s": 0.4,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.2,
    "backoff_jitter_s": 0.0,
    "connect_timeout_s": 2.0,
    "unavailable_retry_s": 0.2,
}


@dataclass(frozen=True)
class Call:
    kind: str  # attach, refused, detach, press, press-refused, report, audio
    args: tuple[Any, ...]
    at: float  # loop time
    wall: float  # time.time()
    perf: float  # time.perf_counter()


@dataclass
class FakeSourceContext:
    """A SourceContext that validates like the hub's and remembers everything."""

    options: Mapping[str, Any] = field(default_factory=dict)
    models: DeviceModelRegistry = field(
        default_factory=lambda: DeviceModelRegistry.load(DEVICE_MODELS)
    )
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(f"test.{SOURCE}"))

    def __post_init__(self) -> None:
        self.registry = DeviceRegistry(self.models, now=time.time)
        self.calls: list[Call] = []
        self._tick = asyncio.Event()

    # ------------------------------------------------------------------ the SourceContext API
    def attach(self, device: SubDevice) -> None:
        ok = self.registry.attach(SOURCE, device)
        self._record("attach" if ok else "refused", device)

    def detach(self, serial: str, reason: str) -> None:
        self.registry.detach(SOURCE, serial, reason)
        self._record("detach", serial, reason)

    def audio(self, serial: str, block: AudioBlock) -> None:
        self._record("audio", serial, block)

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        ok = self.registry.press(SOURCE, serial, input_index, at)
        self._record("press" if ok else "press-refused", serial, input_index, at)

    def report(self, healthy: bool, detail: str) -> None:
        self._record("report", healthy, detail)

    # ------------------------------------------------------------------ reading
    def _record(self, kind: str, *args: Any) -> None:
        self.calls.append(
            Call(kind, args, asyncio.get_running_loop().time(), time.time(), time.perf_counter())
        )
        self._tick.set()

    def of_kind(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def attaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("attach") if c.args[0].serial == serial]

    def detaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("detach") if c.args[0] == serial]

    def presses(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("press") if c.args[0] == serial]

    def indexes(self, serial: str) -> list[int]:
        return [c.args[1] for c in self.presses(serial)]

    @property
    def last_report(self) -> tuple[bool, str] | None:
        reports = self.of_kind("report")
        return (reports[-1].args[0], reports[-1].args[1]) if reports else None

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, what: str, check: Callable[[], Any], within: float = 5.0) -> Any:
        """Until ``check()`` is truthy (re-checked on every call and every 50 ms); its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (value := check()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {within} s waiting for {what}; calls: "
                    + ", ".join(f"{c.kind}{c.args}" for c in self.calls[-12:])
                )
            self._tick.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._tick.wait()
            except TimeoutError:
                pass
        return value

    async def wait_attached(self, serial: str, count: int = 1, within: float = 5.0) -> Call:
        calls = await self.wait_for(
            f"{serial} attached {count}x", lambda: self.attaches(serial)[count - 1 :], within
        )
        return calls[0]  # type: ignore[no-any-return]

    async def wait_detached(self, serial: str, count: int = 1, within: float = 5.0) -> Call:
        calls = await self.wait_for(
            f"{serial} detached {count}x", lambda: self.detaches(serial)[count - 1 :], within
        )
        return calls[0]  # type: ignore[no-any-return]

    async def wait_presses(self, serial: str, count: int, within: float = 5.0) -> list[Call]:
        return await self.wait_for(  # type: ignore[no-any-return]
            f"{count} presses from {serial}",
            lambda: self.presses(serial) if len(self.presses(serial)) >= count else None,
            within,
        )

    async def wait_report(self, text: str, within: float = 5.0) -> tuple[bool, str]:
        return await self.wait_for(  # type: ignore[no-any-return]
            f"a report with {text!r}",
            lambda: (
                self.last_report
                if self.last_report is not None and text in self.last_report[1]
                else None
            ),
            within,
        )


@dataclass
class RunningSource:
    ctx: FakeSourceContext
    source: BleRemoteSource
    task: asyncio.Task[None]

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        async with asyncio.timeout(5):
            await asyncio.gather(self.task, return_exceptions=True)


SourceFactory = Callable[..., Awaitable[RunningSource]]


def plugin_tasks() -> list[asyncio.Task[Any]]:
    """The plugin's own tasks still alive on this loop (trackers and their grace timers)."""
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("ble-remotes") and not t.done()
    ]


async def release_bleak_manager() -> None:
    """Close bleak's BlueZ manager of this loop while the loop still runs.

    bleak keeps one manager (and one bus connection) per event loop and only cleans up a
    closed loop's manager when another loop asks for one. Every test has a loop and a mock of
    its own, so without this, the next test finalizes the previous one's dead bus and dbus-fast
    complains ("Future exception was never retrieved"). In the hub a source keeps its loop for
    good, so this is test hygiene only (and the one private bleak name the tests use).
    """
    from bleak.backends.bluezdbus import manager as bluez_manager

    instance = bluez_manager._global_instances.pop(asyncio.get_running_loop(), None)
    if instance is None:
        return
    bus, watcher = instance._bus, instance._bus_watcher_task
    if bus is not None and bus.connected:
        bus.disconnect()
    if watcher is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await asyncio.gather(watcher, return_exceptions=True)


@pytest.fixture
def bluez() -> Iterator[BlueZMock]:
    """BlueZ (adapter hci0) on a private bus; ``DBUS_SYSTEM_BUS_ADDRESS`` points at it."""
    with BlueZMock() as mock:
        yield mock


@pytest.fixture
async def run_source() -> AsyncIterator[SourceFactory]:
    """``await run_source(reconnect_grace_s=0.2)``: the plugin's source on a fake context, as a
    task (options default to :data:`FAST`); cancelled after the test, which then fails if any
    of the plugin's tasks is left behind."""
    running: list[RunningSource] = []

    async def start(wait_for: str | None = "scanning", **options: Any) -> RunningSource:
        ctx = FakeSourceContext(options={**FAST, **options})
        source = BleRemoteSource()
        task = asyncio.get_running_loop().create_task(source.run(ctx), name="test source")
        run = RunningSource(ctx, source, task)
        running.append(run)
        if wait_for is not None:
            await ctx.wait_report(wait_for, within=5)
        return run

    try:
        yield start
    finally:
        for run in running:
            await run.stop()
        await release_bleak_manager()
        await asyncio.sleep(0)
        left = plugin_tasks()
        assert not left, f"tasks left behind: {[t.get_name() for t in left]}"
