"""The tutorial's example plugin, installed for real with pip, found through its entry point.

``docs/plugins/example`` is a package of its own: ``pip install --target`` puts it (and its
``entry_points.txt``) in a temporary directory, which goes on ``sys.path``; the host must then
find ``tone_mics`` in the group ``c2c_hub``, exactly as after a user's ``pip install``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from c2c_hub.devices import DeviceRegistry
from c2c_hub.plugin import PluginHost
from c2c_hub.settings import PluginSettings
from c2c_hub.subdevices import AudioBlock
from tests.plugin.conftest import REPO, Changes
from tests.plugin.fakes import wait_until

EXAMPLE = REPO / "docs" / "plugins" / "example"
PACKAGE = "c2c_hub_tone_mics"
OPTIONS = {
    "tone_mics": {
        "mics": [
            {"serial": "TONE-1", "name": "Boom", "frequency": 440},
            {"serial": "TONE-2", "name": "Lav", "frequency": 660},
            {"serial": "TONE-3", "name": "Plant"},
        ]
    }
}


def pip_install(source: Path, target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    command += [str(target), str(source)]
    if importlib.util.find_spec("wheel") is not None:
        # setuptools < 70.1 builds wheels through the `wheel` package; with it, no network
        command.insert(4, "--no-build-isolation")
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example (pip builds in the source tree: keep docs/ clean)."""
    copy = tmp_path_factory.mktemp("example") / "tone-mics"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, copy, ignore=ignore)
    return copy


@pytest.fixture(scope="module")
def installed(example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site-packages")
    pip_install(example, target)
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(installed))
    yield installed
    sys.modules.pop(PACKAGE, None)


async def test_the_installed_example_is_found_by_its_entry_point_and_streams_its_mics(
    on_path: Path, registry: DeviceRegistry, changes: Changes
) -> None:
    assert (on_path / PACKAGE / "__init__.py").is_file()
    host = PluginHost(PluginSettings(allow=["tone_mics"], options=OPTIONS))
    (record,) = [r for r in host.load() if r.name == "tone_mics"]
    assert record.state == "loaded", record.reason
    assert record.origin == PACKAGE and record.version == "0.1.0"
    assert record.distribution is not None
    assert record.distribution.replace("_", "-") == "c2c-hub-tone-mics"
    module = importlib.import_module(PACKAGE)
    assert Path(module.__file__ or "").is_relative_to(on_path)  # the installed copy

    blocks: dict[str, list[AudioBlock]] = {}
    registry.on_audio(lambda serial, block: blocks.setdefault(serial, []).append(block))
    await host.start_all(registry)
    try:
        await wait_until(lambda: len(registry) == 3, what="the three tone mics")
        await asyncio.sleep(0.3)
        attached = {a.device.serial: a for a in registry}
        assert attached["TONE-1"].device.name == "Boom"
        assert attached["TONE-3"].device.name == "Plant"
        assert {a.model.name for a in attached.values()} == {"C2C Network Microphone"}
        assert {a.source for a in attached.values()} == {"tone_mics:tones"}
    finally:
        await host.stop_all()
    assert len(registry) == 0
    assert [kind for kind, serial, _ in changes.seen if serial == "TONE-2"] == [
        "attached",
        "detached",
    ]

    rate = 48000
    starts = {serial: got[0].position for serial, got in blocks.items()}
    assert len(set(starts.values())) == 1  # the three mics share one timeline
    for got in blocks.values():
        for before, after in itertools.pairwise(got):
            assert after.position == before.position + before.frames
        assert all(block.samples.dtype == np.int32 for block in got)
        assert 0.15 * rate <= sum(block.frames for block in got) <= 0.8 * rate


def test_the_example_plugin_passes_its_own_tests(example: Path, on_path: Path) -> None:
    """What its author runs: ``pytest`` in the plugin's folder, the package installed.

    ``-P``: the package is imported from where pip installed it, not from the folder.
    """
    env = {**os.environ, "PYTHONPATH": str(on_path), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
