"""Connectivity: link state from the kernel, Frame.io reachability from /health (not "the
network is up"), upload speed, and a network switch that reconnects without pairing again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.connectivity import (
    ConnectivityMonitor,
    LinkInfo,
    default_route_interface,
    interface_kind,
    interface_up,
)
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub.frameio import AnswerCutOff, FrameioClient, ServerError, UnprocessableError
from c2c_hub.presence import Presence, PresenceState
from c2c_hub.session import Session

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""


def _sys_net(root: Path) -> Path:
    for name, files in {
        "eth0": {"type": "1\n", "operstate": "up\n", "device/x": ""},
        "wlan0": {"type": "1\n", "operstate": "dormant\n", "wireless/x": "", "device/x": ""},
        "wwan0": {"type": "65534\n", "operstate": "down\n"},
        "lo": {"type": "772\n", "operstate": "unknown\n"},
    }.items():
        for rel, text in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def test_default_route_is_the_lowest_metric_default(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(ROUTE)
    assert default_route_interface(route) == "eth0"
    route.write_text(ROUTE.splitlines()[0] + "\n")
    assert default_route_interface(route) is None
    assert default_route_interface(tmp_path / "missing") is None


def test_interface_kind_and_state_come_from_sysfs(tmp_path: Path) -> None:
    sys_net = _sys_net(tmp_path)
    assert interface_kind("eth0", sys_net) == "ethernet"
    assert interface_kind("wlan0", sys_net) == "wifi"
    assert interface_kind("wwan0", sys_net) == "cellular"
    assert interface_kind("lo", sys_net) == "loopback"
    assert interface_up("eth0", sys_net) and interface_up("lo", sys_net)
    assert not interface_up("wlan0", sys_net) and not interface_up("wwan0", sys_net)
    assert not interface_up("nope", sys_net)


async def test_frameio_down_while_the_network_is_up(
    emulator: EmulatorHandle, paired_session: tuple[Session, FrameioClient, ManualClock]
) -> None:
    _session, client, clock = paired_session
    link = LinkInfo("eth0", "ethernet", True, ("10.0.0.2",))
    monitor = ConnectivityMonitor(client, clock=clock, link_reader=lambda _i: link)
    told: list[str] = []
    monitor.on_change(told.append)
    status = await monitor.check()
    assert status.frameio_reachable is True and status.health_rtt_ms is not None

    emulator.fault("api", status=503, path_prefix="/health", count=1)
    status = await monitor.check()
    assert status.link.up is True, "the link is fine"
    assert status.frameio_reachable is False, "but Frame.io is not"
    assert status.last_error and "503" in status.last_error

    status = await monitor.check()
    assert status.frameio_reachable is True and status.last_error is None
    assert told == ["frameio_back"]
    assert status.to_json()["link"]["addresses"] == ["10.0.0.2"]


async def test_upload_speed_is_over_the_last_minute(
    paired_session: tuple[Session, FrameioClient, ManualClock],
) -> None:
    _session, client, clock = paired_session
    monitor = ConnectivityMonitor(client, clock=clock)
    monitor.record_upload(50_000_000 // 8, 1.0)  # 50 Mbit in 1 s
    assert monitor.status.upload_mbps == 50.0
    clock.advance(120)
    monitor.record_upload(10_000_000 // 8, 1.0)  # the old sample has aged out
    assert monitor.status.upload_mbps == 10.0


async def test_a_network_switch_reconnects_presence_without_pairing_again(
    emulator: EmulatorHandle, paired_session: tuple[Session, FrameioClient, ManualClock]
) -> None:
    session, client, clock = paired_session
    links = [LinkInfo("eth0", "ethernet", True, ("10.0.0.2",))]
    monitor = ConnectivityMonitor(client, clock=clock, link_reader=lambda _i: links[-1])
    presence = Presence(session, clock=clock)
    monitor.on_change(lambda _reason: presence.network_changed())
    await presence.start()
    try:
        for _ in range(500):
            if presence.state is PresenceState.JOINED:
                break
            await asyncio.sleep(0.01)
        assert presence.state is PresenceState.JOINED
        joins = presence.joins
        # Wi-Fi to cellular: new interface, new address; the old connections are gone.
        links.append(LinkInfo("wwan0", "cellular", True, ("100.64.1.7",)))
        emulator.drop_sockets()
        await monitor.check()
        for _ in range(500):
            if presence.joins > joins and presence.state is PresenceState.JOINED:
                break
            await asyncio.sleep(0.01)
        assert presence.joins > joins, "rejoined on the new network at once, no backoff wait"
        assert monitor.status.link.kind == "cellular"
        assert session.paired, "no pairing needed"
        assert len(emulator.requests("/v2/auth/device/code")) == 1  # only the first pairing
    finally:
        await presence.stop()


async def test_reachable_means_api_calls_are_answered_too_not_only_health(
    emulator: EmulatorHandle, paired_session: tuple[Session, FrameioClient, ManualClock]
) -> None:
    """/health says fine while asset creates fail: that is not "reachable"."""
    session, client, clock = paired_session
    link = LinkInfo("eth0", "ethernet", True, ("10.0.0.2",))
    monitor = ConnectivityMonitor(client, clock=clock, link_reader=lambda _i: link)
    told: list[str] = []
    monitor.on_change(told.append)
    assert (await monitor.check()).frameio_reachable is True

    emulator.fault("api", status=503, count=2, path_prefix="/v2/devices/assets")
    token = await session.token()
    for _ in range(2):
        with pytest.raises(ServerError):
            await client.create_asset(token, "take.wav", "audio/wav", 1000, 0, 0)
    status = await monitor.check()  # /health answers {"ok": true} ...
    assert status.health_ok is True
    assert status.frameio_reachable is False  # ... but Frame.io is not usable
    assert status.last_error is not None
    assert "POST /v2/devices/assets" in status.last_error and "503" in status.last_error
    assert status.to_json()["api_failures"] == 2

    await client.create_asset(token, "take.wav", "audio/wav", 1000, 0, 0)  # answered again
    assert monitor.status.frameio_reachable is True and monitor.status.last_error is None
    assert told == ["frameio_back"]
    monitor.close()


async def test_refusals_and_one_failure_do_not_make_frameio_unreachable(
    emulator: EmulatorHandle, paired_session: tuple[Session, FrameioClient, ManualClock]
) -> None:
    session, client, clock = paired_session
    monitor = ConnectivityMonitor(
        client, clock=clock, link_reader=lambda _i: LinkInfo(None, "none", False)
    )
    await monitor.check()
    token = await session.token()
    emulator.fault("api", status=422, count=3, path_prefix="/v2/devices/assets")
    for _ in range(3):  # Frame.io answers (it refuses): it is reachable
        with pytest.raises(UnprocessableError):
            await client.create_asset(token, "take.wav", "audio/wav", 1000, 0, 0)
    assert monitor.status.frameio_reachable is True
    emulator.fault("api", "reset", count=1, path_prefix="/v2/devices/me")
    with pytest.raises(AnswerCutOff):
        await client.me(token)
    assert monitor.status.frameio_reachable is True  # one lost answer is not an outage
    monitor.close()


async def test_a_flapping_health_does_not_drop_a_joined_socket(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle
) -> None:
    """When /health recovers the hub kept dropping its healthy joined socket; now a recovery
    only cuts a waiting reconnect short, and the socket (its heartbeats answered) stays."""
    async with plugin_hub(presence=True) as hub:
        for _ in range(1000):
            if hub.presence.state is PresenceState.JOINED:
                break
            await asyncio.sleep(0.01)
        assert hub.presence.state is PresenceState.JOINED
        joins = hub.presence.joins
        (socket,) = emulator.state()["sockets"]
        told: list[str] = []
        hub.connectivity.on_change(told.append)
        for _ in range(3):
            emulator.fault("api", status=503, count=1, path_prefix="/health")
            assert (await hub.connectivity.check()).frameio_reachable is False
            assert (await hub.connectivity.check()).frameio_reachable is True
        assert told.count("frameio_back") == 3
        await asyncio.sleep(0.5)  # a dropped socket would be rejoining now
        assert hub.presence.state is PresenceState.JOINED
        assert hub.presence.joins == joins
        (still,) = emulator.state()["sockets"]  # the same socket, still joined
        assert (still["connected_at"], still["joined"]) == (
            socket["connected_at"],
            socket["joined"],
        )
