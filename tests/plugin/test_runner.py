"""Each source in its own thread and event loop, restarted with backoff, stopped in time."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.devices import DeviceRegistry, Press
from c2c_hub.plugin.runner import (
    SOURCE_THREAD_PREFIX,
    Health,
    RestartPolicy,
    SourceRunner,
    SourceSupervisor,
)
from c2c_hub.subdevices import AudioBlock, DeviceSource, SourceContext, SubDevice
from tests.plugin.conftest import FAST, Changes
from tests.plugin.fakes import (
    BUTTON_REMOTE,
    BlockingSource,
    FailOnCommand,
    FlakySource,
    MicSource,
    ReturningSource,
    StubbornSource,
    TickerSource,
    mic,
    wait_until,
)


def runner_for(source: DeviceSource, registry: DeviceRegistry, **kwargs: Any) -> SourceRunner:
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("options", {})
    return SourceRunner("plug", source, registry, models=registry.models, **kwargs)


async def test_a_source_runs_in_its_own_thread_and_its_devices_land_in_the_registry(
    registry: DeviceRegistry, changes: Changes
) -> None:
    source = MicSource("mics", ["M-1", "M-2"])
    runner = runner_for(source, registry)
    await runner.start()
    try:
        await wait_until(lambda: len(registry) == 2)
        await wait_until(lambda: runner.state is Health.RUNNING)
        assert source.threads == [f"{SOURCE_THREAD_PREFIX}plug:mics"]
        attached = registry.get("M-1")
        assert attached is not None and attached.source == "plug:mics"
    finally:
        await runner.stop()
    assert runner.state is Health.STOPPED
    assert len(registry) == 0
    assert changes.seen[-2:] == [
        ("detached", "M-1", "source stopped"),
        ("detached", "M-2", "source stopped"),
    ]


async def test_a_source_failing_at_start_is_restarted_with_backoff_its_devices_detached_between(
    registry: DeviceRegistry, changes: Changes, caplog: pytest.LogCaptureFixture
) -> None:
    source = FlakySource("flaky", "F-1", failures=2)
    policy = RestartPolicy(initial=0.1, max=1.0, jitter=0.0, reset_after=60)
    runner = runner_for(source, registry, policy=policy)
    await runner.start()
    try:
        await wait_until(lambda: len(source.starts) == 3 and runner.state is Health.RUNNING)
        await wait_until(lambda: registry.get("F-1") is not None)
        snapshot = runner.snapshot()
    finally:
        await runner.stop()
    assert changes.kinds("F-1") == [
        "attached",
        "detached",
        "attached",
        "detached",
        "attached",
        "detached",
    ]
    reasons = [reason for kind, _, reason in changes.seen if kind == "detached"]
    assert reasons[:2] == [
        "source failed: RuntimeError: adapter not ready (run 1)",
        "source failed: RuntimeError: adapter not ready (run 2)",
    ]
    first_gap = source.starts[1] - source.starts[0]
    second_gap = source.starts[2] - source.starts[1]
    assert 0.09 <= first_gap < 0.5 and 0.19 <= second_gap < 0.7  # 0.1 s, then 0.2 s
    assert snapshot["restarts"] == 2 and snapshot["state"] == "running"
    assert snapshot["last_error"] == "RuntimeError: adapter not ready (run 2)"
    assert "plugin plug: source flaky failed (1 in a row): RuntimeError" in caplog.text


async def test_backoff_grows_is_capped_and_starts_over_after_a_long_healthy_run(
    registry: DeviceRegistry,
) -> None:
    clock = ManualClock()
    source = FailOnCommand("cmd", "C-1")
    policy = RestartPolicy(initial=1.0, max=4.0, jitter=0.5, reset_after=30.0)
    runner = runner_for(source, registry, policy=policy, clock=clock)
    await runner.start()

    async def fail_and_read_delay(run: int) -> float:
        await wait_until(lambda: source.runs == run and runner.state is Health.RUNNING)
        source.fail()
        await wait_until(lambda: runner.state is Health.RESTARTING)
        delay: float = runner.snapshot()["restart_in"]
        return delay

    async def restart(delay: float, run: int) -> None:
        clock.advance(delay * 0.9)
        await asyncio.sleep(0.05)
        assert runner.state is Health.RESTARTING and source.runs == run - 1  # not yet
        clock.advance(delay * 0.1 + 0.001)
        await wait_until(lambda: source.runs == run)

    try:
        delays = []
        for run in range(1, 5):
            delays.append(await fail_and_read_delay(run))
            await restart(delays[-1], run + 1)
        assert 1.0 <= delays[0] <= 1.5
        assert 2.0 <= delays[1] <= 2.5
        assert delays[2] == delays[3] == 4.0  # 4 + jitter, capped at 4
        assert runner.failures == 4 and runner.restarts == 4

        await wait_until(lambda: runner.state is Health.RUNNING)
        clock.advance(30.0)  # a healthy half minute
        assert 1.0 <= await fail_and_read_delay(5) <= 1.5
        assert runner.failures == 1
    finally:
        await runner.stop()


async def test_a_source_that_fails_later_is_detached_then_comes_back(
    registry: DeviceRegistry, changes: Changes
) -> None:
    source = FailOnCommand("later", "L-1")
    runner = runner_for(source, registry)
    await runner.start()
    try:
        await wait_until(lambda: registry.get("L-1") is not None)
        await asyncio.sleep(0.05)
        source.fail()
        await wait_until(lambda: runner.last_error is not None)
        assert runner.last_error == "ConnectionError: the network went away"
        await wait_until(lambda: source.runs == 2 and registry.get("L-1") is not None)
    finally:
        await runner.stop()
    assert changes.kinds("L-1") == ["attached", "detached", "attached", "detached"]
    assert changes.seen[1][2] == "source failed: ConnectionError: the network went away"


async def test_a_run_that_returns_is_a_failure_and_runs_again(registry: DeviceRegistry) -> None:
    source = ReturningSource()
    runner = runner_for(source, registry)
    await runner.start()
    try:
        await wait_until(lambda: source.runs >= 3)
    finally:
        await runner.stop()
    assert runner.last_error == "run returned (a source runs until it is cancelled)"


async def test_a_source_blocking_its_loop_stalls_neither_the_hub_nor_another_source(
    registry: DeviceRegistry,
) -> None:
    blocker = BlockingSource("blocker", block=1.2)
    supervisor = SourceSupervisor(registry, models=registry.models, options_by_plugin={})
    await supervisor.start([("slow", blocker), ("busy", TickerSource("ticker", 0.02))])
    try:
        await wait_until(blocker.blocking.is_set)
        before = sum(1 for a in registry if a.source == "busy:ticker")
        worst, began = 0.0, time.monotonic()
        while time.monotonic() - began < 0.8:  # well inside the 1.2 s block
            tick = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - tick)
        during = sum(1 for a in registry if a.source == "busy:ticker") - before
    finally:
        began = time.monotonic()
        await supervisor.stop(timeout=3.0)
        stopped_in = time.monotonic() - began
    # Blocked by the blocker, this loop would stall for the rest of its 1.2 s block; a busy
    # machine's scheduler costs far less than that.
    assert worst < 0.6, f"the hub's loop stalled {worst:.3f} s"
    assert during >= 10, f"the other source attached only {during} devices meanwhile"
    # the blocker hands control back between chunks: it stops cleanly (not hung), before
    # the supervisor's timeout
    assert [r.state for r in supervisor.runners] == [Health.STOPPED, Health.STOPPED]
    assert stopped_in < 3.0
    assert len(registry) == 0


async def test_a_source_ignoring_cancellation_is_marked_hung_and_stop_returns_in_time(
    registry: DeviceRegistry, no_lingering_threads: set[str]
) -> None:
    stubborn = StubbornSource("stubborn", "S-1")
    polite = MicSource("polite", ["P-1"])
    supervisor = SourceSupervisor(registry, models=registry.models, options_by_plugin={})
    await supervisor.start([("plug", stubborn), ("plug", polite)])
    no_lingering_threads.add(f"{SOURCE_THREAD_PREFIX}plug:stubborn")
    await wait_until(lambda: len(registry) == 2)
    began = time.monotonic()
    await supervisor.stop(timeout=0.3)
    took = time.monotonic() - began
    assert took < 3.0, f"stop took {took:.2f} s"  # the source never ends: the timeout did
    hung, stopped = supervisor.runners
    assert hung.state is Health.HUNG and stopped.state is Health.STOPPED
    assert stubborn.ignored >= 1
    assert len(registry) == 0  # the hung source's devices are detached all the same
    assert hung.snapshot()["state"] == "hung"


async def test_a_source_blocked_in_a_sync_call_at_stop_is_hung_and_abandoned(
    registry: DeviceRegistry, no_lingering_threads: set[str]
) -> None:
    blocker = BlockingSource("frozen", block=6.0)
    runner = runner_for(blocker, registry)
    no_lingering_threads.add(f"{SOURCE_THREAD_PREFIX}plug:frozen")
    await runner.start()
    await wait_until(blocker.blocking.is_set)
    began = time.monotonic()
    await runner.stop(timeout=0.2)
    assert time.monotonic() - began < 3.0  # did not wait the 6 s block out
    assert runner.state is Health.HUNG
    assert len(registry) == 0


class LeakyContext:
    """Hands its context out (as a leaked thread would keep it), then fails."""

    name = "leaky"

    def __init__(self) -> None:
        self.contexts: list[SourceContext] = []

    async def run(self, ctx: SourceContext) -> None:
        self.contexts.append(ctx)
        if len(self.contexts) == 1:
            raise RuntimeError("first run fails")
        await asyncio.Event().wait()


async def test_calls_from_an_ended_run_are_dropped(registry: DeviceRegistry) -> None:
    source = LeakyContext()
    runner = runner_for(source, registry)
    await runner.start()
    try:
        await wait_until(lambda: len(source.contexts) == 2)
        stale = threading.Thread(target=source.contexts[0].attach, args=(mic("GHOST"),))
        stale.start()
        stale.join()
        source.contexts[1].attach(mic("LIVE"))
        await wait_until(lambda: registry.get("LIVE") is not None)
        assert registry.get("GHOST") is None
    finally:
        await runner.stop()


class Reporter:
    """Sends audio, presses and reports, and some calls a careless plugin would make."""

    name = "reporter"

    def __init__(self) -> None:
        self.sent = threading.Event()
        self.raised: list[BaseException] = []

    async def run(self, ctx: SourceContext) -> None:
        try:
            ctx.attach("not a device")  # type: ignore[arg-type]
            ctx.audio("A-1", AudioBlock(0, np.zeros(4, dtype=np.float32)))
            ctx.audio("A-1", AudioBlock(0, np.zeros((4, 0), dtype=np.int32)))  # no channel
            ctx.audio("A-1", AudioBlock(0, np.zeros((5, 0), dtype=np.int32)))  # said once
            ctx.audio("A-1", AudioBlock(0, np.zeros((4, 1, 2), dtype=np.int32)))
            ctx.press("B-1", "zero")  # type: ignore[arg-type]
        except BaseException as exc:
            self.raised.append(exc)
        ctx.attach(mic("A-1"))
        ctx.attach(SubDevice("B-1", BUTTON_REMOTE, "Remote"))
        ctx.audio("A-1", AudioBlock(1000, np.arange(4, dtype=np.int32) << 8))
        ctx.press("B-1", 0, at=1234.5)
        ctx.report(False, "adapter busy")
        self.sent.set()
        await asyncio.Event().wait()


async def test_audio_presses_and_health_reach_the_hub_and_bad_calls_are_dropped(
    registry: DeviceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    audio: list[tuple[str, AudioBlock]] = []
    presses: list[Press] = []
    registry.on_audio(lambda serial, block: audio.append((serial, block)))
    registry.on_press(presses.append)
    source = Reporter()
    runner = runner_for(source, registry)
    await runner.start()
    try:
        await wait_until(lambda: runner.reported is not None)
        assert source.raised == []
        assert [(s, b.position, b.frames) for s, b in audio] == [("A-1", 1000, 4)]
        assert presses == [Press("B-1", 0, 1234.5)]
        assert runner.snapshot()["reported"]["detail"] == "adapter busy"
        assert runner.snapshot()["reported"]["healthy"] is False
        assert runner.state is Health.RUNNING  # a source's own report is not a failure
    finally:
        await runner.stop()
    assert "attach dropped: expected a SubDevice, got str" in caplog.text
    assert "AudioBlock.samples must be a numpy int32 array" in caplog.text
    shape = "AudioBlock.samples must be (frames,) or (frames, channels)"
    assert f"{shape}, not (4, 0)" in caplog.text
    assert caplog.text.count(shape) == 1  # once per mistake, whatever the frames


class Burst:
    """Attaches two microphones, sends a burst of blocks of both without yielding (as a
    capture thread delivers a JACK period of 16 inputs), then detaches one and sends more."""

    name = "burst"

    def __init__(self, blocks: int) -> None:
        self.blocks = blocks

    async def run(self, ctx: SourceContext) -> None:
        ctx.attach(mic("A-1"))
        ctx.attach(mic("A-2"))
        for n in range(self.blocks):
            samples = np.full(4, n << 8, dtype=np.int32)
            ctx.audio("A-1", AudioBlock(4 * n, samples))
            ctx.audio("A-2", AudioBlock(4 * n, samples))
        ctx.detach("A-2", "unplugged")
        ctx.audio("A-2", AudioBlock(4 * self.blocks, np.zeros(4, dtype=np.int32)))  # too late
        ctx.audio("A-1", AudioBlock(4 * self.blocks, np.zeros(4, dtype=np.int32)))
        ctx.report(True, "burst sent")
        await asyncio.Event().wait()


async def test_a_burst_of_blocks_reaches_the_hub_whole_and_in_order_with_attach_and_detach(
    registry: DeviceRegistry, changes: Changes
) -> None:
    # Calls from a source's thread reach the hub's loop in batches: the order of every call
    # (attach, audio, detach) must hold across and within them.
    blocks = 3000
    audio: list[tuple[str, int, int]] = []
    registry.on_audio(lambda serial, b: audio.append((serial, b.position, int(b.samples[0]))))
    runner = runner_for(Burst(blocks), registry)
    await runner.start()
    try:
        await wait_until(lambda: runner.reported is not None)
        ones = [(p, v) for s, p, v in audio if s == "A-1"]
        twos = [(p, v) for s, p, v in audio if s == "A-2"]
        assert ones == [(4 * n, n << 8) for n in range(blocks)] + [(4 * blocks, 0)]
        assert twos == [(4 * n, n << 8) for n in range(blocks)]  # none after its detach
        assert ("detached", "A-2", "unplugged") in changes.seen
    finally:
        await runner.stop()


class OptionsReader:
    name = "options"

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def run(self, ctx: SourceContext) -> None:
        self.seen.append(dict(ctx.options))
        self.seen.append(ctx.models)
        self.seen.append(ctx.log.name)
        try:
            ctx.options["mics"] = 3  # type: ignore[index]
        except TypeError as exc:
            self.seen.append(exc)
        await asyncio.Event().wait()


async def test_a_source_gets_a_read_only_copy_of_its_options_the_models_and_a_logger(
    registry: DeviceRegistry, models: DeviceModelRegistry
) -> None:
    options = {"mics": [{"serial": "X"}]}
    source = OptionsReader()
    runner = runner_for(source, registry, options=options)
    await runner.start()
    try:
        await wait_until(lambda: len(source.seen) == 4)
    finally:
        await runner.stop()
    assert source.seen[0] == options and source.seen[1] is registry.models
    assert source.seen[2] == "c2c_hub.plugins.plug.options"
    assert isinstance(source.seen[3], TypeError)


async def test_stop_before_start_and_twice_is_harmless(registry: DeviceRegistry) -> None:
    runner = runner_for(MicSource("m", ["X-1"]), registry)
    await runner.stop()
    await runner.start()
    with pytest.raises(RuntimeError, match="already started"):
        await runner.start()
    await runner.stop()
    await runner.stop()
    assert runner.state is Health.STOPPED


async def test_stop_during_a_backoff_wakes_it(registry: DeviceRegistry) -> None:
    source = FlakySource("flaky", "F-9", failures=100)
    runner = runner_for(source, registry, policy=RestartPolicy(initial=30, jitter=0))
    await runner.start()
    await wait_until(lambda: runner.state is Health.RESTARTING)
    began = time.monotonic()
    await runner.stop()
    assert time.monotonic() - began < 5.0  # not the 30 s backoff
    assert runner.state is Health.STOPPED and len(source.starts) == 1


def test_restart_policy_is_capped_and_jittered() -> None:
    policy = RestartPolicy(initial=1.0, max=60.0, jitter=1.0)
    delays = [policy.delay(n) for n in range(1, 12)]
    assert 1.0 <= delays[0] <= 2.0 and 2.0 <= delays[1] <= 3.0
    assert delays[-1] == 60.0 and max(delays) <= 60.0
