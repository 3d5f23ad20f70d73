"""The hid-remotes source on a fake context: identity, refusals with a reason in the status,
held keys, bad reports, a link dropped mid-press; through the emulated radio (in process)
and through bleak against the BlueZ mock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import c2c_hub_plugins.hid_remotes as hid_plugin
from c2c_hub import kit
from c2c_hub.emulation.bluez import BlueZMock
from c2c_hub.emulation.source_context import FakeSourceContext, RunningSource
from c2c_hub_plugins.hid_remotes.emulated import (
    ENTER,
    VOLUME_UP,
    EmulatedHidRemote,
    forget,
    radio,
    shutter_report,
)
from c2c_hub_plugins.hid_remotes.identity import (
    AddressKind,
    NoIdentity,
    address_kind,
    client_id,
)
from c2c_hub_plugins.hid_remotes.presses import HeldKeys
from c2c_hub_plugins.hid_remotes.source import HidRemoteSource
from tests.plugins.hid_remotes.conftest import FAST, release_bleak_manager
from tests.plugins.hid_remotes.descriptors import SHUTTER

MODELS = [kit.package_models(hid_plugin.__file__)]
STATIC = "F1:22:33:44:55:66"
RPA = "5A:22:33:44:55:66"  # top bits 01: resolvable private


def test_address_kinds_and_a_stable_id_that_is_no_mac_address() -> None:
    assert address_kind("00:11:22:33:44:55", "public") is AddressKind.PUBLIC
    assert address_kind(STATIC, "random") is AddressKind.STATIC
    assert address_kind(RPA, "random") is AddressKind.RESOLVABLE
    assert address_kind("1A:22:33:44:55:66", "random") is AddressKind.NON_RESOLVABLE
    first = client_id(STATIC, "random")
    assert first == client_id(STATIC.lower(), "random")  # the same after a power cycle
    assert STATIC.replace(":", "") not in first.upper()  # a digest, not the MAC address
    assert kit.SERIAL_RE.match(first)
    assert client_id(RPA, "random", serial="SN1234") == "hid-sn-SN1234"
    with pytest.raises(NoIdentity, match="resolvable private address, which changes"):
        client_id(RPA, "random")


def test_a_key_held_is_one_press_and_its_release_none() -> None:
    held: HeldKeys[int, str] = HeldKeys()
    assert held.update(2, ["up"]) == ["up"]
    assert held.update(2, ["up"]) == []  # repeated while held
    assert held.update(1, ["enter"]) == ["enter"]  # another report says nothing of report 2
    assert held.update(2, ["up", "down"]) == ["down"]
    assert held.update(2, []) == []  # released
    assert held.update(2, ["up"]) == ["up"]
    held.clear()  # the link dropped
    assert held.update(2, ["up"]) == ["up"]


Start = Callable[..., Awaitable[RunningSource[FakeSourceContext, HidRemoteSource]]]


@pytest.fixture
async def run_source() -> AsyncIterator[Start]:
    running: list[RunningSource[FakeSourceContext, HidRemoteSource]] = []

    async def start(
        wait_for: str = "scanning", **options: Any
    ) -> RunningSource[FakeSourceContext, HidRemoteSource]:
        ctx = FakeSourceContext(
            options={**FAST, **options},
            model_files=MODELS,
            plugin="hid_remotes",
            source="hid-remotes",
        )
        source = HidRemoteSource()
        task = asyncio.get_running_loop().create_task(source.run(ctx), name="test source")
        run = RunningSource(ctx, source, task)
        running.append(run)
        await ctx.wait_report(wait_for, within=10)
        return run

    try:
        yield start
    finally:
        for run in running:
            await run.stop()
        await release_bleak_manager()


async def test_emulated_shutter_presses_held_keys_and_bad_reports(run_source: Start) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    remote = EmulatedHidRemote(STATIC, "AB Shutter3", radio=name, address_type="random")
    try:
        run = await run_source(radio="emulated", emulated_radio=name)
        serial = client_id(STATIC, "random")
        await run.ctx.wait_attached(serial)
        await run.ctx.wait_for("subscribed", lambda: remote.subscribed)
        remote.send(*shutter_report(VOLUME_UP))
        remote.send(*shutter_report(VOLUME_UP))  # held
        remote.send(*shutter_report(None))
        remote.send(1, b"\x00\x28")  # too short for report 1: counted, no press
        remote.tap(ENTER)
        presses = await run.ctx.wait_presses(serial, 2)
        await asyncio.sleep(0.1)
        assert run.ctx.indexes(serial) == [0, 1]
        assert len(presses) == 2
        (snap,) = run.source.remotes()
        assert snap["bad_reports"] == 1 and snap["presses"] == 2
        assert snap["address_kind"] == "static random"
    finally:
        forget(name)


async def test_a_resolvable_private_address_is_refused_and_the_status_says_why(
    run_source: Start,
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    EmulatedHidRemote(RPA, "AB Shutter3", radio=name, address_type="random")
    try:
        run = await run_source(radio="emulated", emulated_radio=name)
        healthy, detail = await run.ctx.wait_report("refused", within=10)
        assert not healthy
        assert "resolvable private address" in detail and "pair it" in detail
        assert run.ctx.attaches(client_id(RPA, "random", "x")) == []
        (snap,) = run.source.remotes()
        assert snap["state"] == "refused"
    finally:
        forget(name)


async def test_a_report_map_that_does_not_parse_is_refused_with_its_reason(
    run_source: Start,
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    EmulatedHidRemote(STATIC, "AB Shutter3", radio=name, report_map=b"\x05\x01\x09")
    try:
        run = await run_source(radio="emulated", emulated_radio=name)
        healthy, detail = await run.ctx.wait_report("Report Map does not parse", within=10)
        assert not healthy and "cut short" in detail
    finally:
        forget(name)
    assert radio(name) is not None  # a fresh one: nothing left registered
    forget(name)


async def test_through_bleak_a_remote_that_drops_mid_press_is_one_press(
    run_source: Start, bluez: BlueZMock
) -> None:
    bluez.add_hid_remote(STATIC, "AB Shutter3", SHUTTER, (1, 2, 3), address_type="random")
    # A grace far longer than a reconnect takes even on a loaded machine: the test is about
    # the press, and "back within the grace" must not hang on how fast the machine is.
    run = await run_source(reconnect_grace_s=30.0)
    serial = client_id(STATIC, "random")
    await run.ctx.wait_attached(serial)
    await run.ctx.wait_for("subscribed", lambda: bluez.is_notifying(STATIC))
    assert bluez.hid_report(STATIC, 2, b"\x01")  # Volume Up down
    await run.ctx.wait_presses(serial, 1)
    bluez.disconnect(STATIC)  # ... the link drops with the key down: no release seen
    await asyncio.sleep(0.1)
    bluez.advertise(STATIC)
    await run.ctx.wait_for("subscribed again", lambda: bluez.is_notifying(STATIC))
    assert bluez.hid_report(STATIC, 2, b"\x00")  # the release: no press
    assert bluez.hid_report(STATIC, 1, bytes([0, 0, 0x28, 0, 0, 0, 0, 0]))  # Enter
    await run.ctx.wait_presses(serial, 2)
    await asyncio.sleep(0.2)
    assert run.ctx.indexes(serial) == [0, 1]
    assert run.ctx.detaches(serial) == []  # back within the grace: never detached


async def test_without_bluez_the_status_says_so_and_it_looks_again(run_source: Start) -> None:
    with BlueZMock(with_bluez=False):  # a system bus, but no bluetoothd on it
        run = await run_source(wait_for="no BlueZ")
        healthy, detail = run.ctx.last_report or (True, "")
        assert not healthy and "looking again in 0.2 s" in detail
        assert "org.bluez is not running (start bluetoothd)" in detail
        assert run.source.status()["scanning"] is False
