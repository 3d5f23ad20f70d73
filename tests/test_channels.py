"""The channel manager against the emulator: Frame.io's boot flow, arrivals, departures, network
loss and reconcile, 409 Already Exists, and files waiting for their sub-device's channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient
from c2c_hub.session import Session
from c2c_hub.subdevices import AudioFormat, SubDevice

MIC_MODEL = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
SOURCE = "test:mics"
MODELS = DeviceModelRegistry.load(shipped_models_dir())

Paired = tuple[Session, FrameioClient, ManualClock]


def mic(serial: str, name: str = "") -> SubDevice:
    return SubDevice(serial, MIC_MODEL, name or serial, audio=AudioFormat())


async def until(check: Callable[[], Any], within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s: {check}")


def frameio_channels(emulator: EmulatorHandle) -> dict[str, str]:
    """Frame.io's connected sub-device channels of the only device: {client_id: channel id}."""
    (device,) = emulator.devices()
    return {client: cid for cid, client in device["channel_client_ids"].items()}


def channel_calls(emulator: EmulatorHandle) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in emulator.requests("/v2/devices/channels")]


@pytest.fixture
async def manager(
    paired_session: Paired,
) -> AsyncIterator[tuple[ChannelManager, DeviceRegistry, Paired]]:
    session = paired_session[0]
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    try:
        yield channels, registry, paired_session
    finally:
        await channels.stop()


