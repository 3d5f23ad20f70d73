"""Fixtures for the plugin host: real device models, a real registry, real entry points.

``plugin_site`` writes plugin modules and ``*.dist-info`` directories (with their
``entry_points.txt``) into a temporary ``sys.path`` entry, so ``importlib.metadata`` finds them
exactly as it finds an installed package. Every test gets its own entry-point group.

Every test fails if a thread of the plugin host (an import thread, a source's thread) or a
supervision task outlives it, except the threads a test declares deliberately hung.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from c2c_hub.clock import SystemClock
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.devices import DeviceChange, DeviceRegistry
from c2c_hub.plugin.manager import IMPORT_THREAD_PREFIX
from c2c_hub.plugin.runner import SOURCE_THREAD_PREFIX, SUPERVISE_TASK_PREFIX, RestartPolicy
from tests.helpers import REPO
from tests.plugin import fakes

REPO = REPO
FAST = RestartPolicy(initial=0.05, max=0.2, jitter=0.01, reset_after=60.0)
OUR_THREADS = (IMPORT_THREAD_PREFIX, SOURCE_THREAD_PREFIX)


@pytest.fixture(autouse=True)
def no_lingering_threads() -> Iterator[set[str]]:
    """Yields the set of thread names this test expects to outlive it (hung on purpose)."""
    before = {t.ident for t in threading.enumerate()}
    hung: set[str] = set()
    yield hung
    fakes.IMPORT_GATE.set()  # lets a plugin "hung at import" finish
    deadline = time.monotonic() + 3.0
    while True:
        left = [
            t.name
            for t in threading.enumerate()
            if t.ident not in before and t.name.startswith(OUR_THREADS) and t.name not in hung
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    fakes.IMPORT_GATE.clear()
    assert not left, f"threads left running after the test: {left}"


@pytest.fixture(autouse=True)
async def no_lingering_tasks() -> AsyncIterator[None]:
    yield
    left = [
        t.get_name()
        for t in asyncio.all_tasks()
        if t.get_name().startswith(SUPERVISE_TASK_PREFIX) and not t.done()
    ]
    assert not left, f"supervision tasks left running: {left}"


@pytest.fixture(scope="session")
def models() -> DeviceModelRegistry:
    return DeviceModelRegistry.load(REPO / "device_models")


@pytest.fixture
def registry(models: DeviceModelRegistry) -> DeviceRegistry:
    return DeviceRegistry(models, SystemClock().now)


@dataclass
class Changes:
    """Every change the registry announced, as (kind, serial, reason)."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, change: DeviceChange) -> None:
        self.seen.append((change.kind, change.serial, change.reason))

    def kinds(self, serial: str) -> list[str]:
        return [kind for kind, s, _ in self.seen if s == serial]


@pytest.fixture
def changes(registry: DeviceRegistry) -> Changes:
    recorder = Changes()
    registry.on_change(recorder)
    return recorder


class PluginSite:
    """A directory on ``sys.path`` where a test "installs" plugins (modules and dist-info)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.group = f"c2c_hub_test_{uuid.uuid4().hex[:8]}"
        self.token = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        root.mkdir()
        monkeypatch.syspath_prepend(str(root))

    def add(self, name: str, code: str, *, version: str = "1.0", attr: str | None = None) -> str:
        """Install plugin ``name`` whose module holds ``code``; returns the module name."""
        module = f"{name}_{self.token}"
        (self.root / f"{module}.py").write_text(code)
        dist = f"c2c_test_{name}_{self.token}"
        info = self.root / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        value = f"{module}:{attr}" if attr else module
        (info / "entry_points.txt").write_text(f"[{self.group}]\n{name} = {value}\n")
        self.modules.append(module)
        importlib.invalidate_caches()
        return module

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSite]:
    site = PluginSite(tmp_path / "site", monkeypatch)
    yield site
    site.cleanup()
