"""`c2c-hub pair`, `status`, `unpair` and `run` as a user runs them, against the emulator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.discovery import private_discovery
from tests.uploader.conftest import make_file

CLI = [sys.executable, "-m", "c2c_hub.ui.cli"]


@pytest.fixture
def hub_env(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    env.update(
        {
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
            "COLUMNS": "120",
        }
    )
    yield env


def _approve_when_pending(emulator: EmulatorHandle, within: float = 15.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pending = emulator.pending_pairings()
        if pending:
            emulator.approve(pending[0]["user_code"])
            return str(pending[0]["user_code"])
        time.sleep(0.05)
    raise AssertionError("the hub never asked for a code")


def _pair(emulator: EmulatorHandle, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [*CLI, "pair"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _approve_when_pending(emulator)
    out, _ = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def _status(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [*CLI, "status", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_pair_then_status_then_unpair(emulator: EmulatorHandle, hub_env: dict[str, str]) -> None:
    paired = _pair(emulator, hub_env)
    assert paired.returncode == 0, paired.stdout
    assert "Paired." in paired.stdout and "Emulated Project" in paired.stdout
    assert "Emulated User" in paired.stdout

    status = _status(hub_env)
    pairing = status["pairing"]
    assert isinstance(pairing, dict)
    assert pairing["state"] == "paired"
    assert pairing["project_name"] == "Emulated Project"
    assert pairing["authorized_by"] == "Emulated User"
    assert status["firmware_version"] == "1.2.3"
    assert status["hub"] == {"running": False}
    network = status["network"]
    assert isinstance(network, dict) and network["frameio_reachable"] is True

    again = subprocess.run([*CLI, "pair"], env=hub_env, capture_output=True, text=True)
    assert again.returncode == 4 and "already paired" in again.stderr

    unpair = subprocess.run([*CLI, "unpair"], env=hub_env, capture_output=True, text=True)
    assert unpair.returncode == 0, unpair.stderr
    assert len(emulator.requests("/v2/auth/revoke")) == 1
    after = _status(hub_env)["pairing"]
    assert isinstance(after, dict) and after["state"] == "unpaired"


def test_ctrl_c_during_pairing_leaves_nothing(
    emulator: EmulatorHandle, hub_env: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [*CLI, "pair"], env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 15
    while not emulator.pending_pairings() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130, out
    assert "cancelled" in out.lower()
    assert not (tmp_path / "state" / "credentials" / "credentials.enc").exists()


def test_run_keeps_the_hub_present_and_publishes_status(
    emulator: EmulatorHandle, hub_env: dict[str, str], tmp_path: Path
) -> None:
    assert _pair(emulator, hub_env).returncode == 0
    proc = subprocess.Popen(
        [*CLI, "run"], env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = _status(hub_env)
            socket = status.get("socket")
            if isinstance(socket, dict) and socket.get("state") == "joined":
                break
            time.sleep(0.3)
        assert status["hub"] == {"running": True}, status
        socket = status["socket"]
        assert isinstance(socket, dict) and socket["state"] == "joined"
        assert status["paused"] is False
        assert emulator.state()["sockets"], "the emulator sees the hub's socket"
        status_file = tmp_path / "state" / "status.json"
        assert stat.S_IMODE(status_file.stat().st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out


def test_pair_goes_through_a_running_hub(emulator: EmulatorHandle, hub_env: dict[str, str]) -> None:
    """With ``c2c-hub run`` up, ``c2c-hub pair`` asks it to pair: one writer of the tokens."""
    proc = subprocess.Popen(
        [*CLI, "run"], env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _status(hub_env)["hub"] != {"running": True}:
            time.sleep(0.2)
        paired = _pair(emulator, hub_env)
        assert paired.returncode == 0, paired.stdout
        assert "through the running hub" in paired.stdout
        assert "Emulated Project" in paired.stdout
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pairing = _status(hub_env)["pairing"]
            if isinstance(pairing, dict) and pairing["state"] == "paired":
                break
            time.sleep(0.2)
        assert isinstance(pairing, dict) and pairing["state"] == "paired"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out


def test_bad_settings_are_reported_by_field(hub_env: dict[str, str]) -> None:
    env = {**hub_env, "C2C_HUB_FRAMEIO__API_BASE_URL": "http://api.frame.io"}
    done = subprocess.run([*CLI, "status"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "frameio.api_base_url" in done.stderr and "https://" in done.stderr


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_upload_controls_drive_the_running_hub(
    emulator: EmulatorHandle, hub_env: dict[str, str], tmp_path: Path
) -> None:
    import hashlib

    media = tmp_path / "media"
    media.mkdir()
    take = make_file(media, "A001_T01.wav", 6 * 1024 * 1024 + 123)  # a true WAV header
    second = make_file(media, "A001_T02.wav", 2 * 1024 * 1024)
    # The hub uploads from its recordings folder and the folders the operator lists.
    hub_env = {**hub_env, "C2C_HUB_CONTROL__UPLOAD_ROOTS": json.dumps([str(media)])}

    assert _cli(hub_env, "upload", str(take)).returncode == 3, "no hub running: a clear error"
    assert _pair(emulator, hub_env).returncode == 0
    proc = subprocess.Popen(
        [*CLI, "run"], env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        socket_path = tmp_path / "state" / "control.sock"
        deadline = time.monotonic() + 20
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600, "the control socket is private"

        done = _cli(hub_env, "upload", str(take), "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
        asset = next(a for a in emulator.assets() if a["name"] == take.name)
        assert asset["complete"]
        assert asset["sha256"] == hashlib.sha256(take.read_bytes()).hexdigest()

        assert _cli(hub_env, "mode", "manual").returncode == 0
        queued = _cli(hub_env, "upload", str(second))
        assert queued.returncode == 0, queued.stderr
        time.sleep(1.0)
        listing = json.loads(_cli(hub_env, "queue", "--json").stdout)
        states = {f["name"]: f["state"] for f in listing["files"]}
        assert states == {take.name: "done", second.name: "queued"}, states
        assert listing["snapshot"]["mode"] == "manual"
        second_id = next(f["id"] for f in listing["files"] if f["name"] == second.name)

        assert _cli(hub_env, "start", str(second_id)).returncode == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listing = json.loads(_cli(hub_env, "queue", "--json").stdout)
            if all(f["state"] == "done" for f in listing["files"]):
                break
            time.sleep(0.3)
        assert all(f["state"] == "done" for f in listing["files"]), listing["files"]

        status = _status(hub_env)
        uploads = status["uploads"]
        assert isinstance(uploads, dict) and uploads["counts"]["done"] == 2
        human = _cli(hub_env, "status")
        assert "Uploads" in human.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert not (tmp_path / "state" / "control.sock").exists()


@contextlib.contextmanager
def _running_hub(env: dict[str, str], data_dir: Path) -> Iterator[None]:
    """``c2c-hub run`` until the block ends, once its control socket is up; it must exit 0."""
    proc = subprocess.Popen(
        [*CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not (data_dir / "control.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out


def test_record_devices_and_presses_drive_the_running_hub(
    emulator: EmulatorHandle, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """``record``, ``devices`` and ``presses`` ask the running hub; without one, a clear error."""
    stopped = _cli(hub_env, "devices")
    assert stopped.returncode == 3 and "no hub is running" in stopped.stderr
    assert _pair(emulator, hub_env).returncode == 0
    with _running_hub(hub_env, tmp_path / "state"):
        forced = _cli(hub_env, "record", "start", "--scene", "3", "--force", "--json")
        started = json.loads(forced.stdout)
        assert (started["take"]["scene"], started["take"]["take"]) == ("3", 1)
        again = _cli(hub_env, "record", "start")
        assert again.returncode == 4 and "already recording" in again.stderr
        stopped_take = json.loads(_cli(hub_env, "record", "stop", "--json").stdout)["take"]
        assert stopped_take["frames"] is not None and stopped_take["tracks"] == []
        human = _cli(hub_env, "record", "status")
        assert "next take 2" in human.stdout
        devices = json.loads(_cli(hub_env, "devices", "--json").stdout)
        assert devices["devices"] == [] and "channels" in devices
        presses = json.loads(_cli(hub_env, "presses", "--json").stdout)
        assert presses["presses"] == []
        resend = _cli(hub_env, "presses", "--resend", "7")
        assert resend.returncode == 4 and "not unconfirmed or failed" in resend.stderr


def test_options_for_a_plugin_that_is_not_installed_stop_the_start(
    hub_env: dict[str, str], tmp_path: Path
) -> None:
    # The spelling docs/ble-remotes.md once showed: the options were silently ignored.
    config = tmp_path / "hub.toml"
    config.write_text('[plugins.options.ble-remotes]\nradio = "emulated"\n')
    done = subprocess.run(
        [*CLI, "run", "--config", str(config)],
        env=hub_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "[plugins.options.ble-remotes] names no installed plugin" in done.stderr
    assert "did you mean [plugins.options.ble_remotes]?" in done.stderr
    assert "Traceback" not in done.stderr
