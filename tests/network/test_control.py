"""The network controls against NetworkManager's D-Bus API (a mock on a private bus): scan,
join and save, priorities, forget, DHCP and static addresses, and every way it goes wrong
(a wrong password, a network that vanishes, an address another host holds, NetworkManager
restarting or absent), each leaving a clear status and the previous network kept or restored."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.emulation.networkmanager import NetworkManagerMock
from c2c_hub.network import (
    Addressing,
    ConnectFailed,
    NetworkControl,
    NetworkRefused,
    NetworkUnavailable,
)
from tests.network.conftest import HOTSPOT_PSK, STUDIO_PSK, until


async def test_a_scan_lists_each_network_with_signal_security_and_band(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    found = {n["ssid"]: n for n in await control.scan()}
    assert nm_mock.scans() == 1
    assert set(found) == {"StudioNet", "Hotspot"}
    assert (found["StudioNet"]["signal"], found["StudioNet"]["band"]) == (82, "2.4 GHz")
    assert (found["Hotspot"]["signal"], found["Hotspot"]["band"]) == (40, "5 GHz")
    assert found["StudioNet"]["security"] == "WPA2"
    assert [n["ssid"] for n in await control.scan()] == ["StudioNet", "Hotspot"]  # strongest first
    snapshot = control.snapshot()
    assert snapshot["controls"] and snapshot["why_no_controls"] is None
    assert snapshot["modems"] == [
        {"operator": "SetCell", "technology": "LTE", "signal": 64, "state": "enabled"}
    ]


async def test_joining_saves_the_network_with_its_priority_and_says_why_it_is_in_use(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("StudioNet", STUDIO_PSK, priority=20)
    snapshot = control.snapshot()
    using = snapshot["in_use"]
    assert (using["ssid"], using["kind"], using["signal"]) == ("StudioNet", "wifi", 82)
    assert using["interface"] == "wlan0" and using["why"] == "chosen by the operator"
    (saved,) = snapshot["saved"]
    assert (saved["name"], saved["priority"], saved["autoconnect"]) == ("StudioNet", 20, True)
    assert saved["has_password"] and saved["in_use"]
    assert nm_mock.active_ids() == ["StudioNet"]
    # NetworkManager holds the PSK; the hub's view of it never does
    assert STUDIO_PSK not in json.dumps(snapshot)
    held = nm_mock.connections()[0]["802-11-wireless-security"]
    assert held == {"key-mgmt": "wpa-psk", "psk": STUDIO_PSK}

    await control.connect("Hotspot", HOTSPOT_PSK, priority=5)  # a switch: one network at a time
    assert nm_mock.active_ids() == ["Hotspot"]
    assert {s["name"]: s["in_use"] for s in control.snapshot()["saved"]} == {
        "StudioNet": False,
        "Hotspot": True,
    }
    await control.set_priority("Hotspot", 50, autoconnect=False)
    hotspot = next(s for s in control.snapshot()["saved"] if s["name"] == "Hotspot")
    assert (hotspot["priority"], hotspot["autoconnect"]) == (50, False)
    assert [s["name"] for s in control.snapshot()["saved"]] == ["Hotspot", "StudioNet"]


async def test_a_watch_read_begun_before_a_change_never_puts_the_old_settings_back(
    control: NetworkControl, nm_mock: NetworkManagerMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch reads NetworkManager on its own (signals, every refresh_s). A read of its that
    began before the operator's change and ended after it (seen on a loaded machine) must not
    replace the status the change left: the priority set stays shown."""
    await control.connect("StudioNet", STUDIO_PSK, priority=3)
    real_read = control.nm.read
    read_done, release = asyncio.Event(), asyncio.Event()

    async def slow_read() -> Any:  # the real read, answered late
        view = await real_read()
        read_done.set()
        await release.wait()
        return view

    monkeypatch.setattr(control.nm, "read", slow_read)
    watch = asyncio.create_task(control._refresh())  # one round of the watch's loop
    await asyncio.wait_for(read_done.wait(), 30)  # it holds the old priority, 3
    monkeypatch.setattr(control.nm, "read", real_read)
    assert await control.set_priority("StudioNet", 30) == {"network": "StudioNet", "priority": 30}
    release.set()
    await asyncio.wait_for(watch, 30)
    (saved,) = control.snapshot()["saved"]
    assert saved["priority"] == 30
    assert control.snapshot()["in_use"]["ssid"] == "StudioNet"


