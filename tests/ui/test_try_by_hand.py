"""The README's "Try it by hand" block, pasted into bash as a new user would: it pairs, runs
the hub, records a take from two emulated microphones with an emulated remote pressing, and
shows the results. The docs cannot rot: this is the block, read from the README."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


def _block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Try it by hand", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README lost its copy-paste block"
    return match.group(1)


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon missing")
def test_the_readme_block_pairs_records_and_uploads(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    # Discovery under names of this test's own (loopback multicast is shared): the block's
    # commands read the same config file.
    from tests.discovery import private_discovery

    config = private_discovery(tmp_path).config
    # The remote is reached through BlueZ (the mocked one, on a private bus), as on a recorder.
    text = config.read_text()
    config.write_text(text[: text.index("[plugins.options.ble_remotes]")])
    env["C2C_HUB_CONFIG"] = str(config)
    env["TMPDIR"] = str(tmp_path)
    env["COLUMNS"] = "200"  # tables unwrapped, for the checks below
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The block's own process group: whatever it left running (its emulators, its hub) goes
    # with it, however the test ends.
    shell = subprocess.Popen(
        ["bash", "-e", "-c", _block()],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = shell.communicate(timeout=280)
        done = subprocess.CompletedProcess(shell.args, shell.returncode, out, err)
    except subprocess.TimeoutExpired as exc:
        # Which part never came up: each one's log, as the user would read them.
        logs = "\n".join(
            f"--- {log.relative_to(tmp_path)}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(tmp_path.rglob("*.log"))
        )
        raise AssertionError(f"the block did not finish: {exc}\n{logs}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"Approved: \d{3} \d{3}", out) and "Paired." in out
    assert out.count("AES67") >= 2 and "C2C-Remote Try" in out, out
    assert "Scene 1 take 1" in out
    assert re.search(r"sent \d+", out), out
    assert len(re.findall(r"S1_T001_0[12]_\S*\.wav\s*│ iso\s*│ done", out)) == 2, out
