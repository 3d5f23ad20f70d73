"""The session keeps the hub paired for days: silent refresh, one refresh for many 401s, and a
clear 'needs pairing' state (never a crash loop) when Frame.io rejects the refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub.frameio import (
    FrameioClient,
    TokenSet,
    TransportError,
    make_http_client,
    make_ssl_context,
)
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import PairingState, TokenStore
from tests.helpers import pair_raw

HOUR = 3600.0


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def _tokens(raw: dict[str, str]) -> TokenSet:
    return TokenSet.model_validate(
        {
            "access_token": raw["access_token"],
            "refresh_token": raw["refresh_token"],
            "expires_in": 28800,
            "token_type": "bearer",
        }
    )


class LoseRefreshAnswer(httpx.AsyncBaseTransport):
    """Delivers a refresh to Frame.io, then loses the answer (a network drop or a power cut)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = False
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_refresh = request.url.path == "/v2/auth/token" and b"refresh_token" in request.read()
        response = await self.inner.handle_async_request(request)
        if self.armed and is_refresh:
            await response.aread()
            self.armed = False
            self.lost += 1
            raise httpx.ReadError("connection lost before the answer arrived", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def parts(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer]]:
    lose = LoseRefreshAnswer(httpx.AsyncHTTPTransport(verify=make_ssl_context(frameio_settings)))
    async with httpx.AsyncClient(transport=lose) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        clock = ManualClock()
        session = Session(client, TokenStore(tmp_path / "creds"), frameio_settings, clock=clock)
        await session.start()
        raw = pair_raw(emulator, frameio_settings.client_id)
        await session.adopt(_tokens(raw))
        try:
            yield session, client, clock, lose
        finally:
            await session.stop()


def _advance(emulator: EmulatorHandle, clock: ManualClock, seconds: float) -> None:
    emulator.advance(seconds)
    clock.advance(seconds)


