"""pytest plugin shipped with c2c-hub: an emulated Frame.io for your tests.

Installed with the package (entry point ``pytest11``), so a plugin author's tests get the same
fixtures ours use:

``emulator_server``
    One running emulator for the test session (strict mode on, a short device-code interval).
``emulator``
    An :class:`~hub.emulator.handle.EmulatorHandle` on it, with the emulator reset (no
    devices, no assets, no faults, default settings) before each test.
``frameio_settings``
    :class:`~hub.settings.FrameioSettings` pointing at the emulator: its URL, its CA, the client
    secret it accepts, and a fresh ``client_id`` per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.emulator.handle import EmulatorHandle
from hub.emulator.server import EmulatorServer
from hub.emulator.state import EmulatorConfig
from hub.settings import FrameioSettings

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
