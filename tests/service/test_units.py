"""The systemd units the package ships, checked by systemd itself (``systemd-analyze verify``;
systemd cannot run services in these containers, so no ``systemd-run`` here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from c2c_hub.service import command_path, render_unit

ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing")


def _verify(unit: Path, *, user: bool, runtime: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    argv = [ANALYZE, *(["--user"] if user else []), "verify", str(unit)]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, cwd=unit.parent
    )


@needs_systemd_analyze
@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_the_shipped_unit_is_one_systemd_accepts(tmp_path: Path, user: bool) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    text = render_unit(user=user)
    unit = tmp_path / "c2c-hub.service"
    unit.write_text(text)
    done = _verify(unit, user=user, runtime=runtime)
    # systemd-analyze also says "Unknown key" or "not executable" with status 0: no output at all
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    assert f"ExecStart={command_path()} run\n" in text
    assert "Type=notify\n" in text and "WatchdogSec=" in text
    assert ("User=" in text) is not user
    assert "Environment=MALLOC_ARENA_MAX=2\n" in text  # measured: less memory, the same CPU


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above proves something: a wrong path or key does not pass."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    unit = tmp_path / "c2c-hub.service"
    unit.write_text(render_unit(user=False, executable=tmp_path / "nowhere" / "c2c-hub"))
    done = _verify(unit, user=False, runtime=runtime)
    assert "not executable" in done.stdout + done.stderr
    unit.write_text(render_unit(user=False).replace("WatchdogSec=", "WatchdogSecs="))
    done = _verify(unit, user=False, runtime=runtime)
    assert "Unknown key" in done.stdout + done.stderr
