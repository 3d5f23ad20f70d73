"""``c2c-hub demo --remote hid``: the demo with an emulated HID shutter remote in place of the
C2C button remote (the issue's "done when")."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(360)  # a busy machine runs the demo's hub, emulator and mics slowly
def test_the_demo_logs_a_hid_shutter_remotes_press_on_its_channel() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "C2C_DEMO_REMOTE": "hid"}
    result = subprocess.run(
        [sys.executable, "-m", "c2c_hub.ui.cli", "demo", "--json", "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["violations"] == []
    assert summary["channels"]["connects"] == 5  # four mics and the HID remote
    (event,) = summary["logged_events"]
    (press,) = summary["presses"]
    assert (event["input"], event["input_index"]) == ("Good take", 0)
    assert event["remote"].startswith("hid-")
    assert event["timecode"] == press["timecode"] and press["state"] == "sent"