async def test_joining_again_replaces_the_saved_profile_instead_of_adding_one(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("StudioNet", STUDIO_PSK, priority=7)
    await control.connect("StudioNet", STUDIO_PSK)
    (saved,) = control.snapshot()["saved"]
    assert saved["priority"] == 7  # kept from the profile it replaces
    assert len(nm_mock.connections()) == 1


async def test_a_wrong_password_restores_the_previous_network_and_saves_nothing(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("StudioNet", STUDIO_PSK)
    with pytest.raises(ConnectFailed) as failed:
        await control.connect("Hotspot", "not-the-password")
    message = str(failed.value)
    assert "password was refused" in message and "StudioNet is restored" in message
    assert "not-the-password" not in message
    assert nm_mock.active_ids() == ["StudioNet"]
    snapshot = control.snapshot()
    assert snapshot["in_use"]["ssid"] == "StudioNet"
    assert [s["name"] for s in snapshot["saved"]] == ["StudioNet"]  # no profile left behind
    assert snapshot["last_action"]["ok"] is False
    assert "password was refused" in snapshot["last_action"]["message"]


async def test_bad_input_is_refused_before_anything_changes(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    with pytest.raises(NetworkRefused, match="8 to 63"):
        await control.connect("StudioNet", "short")
    with pytest.raises(NetworkRefused, match=r"no network named .Elsewhere. is in range"):
        await control.connect("Elsewhere", STUDIO_PSK)
    with pytest.raises(NetworkRefused, match="needs a password"):
        await control.connect("StudioNet", None)
    with pytest.raises(NetworkRefused, match="outside"):
        Addressing.static("192.168.1.50/24", "10.0.0.1", [])
    with pytest.raises(NetworkRefused, match="prefix"):
        Addressing.static("192.168.1.50", None, [])
    with pytest.raises(NetworkRefused, match="broadcast"):
        Addressing.static("192.168.1.255/24", None, [])
    with pytest.raises(NetworkRefused, match="no saved network"):
        await control.forget("Nowhere")
    assert nm_mock.connections() == [] and nm_mock.calls("ActivateConnection") == 0


async def test_a_static_address_is_applied_and_a_clashing_one_is_undone(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("StudioNet", STUDIO_PSK)
    static = Addressing.static("192.168.10.50/24", "192.168.10.1", ["192.168.10.1", "9.9.9.9"])
    result = await control.set_addressing("StudioNet", static)
    assert result["applied"]
    (saved,) = control.snapshot()["saved"]
    assert saved["addressing"] == {
        "method": "static",
        "address": "192.168.10.50/24",
        "gateway": "192.168.10.1",
        "dns": ["192.168.10.1", "9.9.9.9"],
    }
    assert nm_mock.connections()[0]["ipv4"]["address-data"] == [
        {"address": "192.168.10.50", "prefix": 24}
    ]

    nm_mock.clash("192.168.10.60")
    clash = Addressing.static("192.168.10.60/24", "192.168.10.1", [])
    with pytest.raises(ConnectFailed, match=r"already holds this address.*previous addressing"):
        await control.set_addressing("StudioNet", clash)
    (saved,) = control.snapshot()["saved"]
    assert saved["addressing"]["address"] == "192.168.10.50/24" and saved["in_use"]
    assert nm_mock.active_ids() == ["StudioNet"]

    await control.set_addressing("StudioNet", Addressing())
    assert control.snapshot()["saved"][0]["addressing"]["method"] == "dhcp"


async def test_a_network_that_vanishes_gives_way_to_the_best_saved_one_in_range(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("Hotspot", HOTSPOT_PSK, priority=1)
    await control.connect("StudioNet", STUDIO_PSK, priority=10)
    changes: list[str] = []
    control.on_change(changes.append)
    nm_mock.vanish("StudioNet")
    await until(lambda: (control.snapshot()["in_use"] or {}).get("ssid") == "Hotspot")
    assert "went away" in control.snapshot()["in_use"]["why"]
    assert control.snapshot()["last_action"]["action"] == "fallback"
    assert changes  # the hub heard of it (and reconnects its socket)
    assert [n["ssid"] for n in control.snapshot()["wifi"]] == ["Hotspot"]


async def test_forgetting_a_network_removes_it_from_network_manager(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("Hotspot", HOTSPOT_PSK)
    await control.connect("StudioNet", STUDIO_PSK)
    assert (await control.forget("Hotspot"))["was_in_use"] is False
    assert [c["connection"]["id"] for c in nm_mock.connections()] == ["StudioNet"]
    assert [s["name"] for s in control.snapshot()["saved"]] == ["StudioNet"]


async def test_network_manager_restarting_turns_controls_off_then_back_with_the_network_kept(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    await control.connect("StudioNet", STUDIO_PSK)
    nm_mock.stop_service()
    await until(lambda: not control.snapshot()["controls"])
    assert "NetworkManager" in control.snapshot()["why_no_controls"]
    with pytest.raises(NetworkUnavailable):
        await control.scan()
    nm_mock.restart()
    await until(lambda: control.snapshot()["controls"] and control.snapshot()["in_use"])
    assert control.snapshot()["in_use"]["ssid"] == "StudioNet"
    assert [s["name"] for s in control.snapshot()["saved"]] == ["StudioNet"]


async def test_modem_signal_and_operator_follow_modem_manager(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    nm_mock.set_modem(signal=12, operator="Roaming Co")
    await until(lambda: control.snapshot()["modems"][0]["signal"] == 12)
    assert control.snapshot()["modems"][0]["operator"] == "Roaming Co"


async def test_without_network_manager_the_controls_are_off_and_say_why() -> None:
    with BlueZMock(with_bluez=False):  # a system bus, and nobody on it
        control = NetworkControl()
        await control.start()
        try:
            snapshot = control.snapshot()
            assert not snapshot["controls"]
            assert snapshot["why_no_controls"] == "NetworkManager is not running on the system bus"
            with pytest.raises(NetworkUnavailable):
                await control.connect("StudioNet", STUDIO_PSK)
        finally:
            await control.stop()
    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/c2c-no-bus"
    try:
        control = NetworkControl()
        await control.start()
        assert "no system D-Bus" in (control.snapshot()["why_no_controls"] or "")
        await control.stop()
    finally:
        if saved is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved


def test_the_mock_is_not_left_running(nm_mock: NetworkManagerMock) -> None:
    assert nm_mock.address.startswith("unix:")


async def test_switching_to_cellular_names_the_operator_and_takes_wifi_down(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    nm_mock.add_cellular_device("wwan0")
    nm_mock.add_cellular_connection("SetCell LTE", apn="internet")
    await control.connect("StudioNet", STUDIO_PSK)
    await control.use("SetCell LTE")
    using = control.snapshot()["in_use"]
    assert (using["kind"], using["interface"], using["operator"]) == (
        "cellular",
        "wwan0",
        "SetCell",
    )
    assert (using["signal"], using["technology"], using["ssid"]) == (64, "LTE", None)
    assert nm_mock.active_ids() == ["SetCell LTE"]  # Wi-Fi down: the traffic goes over LTE
    await control.use("StudioNet")  # and back, by name
    assert nm_mock.active_ids() == ["StudioNet"]
    nm_mock.add_access_point("Office", security="open", strength=60)
    await control.scan()
    await control.connect("Office", None)  # an open network needs no password
    assert nm_mock.active_ids() == ["Office"]
    office = next(s for s in control.snapshot()["saved"] if s["name"] == "Office")
    assert not office["has_password"]


async def test_the_system_bus_going_away_turns_controls_off_and_they_come_back_with_it(
    nm_mock: NetworkManagerMock,
) -> None:
    control = NetworkControl(refresh_s=0.2)
    await control.start()
    try:
        assert control.snapshot()["controls"]
        control.bus.disconnect()  # as when dbus-daemon restarts under the hub
        with pytest.raises(NetworkUnavailable):
            await control.bus.name_has_owner("org.freedesktop.NetworkManager")
        await until(lambda: control.bus.connected and control.snapshot()["controls"])
        assert [n["ssid"] for n in await control.scan()] == ["StudioNet", "Hotspot"]
    finally:
        await control.stop()


async def test_a_cable_reports_its_link_rate_and_takes_over_from_wifi(
    control: NetworkControl, nm_mock: NetworkManagerMock
) -> None:
    nm_mock.add_ethernet_device("eth1", speed_mbps=1000)
    nm_mock.add_ethernet_connection("Video village cable")
    await control.connect("StudioNet", STUDIO_PSK)
    assert control.snapshot()["in_use"]["link_rate_mbps"] == 5.4  # the Wi-Fi's bitrate
    await control.use("Video village cable")
    using = control.snapshot()["in_use"]
    assert (using["kind"], using["interface"], using["link_rate_mbps"]) == (
        "ethernet",
        "eth1",
        1000,
    )
    assert using["ssid"] is None and using["signal"] is None
    assert nm_mock.active_ids() == ["Video village cable"]
