"""Direct connections only: a proxy named in the environment never sits between the hub and
Frame.io, neither on the REST calls (httpx) nor on the presence socket (websockets).

The proxy variables point at a real listener on loopback that records every connection it gets;
the hub pairs, calls Frame.io and joins its socket, and the listener must have seen nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.presence import Presence, PresenceState
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import TokenStore
from tests.helpers import pair_tokens

PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """A listening loopback port named in every proxy variable; yields who connected to it."""
    seen: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield seen
    finally:
        server.close()
        await server.wait_closed()


async def test_rest_and_socket_ignore_a_proxy_from_the_environment(
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
    tmp_path: Path,
    proxy: list[str],  # after the emulator's own handle: only the hub's clients see the proxy
) -> None:
    clock = ManualClock()
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        session = Session(
            client, TokenStore(tmp_path / "credentials"), frameio_settings, clock=clock
        )
        await session.adopt(await pair_tokens(client, frameio_settings, emulator))
        presence = Presence(session, frameio_settings, clock=clock)
        await presence.start()
        try:
            deadline = asyncio.get_running_loop().time() + 15
            while presence.state is not PresenceState.JOINED:
                assert asyncio.get_running_loop().time() < deadline, f"not joined: {presence.state}"
                await asyncio.sleep(0.05)
        finally:
            await presence.stop()
            await session.stop()
    assert session.identity is not None, "the REST calls reached Frame.io"
    assert proxy == [], f"a Frame.io connection went through the proxy: {proxy}"
