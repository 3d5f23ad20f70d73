"""Fixtures for the JACK inputs: a private JACK server per test (dummy backend, a name of its
own, so tests never share one), players of known signals in processes of their own, and the
source under the kit's fake context."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import c2c_hub_plugins.jack_inputs.plugin as jack_plugin
from c2c_hub import kit
from c2c_hub.emulation.source_context import FakeSourceContext, RunningSource
from c2c_hub_plugins.jack_inputs.emulated import DummyServer
from c2c_hub_plugins.jack_inputs.source import JackInputsSource

_names = itertools.count(1)


@pytest.fixture
def jack_server() -> Iterator[DummyServer]:
    """A running JACK server of this test's own: 48 kHz, 256-frame periods."""
    server = DummyServer(f"c2c-test-{os.getpid()}-{next(_names)}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Player:
    """``python -m c2c_hub_plugins.jack_inputs.emulated`` in a process of its own."""

    def __init__(self, server: str, name: str, outputs: int) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "c2c_hub_plugins.jack_inputs.emulated"),
                *("--server", server, "--name", name, "--outputs", str(outputs)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.ports = self.process.stdout.readline().split()
        assert self.ports, f"player {name} did not start"
        self.result: dict[str, Any] | None = None

    def stall(self, seconds: float) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"stall {seconds}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "stalled"

    def stop(self) -> dict[str, Any]:
        if self.result is None:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.close()
            line = self.process.stdout.readline()
            self.process.wait(20)
            self.result = json.loads(line) if line.strip() else {"gaps": [], "cycles": 0}
        return self.result

    def gaps(self) -> list[tuple[int, int]]:
        return [tuple(g) for g in self.stop()["gaps"]]  # type: ignore[misc]


@pytest.fixture
def players(jack_server: DummyServer) -> Iterator[Callable[..., Player]]:
    """``players(name, outputs)``: a player on the test's server (stopped at the end)."""
    started: list[Player] = []

    def make(name: str = "tones", outputs: int = 2) -> Player:
        player = Player(jack_server.name, name, outputs)
        started.append(player)
        return player

    yield make
    for player in started:
        if player.process.poll() is None:
            player.process.kill()
            player.process.wait()


def context(options: dict[str, Any]) -> FakeSourceContext:
    return FakeSourceContext(
        options=options,
        plugin="jack_inputs",
        source="jack",
        model_files=[kit.package_models(jack_plugin.__file__)],
    )


@pytest.fixture
async def running() -> AsyncIterator[Callable[[dict[str, Any]], RunningSource[Any, Any]]]:
    """``running(options)``: the source running under a fake context (stopped at the end)."""
    started: list[RunningSource[Any, Any]] = []

    def start(options: dict[str, Any]) -> RunningSource[Any, Any]:
        ctx = context(options)
        source = JackInputsSource()
        task = asyncio.create_task(source.run(ctx), name="jack-source")
        run: RunningSource[Any, Any] = RunningSource(ctx, source, task)
        started.append(run)
        return run

    yield start
    for run in started:
        await run.stop()