async def test_boot_bulk_disconnects_first_then_connects_each_attached_mic(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    channels, registry, (session, client, _) = manager
    # Channels left over from the previous power cycle (ids we must not trust).
    token = await session.token()
    for serial in ("OLD-1", "NM-1"):
        await client.connect_channel(token, serial, MIC_MODEL)
    before = len(channel_calls(emulator))

    registry.attach(SOURCE, mic("NM-1", "Boom"))
    registry.attach(SOURCE, mic("NM-2", "Lav"))
    await channels.start()
    await until(lambda: channels.available() == {"NM-1", "NM-2"})

    calls = channel_calls(emulator)[before:]
    assert calls[0] == ("POST", "/v2/devices/channels/disconnect")
    assert sorted(calls[1:]) == [("POST", "/v2/devices/channels/connect")] * 2
    live = frameio_channels(emulator)
    assert set(live) == {"NM-1", "NM-2"}
    assert channels.channel_id_of("NM-1") == live["NM-1"]
    assert channels.stats.bulk_disconnects == 1
    indexes = {channels.index_of("NM-1"), channels.index_of("NM-2")}
    assert None not in indexes and 0 not in indexes and len(indexes) == 2


async def test_arrival_connects_and_departure_disconnects_by_channel_id(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    channels, registry, _ = manager
    await channels.start()
    await until(lambda: channels.booted_for is not None)
    registry.attach(SOURCE, mic("NM-7"))
    await until(lambda: channels.index_of("NM-7") is not None)
    channel_id = channels.channel_id_of("NM-7")
    assert frameio_channels(emulator) == {"NM-7": channel_id}

    registry.attach(SOURCE, mic("NM-8"))
    await until(lambda: "NM-8" in channels.available())
    registry.detach(SOURCE, "NM-7", "unplugged")
    await until(lambda: set(frameio_channels(emulator)) == {"NM-8"})
    assert ("POST", f"/v2/devices/channels/{channel_id}/disconnect") in channel_calls(emulator)
    # One bulk disconnect at boot, never again for an arrival or a departure.
    assert channel_calls(emulator).count(("POST", "/v2/devices/channels/disconnect")) == 1


async def test_network_loss_then_reconcile_matches_what_is_attached(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    channels, registry, (session, client, _) = manager
    for serial in ("NM-1", "NM-2", "NM-3"):
        registry.attach(SOURCE, mic(serial))
    await channels.start()
    await until(lambda: len(channels.available()) == 3)

    # Frame.io becomes unreachable (every channel call answers 503) ...
    emulator.fault("api", "status", status=503, count=1000, path_prefix="/v2/devices/channels")
    registry.detach(SOURCE, "NM-2", "vanished")
    registry.attach(SOURCE, mic("NM-4"))
    await until(lambda: channels.stats.failures >= 2)
    assert "NM-4" not in channels.available()
    # ... and meanwhile NM-3's channel was removed on Frame.io's side.
    emulator.clear_faults()
    token = await session.token()
    await client.disconnect_channel(token, frameio_channels(emulator)["NM-3"])

    channels.network_back()
    await until(lambda: set(frameio_channels(emulator)) == {"NM-1", "NM-3", "NM-4"})
    await until(lambda: channels.available() == {"NM-1", "NM-3", "NM-4"})
    assert channels.stats.reconciles >= 1
    live = frameio_channels(emulator)
    assert all(channels.channel_id_of(s) == live[s] for s in live)


async def test_already_exists_adopts_the_one_unaccounted_channel(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    channels, registry, (session, client, _) = manager
    await channels.start()
    await until(lambda: channels.booted_for is not None)
    # A connect whose answer was lost: Frame.io has the channel, the hub does not know its id.
    made = await client.connect_channel(await session.token(), "NM-5", MIC_MODEL)
    registry.attach(SOURCE, mic("NM-5"))
    await until(lambda: "NM-5" in channels.available())
    assert channels.stats.conflicts == 1
    assert channels.channel_id_of("NM-5") == made.id
    assert channels.index_of("NM-5") == made.external_index


async def test_ambiguous_conflict_clears_only_the_channels_in_doubt_never_in_bulk(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    """Seed 002: after boot a host MAY NOT clear sub-devices. Two channels nobody here owns and
    a 409: each is disconnected by its own id; the healthy channel keeps its id."""
    channels, registry, (session, client, _) = manager
    registry.attach(SOURCE, mic("NM-1"))
    await channels.start()
    await until(lambda: "NM-1" in channels.available())
    healthy = channels.channel_id_of("NM-1")
    token = await session.token()
    await client.connect_channel(token, "NM-5", MIC_MODEL)
    await client.connect_channel(token, "STRAY-1", MIC_MODEL)
    registry.attach(SOURCE, mic("NM-5"))
    await until(lambda: "NM-5" in channels.available())
    assert channels.stats.bulk_disconnects == 1  # the boot's, never again
    assert channel_calls(emulator).count(("POST", "/v2/devices/channels/disconnect")) == 1
    assert channels.stats.individual_clears == 2
    assert set(frameio_channels(emulator)) == {"NM-1", "NM-5"}
    assert channels.channel_id_of("NM-1") == healthy == frameio_channels(emulator)["NM-1"]


async def test_a_new_power_cycle_trusts_no_stored_channel(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session = paired_session[0]
    for _cycle in range(2):
        registry = DeviceRegistry(MODELS, time.time)
        registry.attach(SOURCE, mic("NM-1"))
        channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
        await channels.start()
        try:
            await until(lambda ch=channels: "NM-1" in ch.available())  # type: ignore[misc]
        finally:
            await channels.stop()
    assert channel_calls(emulator).count(("POST", "/v2/devices/channels/disconnect")) == 2
    assert set(frameio_channels(emulator)) == {"NM-1"}


async def test_a_model_frameio_refuses_is_shown_and_others_go_on(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    channels, registry, _ = manager
    emulator.fault("api", "status", status=422, count=1, path_prefix="/v2/devices/channels/connect")
    await channels.start()
    await until(lambda: channels.booted_for is not None)
    registry.attach(SOURCE, mic("NM-1"))
    await until(lambda: channels.links["NM-1"].state == "refused")
    assert channels.links["NM-1"].error
    registry.attach(SOURCE, mic("NM-2"))
    await until(lambda: "NM-2" in channels.available())
    assert channels.index_of("NM-1") is None


async def test_after_an_outage_healthy_channels_stay_even_when_numbered_like_the_primary(
    manager: tuple[ChannelManager, DeviceRegistry, Paired], emulator: EmulatorHandle
) -> None:
    """Seed 002 shows sub-device channels with ``external_index: 0``. The reconcile after an
    outage tells the primary by its device_id, so five healthy channels are neither connected
    again (409s) nor cleared in bulk."""
    channels, registry, _ = manager
    emulator.configure(channel_index_mode="zero")
    serials = [f"NM-{n}" for n in range(1, 6)]
    for serial in serials:
        registry.attach(SOURCE, mic(serial))
    await channels.start()
    await until(lambda: all(channels.channel_id_of(s) for s in serials))
    ids = {s: channels.channel_id_of(s) for s in serials}
    before = len(channel_calls(emulator))

    emulator.fault("api", "status", status=503, count=3, path_prefix="/v2/devices/me")
    channels.network_back()  # the first reconcile fails; the next one succeeds
    await until(lambda: channels.stats.reconciles >= 1)
    await until(lambda: channels.state.startswith("in sync"))
    assert channel_calls(emulator)[before:] == []  # no connect, no disconnect, no bulk
    assert channels.stats.conflicts == 0 and channels.stats.bulk_disconnects == 1
    assert {s: channels.channel_id_of(s) for s in serials} == ids
    assert set(frameio_channels(emulator)) == set(serials)


async def test_the_primary_channel_is_told_by_device_id_not_by_index(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, _ = paired_session
    emulator.configure(channel_index_mode="zero")
    await session.client.connect_channel(await session.token(), "NM-1", MIC_MODEL)
    me = await session.refresh_identity("conflict")
    assert [c.external_index for c in me.channels] == [0, 0]
    primary = [c for c in me.channels if ChannelManager.is_primary(c, me)]
    assert len(primary) == 1 and primary[0].device_id == me.device_id
    # The emulator keeps the primary too: it cannot be disconnected, and a bulk clear leaves it.
    await session.call(session.client.disconnect_all_channels)
    me = await session.refresh_identity("conflict")
    assert [c.id for c in me.channels] == [primary[0].id]


async def test_a_connect_answer_cut_off_or_garbled_is_resolved_and_others_go_on(
    manager: tuple[ChannelManager, DeviceRegistry, Paired],
    emulator: EmulatorHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The connect took effect but its answer was lost (cut off, not JSON, too large): the
    next try meets 409 Already Exists and adopts the channel; nothing is cleared in bulk."""
    channels, registry, _ = manager
    await channels.start()
    await until(lambda: channels.booted_for is not None)
    connect = "/v2/devices/channels/connect"
    for n, (kind, extra) in enumerate(
        (("reset", {}), ("malformed", {}), ("huge", {"size": 16 * 1024 * 1024})), start=1
    ):
        emulator.fault("api", kind, count=1, path_prefix=connect, **extra)
        registry.attach(SOURCE, mic(f"NM-{n}"))
        await until(lambda n=n: f"NM-{n}" in channels.available())  # type: ignore[misc]
    live = frameio_channels(emulator)
    assert set(live) == {"NM-1", "NM-2", "NM-3"}
    assert all(channels.channel_id_of(s) == live[s] for s in live)
    assert channels.stats.conflicts == 3 and channels.stats.bulk_disconnects == 1
    assert "cut off" in caplog.text and "not JSON" in caplog.text and "more than" in caplog.text
