"""Fixtures for the whole suite: a session paired with the emulator by the hub's own client,
and a running hub with its control API and a client for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import (
    FrameioClient,
    make_http_client,
)
from c2c_hub.runtime import Hub
from c2c_hub.session import Session
from c2c_hub.settings import (
    ControlSettings,
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.tokens import TokenStore
from c2c_hub.ui.control import ControlServer, attach_control
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


@dataclass
class ControlHub:
    """A running hub, its control API on loopback (any free port), and clients for it."""

    hub: Hub
    control: ControlServer

    @property
    def url(self) -> str:
        """The control API's base URL, without the trailing slash."""
        assert self.control.url is not None
        return self.control.url.rstrip("/")

    @property
    def token(self) -> str:
        return self.control.token

    @property
    def auth(self) -> dict[str, str]:
        """The header that lets a call in."""
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, *, authorized: bool = True, timeout: float = 30) -> httpx.AsyncClient:
        """A client on :attr:`url`, with the token unless ``authorized`` is False."""
        headers = self.auth if authorized else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)


ControlHubFactory = Callable[..., AbstractAsyncContextManager[ControlHub]]


@pytest.fixture
def control_hub(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> ControlHubFactory:
    """``async with control_hub() as running:`` a hub on the emulator, started without presence
    or a status file, its control API on 127.0.0.1 (any free port); ``running.client()`` calls it
    with the token. Its data in ``tmp_path / "hub"``, its recordings in ``tmp_path / "rec"``.

    ``recorder=``: more recorder settings (``{"timecode_rate": "25"}``); ``plugins=``: plugin
    objects by name, registered (no installed plugin runs); ``paired=True``: started with
    presence and paired through the hub's own pairing, the emulated user approving the code.
    """

    @contextlib.asynccontextmanager
    async def start(
        *,
        recorder: dict[str, Any] | None = None,
        plugins: dict[str, object] | None = None,
        paired: bool = False,
    ) -> AsyncIterator[ControlHub]:
        settings = HubSettings(
            frameio=frameio_settings,
            storage=StorageSettings(data_dir=tmp_path / "hub"),
            recorder=RecorderSettings(directory=tmp_path / "rec", **(recorder or {})),
            plugins=PluginSettings(allow=[]),
            control=ControlSettings(host="127.0.0.1", port=0),
        )
        async with Hub(settings) as hub:
            for name, plugin in (plugins or {}).items():
                hub.plugins.register_object(plugin, name)
            control = attach_control(hub)
            assert isinstance(control, ControlServer)
            await hub.start(presence=paired, status_file=False)
            if paired:
                await _pair(hub, emulator)
            assert control.url is not None
            yield ControlHub(hub, control)

    return start


async def _pair(hub: Hub, emulator: EmulatorHandle) -> None:
    """Pair ``hub`` through its own pairing: the emulated user approves the code it shows."""
    hub.start_pairing()
    for _ in range(300):
        pending = await asyncio.to_thread(emulator.pending_pairings)
        if pending:
            await asyncio.to_thread(emulator.approve, pending[0]["user_code"])
            break
        await asyncio.sleep(0.1)
    for _ in range(300):
        if hub.session.state.value == "paired":
            break
        await asyncio.sleep(0.1)
    assert hub.session.state.value == "paired", "the hub did not pair within 30 s"
