"""The standalone uploader process imports what it uses, not the rest of the hub.

Its start-up CPU is measured by ``make bench`` (``bench.uploader``, aim <= 0.4 s); this test
keeps the imports that made it slow from coming back: the hub's runtime, the edge, the device
models, the recorder (numpy), the connectivity monitor (ifaddr), and httpx's command line
(click, rich, pygments).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Modules (and packages) the uploader process must never import.
HEAVY = (
    "c2c_hub.runtime",
    "c2c_hub.ui",
    "c2c_hub.emulation",
    "c2c_hub.device_models",
    "c2c_hub.recorder",
    "c2c_hub.plugin",
    "c2c_hub_plugins",
    "numpy",
    "click",
    "rich",
    "pygments",
    "zeroconf",
    # the hub's connectivity monitor: ifaddr loads libc through ctypes.util.find_library,
    # which runs ``ldconfig -p`` in a child process
    "c2c_hub.connectivity",
    "ifaddr",
)

PROBE = """
import json, runpy, sys
sys.argv = ["c2c_hub.uploader", "--data-dir", sys.argv[1]]
try:
    runpy.run_module("c2c_hub.uploader", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def test_the_uploader_process_imports_only_what_it_uses(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")} | {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # not paired: it ran as far as reading the credentials, every module of its path imported
    assert result["exit"] == 2, done.stderr
    assert "not paired" in done.stderr
    modules = set(result["modules"])
    assert "c2c_hub.uploader.facade" in modules and "httpx" in modules
    heavy = sorted(
        name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)
    )
    assert heavy == []
