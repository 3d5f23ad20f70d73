"""The terminal view driven from its keys, in a real terminal (tmux, 80x24): pairing started
and cancelled (Ctrl-C cancels the pairing, not the hub), a take refused with no source, then
forced, stopped; uploads held; q stops the hub."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.ui.test_live import _capture, _wait_screen
from tests.ui.test_live import tmux as tmux  # the fixture

CLI = [sys.executable, "-m", "c2c_hub.ui.cli"]


def _json(env: dict[str, str], *args: str, screen: Any = None) -> Any:
    done = subprocess.run([*CLI, *args, "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, (done.stderr, screen and screen())
    return json.loads(done.stdout)


def _until(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_take_pairing_and_uploads_from_the_keys(
    tmux: list[str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = {
        "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
        "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
        "C2C_HUB_RECORDER__DIRECTORY": str(tmp_path / "recordings"),
        "C2C_HUB_CONTROL__PORT": "0",
        "C2C_HUB_PLUGINS__ALLOW": "[]",
        "TERM": "xterm-256color",
    }
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}, **env}
    rc_file = tmp_path / "rc"
    run = " ".join(
        [
            "env",
            *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            shlex.quote(sys.executable),
            *("-m", "c2c_hub.ui.cli", "run"),
        ]
    )
    script = f"trap true INT; {run}; echo $? > {shlex.quote(str(rc_file))}"
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "24", "sh", "-c", script],
        check=True,
        timeout=10,
    )

    def keys(*names: str) -> None:
        subprocess.run([*tmux, "send-keys", *names], check=True, timeout=10)

    _wait_screen(tmux, "Not paired", "r take  p pair", within=60)

    # p pairs; Ctrl-C while pairing cancels the pairing, and the hub goes on.
    keys("p")
    _wait_screen(tmux, "Code: ")
    _until(lambda: bool(emulator.pending_pairings()))
    keys("C-c")
    _wait_screen(tmux, "Pairing cancelled (Ctrl-C)")
    assert not rc_file.exists(), "Ctrl-C during pairing stopped the hub"
    status = _json(cli_env, "status")
    assert status["hub"]["running"] is True, (status, _capture(tmux))

    # Paired again from the keys, approved in Frame.io.
    keys("p")
    screen = _wait_screen(tmux, "Code: ")
    code = screen.split("Code: ", 1)[1][:7].replace(" ", "")
    emulator.approve(code)
    _wait_screen(tmux, "Emulated Project", within=30)

    # r with no source: refused, said; R forces it; r stops it.
    keys("r")
    _wait_screen(tmux, "No source to record")
    assert _json(cli_env, "record", "status", screen=lambda: _capture(tmux))["recording"] is False
    keys("R")
    _wait_screen(tmux, "Recording")
    assert _json(cli_env, "record", "status")["recording"] is True
    keys("r")
    _wait_screen(tmux, "Stopped")
    takes = _json(cli_env, "record", "status")
    assert takes["recording"] is False and takes["last_take"]["take"] == 1

    # u holds uploads, u again releases them.
    keys("u")
    _wait_screen(tmux, "Uploads held")
    assert _json(cli_env, "queue")["snapshot"]["held"] is True
    keys("u")
    _wait_screen(tmux, "Uploads released")
    assert _json(cli_env, "queue")["snapshot"]["held"] is False

    screen = _capture(tmux)
    lines = screen.splitlines()
    assert len(lines) <= 24 and max(len(line) for line in lines) <= 80, screen
    assert "r take  p pair" in screen, "the help line stays on an 80x24 screen"

    keys("q")
    _until(rc_file.exists)
    assert rc_file.read_text().strip() == "0"
