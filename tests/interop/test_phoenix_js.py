"""Interop: the official Phoenix JS client (npm `phoenix` over `ws`) against the emulator's socket.

Nobody here wrote that client, so if it joins, heartbeats and hears ``status_updated`` on the
emulator, the emulator speaks Phoenix v1 as Phoenix itself does (docs/rulings.md#websocket).
The Node script is tests/interop/js/phoenix_client.mjs; it prints one JSON object per line.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.helpers import pair_raw

pytestmark = pytest.mark.interop

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "phoenix_client.mjs"
EIGHT_HOURS = 8 * 3600

Line = dict[str, Any]


def node_or_fail() -> str:
    """The node binary, with phoenix and ws installed; a clear failure otherwise (never a skip)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node.js 20+, then run `make deps`")
    for package in ("phoenix", "ws"):
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            pytest.fail(
                f"tests/interop/js/node_modules/{package} is missing: run `make deps` "
                "(it runs `npm ci` in tests/interop/js)"
            )
    return node


class NodeRun:
    """A running phoenix_client.mjs; its stdout lines arrive on a queue as they are printed."""

    def __init__(self, node: str, emulator: EmulatorHandle, mode: str, **options: str) -> None:
        endpoint = emulator.base_url.replace("https://", "wss://", 1) + "/devices"
        argv = [node, str(SCRIPT), "--mode", mode, "--endpoint", endpoint]
        for key, value in options.items():
            argv.append(f"--{key.replace('_', '-')}={value}")  # a token may start with '-'
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(emulator.ca_file)}
        self.proc = subprocess.Popen(
            argv,
            cwd=JS_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[Line] = []
        self._queue: queue.Queue[Line | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self._queue.put(json.loads(raw))
            except json.JSONDecodeError:
                self._queue.put({"event": "unparsed", "raw": raw.rstrip()})
        self._queue.put(None)

    def expect(self, match: Callable[[Line], bool], within: float = 5.0) -> Line:
        """The next line that matches (every line read is kept in ``lines``)."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching line within {within} s; saw {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the script ended first; saw {self.lines}{self.stderr()}")
            self.lines.append(line)
            if match(line):
                return line

    def event(self, name: str, within: float = 5.0) -> Line:
        return self.expect(lambda line: line["event"] == name, within)

    def wait(self, within: float = 5.0) -> int:
        returncode = self.proc.wait(within)
        self._reader.join(within)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return returncode

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return "\nstderr: " + self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def node() -> str:
    return node_or_fail()


@pytest.fixture
def run_node(node: str) -> Iterator[Callable[..., NodeRun]]:
    runs: list[NodeRun] = []

    def start(emulator: EmulatorHandle, mode: str, **options: str) -> NodeRun:
        run = NodeRun(node, emulator, mode, **options)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def test_phoenix_js_joins_heartbeats_and_hears_status_updated(
    emulator: EmulatorHandle, run_node: Callable[..., NodeRun]
) -> None:
    # Heartbeats every 0.2 s must hold the socket open well past a 1 s idle timeout.
    emulator.configure(socket_idle_timeout=1.0)
    device = pair_raw(emulator)
    run = run_node(
        emulator,
        "session",
        token=device["access_token"],
        device_id=device["device_id"],
        heartbeat_ms="200",
    )
    transport = run.event("transport")
    # The client builds the query Frame.io asks for: Authorization=Bearer%20<token>, then vsn.
    assert transport["url"].endswith("/devices/websocket?Authorization=Bearer%20<token>&vsn=1.0.0")
    assert run.event("upgrade")["status"] == 101
    assert run.event("joined")["response"] == {}
    (listed,) = emulator.state()["sockets"]
    assert listed["joined"] == [f"devices:{device['device_id']}"]

    for _ in range(8):  # about 1.6 s of answered heartbeats
        assert run.event("heartbeat_reply")["status"] == "ok"

    emulator.pause(device["device_id"])
    assert run.event("status_updated")["payload"] == "paused"
    emulator.resume(device["device_id"])
    assert run.event("status_updated")["payload"] == "resumed"
    run.event("left")
    run.event("done")
    assert run.wait() == 0

    events = [line["event"] for line in run.lines]
    assert "socket_error" not in events and "join_error" not in events
    assert events.count("open") == 1, events  # never dropped and reconnected
    assert "close" not in events[: events.index("left")], events
    assert emulator.violations() == []


def test_phoenix_js_with_an_expired_token_is_refused_at_the_upgrade(
    emulator: EmulatorHandle, run_node: Callable[..., NodeRun]
) -> None:
    device = pair_raw(emulator)
    emulator.advance(EIGHT_HOURS + 1)
    run = run_node(emulator, "refused", token=device["access_token"], device_id=device["device_id"])
    error = run.event("socket_error")
    assert "403" in error["message"], error  # ws: "Unexpected server response: 403"
    run.event("close")
    run.event("done")
    assert run.wait() == 0
    events = [line["event"] for line in run.lines]
    assert "upgrade" not in events and "open" not in events and "joined" not in events, events
    assert emulator.state()["sockets"] == []
