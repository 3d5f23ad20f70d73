"""The BLE remote plugin through bleak's real BlueZ backend, against BlueZ mocked on D-Bus.

No MagicMock anywhere: remotes are D-Bus objects in python-dbusmock (c2c_hub.emulation.bluez),
bleak scans, connects, subscribes and receives notifications as it would from bluetoothd.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from pathlib import Path

import pluggy
import pytest

import c2c_hub_plugins.ble_remotes as plugin
from c2c_hub.clock import ManualClock
from c2c_hub.device_models import DeviceKind, DeviceModel, DeviceModelRegistry
from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.plugin import spec
from c2c_hub.subdevices import DeviceSource
from c2c_hub_plugins.ble_remotes import Advertisement, BleRemoteSource, Options, OptionsError
from c2c_hub_plugins.ble_remotes import emulated as emulated
from c2c_hub_plugins.ble_remotes.protocol import (
    PayloadError,
    decode_notification,
    match_model,
    serial_from,
)
from tests.plugins.ble_remotes.conftest import (
    DEVICE_MODELS,
    FAST,
    REMOTE_MODEL_ID,
    FakeSourceContext,
    SourceFactory,
)

ADDR = "C2:C0:00:00:00:01"
ADDR2 = "C2:C0:00:00:00:02"
SERIAL = "RMT001"
LOGGER = "test.ble-remotes"


def remote_model() -> DeviceModel:
    model = DeviceModelRegistry.load(DEVICE_MODELS).get(REMOTE_MODEL_ID)
    assert model is not None
    return model


# ---------------------------------------------------------------------- the plugin, the pure parts
def test_the_plugin_registers_one_source_through_the_hook() -> None:
    pm = pluggy.PluginManager(spec.PROJECT)
    pm.add_hookspecs(spec)
    pm.register(plugin)
    registered: list[DeviceSource] = []
    pm.hook.register_sources(register=registered.append)
    assert len(registered) == 1
    assert isinstance(registered[0], BleRemoteSource)
    assert isinstance(registered[0], DeviceSource) and registered[0].name == "ble-remotes"


def test_matching_needs_every_rule_the_model_declares() -> None:
    models = DeviceModelRegistry.load(DEVICE_MODELS).of_kind(DeviceKind.BUTTON_REMOTE)
    good = Advertisement(
        ADDR,
        "C2C-Remote 1",
        ("7D2EA1B0-5C8E-4F3A-9B61-2A4C6E8F0A1D",),  # case does not matter
        {0xFFFF: b"RMT001"},
        -60,
    )
    assert match_model(good, models) is not None
    for bad in (
        Advertisement(ADDR, "Other-Remote", good.service_uuids, good.manufacturer_data),
        Advertisement(ADDR, None, good.service_uuids, good.manufacturer_data),
        Advertisement(ADDR, good.name, (), good.manufacturer_data),
        Advertisement(ADDR, good.name, ("not-a-uuid",), good.manufacturer_data),
        Advertisement(ADDR, good.name, good.service_uuids, {0x004C: b"RMT001"}),
    ):
        assert match_model(bad, models) is None, bad


@pytest.mark.parametrize(
    ("data", "serial"),
    [
        (b"RMT001", "RMT001"),
        (b"A", "A"),
        (b"SN-12.3_x", "SN-12.3_x"),
        (b"", None),
        (b"RMT 01", None),
        (b"\xff\xfe", None),
        (b"-lead", None),
        (b"X" * 21, None),
    ],
)
def test_the_serial_comes_from_the_manufacturer_data(data: bytes, serial: str | None) -> None:
    model = remote_model()
    adv = Advertisement(ADDR, "C2C-Remote", (), {0xFFFF: data})
    assert serial_from(adv, model) == serial


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x02\x03", b"\x00" * 20])
def test_a_notification_is_exactly_code_and_counter(data: bytes) -> None:
    with pytest.raises(PayloadError, match="expected 2"):
        decode_notification(data)
    assert decode_notification(b"\x03\x07").code == 3
    assert decode_notification(b"\x03\x07").counter == 7


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"radio": "usb"}, "radio: expected 'bleak' or 'emulated'"),
        ({"adapter": "eth0"}, "adapter: expected an adapter name"),
        ({"scanner_watchdog_s": 0}, "scanner_watchdog_s: expected seconds"),
        ({"connect_attempts": 0}, "connect_attempts: expected an integer"),
        ({"backoff_initial_s": 3, "backoff_max_s": 1}, "must not exceed"),
        ({"watchdog": 3}, "unknown option(s) ['watchdog']"),
    ],
)
async def test_bad_options_are_reported_and_raised(
    options: dict[str, object], message: str
) -> None:
    ctx = FakeSourceContext(options=options)
    with pytest.raises(OptionsError) as raised:
        await BleRemoteSource().run(ctx)
    assert message in str(raised.value)
    assert ctx.last_report == (False, f"bad options: {raised.value}")


def test_the_backoff_is_capped_and_jittered() -> None:
    policy = Options(backoff_initial_s=0.1, backoff_max_s=1.0, backoff_jitter_s=0.0).backoff
    assert [round(policy.delay(n), 3) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    jittered = Options(backoff_initial_s=0.1, backoff_max_s=5.0, backoff_jitter_s=0.5).backoff
    delays = {jittered.delay(1) for _ in range(20)}
    assert len(delays) > 1 and all(0.1 <= d <= 0.6 for d in delays)


# ---------------------------------------------------------------------- through bleak and the mock
async def test_a_remote_is_discovered_connected_subscribed_and_attached(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    call = await run.ctx.wait_attached(SERIAL)
    device = call.args[0]
    assert (device.serial, device.model_id, device.name, device.address) == (
        SERIAL,
        REMOTE_MODEL_ID,
        "C2C-Remote 1",
        ADDR,
    )
    assert device.details == {"serial_from": "manufacturer data"}
    assert bluez.is_connected(ADDR) and bluez.is_notifying(ADDR)
    assert await run.ctx.wait_report("1 remote connected")
    assert run.ctx.last_report is not None and run.ctx.last_report[0] is True
    assert "BlueZ default adapter (bleak)" in run.ctx.last_report[1]
    [snapshot] = run.source.remotes()
    assert snapshot["state"] == "connected" and snapshot["connects"] == 1


async def test_a_remote_without_a_serial_is_known_by_its_address(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 9", serial=None, manufacturer_data=b"??")
    device = (await run.ctx.wait_attached(ADDR)).args[0]
    assert device.serial == ADDR and device.details == {"serial_from": "address"}


async def test_other_devices_are_ignored(bluez: BlueZMock, run_source: SourceFactory) -> None:
    run = await run_source()
    bluez.add_remote(ADDR2, name="Headphones", serial=None, service_uuid=None)
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    assert [c.args[0].serial for c in run.ctx.of_kind("attach")] == [SERIAL]
    assert bluez.connect_calls(ADDR2) == 0


async def test_presses_arrive_in_order_with_the_notification_time(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    codes = [1, 2, 3, 1, 3, 2]
    sent: list[tuple[float, float]] = []
    for code in codes:
        before = time.time()
        assert bluez.press(ADDR, code)
        sent.append((before, time.time()))
    presses = await run.ctx.wait_presses(SERIAL, len(codes))
    assert run.ctx.indexes(SERIAL) == [0, 1, 2, 0, 2, 1]  # code N is input N-1 in the model
    for (before, _after), press in zip(sent, presses, strict=True):
        at = press.args[2]
        assert before <= at <= press.wall, "stamped when the notification arrived"
        assert at - before < 0.5
    assert [p.args[2] for p in presses] == sorted(p.args[2] for p in presses)
    assert run.ctx.of_kind("press-refused") == []


async def test_a_repeated_notification_is_a_duplicate_and_dropped(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    assert bluez.press(ADDR, 1)  # counter 1
    await run.ctx.wait_presses(SERIAL, 1)
    assert bluez.send_raw(ADDR, bytes([1, 1]))  # the same counter again
    assert bluez.send_raw(ADDR, bytes([2, 1]))  # same counter, other code: still a repeat
    assert bluez.press(ADDR, 2)  # counter 2
    await run.ctx.wait_presses(SERIAL, 2)
    await asyncio.sleep(0.05)
    assert run.ctx.indexes(SERIAL) == [0, 1]
    [snapshot] = run.source.remotes()
    assert snapshot["duplicates"] == 2 and snapshot["presses"] == 2


async def test_an_unknown_code_is_refused_with_a_clear_log_line(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    assert bluez.press(ADDR, 9)
    await run.ctx.wait_for(
        "the unknown-code log line",
        lambda: (
            "remote RMT001 sent code 9, which C2C Button Remote does not declare "
            "(codes 1, 2, 3); ignored" in caplog.text
        ),
    )
    assert bluez.press(ADDR, 3)
    await run.ctx.wait_presses(SERIAL, 1)
    assert run.ctx.indexes(SERIAL) == [2]
    assert run.ctx.of_kind("press-refused") == []
    assert [r.levelno for r in caplog.records if "code 9" in r.getMessage()] == [logging.WARNING]


async def test_garbage_is_logged_in_hex_and_ignored(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    for data in (b"", b"\x01", b"\x01\x02\x03", b"\xde\xad\xbe\xef"):
        assert bluez.send_raw(ADDR, data)
    expected = [
        "remote RMT001 (C2:C0:00:00:00:01) sent garbage (empty): 0 bytes, expected 2",
        "remote RMT001 (C2:C0:00:00:00:01) sent garbage 01: 1 byte, expected 2",
        "remote RMT001 (C2:C0:00:00:00:01) sent garbage 01 02 03: 3 bytes, expected 2",
        "remote RMT001 (C2:C0:00:00:00:01) sent garbage de ad be ef: 4 bytes, expected 2",
    ]
    await run.ctx.wait_for("four garbage lines", lambda: all(e in caplog.text for e in expected))
    assert bluez.press(ADDR, 2)  # and the remote still works
    await run.ctx.wait_presses(SERIAL, 1)
    assert run.ctx.indexes(SERIAL) == [1]
    [snapshot] = run.source.remotes()
    assert snapshot["garbage"] == 4 and snapshot["state"] == "connected"


async def test_a_dropped_link_detaches_after_the_grace_and_it_reconnects_when_it_advertises(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source(reconnect_grace_s=0.4)
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    loop = asyncio.get_running_loop()
    dropped = loop.time()
    bluez.disconnect(ADDR)
    await run.ctx.wait_report("(1 reconnecting)")
    detach = await run.ctx.wait_detached(SERIAL)
    assert detach.args[1] == "disconnected"
    assert 0.35 <= detach.at - dropped < 1.5, "detached after the grace, not before"
    await run.ctx.wait_report("0 remotes connected")
    assert run.ctx.registry.get(SERIAL) is None

    bluez.advertise(ADDR)
    await run.ctx.wait_attached(SERIAL, count=2)
    assert bluez.is_notifying(ADDR)
    assert bluez.press(ADDR, 1)
    await run.ctx.wait_presses(SERIAL, 1)
    assert run.ctx.indexes(SERIAL) == [0]
    await run.ctx.wait_report("1 remote connected")


async def test_a_reconnect_within_the_grace_keeps_the_remote_attached(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source(reconnect_grace_s=2.0)
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    bluez.disconnect(ADDR)
    await run.ctx.wait_report("(1 reconnecting)")
    bluez.advertise(ADDR)
    await run.ctx.wait_report("1 remote connected")
    await run.ctx.wait_for("notifying again", lambda: bluez.is_notifying(ADDR))
    assert run.ctx.detaches(SERIAL) == []
    assert bluez.press(ADDR, 2)
    await run.ctx.wait_presses(SERIAL, 1)
    assert run.ctx.registry.get(SERIAL) is not None


async def test_a_remote_back_within_the_grace_is_not_detached_when_the_grace_ends(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    """The grace that began when the link dropped ends with the remote connected again: it
    stays attached (the grace is over for good, not merely past its check)."""
    clock = ManualClock()
    run = await run_source(clock=clock, reconnect_grace_s=5.0, scanner_watchdog_s=3600.0)
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    bluez.disconnect(ADDR)
    await run.ctx.wait_report("(1 reconnecting)")
    bluez.advertise(ADDR)
    await run.ctx.wait_report("1 remote connected")
    await run.ctx.wait_for("notifying again", lambda: bluez.is_notifying(ADDR))
    clock.advance(5.0)  # the grace's end, on the source's clock
    # A press after the grace's end goes through the same loop: once it is in, anything the
    # grace's end would have done is done.
    assert bluez.press(ADDR, 2)
    await run.ctx.wait_presses(SERIAL, 1)
    assert run.ctx.detaches(SERIAL) == []
    assert run.ctx.registry.get(SERIAL) is not None
    [snapshot] = run.source.remotes()
    assert snapshot["state"] == "connected"
    await run.ctx.wait_report("1 remote connected")


async def test_connect_failures_are_retried_with_backoff(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source(backoff_initial_s=0.1, backoff_max_s=1.0, connect_attempts=4)
    found = asyncio.get_running_loop().time()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL, fail_connects=2)
    call = await run.ctx.wait_attached(SERIAL)
    assert bluez.connect_calls(ADDR) == 3
    assert call.at - found >= 0.1 + 0.2 - 0.02, "waited 0.1 s, then 0.2 s (no jitter)"
    assert "connect attempt 1/4 failed (C2:C0:00:00:00:01: org.bluez.Error.Failed: " in caplog.text
    assert "connect attempt 2/4 failed" in caplog.text and "3/4" not in caplog.text


async def test_after_the_last_attempt_it_waits_for_an_advertisement(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source(connect_attempts=2)
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL, fail_connects=3)
    await run.ctx.wait_for(
        "giving up", lambda: "after 2 attempts; waiting for it to advertise again" in caplog.text
    )
    await asyncio.sleep(0.3)  # nothing more happens until it advertises
    assert bluez.connect_calls(ADDR) == 2
    assert run.source.remotes()[0]["state"] == "waiting"
    bluez.advertise(ADDR)
    await run.ctx.wait_attached(SERIAL)
    assert bluez.connect_calls(ADDR) == 4  # one more failure, then connected
    assert run.source.remotes()[0]["connect_failures"] == 3


async def test_the_scanner_watchdog_restarts_a_quiet_scanner(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source(scanner_watchdog_s=0.3)
    assert bluez.discovery_starts() == 1
    await run.ctx.wait_for("a restart", lambda: bluez.discovery_starts() >= 3, within=30)
    assert "the scanner reported nothing for 0.3 s; restarting it (restart 1)" in caplog.text
    assert await run.ctx.wait_report("by the watchdog")
    assert bluez.discovering()
    status = run.source.status()
    assert status["scanning"] and status["watchdog_restarts"] >= 2
    # A restarted scanner still finds remotes.
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)


async def test_a_scanner_that_hears_something_is_left_alone(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source(scanner_watchdog_s=0.4)
    bluez.add_remote(ADDR2, name="Headphones", serial=None, service_uuid=None)
    for _ in range(6):
        await asyncio.sleep(0.15)
        bluez.advertise(ADDR2)
    assert bluez.discovery_starts() == 1
    assert run.source.status()["watchdog_restarts"] == 0


async def test_without_bluez_the_source_reports_it_retries_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_source: SourceFactory
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")
    run = await run_source(wait_for=None, unavailable_retry_s=0.1)
    healthy, detail = await run.ctx.wait_report("no BlueZ on the system bus")
    assert healthy is False
    assert f"cannot connect to unix:path={tmp_path}/no-such-socket" in detail
    assert "looking again every 0.1 s" in detail
    await asyncio.sleep(0.35)  # it keeps trying, and nothing escapes run()
    assert not run.task.done()
    assert run.source.status()["unavailable"].startswith("no BlueZ on the system bus")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await run.stop()
    assert run.task.cancelled() and loop.time() - began < 5.0  # cancelled, not hung


async def test_a_stale_bus_socket_is_reported_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_source: SourceFactory
) -> None:
    import socket

    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # a socket file nobody listens on
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    run = await run_source(wait_for=None)
    healthy, detail = await run.ctx.wait_report("no BlueZ on the system bus")
    assert not healthy and "Connection refused" in detail


async def test_a_bus_without_bluez_is_reported(run_source: SourceFactory) -> None:
    with BlueZMock(with_bluez=False):
        run = await run_source(wait_for=None)
        healthy, detail = await run.ctx.wait_report("org.bluez is not running")
        assert not healthy and detail.startswith("no BlueZ on the system bus: ")
        await run.stop()


async def test_a_missing_adapter_is_reported(bluez: BlueZMock, run_source: SourceFactory) -> None:
    run = await run_source(wait_for=None, adapter="hci1")
    healthy, _ = await run.ctx.wait_report("no Bluetooth adapter hci1 in BlueZ")
    assert not healthy and not run.task.done()


async def test_bluez_going_away_is_reported_and_its_return_picked_up(
    run_source: SourceFactory,
) -> None:
    first = BlueZMock().start()
    second: BlueZMock | None = None
    try:
        run = await run_source(scanner_watchdog_s=0.3, reconnect_grace_s=0.2)
        first.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
        await run.ctx.wait_attached(SERIAL)
        first.stop()  # the system bus dies under the hub (bluetoothd with it)
        detach = await run.ctx.wait_detached(SERIAL)
        assert detach.args[1] == "disconnected"
        healthy, _ = await run.ctx.wait_report("no BlueZ on the system bus")
        assert not healthy and not run.task.done()
        second = BlueZMock().start()  # it comes back (on another socket: the env follows)
        second.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
        await run.ctx.wait_attached(SERIAL, count=2, within=30)
        assert second.press(ADDR, 1)
        await run.ctx.wait_presses(SERIAL, 1)
        assert await run.ctx.wait_report("1 remote connected")
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_two_remotes_with_one_serial_the_second_is_refused(
    bluez: BlueZMock, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    bluez.add_remote(ADDR2, name="C2C-Remote 1b", serial=SERIAL)
    await run.ctx.wait_report("1 refused")
    assert f"serial {SERIAL} is already connected as {ADDR} (two remotes with one serial?)" in (
        caplog.text
    )
    assert not bluez.is_connected(ADDR2)
    assert [c.args[0].address for c in run.ctx.attaches(SERIAL)] == [ADDR]
    assert bluez.press(ADDR, 1)
    await run.ctx.wait_presses(SERIAL, 1)


async def test_cancelling_stops_the_scan_and_disconnects_every_remote(
    bluez: BlueZMock, run_source: SourceFactory
) -> None:
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial="RMT001")
    bluez.add_remote(ADDR2, name="C2C-Remote 2", serial="RMT002")
    await run.ctx.wait_attached("RMT001")
    await run.ctx.wait_attached("RMT002")
    await run.ctx.wait_report("2 remotes connected")
    assert bluez.discovering()
    await run.stop()
    assert run.task.cancelled()
    assert not bluez.discovering()
    assert not bluez.is_connected(ADDR) and not bluez.is_connected(ADDR2)
    assert bluez.calls(bluez.remotes[ADDR].device_path, "Disconnect") == 1


async def test_press_latency_through_the_mock(bluez: BlueZMock, run_source: SourceFactory) -> None:
    """100 presses: the time from the mock's press to ctx.press (the mock driven from a thread,
    so the loop is free to take the notification as soon as it arrives)."""
    run = await run_source()
    bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
    await run.ctx.wait_attached(SERIAL)
    latencies: list[float] = []
    stamps: list[float] = []
    for n in range(100):
        before = time.perf_counter()
        wall = time.time()
        await asyncio.to_thread(bluez.press, ADDR, 1 + n % 3)
        press = (await run.ctx.wait_presses(SERIAL, n + 1))[n]
        latencies.append(press.perf - before)
        stamps.append(press.args[2] - wall)
    median, worst = statistics.median(latencies), max(latencies)
    print(
        json.dumps(
            {
                "measure": "ble_press_latency_ms",
                "presses": 100,
                "median": round(median * 1000, 2),
                "max": round(worst * 1000, 2),
                "at_minus_press_median": round(statistics.median(stamps) * 1000, 2),
            }
        )
    )
    assert run.ctx.indexes(SERIAL) == [n % 3 for n in range(100)]
    assert median < 0.05 and worst < 0.5
    assert all(0 <= s < 0.5 for s in stamps)


# ---------------------------------------------------------------------- the same logic, emulated
async def test_the_same_logic_runs_on_the_emulated_radio(run_source: SourceFactory) -> None:
    name = f"test-{time.monotonic_ns()}"
    radio = emulated.radio(name)
    try:
        remote = emulated.EmulatedRemote(ADDR, "C2C-Remote 1", SERIAL, radio=radio)
        run = await run_source(radio="emulated", emulated_radio=name, reconnect_grace_s=0.2)
        assert run.ctx.last_report is not None
        assert f"scanning on emulated radio '{name}'" in run.ctx.last_report[1]
        device = (await run.ctx.wait_attached(SERIAL)).args[0]
        assert (device.model_id, device.name, device.address) == (
            REMOTE_MODEL_ID,
            "C2C-Remote 1",
            ADDR,
        )
        assert remote.press(1) and remote.garbage(b"\x09") and remote.press(3)
        await run.ctx.wait_presses(SERIAL, 2)
        assert run.ctx.indexes(SERIAL) == [0, 2]
        remote.disconnect()
        assert (await run.ctx.wait_detached(SERIAL)).args[1] == "disconnected"
        remote.advertise()
        await run.ctx.wait_attached(SERIAL, count=2)
        assert await asyncio.to_thread(remote.press, 2)  # the demo drives it from its thread
        await run.ctx.wait_presses(SERIAL, 3)
        assert run.ctx.indexes(SERIAL) == [0, 2, 1]
    finally:
        emulated.forget(name)


assert FAST["backoff_jitter_s"] == 0.0  # the timing assertions above rely on it


# ---------------------------------------------------------------------- in the hub's own runner
async def test_in_the_hubs_runner_presses_reach_the_registry_from_the_sources_thread(
    bluez: BlueZMock,
) -> None:
    """The hub runs the source in a thread and loop of its own (hub.plugin.runner): bleak's
    manager lives on that loop, presses cross to the hub's loop, stop() ends it all."""
    from c2c_hub.devices import DeviceRegistry, Press
    from c2c_hub.plugin.runner import Health, SourceRunner

    models = DeviceModelRegistry.load(DEVICE_MODELS)
    registry = DeviceRegistry(models, now=time.time)
    pressed: list[Press] = []
    registry.on_press(pressed.append)
    runner = SourceRunner(
        "ble_remotes", BleRemoteSource(), registry, models=models, options=dict(FAST)
    )
    ctx = FakeSourceContext()  # only for its wait_for
    await runner.start()
    try:
        bluez.add_remote(ADDR, name="C2C-Remote 1", serial=SERIAL)
        await ctx.wait_for("attached in the registry", lambda: registry.get(SERIAL))
        attached = registry.get(SERIAL)
        assert attached is not None and attached.source == "ble_remotes:ble-remotes"
        assert bluez.press(ADDR, 2) and bluez.press(ADDR, 1)
        await ctx.wait_for("two presses", lambda: len(pressed) == 2)
        assert [(p.serial, p.input_index) for p in pressed] == [(SERIAL, 1), (SERIAL, 0)]
        assert runner.snapshot()["state"] == Health.RUNNING.value
        assert runner.reported is not None and "1 remote connected" in runner.reported["detail"]
    finally:
        await runner.stop(timeout=5)
    assert runner.snapshot()["state"] == Health.STOPPED.value
    assert runner.thread is not None
    # The runner hears "done" from the thread's last lines; give it a moment to really end.
    await asyncio.to_thread(runner.thread.join, 2)
    assert not runner.thread.is_alive()
    assert len(registry) == 0 and not bluez.is_connected(ADDR) and not bluez.discovering()
