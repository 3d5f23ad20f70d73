"""Shared fixtures for the hub's tests: a session paired with the emulator by the hub's client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.clock import ManualClock
from hub.emulator.handle import EmulatorHandle
from hub.frameio import (
    AuthorizationPending,
    FrameioClient,
    SlowDown,
    TokenSet,
    make_http_client,
)
from hub.session import Session
from hub.settings import FrameioSettings
from hub.tokens import TokenStore


async def pair_tokens(
    client: FrameioClient, settings: FrameioSettings, emulator: EmulatorHandle
) -> TokenSet:
    """The device-code flow with the real client; polls no faster than ``interval`` (R15)."""
    code = await client.request_device_code(settings.client_id, settings.client_secret)
    emulator.approve(code.user_code)
    interval = code.interval
    while True:
        await asyncio.sleep(interval)  # the emulator's device-code clock is wall time
        try:
            return await client.poll_device_token(
                settings.client_id, settings.client_secret, code.device_code
            )
        except AuthorizationPending:
            continue
        except SlowDown:
            interval += 5


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
