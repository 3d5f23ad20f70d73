"""The tutorial's second example: a plugin for a new kind of sub-device, installed with pip.

``docs/plugins/receiver`` is a package of its own that imports one module of the hub
(``c2c_hub.kit``), declares the kind ``wireless_receiver``, ships its own device model file and
touches no file of the hub. Installed for real (``pip install --target``), found through its
entry point, it runs in a whole hub on the emulated Frame.io: its channels become Frame.io
channels of its own device model, and a take records and uploads one track per channel.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub.uploader import FileState
from tests.helpers import imports_in
from tests.plugin.conftest import REPO
from tests.plugin.test_example import pip_install
from tests.uploader.conftest import sha256_of

EXAMPLE = REPO / "docs" / "plugins" / "receiver"
PACKAGE = "c2c_hub_wireless_rx"
MODEL_ID = "61b8dd47-91ee-4886-a28e-bceff1869836"
OPTIONS = {"wireless_rx": {"receivers": [{"serial": "RX-7", "name": "Bag", "channels": 2}]}}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("example") / "wireless-rx"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, copy, ignore=ignore)
    target = tmp_path_factory.mktemp("site-packages")
    pip_install(copy, target)
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(installed))
    yield installed
    sys.modules.pop(PACKAGE, None)


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


def test_it_imports_one_module_of_the_hub_and_ships_its_model_as_package_data(
    installed: Path,
) -> None:
    package = installed / PACKAGE
    assert (package / "device_models" / "wireless-receiver.toml").is_file()
    hub_imports = {
        module if name is None else f"{module}.{name}"
        for _path, _line, module, name in imports_in(package)
    }
    assert {n for n in hub_imports if n.split(".")[0] == "c2c_hub"} == {"c2c_hub.kit"}


async def test_its_receiver_channels_become_channels_and_a_take_uploads_a_track_on_each(
    on_path: Path, plugin_hub: PluginHubFactory, emulator: EmulatorHandle
) -> None:
    async with plugin_hub(entry_points=["wireless_rx"], options=OPTIONS) as hub:
        (record,) = [r for r in hub.plugins.records() if r.name == "wireless_rx"]
        assert record.state == "loaded", record.reason
        assert record.distribution is not None and record.version == "0.1.0"
        model = hub.models.get(MODEL_ID)
        assert model is not None and hub.models.origin(MODEL_ID) == "wireless_rx"
        assert hub.models.kind_of(model).name == "wireless_receiver"

        serials = {"RX-7-CH1", "RX-7-CH2"}
        await until(lambda: hub.channels.available() == serials)
        (device,) = emulator.devices()
        assert set(device["channel_client_ids"].values()) == serials
        snapshot = {d["serial"]: d for d in hub.devices.snapshot()}
        assert {d["kind"] for d in snapshot.values()} == {"wireless_receiver"}
        assert {d["model_id"] for d in snapshot.values()} == {MODEL_ID}

        await hub.recorder.start_take(scene="12")
        await asyncio.sleep(1.0)
        done = await hub.recorder.stop_take()
        assert set(done.tracks) == serials  # a new kind with audio: a track per sub-device
        for track in done.tracks.values():
            assert track.file_id is not None
            await until(lambda t=track: hub.uploader.file(t.file_id)["state"] == FileState.DONE)
            uploaded = hub.uploader.file(track.file_id)
            asset = emulator.asset(uploaded["asset_id"])
            assert asset["sha256"] == sha256_of(track.path)
            assert asset["channel"] == hub.channels.index_of(track.serial)
            assert sf.info(str(track.path)).frames > 0.5 * 48000
    assert emulator.violations() == []


def test_the_example_passes_its_own_tests(on_path: Path) -> None:
    """What its author runs: ``pytest`` in the plugin's folder, the package installed."""
    env = {**os.environ, "PYTHONPATH": str(on_path), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_emulator_command_declares_the_installed_plugins_models(
    on_path: Path, tmp_path: Path
) -> None:
    """``c2c-hub emulator`` by hand, the plugin installed: its model is declared
    (docs/rulings.md#unknown-device-model)."""
    env = {**os.environ, "PYTHONPATH": str(on_path)}
    command = [sys.executable, "-m", "c2c_hub.ui.cli", "emulator", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "try: curl" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    banner = "".join(seen)
    assert f"plugin model   Example Wireless Receiver ({MODEL_ID}, plugin wireless_rx)" in banner
