"""Real-time logging against the emulator: a press becomes one trigger, in order, with the
timecode of the moment it was pressed and an offset that stays true when it is sent late."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry, Press
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient
from c2c_hub.presses import PressLog
from c2c_hub.session import Session
from c2c_hub.subdevices import SubDevice
from c2c_hub.timecode import FrameRate, TimecodeClock
from tests.test_channels import until

REMOTE_MODEL = "d4e6f8a0-2c4e-4a6b-9d1f-3e5a7c9e1f24"
MODELS = DeviceModelRegistry.load(shipped_models_dir())
SRC = "test:remotes"
RATE = FrameRate.parse("25")

Paired = tuple[Session, FrameioClient, ManualClock]


@dataclass
class Rig:
    registry: DeviceRegistry
    channels: ChannelManager
    log: PressLog
    timecode: TimecodeClock
    path: Path


@pytest.fixture
async def rig(paired_session: Paired, tmp_path: Path) -> AsyncIterator[Rig]:
    session = paired_session[0]
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    timecode = TimecodeClock(SystemClock(), RATE)
    path = tmp_path / "presses.sqlite3"
    presses = PressLog(
        path, session, registry, channels, timecode, clock=SystemClock(), backoff_max_s=0.2
    )
    channels.on_change(presses.poke)
    await channels.start()
    await presses.start()
    try:
        yield Rig(registry, channels, presses, timecode, path)
    finally:
        await presses.stop()
        await channels.stop()


def remote(rig: Rig, serial: str = "BR-1") -> None:
    assert rig.registry.attach(SRC, SubDevice(serial, REMOTE_MODEL, f"Remote {serial}"))


def events(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return emulator.log_events()


async def test_presses_become_triggers_in_order_with_the_press_timecode(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    remote(rig)
    await until(lambda: rig.channels.channel_id_of("BR-1"))
    pressed = []
    for index in (0, 2, 1, 0):
        at = time.time()
        pressed.append((index, str(rig.timecode.timecode(at=at))))
        assert rig.registry.press(SRC, "BR-1", index, at)
        await asyncio.sleep(0.05)
    await until(lambda: len(events(emulator)) == 4)
    await until(lambda: rig.log.counts["sent"] == 4)  # the last 204 is stored, too
    got = events(emulator)
    assert [(e["input_index"], e["start"]["smpte_timecode"]) for e in got] == pressed
    assert all(e["start"]["rate"] == {"playback": [25, 1], "ntsc": None} for e in got)
    assert all(e["channel_client_id"] == "BR-1" and e["offset"] == 0 for e in got)
    assert all(e["action_type"] == "single_press" for e in got)
    assert rig.log.counts["sent"] == 4
    assert emulator.violations() == []


async def test_an_input_the_model_does_not_declare_is_refused_with_a_clear_line(
    rig: Rig, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    remote(rig)
    with caplog.at_level(logging.WARNING):
        assert not rig.registry.press(SRC, "BR-1", 7, time.time())
    assert "input 7" in caplog.text and "declares no such input" in caplog.text
    assert (await rig.log.presses()) == []


async def test_frameio_down_then_back_delivers_every_press_once_in_order(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    remote(rig)
    await until(lambda: rig.channels.channel_id_of("BR-1"))
    emulator.fault("api", "status", status=503, count=6, path_prefix="/v2/devices/channels/")
    first = time.time()
    for index in (0, 1, 2):
        rig.registry.press(SRC, "BR-1", index, time.time())
    await until(lambda: len(events(emulator)) == 3, within=15)
    await asyncio.sleep(0.3)
    got = events(emulator)
    assert [e["input_index"] for e in got] == [0, 1, 2]
    presses = await rig.log.presses()
    assert [p.state for p in presses] == ["sent"] * 3
    assert presses[0].attempts > 1
    for press, event in zip(presses, got, strict=True):
        # The offset is the press's age when it was sent, not zero.
        assert press.sent_at is not None and event["offset"] == press.offset_sent
        assert 0 <= press.sent_at - press.pressed_at - event["offset"] < 1.0
    assert presses[0].pressed_at >= first


async def test_a_press_waits_for_its_channel_and_others_go_on(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    remote(rig, "BR-1")
    await until(lambda: rig.channels.channel_id_of("BR-1"))
    # BR-2 pressed before its channel exists (e.g. connected while offline).
    emulator.fault("api", "status", status=503, count=3, path_prefix="/v2/devices/channels/conn")
    remote(rig, "BR-2")
    rig.registry.press(SRC, "BR-2", 1, time.time())
    rig.registry.press(SRC, "BR-1", 0, time.time())
    await until(lambda: len(events(emulator)) == 2, within=15)
    assert {e["channel_client_id"] for e in events(emulator)} == {"BR-1", "BR-2"}


async def test_a_power_cut_between_press_and_send_delivers_after_restart(
    paired_session: Paired, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    session = paired_session[0]
    path = tmp_path / "presses.sqlite3"
    timecode = TimecodeClock(SystemClock(), RATE)

    # Power cycle 1: pressed while the remote's channel is not there yet; then the power goes.
    registry = DeviceRegistry(MODELS, time.time)
    no_channel = ChannelManager(session, registry, clock=SystemClock())  # never started
    before = PressLog(path, session, registry, no_channel, timecode, clock=SystemClock())
    await before.start()
    registry.attach(SRC, SubDevice("BR-1", REMOTE_MODEL, "Remote"))
    pressed_at = time.time() - 2.5
    tc = str(timecode.timecode(at=pressed_at))
    await before.record(Press("BR-1", 0, pressed_at))
    before._task.cancel()  # type: ignore[union-attr]  # killed: no orderly stop
    await asyncio.sleep(0)
    assert before._db is not None
    await before._db.close()

    # Power cycle 2: a new hub, the same database.
    registry = DeviceRegistry(MODELS, time.time)
    registry.attach(SRC, SubDevice("BR-1", REMOTE_MODEL, "Remote"))
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    after = PressLog(path, session, registry, channels, timecode, clock=SystemClock())
    channels.on_change(after.poke)
    await channels.start()
    await after.start()
    try:
        await until(lambda: len(events(emulator)) == 1, within=10)
        (event,) = events(emulator)
        assert event["start"]["smpte_timecode"] == tc
        assert event["offset"] >= 2
    finally:
        await after.stop()
        await channels.stop()


async def test_a_send_with_no_answer_is_unconfirmed_never_resent_on_its_own(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    remote(rig)
    await until(lambda: rig.channels.channel_id_of("BR-1"))
    # The request reaches Frame.io (it logs the event), then the answer never comes back.
    rig.log.session.client._http.timeout = httpx.Timeout(0.5)
    emulator.fault("api", "stall", seconds=3, count=1, path_prefix="/v2/devices/channels/")
    rig.registry.press(SRC, "BR-1", 0, time.time())
    await until(lambda: rig.log.counts.get("unconfirmed") == 1, within=10)
    rig.registry.press(SRC, "BR-1", 1, time.time())
    await until(lambda: rig.log.counts.get("sent") == 1, within=10)
    await asyncio.sleep(0.5)
    (first, second) = await rig.log.presses()
    assert (first.state, second.state) == ("unconfirmed", "sent")
    assert "not sent again" in (first.last_error or "")
    # The operator decides to send it again.
    assert await rig.log.resend(first.id)
    await until(lambda: rig.log.counts.get("sent") == 2, within=10)
