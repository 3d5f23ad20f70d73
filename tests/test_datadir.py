"""One hub per data directory: the second hub (or a writing command) stops at the lock, says
who holds it, and touches nothing, at Frame.io least of all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from c2c_hub.datadir import LOCK_FILE, DataDirBusy, DataDirLock, holder
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.runtime import Hub
from c2c_hub.settings import HubSettings, StorageSettings
from tests.discovery import private_discovery
from tests.ui.test_hub_commands import CLI, _pair, _status


@pytest.fixture
def hub_env(emulator: EmulatorHandle, tmp_path: Path) -> dict[str, str]:
    """``c2c-hub`` against the emulator, state in ``tmp_path / "state"``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    return env | {
        # Discovery under names of this test's own: loopback multicast is shared.
        "C2C_HUB_CONFIG": str(private_discovery(tmp_path).config),
        "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
        "C2C_HUB_FRAMEIO__FIRMWARE_VERSION": "1.2.3",
        "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
        "C2C_HUB_RECORDER__DIRECTORY": str(tmp_path / "recordings"),
        "C2C_HUB_CONTROL__PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }


def _wait(check: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {within} s")


def _joined(env: dict[str, str]) -> bool:
    socket = _status(env).get("socket")
    return isinstance(socket, dict) and socket.get("state") == "joined"


def test_a_second_hub_on_the_same_data_directory_exits_and_touches_nothing(
    emulator: EmulatorHandle, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """Before: the second hub started, took over control.sock, deleted it on exit and did a bulk
    channel disconnect at Frame.io under the first."""
    state = tmp_path / "state"
    assert _pair(emulator, hub_env).returncode == 0
    first = subprocess.Popen(
        [*CLI, "run"], env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait(lambda: (state / "control.sock").exists() and _joined(hub_env))
        sock = (state / "control.sock").stat()
        files = {p.name: p.stat().st_mtime_ns for p in state.iterdir() if p.is_file()}
        # The second process is told apart at Frame.io by its x-client-version.
        second_env = {**hub_env, "C2C_HUB_FRAMEIO__FIRMWARE_VERSION": "9.9.9"}
        for command in ("run", "unpair", "status"):
            done = subprocess.run(
                [*CLI, command], env=second_env, capture_output=True, text=True, timeout=60
            )
            if command == "status":  # answered by the running hub, through its control API
                assert done.returncode == 0, done.stderr
                continue
            assert done.returncode == 4, (command, done.stdout, done.stderr)  # refused
            assert f"another c2c-hub (pid {first.pid})" in done.stderr, done.stderr
            assert str(state) in done.stderr and "Nothing was changed" in done.stderr
        # Nothing touched: Frame.io saw no call from the second, the socket is the first's own,
        # and no file of the data directory changed.
        assert [r for r in emulator.requests() if r["x-client-version"] == "9.9.9"] == []
        now = (state / "control.sock").stat()
        assert (now.st_ino, now.st_ctime_ns) == (sock.st_ino, sock.st_ctime_ns)
        after = {p.name: p.stat().st_mtime_ns for p in state.iterdir() if p.is_file()}
        unchanged = {"credentials", "client-id", LOCK_FILE, "presses.sqlite3"}
        assert {k: after.get(k) for k in unchanged} == {k: files.get(k) for k in unchanged}
        assert _joined(hub_env), "the first hub carries on"
        assert emulator.requests("/v2/auth/revoke") == []
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=30)
    assert first.returncode == 0, out
    # The first gone (its lock with it), the directory is free again.
    with DataDirLock(state) as lock:
        assert lock.held


async def test_a_hub_in_this_process_holds_the_lock_until_closed(tmp_path: Path) -> None:
    settings = HubSettings(storage=StorageSettings(data_dir=tmp_path / "hub"))
    hub = Hub(settings)
    try:
        with pytest.raises(DataDirBusy) as busy:
            Hub(settings)
        assert busy.value.pid == os.getpid()
    finally:
        await hub.aclose()
    again = Hub(settings)  # released by aclose
    await again.aclose()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from c2c_hub.datadir import DataDirLock;"
            "DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(DataDirBusy, match=f"pid {holder.pid}"):
        DataDirLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with DataDirLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_a_status_file_left_by_a_killed_hub_does_not_say_running(tmp_path: Path) -> None:
    """Before: for 15 s after a hub was killed, ``c2c-hub status`` said ``running: true``."""
    import json

    from c2c_hub.status import read_status, write_status

    write_status(tmp_path, {"generated_at": time.time(), "hub": {"running": True}})
    assert read_status(tmp_path) is None, "no hub ever held the directory"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from c2c_hub.datadir import DataDirLock; "
            "DataDirLock(pathlib.Path(sys.argv[1])).acquire(); print('held', flush=True); "
            "sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        assert holder(tmp_path) == child.pid
        found = read_status(tmp_path)
        assert found is not None and found["hub"] == {"running": True}
    finally:
        child.kill()  # as a power cut would: the pid stays in hub.lock
        child.wait(timeout=30)
    assert holder(tmp_path) is None
    assert read_status(tmp_path) is None
    assert json.loads((tmp_path / "status.json").read_text())["hub"]["running"] is True
