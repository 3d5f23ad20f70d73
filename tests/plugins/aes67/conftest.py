"""Fixtures for the AES67 plugin: a SourceContext with behaviour, groups of our own, a runner.

:class:`FakeSourceContext` is the hub's side of the plugin API without the hub: it validates
attaches through the real :class:`~c2c_hub.devices.DeviceRegistry` with the real device models,
checks audio blocks, records every call, and lets a test await what it expects.

Multicast stays on loopback (127.0.0.1). Loopback multicast is shared by every process on the
machine, so each test gets a SAP group, an RTP group and ports of its own (:func:`groups`):
nothing else hears our senders and we hear nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import c2c_hub_plugins.aes67 as aes67_plugin
from c2c_hub import kit
from c2c_hub.device_models import DeviceModelRegistry, load_device_models, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation import testing
from c2c_hub.subdevices import AudioBlock, SubDevice
from c2c_hub_plugins.aes67 import Aes67Source
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender

SOURCE = "aes67"


def models() -> DeviceModelRegistry:
    """The hub's device models and the plugin's own (as the hub assembles them)."""
    registry = DeviceModelRegistry.load(shipped_models_dir())
    registry.add(load_device_models(kit.package_models(aes67_plugin.__file__)), origin="aes67")
    return registry


@dataclass(frozen=True)
class Call:
    kind: str  # attach, refused, detach, report, bad-audio
    args: tuple[Any, ...]


@dataclass
class FakeSourceContext:
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = SOURCE
    models: DeviceModelRegistry = field(default_factory=models)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(f"test.{SOURCE}"))

    def __post_init__(self) -> None:
        self.registry = DeviceRegistry(self.models, now=time.time)
        self.calls: list[Call] = []
        self.blocks: dict[str, list[AudioBlock]] = {}

    def attach(self, device: SubDevice) -> None:
        ok = self.registry.attach(SOURCE, device)
        self.calls.append(Call("attach" if ok else "refused", (device,)))

    def detach(self, serial: str, reason: str) -> None:
        self.registry.detach(SOURCE, serial, reason)
        self.calls.append(Call("detach", (serial, reason)))

    def audio(self, serial: str, block: AudioBlock) -> None:
        attached = self.registry.get(serial)
        if attached is None or attached.device.audio is None:
            self.calls.append(Call("bad-audio", (serial, "not attached")))
            return
        if block.samples.dtype != np.int32 or block.samples.shape != (block.frames,):
            self.calls.append(Call("bad-audio", (serial, str(block.samples.shape))))
            return
        self.blocks.setdefault(serial, []).append(block)

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        self.calls.append(Call("press", (serial, input_index, at)))

    def report(self, healthy: bool, detail: str) -> None:
        self.calls.append(Call("report", (healthy, detail)))

    # ------------------------------------------------------------------ reading
    def of_kind(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def attached(self) -> set[str]:
        return {a.device.serial for a in self.registry}

    @property
    def last_report(self) -> tuple[bool, str] | None:
        reports = self.of_kind("report")
        return (reports[-1].args[0], reports[-1].args[1]) if reports else None

    def track(self, serial: str) -> dict[int, int]:
        """Every sample received for ``serial``, by position (a later block overwrites)."""
        out: dict[int, int] = {}
        for block in self.blocks.get(serial, []):
            for i, value in enumerate(block.samples.tolist()):
                out[block.position + i] = value
        return out

    def span(self, serial: str) -> tuple[int, np.ndarray]:
        """The received samples of ``serial`` as one array from its first position (blocks must
        not overlap; gaps between blocks are left as a marker value that no signal sends)."""
        blocks = sorted(self.blocks.get(serial, []), key=lambda b: b.position)
        assert blocks, f"no audio from {serial}"
        first = blocks[0].position
        end = max(b.position + b.frames for b in blocks)
        out = np.full(end - first, np.iinfo(np.int32).min + 1, dtype=np.int64)
        for block in blocks:
            out[block.position - first : block.position - first + block.frames] = block.samples
        return first, out

    async def wait_for(self, what: str, check: Callable[[], Any], within: float = 10.0) -> Any:
        deadline = time.monotonic() + within
        while not (value := check()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            await asyncio.sleep(0.02)
        return value

    def frames(self, serial: str) -> int:
        return sum(b.frames for b in self.blocks.get(serial, []))


#: A source started under the fake context (the pytest plugin's own helper).
RunningSource = testing.RunningSource


@dataclass(frozen=True)
class Groups:
    """Addresses for one test: a SAP group, RTP groups and a port base."""

    sap: str
    rtp: list[str]
    port: int


def new_groups() -> Groups:
    """A SAP group, RTP groups and an even port, at random (for this test only)."""
    rng = random.SystemRandom()
    a, b = rng.randrange(1, 250), rng.randrange(1, 250)
    return Groups(
        sap=f"239.255.{a}.{b}",
        rtp=[f"239.{rng.randrange(70, 250)}.{a}.{b + n}" for n in range(4)],
        port=rng.randrange(20000, 60000, 2),
    )


@pytest.fixture
def senders(groups: Groups) -> Iterator[Callable[..., EmulatedAes67Sender]]:
    """``senders(channels=8, ...)``: an emulated sender on this test's groups, announced on
    this test's SAP group, started; all stopped after the test."""
    made: list[EmulatedAes67Sender] = []

    def make(start: bool = True, **kwargs: Any) -> EmulatedAes67Sender:
        n = len(made)
        options: dict[str, Any] = {
            "address": groups.rtp[n],
            "port": groups.port,
            "sap_group": groups.sap,
            "sap_interval": 0.5,
            "name": f"Test stream {n + 1}",
        }
        options.update(kwargs)
        sender = EmulatedAes67Sender(**options)
        made.append(sender)
        if start:
            sender.start()
        return sender

    try:
        yield make
    finally:
        for sender in made:
            sender.stop()


@pytest.fixture
def groups() -> Groups:
    return new_groups()


@contextlib.asynccontextmanager
async def sources(groups: Groups) -> AsyncIterator[Callable[..., Any]]:
    """``start(models=None, **options)`` runs the plugin's source on a fake context, listening
    for SAP on ``groups.sap`` only; every source started is cancelled (and awaited) on the way
    out."""
    running: list[RunningSource] = []

    async def start(models: DeviceModelRegistry | None = None, **options: Any) -> RunningSource:
        options = {
            "sap_groups": [groups.sap],
            # RAVENNA sessions browsed under a subtype of this test's own
            "ravenna_service": f"_rav{secrets.token_hex(3)}._sub._rtsp._tcp.local.",
            **options,
        }
        ctx = (
            FakeSourceContext(options=options)
            if models is None
            else FakeSourceContext(options=options, models=models)
        )
        source = Aes67Source()
        task = asyncio.get_running_loop().create_task(source.run(ctx), name="aes67 under test")
        run = RunningSource(ctx, source, task)
        running.append(run)
        return run

    try:
        yield start
    finally:
        for run in running:
            await run.stop()


@pytest.fixture
async def run_source(groups: Groups) -> AsyncIterator[Callable[..., Any]]:
    """``await run_source(sdp_folder=...)``: see :func:`sources`."""
    async with sources(groups) as start:
        yield start
