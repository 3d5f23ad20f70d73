"""Fixtures for the whole suite: a session paired with the emulator by the hub's own client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import (
    FrameioClient,
    make_http_client,
)
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import TokenStore
from tests.helpers import pair_tokens


@pytest.fixture(autouse=True, scope="session")
def _own_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Token key files (kept outside each data directory) go to this run's folder, never to
    the real ``~/.config`` of whoever runs the tests; subprocesses inherit it."""
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = previous


@pytest.fixture
async def paired_session(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[tuple[Session, FrameioClient, ManualClock]]:
    """A :class:`Session` paired with the emulator, on a :class:`ManualClock`.

    The session's background refresher is not started: a test refreshes when it means to.
    """
    clock = ManualClock()
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        store = TokenStore(tmp_path / "credentials")
        session = Session(client, store, frameio_settings, clock=clock)
        await session.adopt(await pair_tokens(client, frameio_settings, emulator))
        try:
            yield session, client, clock
        finally:
            await session.stop()