async def test_refreshes_silently_well_before_the_8_hour_expiry(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, client, clock, _ = parts
    first = session.credentials
    assert first is not None
    _advance(emulator, clock, 5 * HOUR)
    await asyncio.sleep(0.05)
    assert session.refreshes == 0, "not yet: 5 h into an 8 h token"
    _advance(emulator, clock, 1 * HOUR + 1)
    await eventually(lambda: session.refreshes == 1)
    second = session.credentials
    assert second is not None and second.access_token != first.access_token
    # the new token works after the old one would have expired
    _advance(emulator, clock, 2 * HOUR + 1)
    device = await session.call(client.me)
    assert device.project.name == "Emulated Project"
    # stored durably, encrypted: a restart reads the new pair
    stored = session.store.load()
    assert stored is not None and stored.refresh_token == second.refresh_token


async def test_many_concurrent_401s_cause_exactly_one_refresh(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, client, _clock, _ = parts
    before = len(emulator.requests("/v2/auth/token"))  # the pairing's own polls
    emulator.advance(8 * HOUR + 1)  # Frame.io's clock only: the hub thinks its token is fine
    results = await asyncio.gather(*(session.call(client.me) for _ in range(20)))
    assert len(results) == 20
    assert session.refreshes == 1
    assert len(emulator.requests("/v2/auth/token")) == before + 1


async def test_a_lost_refresh_answer_leads_to_needs_pairing_not_a_crash_loop(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, client, clock, lose = parts
    lose.armed = True
    with pytest.raises(TransportError):
        await session.refresh()
    assert lose.lost == 1
    assert session.state is PairingState.REFRESHING
    stored = session.store.load()
    assert stored is not None and stored.state is PairingState.REFRESHING
    # Next use retries with the same (spent) token: Frame.io says invalid_request.
    with pytest.raises(NeedsPairing, match="invalid_request"):
        await session.call(client.me)
    assert session.state is PairingState.NEEDS_PAIRING
    # The background refresher does not hammer Frame.io afterwards.
    before = len(emulator.requests("/v2/auth/token"))
    _advance(emulator, clock, 24 * HOUR)
    await asyncio.sleep(0.1)
    assert len(emulator.requests("/v2/auth/token")) == before
    with pytest.raises(NeedsPairing):
        await session.token()


async def test_power_cut_during_refresh_is_resolved_on_the_next_start(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    store = TokenStore(tmp_path / "creds")
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        session = Session(client, store, frameio_settings, clock=ManualClock())
        await session.adopt(_tokens(pair_raw(emulator, frameio_settings.client_id)))
        creds = session.credentials
        assert creds is not None
        # The intent was written, then the power went before the request left: not spent.
        store.begin_refresh(creds)
        restarted = Session(client, store, frameio_settings, clock=ManualClock())
        await restarted.start()
        try:
            assert restarted.state is PairingState.PAIRED
            assert restarted.refreshes == 1
        finally:
            await restarted.stop()


async def test_a_reused_refresh_token_needs_pairing(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, client, _clock, _ = parts
    old = session.credentials
    assert old is not None
    await session.refresh()
    # A restored backup (or a second unit with copied credentials) holds the spent token.
    session.store.save(old)
    session._credentials = old  # what a restart would load
    emulator.advance(8 * HOUR + 1)
    with pytest.raises(NeedsPairing, match="invalid_request"):
        await session.call(client.me)
    loaded = session.store.load()
    assert loaded is not None and loaded.state is PairingState.NEEDS_PAIRING


async def test_refresh_token_older_than_14_days_needs_pairing_without_calling(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, _client, clock, _ = parts
    creds = session.credentials
    assert creds is not None
    session._credentials = replace(creds, refresh_expires_at=clock.now() - 1)
    before = len(emulator.requests("/v2/auth/token"))
    with pytest.raises(NeedsPairing, match="14 days"):
        await session.refresh()
    assert len(emulator.requests("/v2/auth/token")) == before


async def test_after_every_refresh_the_identity_is_fetched_again(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, _client, _clock, _ = parts
    emulator.rename_project("Renamed Show")
    before = len(emulator.requests("/v2/devices/me"))
    await session.refresh()
    assert len(emulator.requests("/v2/devices/me")) == before + 1
    assert session.identity is not None and session.identity.project.name == "Renamed Show"
    stored = session.store.load()
    assert stored is not None and stored.project_name == "Renamed Show"


async def test_unpair_revokes_at_frameio_and_wipes_locally(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, client, _clock, _ = parts
    creds = session.credentials
    assert creds is not None
    await session.unpair()
    assert session.state is PairingState.UNPAIRED
    assert session.store.load() is None
    from c2c_hub.frameio import AuthError

    with pytest.raises(AuthError):
        await client.me(creds.access_token)


@pytest.mark.parametrize("action", ["remove_device", "revoke_device"])
async def test_a_device_removed_or_revoked_in_frameio_is_shown_as_such(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, action: str
) -> None:
    """Removed from the project (or its access revoked) in Frame.io's web app: the hub says so
    (status, log) and stops calling, instead of retrying as if the network were down."""
    async with plugin_hub(presence=True) as hub:
        await eventually(lambda: hub.presence.state.value == "joined")
        getattr(emulator, action)()
        await eventually(lambda: hub.session.state is PairingState.NEEDS_PAIRING)
        status = hub.status()
        assert status["pairing"]["last_error"] == hub.session.last_error
        assert "removed from the project or its access was revoked" in (
            hub.session.last_error or ""
        )
        await eventually(lambda: hub.presence.state.value == "needs_pairing")
        await eventually(lambda: hub.channels.state.startswith("waiting for pairing"))
        assert "removed from the project" in hub.channels.state
        calls = len(emulator.requests())
        await asyncio.sleep(1.0)  # nothing retries
        assert len(emulator.requests()) == calls


async def test_frameio_refusing_the_device_its_identity_is_shown_not_retried(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    """A 403 in Frame.io's own error shape on /v2/devices/me, again with a fresh token."""
    session, _client, _clock, _ = parts
    emulator.fault("api", status=403, count=2, path_prefix="/v2/devices/me")
    with pytest.raises(NeedsPairing, match="HTTP 403") as caught:
        await session.refresh_identity("conflict")
    assert "removed from the project" in caught.value.reason
    assert len(emulator.requests("/v2/auth/token")) >= 1  # a fresh token was tried first
    loaded = session.store.load()
    assert loaded is not None and loaded.state is PairingState.NEEDS_PAIRING


async def test_one_403_on_identity_is_cured_by_a_fresh_token(
    parts: tuple[Session, FrameioClient, ManualClock, LoseRefreshAnswer],
    emulator: EmulatorHandle,
) -> None:
    session, _client, _clock, _ = parts
    emulator.fault("api", status=403, count=1, path_prefix="/v2/devices/me")
    me = await session.refresh_identity("conflict")
    assert me.id and session.paired
