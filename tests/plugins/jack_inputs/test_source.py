"""The JACK source against a real JACK server (dummy backend): ports, connections by name,
the server's rate, xruns, a source port that vanishes, a server that dies and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import c2c_hub_plugins.jack_inputs.plugin as jack_plugin
from c2c_hub import kit
from c2c_hub.device_models import load_device_models
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation.source_context import RunningSource, shipped_models
from c2c_hub.plugin.runner import Health, SourceRunner
from c2c_hub_plugins.jack_inputs.emulated import DummyServer, leftover_semaphores
from c2c_hub_plugins.jack_inputs.source import STOP_WITHIN_S, JackInputsSource

from .conftest import Player

A, B, C = "jack-c2c-hub-Boom", "jack-c2c-hub-Lav", "jack-c2c-hub-Plant"


def options(server: DummyServer, **extra: Any) -> dict[str, Any]:
    return {
        "server": server.name,
        "inputs": [
            {"name": "Boom", "connect": ["tones:out_1"]},
            {"name": "Lav", "connect": ["tones:out_2"]},
            {"name": "Plant", "connect": ["extra:out_1"]},
        ],
        "reconnect_s": 0.2,
        **extra,
    }


async def test_each_input_is_a_local_input_at_the_servers_rate_showing_its_connection(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    players("tones", 2)
    players("extra", 1)
    run = running(options(jack_server))
    ctx = run.ctx
    for serial, source in ((A, "tones:out_1"), (B, "tones:out_2"), (C, "extra:out_1")):
        device = (await ctx.wait_attached(serial)).args[0]
        assert device.audio == kit.AudioFormat(sample_rate=48000, bits=24, channels=1)
        assert device.address == source
        assert ctx.registry.get(serial).kind is kit.LOCAL_INPUT
    await ctx.wait_frames(A, 48000)
    # every input's blocks follow on (but where an xrun cost a cycle), every input placed alike
    xruns = run.source.snapshot()["xruns"]
    for serial in (A, B, C):
        blocks = ctx.blocks[serial]
        ends = [b.position + b.frames for b in blocks[:-1]]
        starts = [b.position for b in blocks[1:]]
        assert sum(s != e for s, e in zip(starts, ends, strict=True)) <= xruns
    assert ctx.blocks[A][0].position == ctx.blocks[B][0].position
    healthy, detail = await ctx.wait_report("3/3 inputs")
    assert healthy and "48000 Hz" in detail and "xruns" in detail


async def test_xruns_are_counted_and_shown(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    player = players("tones", 2)
    run = running({"server": jack_server.name, "inputs": 1})
    await run.ctx.wait_attached("jack-c2c-hub-in_1")
    await run.ctx.wait_report("1/1 inputs")
    before = run.source.snapshot()["xruns"]
    player.stall(0.1)  # one cycle of the player takes 100 ms: the server's deadline passes
    snapshot = await run.ctx.wait_for(
        "an xrun counted", lambda: (s := run.source.snapshot())["xruns"] > before and s
    )
    counted = snapshot["xruns"]

    def shown() -> bool:
        report = run.ctx.last_report
        return report is not None and int(report[1].split(" xruns")[0].split()[-1]) >= counted

    await run.ctx.wait_for("the xruns in the source's health", shown)


async def test_a_vanished_source_port_detaches_its_input_alone_until_it_comes_back(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    players("tones", 2)
    extra = players("extra", 1)
    run = running(options(jack_server))
    ctx = run.ctx
    await ctx.wait_attached(C)
    extra.stop()  # the interface feeding "Plant" is unplugged
    gone = await ctx.wait_detached(C)
    assert "extra:out_1 vanished" in gone.args[1]
    frames = ctx.frames(A)
    await ctx.wait_frames(A, frames + 24000)  # the others go on
    assert ctx.registry.get(A) is not None and ctx.registry.get(B) is not None
    healthy, _detail = await ctx.wait_report("missing extra:out_1")
    assert not healthy
    players("extra", 1)  # plugged in again: connected again, attached again
    back = (await ctx.wait_attached(C, count=2)).args[0]
    assert back.address == "extra:out_1"
    frames = ctx.frames(C)
    await ctx.wait_frames(C, frames + 4800)


async def test_the_server_dying_detaches_every_input_and_they_come_back_with_it(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    run = running({"server": jack_server.name, "inputs": 2, "reconnect_s": 0.2})
    ctx = run.ctx
    await ctx.wait_attached("jack-c2c-hub-in_2")
    await asyncio.to_thread(jack_server.stop)
    gone = await ctx.wait_detached("jack-c2c-hub-in_1")
    assert "stopped" in gone.args[1]
    await ctx.wait_report("no JACK server")
    await asyncio.to_thread(jack_server.start)
    await ctx.wait_attached("jack-c2c-hub-in_1", count=2, within=30)
    frames = ctx.frames("jack-c2c-hub-in_1")
    await ctx.wait_frames("jack-c2c-hub-in_1", frames + 4800)
    assert run.source.snapshot()["connects"] == 2
    # positions after the reconnect are the hub's time of day again, not the new server's count
    last = ctx.blocks["jack-c2c-hub-in_1"][-1]
    first = ctx.blocks["jack-c2c-hub-in_1"][0]
    assert last.position > first.position
    assert np.abs(last.samples).max() == 0  # nothing connected: silence, not garbage


async def test_a_capture_process_that_dies_is_replaced_and_the_inputs_come_back(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    players("tones", 2)
    run = running(options(jack_server))
    ctx = run.ctx
    await ctx.wait_attached(B)
    first = run.source.snapshot()["capture_pid"]
    os.kill(first, signal.SIGKILL)  # a crash of the JACK client's process
    gone = await ctx.wait_detached(A)
    assert "capture process exited (code -9)" in gone.args[1]
    await ctx.wait_attached(A, count=2)
    snapshot = run.source.snapshot()
    assert snapshot["capture_pid"] != first and snapshot["captures"] == 2
    frames = ctx.frames(A)
    await ctx.wait_frames(A, frames + 4800)  # the new process's audio reaches the hub


async def test_a_capture_process_that_stops_answering_is_killed_and_replaced(
    jack_server: DummyServer,
    players: Callable[..., Player],
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    players("tones", 2)
    run = running(options(jack_server, capture_timeout_s=2))
    ctx = run.ctx
    await ctx.wait_attached(B)
    stuck = run.source.snapshot()["capture_pid"]
    os.kill(stuck, signal.SIGSTOP)  # as if libjack hung every thread of it
    gone = await ctx.wait_detached(A)
    assert "did not answer for 2 s" in gone.args[1] and "killed" in gone.args[1]
    await ctx.wait_attached(A, count=2, within=30)
    snapshot = run.source.snapshot()
    assert snapshot["captures_killed"] == 1 and snapshot["capture_pid"] != stuck
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)  # gone, and reaped
    frames = ctx.frames(A)
    await ctx.wait_frames(A, frames + 4800)


async def test_the_capture_runs_realtime_when_the_server_does_and_says_so(
    jack_server: DummyServer,
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    run = running({"server": jack_server.name, "inputs": 1})
    await run.ctx.wait_attached("jack-c2c-hub-in_1")
    await run.ctx.wait_for("the scheduling noted", lambda: run.source.snapshot()["scheduling"])
    snapshot = run.source.snapshot()
    assert snapshot["capture_pid"] != os.getpid()
    if jack_server.realtime:  # libjack gives the process callback's thread SCHED_FIFO
        assert snapshot["realtime"] is True and snapshot["scheduling"].startswith("fifo ")
    else:
        assert snapshot["realtime"] is False and snapshot["scheduling"].startswith("other ")


async def test_a_server_without_realtime_is_shown_in_the_health(
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    server = DummyServer.started(f"c2c-test-nort-{os.getpid()}", realtime=False)
    try:
        run = running({"server": server.name, "inputs": 1})
        await run.ctx.wait_attached("jack-c2c-hub-in_1")

        def said() -> tuple[bool, str] | None:
            report = run.ctx.last_report
            if report and "1/1 inputs" in report[1] and "the server is not realtime" in report[1]:
                return report
            return None

        healthy, _detail = await run.ctx.wait_for("not realtime in the health", said)
        assert healthy
        assert run.source.snapshot()["realtime"] is False
        await run.stop()
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_stop_cut_short_still_ends_and_reaps_the_capture_process_on_its_own_loop(
    jack_server: DummyServer,
) -> None:
    """The hub's runner gives a source's stop a grace period; past it, it shuts the source's
    loop down, and the capture process's stop is cancelled with every other task there. That
    stop still ends the process and waits for it on that loop: once, it was left running (here
    stopped, so it cannot end when asked), its transport left to the garbage collector after
    the loop had closed ("Exception ignored ... Event loop is closed")."""
    models = shipped_models()
    models.add(load_device_models(kit.package_models(jack_plugin.__file__)), origin="jack_inputs")
    registry = DeviceRegistry(models, time.time)
    options = {"server": jack_server.name, "inputs": 1}
    source = JackInputsSource()
    runner = SourceRunner("jack_inputs", source, registry, models=models, options=options)
    unraisable: list[str] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda seen: unraisable.append(f"{seen.object!r}: {seen.exc_value!r}")
    pid = None
    try:
        await runner.start()
        deadline = time.monotonic() + 30
        while registry.get("jack-c2c-hub-in_1") is None:
            assert time.monotonic() < deadline, "the input was never attached"
            await asyncio.sleep(0.05)
        snapshot = source.snapshot()
        assert snapshot is not None
        pid = snapshot["capture_pid"]
        os.kill(pid, signal.SIGSTOP)  # asked to stop, it cannot
        # a grace period shorter than the capture process's own (STOP_WITHIN_S)
        await runner.stop(timeout=STOP_WITHIN_S / 5)
        assert runner.state is Health.HUNG
        thread = runner.thread
        assert thread is not None
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the source's loop did not shut down"
        gc.collect()  # a transport left open would be closed now, after its loop
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # ended, and reaped
            pytest.fail(f"the capture process {pid} outlived the source's loop")
    finally:
        sys.unraisablehook = hook
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert unraisable == []


def test_a_server_name_held_by_a_live_server_is_refused_not_taken_for_ours(
    jack_server: DummyServer, players: Callable[..., Player]
) -> None:
    """A second server under a live server's name must not count as started because the
    other one answered the probe: its own jackd says the name is taken, and it is refused
    (the demo then takes the next name of its pool). And it leaves the live server alone: a
    client of another process still opens on it (a refused server once removed the live
    one's semaphores, and every later client of it was refused: two demos at once)."""
    before = players("before", 1)
    second = DummyServer(jack_server.name)
    with pytest.raises(RuntimeError, match="did not start"):
        second.start(within_s=60)
    assert second.process is None
    assert b"already active" in second.log
    assert jack_server.process is not None and jack_server.process.poll() is None
    after = players("after", 1)  # asserts that it opened, and plays
    assert after.ports == ["after:out_1"]
    assert before.stop()["cycles"] > 0 and after.stop()["cycles"] > 0


async def test_a_server_that_refuses_the_client_is_told_apart_from_no_server(
    jack_server: DummyServer,
    running: Callable[[dict[str, Any]], RunningSource[Any, Any]],
) -> None:
    """A server that answers but refuses every client (here: its clients' semaphores gone, as
    a stray cleanup leaves it) is reported as that, with JACK's own reason, not as "no JACK
    server"; once it is restarted, the inputs attach."""
    for semaphore in leftover_semaphores(jack_server.name):
        semaphore.unlink()  # the live server's: what a refused namesake once did
    run = running({"server": jack_server.name, "inputs": 1, "reconnect_s": 0.2})
    ctx = run.ctx
    ok, detail = await ctx.wait_report("refuses the hub's client", within=60)
    assert not ok
    assert "can't connect named futex" in detail and jack_server.name in detail
    assert "no JACK server" not in detail
    await asyncio.to_thread(jack_server.stop)
    await asyncio.to_thread(jack_server.start)
    await ctx.wait_attached("jack-c2c-hub-in_1", within=30)
