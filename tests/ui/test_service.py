"""``c2c-hub run`` as systemd runs it: readiness and watchdog on ``$NOTIFY_SOCKET`` (a real
``AF_UNIX`` datagram socket this test binds, as systemd would), logs to a private rotating file
without journald, and ``c2c-hub doctor``."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.discovery import private_discovery

CLI = [sys.executable, "-m", "c2c_hub.ui.cli"]


@pytest.fixture
def env(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("C2C_HUB_", "NOTIFY_"))}
    env.pop("JOURNAL_STREAM", None)
    env.update(
        {
            "C2C_HUB_CONFIG": str(private_discovery(tmp_path).config),
            "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
            "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
            "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
            "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
            "C2C_HUB_RECORDER__DIRECTORY": str(tmp_path / "recordings"),
            "C2C_HUB_CONTROL__PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    yield env


def _messages(sock: socket.socket, until: str, within: float) -> list[str]:
    """Datagrams received until one holds ``until`` (each one's lines, in order)."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            break
        seen.append(data)
        if until in data.splitlines():
            return seen
    raise AssertionError(f"no {until!r} within {within} s; got {seen}")


def test_run_tells_systemd_it_is_ready_and_alive_and_stopping(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        env = {**env, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
        hub = subprocess.Popen(
            [*CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            before_ready = _messages(sock, "READY=1", within=90)
            assert not any("WATCHDOG=1" in m for m in before_ready), "pinged before ready"
            ready = before_ready[-1].splitlines()
            assert f"MAINPID={hub.pid}" in ready
            assert any(line.startswith("STATUS=running") for line in ready)
            # Ready means serving: the control socket answers.
            status = subprocess.run(
                [*CLI, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
            )
            assert json.loads(status.stdout)["hub"]["running"] is True
            # Pings every WATCHDOG_USEC / 2 while the loop turns.
            _messages(sock, "WATCHDOG=1", within=30)
            _messages(sock, "WATCHDOG=1", within=30)
            hub.send_signal(signal.SIGTERM)
            _messages(sock, "STOPPING=1", within=60)
        finally:
            if hub.poll() is None:
                hub.send_signal(signal.SIGTERM)
            out, _ = hub.communicate(timeout=60)
    assert hub.returncode == 0, out
    # No journald here: the log is a private rotating file in the data directory, named at start.
    log_file = tmp_path / "state" / "logs" / "hub.log"
    assert f"log in {log_file}" in out
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_doctor_says_what_to_fix(env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) >= {
        "frameio",
        "clock",
        "free_space",
        "permissions",
        "bluez",
        "jack",
        "network_manager",
        "ptp",
    }
    assert checks["frameio"]["state"] == "ok", checks["frameio"]
    assert all(c["state"] in ("ok", "warn", "fail") for c in checks.values())
    assert all(c["fix"] for c in checks.values() if c["state"] != "ok")
    assert done.returncode == (0 if report["ok"] else 1)

    # Frame.io out of reach, and a data directory others can read: both failures, with fixes.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    broken = {**env, "C2C_HUB_FRAMEIO__API_BASE_URL": f"https://127.0.0.1:{port}"}
    done = subprocess.run(
        [*CLI, "doctor", "--json"], env=broken, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["frameio"]["state"] == "fail" and "not reachable" in checks["frameio"]["found"]
    assert checks["permissions"]["state"] == "fail"
    assert f"chmod 700 {state}" in checks["permissions"]["found"]
    human = subprocess.run(
        [*CLI, "doctor"], env=broken, capture_output=True, text=True, timeout=120
    )
    assert human.returncode == 1 and "fix:" in human.stdout and "to fix: frameio" in human.stdout
