"""Fixtures for plugin tests: a SourceContext with behaviour, emulated microphones, a runner.

:class:`FakeSourceContext` is the hub's side of the plugin API without the hub: it loads the
real device models, validates attaches through the real :class:`~c2c_hub.devices.DeviceRegistry`,
checks audio blocks, records every call in order (with the loop time), and lets a test await
what it expects (``await ctx.wait_attached("MIC-1", within=3)``).

Everything runs on real zeroconf bound to 127.0.0.1 (IPv4 only) and real loopback sockets.
Loopback multicast is shared by every process on the machine (another test run, a demo), so
each test gets a service type of its own (:func:`service_type`): the microphone device model
as declared, TXT rules and all, but browsed under that type. Nothing else sees our microphones
and we see nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from c2c_hub.device_models import DeviceKind, DeviceModel, DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.subdevices import AudioBlock, SubDevice
from c2c_hub_plugins.mdns_microphones import MdnsMicrophoneSource
from c2c_hub_plugins.mdns_microphones.emulated import EmulatedMicrophone

DEVICE_MODELS = shipped_models_dir()
SOURCE = "mdns-microphones"


def models_browsed_as(service_type: str) -> DeviceModelRegistry:
    """The real device models, the microphone ones announced under ``service_type``."""
    models: list[DeviceModel] = []
    for model in DeviceModelRegistry.load(DEVICE_MODELS):
        mdns = model.discovery.mdns
        if model.kind is DeviceKind.MICROPHONE and mdns is not None:
            discovery = model.discovery.model_copy(
                update={"mdns": mdns.model_copy(update={"service_type": service_type})}
            )
            model = model.model_copy(update={"discovery": discovery})
        models.append(model)
    return DeviceModelRegistry(models)


@dataclass(frozen=True)
class Call:
    kind: str  # attach, detach, audio, press, report, refused, bad-audio
    args: tuple[Any, ...]
    at: float  # loop time


@dataclass
class FakeSourceContext:
    """A SourceContext that behaves like the hub's (validation included) and remembers."""

    options: Mapping[str, Any] = field(default_factory=dict)
    models: DeviceModelRegistry = field(
        default_factory=lambda: DeviceModelRegistry.load(DEVICE_MODELS)
    )
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(f"test.{SOURCE}"))

    def __post_init__(self) -> None:
        self.registry = DeviceRegistry(self.models, now=time.time)
        self.calls: list[Call] = []
        self.blocks: dict[str, list[AudioBlock]] = {}
        self._tick = asyncio.Event()

    # ------------------------------------------------------------------ the SourceContext API
    def attach(self, device: SubDevice) -> None:
        ok = self.registry.attach(SOURCE, device)
        self._record("attach" if ok else "refused", device)

    def detach(self, serial: str, reason: str) -> None:
        self.registry.detach(SOURCE, serial, reason)
        self._record("detach", serial, reason)

    def audio(self, serial: str, block: AudioBlock) -> None:
        attached = self.registry.get(serial)
        problem = None
        if attached is None or attached.device.audio is None:
            problem = "audio from a serial that is not attached"
        else:
            channels = attached.device.audio.channels
            shape = (block.frames,) if channels == 1 else (block.frames, channels)
            if block.samples.dtype != np.int32 or block.samples.shape != shape:
                problem = f"block {block.samples.dtype} {block.samples.shape}, expected {shape}"
        if problem is not None:
            self._record("bad-audio", serial, problem)
            return
        self.blocks.setdefault(serial, []).append(block)
        self._tick.set()  # audio is not kept in ``calls`` (100 blocks a second per mic)

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        self._record("press", serial, input_index, at)

    def report(self, healthy: bool, detail: str) -> None:
        self._record("report", healthy, detail)

    # ------------------------------------------------------------------ reading
    def _record(self, kind: str, *args: Any) -> None:
        self.calls.append(Call(kind, args, asyncio.get_running_loop().time()))
        self._tick.set()

    def of_kind(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def attaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("attach") if c.args[0].serial == serial]

    def detaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("detach") if c.args[0] == serial]

    @property
    def last_report(self) -> tuple[bool, str] | None:
        reports = self.of_kind("report")
        return (reports[-1].args[0], reports[-1].args[1]) if reports else None

    def frames(self, serial: str) -> int:
        return sum(b.frames for b in self.blocks.get(serial, []))

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, what: str, check: Callable[[], Any], within: float) -> Any:
        """Until ``check()`` is truthy (re-checked on every call); its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (value := check()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            self._tick.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._tick.wait()
            except TimeoutError:
                pass
        return value

    async def wait_attached(self, serial: str, within: float = 5.0, count: int = 1) -> Call:
        calls = await self.wait_for(
            f"{serial} attached", lambda: self.attaches(serial)[count - 1 :], within
        )
        return calls[0]  # type: ignore[no-any-return]

    async def wait_detached(self, serial: str, within: float = 5.0) -> Call:
        calls = await self.wait_for(f"{serial} detached", lambda: self.detaches(serial), within)
        return calls[0]  # type: ignore[no-any-return]

    async def wait_frames(self, serial: str, frames: int, within: float = 5.0) -> None:
        await self.wait_for(
            f"{frames} frames from {serial}", lambda: self.frames(serial) >= frames, within
        )

    async def wait_report(self, text: str, within: float = 5.0) -> None:
        await self.wait_for(
            f"a report with {text!r}",
            lambda: self.last_report is not None and text in self.last_report[1],
            within,
        )


@dataclass
class RunningSource:
    ctx: FakeSourceContext
    source: MdnsMicrophoneSource
    task: asyncio.Task[None]

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        async with asyncio.timeout(5):
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
def service_type() -> str:
    """A service type for this test only (``_c2cmic-1a2b3c._tcp.local.``)."""
    return f"_c2cmic-{secrets.token_hex(3)}._tcp.local."


@pytest.fixture
async def mic_zeroconf() -> AsyncIterator[AsyncZeroconf]:
    """One zeroconf shared by the test's microphones (the hub's source has its own)."""
    aiozc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        yield aiozc
    finally:
        await aiozc.async_close()


MicFactory = Callable[..., Awaitable[list[EmulatedMicrophone]]]


@pytest.fixture
async def start_mics(mic_zeroconf: AsyncZeroconf, service_type: str) -> AsyncIterator[MicFactory]:
    """``await start_mics(("MIC-1", "Boom 1"), ("MIC-2", "Boom 2", {"signal": "speech"}))``:
    microphones started in parallel (they probe together), all stopped after the test."""
    started: list[EmulatedMicrophone] = []

    async def start(*specs: tuple[Any, ...]) -> list[EmulatedMicrophone]:
        mics = [
            EmulatedMicrophone(
                spec[0],
                spec[1],
                zeroconf=mic_zeroconf,
                **{"service_type": service_type, **(spec[2] if len(spec) > 2 else {})},
            )
            for spec in specs
        ]
        started.extend(mics)
        await asyncio.gather(*(mic.start() for mic in mics))
        return mics

    try:
        yield start
    finally:
        await asyncio.gather(*(mic.stop() for mic in started), return_exceptions=True)


SourceFactory = Callable[..., Awaitable[RunningSource]]


@pytest.fixture
async def run_source(service_type: str) -> AsyncIterator[SourceFactory]:
    """``await run_source(stream_timeout_s=0.5)``: the plugin's source running on a fake
    context (models browsed under this test's service type), as a task; cancelled (and
    awaited) after the test. ``models=`` gives other models (the real ones, say)."""
    running: list[RunningSource] = []

    async def start(models: DeviceModelRegistry | None = None, **options: Any) -> RunningSource:
        ctx = FakeSourceContext(options=options, models=models or models_browsed_as(service_type))
        source = MdnsMicrophoneSource()
        task = asyncio.get_running_loop().create_task(source.run(ctx), name="test source")
        run = RunningSource(ctx, source, task)
        running.append(run)
        await ctx.wait_report("browsing", within=5)
        return run

    try:
        yield start
    finally:
        for run in running:
            await run.stop()
