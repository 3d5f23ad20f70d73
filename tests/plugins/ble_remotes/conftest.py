"""Fixtures for the BLE remote tests: BlueZ mocked on a private D-Bus, a context with behaviour.

:class:`FakeSourceContext` is the pytest plugin's (:mod:`c2c_hub.emulation.testing`): the hub's
side of the plugin API without the hub, the real :class:`~c2c_hub.devices.DeviceRegistry`
validating attaches and presses (a press of an input the model does not declare is refused
there, as in the hub), every call recorded with its times, and ways to await what a test expects.

Everything goes through bleak's real BlueZ backend against
:class:`c2c_hub.emulation.bluez.BlueZMock`
(a ``dbus-daemon`` on a unix socket in a temporary directory); nothing touches a real bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from c2c_hub.clock import Clock
from c2c_hub.device_models import shipped_models_dir
from c2c_hub.emulation import testing
from c2c_hub.emulation.bluez import BlueZMock
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


Call = testing.Call


@dataclass
class FakeSourceContext(testing.FakeSourceContext):
    """The pytest plugin's fake context, named for this plugin and its source."""

    plugin: str = "ble_remotes"
    source: str = SOURCE


#: A source started under the fake context (the pytest plugin's own helper).
RunningSource = testing.RunningSource


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
    task (options default to :data:`FAST`; ``clock=`` for a clock of the test's); cancelled
    after the test, which then fails if any of the plugin's tasks is left behind."""
    running: list[RunningSource] = []

    async def start(
        wait_for: str | None = "scanning", clock: Clock | None = None, **options: Any
    ) -> RunningSource:
        ctx = FakeSourceContext(options={**FAST, **options})
        source = BleRemoteSource(clock=clock)
        task = asyncio.get_running_loop().create_task(source.run(ctx), name="test source")
        run = RunningSource(ctx, source, task)
        running.append(run)
        if wait_for is not None:
            await ctx.wait_report(wait_for, within=30)
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
