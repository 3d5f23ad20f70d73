"""pytest plugin shipped with c2c-hub: an emulated Frame.io for your tests.

Installed with the package (entry point ``pytest11``), so a plugin author's tests get the same
fixtures ours use:

``emulator_server``
    One running emulator for the test session (strict mode on, a short device-code interval).
``emulator``
    An :class:`~c2c_hub.emulation.frameio.handle.EmulatorHandle` on it, with the emulator reset (no
    devices, no assets, no faults, default settings) before each test.
``frameio_settings``
    :class:`~c2c_hub.settings.FrameioSettings` pointing at the emulator: its URL, its CA, the client
    secret it accepts, and a fresh ``client_id`` per test.
``plugin_hub``
    For plugin authors: ``async with plugin_hub(my_plugin, options={...}) as hub:`` gives a
    running :class:`~c2c_hub.runtime.Hub` wired to the emulator, paired (the emulated user approves
    the code), with your plugin registered (and no other, unless ``entry_points=True``), its
    recordings and state in the test's ``tmp_path``; the device models your plugin ships are
    declared to the emulated Frame.io first, as Frame.io must know them. See
    ``docs/plugins/testing.md``.
``source_context``
    For a source on its own, without the hub: ``ctx = source_context(options={...},
    plugin="my_plugin")`` is a :class:`~c2c_hub.emulation.source_context.FakeSourceContext`
    (validation as in the hub, every call recorded, ``await ctx.wait_attached(serial)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.emulation.frameio.state import EmulatorConfig
from c2c_hub.emulation.source_context import Call, FakeSourceContext, RunningSource
from c2c_hub.settings import FrameioSettings

__all__ = ["Call", "FakeSourceContext", "RunningSource"]

TEST_CONFIG = EmulatorConfig(strict=True, device_code_interval=0.05)


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """A Frame.io emulator serving HTTPS on loopback for the whole session."""
    data_dir: Path = tmp_path_factory.mktemp("c2c-emulator")
    config = EmulatorConfig(**{**TEST_CONFIG.__dict__})
    server = EmulatorServer(data_dir, config=config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorHandle]:
    """The control handle, on an emulator reset to a clean slate for this test."""
    handle = EmulatorHandle(
        emulator_server.base_url,
        emulator_server.control_url,
        emulator_server.ca_file,
        emulator_server.config.client_secret,
    )
    handle.reset()
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def frameio_settings(emulator: EmulatorHandle) -> FrameioSettings:
    """Settings that point the hub's Frame.io client at the emulator."""
    return FrameioSettings(
        api_base_url=emulator.base_url,
        client_id=f"test-{uuid.uuid4()}",
        client_secret=SecretStr(emulator.client_secret),
        ca_file=emulator.ca_file,
        firmware_version="1.0.0",
    )


PluginHubFactory = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def plugin_hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> PluginHubFactory:
    """``async with plugin_hub(*plugins, options=None, entry_points=False, presence=False,
    device_models=None)``: a running, paired hub with ``plugins`` registered.

    ``entry_points``: False, no installed plugin; True, every one; a list of names, those."""
    from c2c_hub.pairing import PairingStep, PairingUpdate
    from c2c_hub.runtime import Hub
    from c2c_hub.settings import (
        DeviceModelSettings,
        HubSettings,
        PluginSettings,
        RecorderSettings,
        StorageSettings,
    )

    @contextlib.asynccontextmanager
    async def make(
        *plugins: object,
        options: dict[str, dict[str, Any]] | None = None,
        entry_points: bool | list[str] = False,
        presence: bool = False,
        device_models: Path | None = None,
    ) -> AsyncIterator[Hub]:
        extra: dict[str, Any] = {}
        allow = (
            None if entry_points is True else [] if entry_points is False else list(entry_points)
        )
        if device_models is not None:
            extra["device_models"] = DeviceModelSettings(directory=device_models)
        settings = HubSettings(
            **extra,
            frameio=frameio_settings,
            storage=StorageSettings(data_dir=tmp_path / "hub", key_file=tmp_path / "keys" / "key"),
            recorder=RecorderSettings(directory=tmp_path / "recordings", stop_grace_s=0.1),
            plugins=PluginSettings(allow=allow, options=options or {}),
        )
        named = {getattr(p, "__name__", None) or type(p).__name__: p for p in plugins}
        # Frame.io knows a device model only once the integration declares it: the plugins'.
        await asyncio.to_thread(declare_plugin_models, emulator, settings, named)
        async with Hub(settings) as hub:
            for name, plugin in named.items():
                hub.plugins.register_object(plugin, name)
            pairing = hub.pairing()
            loop = asyncio.get_running_loop()

            def approve(update: PairingUpdate) -> None:
                if update.step is PairingStep.SHOW_CODE and update.user_code:
                    code = update.user_code
                    loop.run_in_executor(None, emulator.approve, code)

            pairing.subscribe(approve)
            await hub.start(presence=presence, status_file=False)
            await pairing.run()
            yield hub

    return make


def declare_plugin_models(
    emulator: EmulatorHandle, settings: Any, plugins: dict[str, object]
) -> list[str]:
    """Declare to the emulator the device models the plugins ship (as Frame.io's developer
    console would for a real integration); the names of the models declared."""
    from c2c_hub.emulation.plugin_models import plugin_device_models

    found = plugin_device_models(settings.plugins, settings.device_models.directory, plugins)
    for _, model in found:
        assert model.source is not None
        emulator.declare_device_model(model.source.read_text(encoding="utf-8"))
    return [model.name for _, model in found]


@pytest.fixture
def source_context() -> Callable[..., FakeSourceContext]:
    """``source_context(options=None, models=None, plugin=..., source=...)``: a fake context."""

    def make(**kwargs: Any) -> FakeSourceContext:
        return FakeSourceContext(**kwargs)

    return make
