"""Fixtures for plugin tests: a SourceContext with behaviour, emulated microphones, a runner.

:class:`FakeSourceContext` is the pytest plugin's (:mod:`c2c_hub.emulation.testing`): the hub's
side of the plugin API without the hub, validating through the real
:class:`~c2c_hub.devices.DeviceRegistry`, recording every call, awaitable
(``await ctx.wait_attached("MIC-1", within=3)``).

Everything runs on real zeroconf bound to 127.0.0.1 (IPv4 only) and real loopback sockets.
Loopback multicast is shared by every process on the machine (another test run, a demo), so
each test gets a service type of its own (:func:`service_type`): the microphone device model
as declared, TXT rules and all, but browsed under that type. Nothing else sees our microphones
and we see nothing else.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from c2c_hub.device_models import DeviceModel, DeviceModelRegistry, shipped_models_dir
from c2c_hub.emulation import testing
from c2c_hub_plugins.mdns_microphones import MdnsMicrophoneSource
from c2c_hub_plugins.mdns_microphones.emulated import EmulatedMicrophone

DEVICE_MODELS = shipped_models_dir()
SOURCE = "mdns-microphones"


def models_browsed_as(service_type: str) -> DeviceModelRegistry:
    """The real device models, the microphone ones announced under ``service_type``."""
    models: list[DeviceModel] = []
    for model in DeviceModelRegistry.load(DEVICE_MODELS):
        mdns = model.discovery.mdns
        if model.kind == "microphone" and mdns is not None:
            discovery = model.discovery.model_copy(
                update={"mdns": mdns.model_copy(update={"service_type": service_type})}
            )
            model = model.model_copy(update={"discovery": discovery})
        models.append(model)
    return DeviceModelRegistry(models)


Call = testing.Call


@dataclass
class FakeSourceContext(testing.FakeSourceContext):
    """The pytest plugin's fake context, named for this plugin and its source."""

    plugin: str = "mdns_microphones"
    source: str = SOURCE


#: A source started under the fake context (the pytest plugin's own helper).
RunningSource = testing.RunningSource


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
