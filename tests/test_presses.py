"""Real-time logging against the emulator: a press becomes one trigger, in order, with the
timecode of the moment it was pressed and an offset that stays true when it is sent late."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, suppress
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
    # The first press waited out the outage (several backoffs, seconds): its offset is its age.
    assert presses[0].offset_sent is not None and presses[0].offset_sent >= 1
    for press, event in zip(presses, got, strict=True):
        # The offset is the press's age (whole seconds) when it was sent, not zero. sent_at is
        # stamped at the answer: on a busy machine the call itself may take seconds.
        assert press.sent_at is not None and event["offset"] == press.offset_sent
        assert 0 <= event["received_at"] - press.pressed_at - event["offset"]
        assert 0 <= press.sent_at - press.pressed_at - event["offset"] < 1.0 + 3.0
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
    before._writer.cancel()  # type: ignore[union-attr]
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


async def test_a_press_log_that_cannot_start_leaves_no_connection_open(
    paired_session: Paired, tmp_path: Path
) -> None:
    """A database that is not one (a damaged card): the start fails, and says why, after the
    connection was made; that connection is closed, or its thread (not a daemon) would keep
    the process from ending after the hub gave up."""
    session = paired_session[0]
    path = tmp_path / "presses.sqlite3"
    path.write_bytes(b"not a database, " * 512)
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock())  # never started
    timecode = TimecodeClock(SystemClock(), RATE)
    presses = PressLog(path, session, registry, channels, timecode, clock=SystemClock())
    before = set(threading.enumerate())
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        await presses.start()
    await presses.stop()  # what the hub's stop does next: nothing to close here
    workers = [t for t in threading.enumerate() if t not in before]
    for thread in workers:
        thread.join(timeout=10)
    assert [t.name for t in workers if t.is_alive()] == []


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


# ---------------------------------------------------------------------- durability under stress
ROOT = Path(__file__).resolve().parent.parent


def _burst(data_dir: Path, rate: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.press_burst", str(data_dir), str(rate), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _acks_until_killed(
    proc: subprocess.Popen[str], kill_after: int
) -> tuple[dict[int, float], int]:
    """Read acknowledgements; SIGKILL the child once ``kill_after`` have come (mid-burst).

    Returns the acknowledged presses and how many had been pressed when the kill was sent.
    """
    assert proc.stdout is not None
    acked: dict[int, float] = {}
    pressed = 0
    for line in proc.stdout:
        if line.startswith("ack "):
            _, press_id, _index, at, submitted = line.split()
            acked[int(press_id)] = float(at)
            pressed = int(submitted)
            if len(acked) >= kill_after:
                proc.send_signal(signal.SIGKILL)
                break
    # Acknowledgements already printed before the kill landed count too.
    for line in proc.stdout:
        if line.startswith("ack "):
            _, press_id, _index, at, _submitted = line.split()
            acked[int(press_id)] = float(at)
    proc.wait(timeout=30)
    return acked, pressed


def test_a_sigkill_mid_burst_loses_no_acknowledged_press(tmp_path: Path) -> None:
    """1,000 presses/s, killed at a different moment each time: every acknowledged press is
    in the database with its time (before group commit, a kill 1.5 s in kept 150 of 2,015)."""
    for run, kill_after in enumerate((700, 1500, 2600)):
        data_dir = tmp_path / f"run{run}"
        data_dir.mkdir()
        proc = _burst(data_dir, 1000, 10)
        acked, pressed = _acks_until_killed(proc, kill_after)
        assert proc.returncode == -signal.SIGKILL, "the burst ended before the kill"
        assert len(acked) >= kill_after
        # The writer keeps up with the burst: what was pressed but not yet durable at the kill
        # is a moment's worth, not a backlog growing by the second (one fsync per press).
        assert pressed - kill_after < 1000, f"{pressed - kill_after} presses behind at the kill"
        with closing(sqlite3.connect(data_dir / "presses.sqlite3")) as db:
            stored = dict(db.execute("SELECT id, pressed_at FROM presses").fetchall())
        lost = {i: at for i, at in acked.items() if stored.get(i) != at}
        assert not lost, f"run {run}: {len(lost)} acknowledged press(es) lost of {len(acked)}"
        # Written in the order pressed, ids without gaps.
        ids = sorted(stored)
        assert ids == list(range(1, len(ids) + 1))
        assert [stored[i] for i in ids] == sorted(stored.values())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB filesystem (tmpfs), to fill up. Needs the right to mount (root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_keeps_every_press_and_resumes_by_itself(
    paired_session: Paired,
    emulator: EmulatorHandle,
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: a full data disk dropped 161 of 500 presses silently and killed the sender."""
    session = paired_session[0]
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    presses = PressLog(
        small_disk / "presses.sqlite3",
        session,
        registry,
        channels,
        TimecodeClock(SystemClock(), RATE),
        clock=SystemClock(),
        backoff_max_s=0.3,
    )
    channels.on_change(presses.poke)
    await channels.start()
    await presses.start()
    try:
        registry.attach(SRC, SubDevice("BR-1", REMOTE_MODEL, "Remote"))
        await until(lambda: channels.channel_id_of("BR-1"))
        assert registry.press(SRC, "BR-1", 0, time.time())
        await until(lambda: presses.counts["sent"] == 1)
        filler = _fill(small_disk)
        pressed = []
        with caplog.at_level(logging.ERROR, logger="c2c_hub.presses"):
            for n in range(500):
                at = time.time()
                pressed.append((n % 3, at))
                assert registry.press(SRC, "BR-1", n % 3, at)
                if n % 50 == 0:
                    await asyncio.sleep(0)
            # Refused by the disk: retried, shown in the status and the log, nothing dropped.
            await until(lambda: presses.snapshot()["storage"]["error"], within=20)
            await until(lambda: presses.snapshot()["storage"]["retries"] >= 2, within=20)
        storage = presses.snapshot()["storage"]
        assert "full" in storage["error"] and storage["waiting"] == 500
        assert "presses cannot be written" in caplog.text and "500 press(es) wait" in caplog.text
        assert len(events(emulator)) == 1
        # Room again: no restart, no operator, every press written and sent, in order, once.
        filler.unlink()
        await until(lambda: presses.counts["sent"] == 501, within=60)
        snapshot = presses.snapshot()
        assert snapshot["storage"] == {"error": None, "since": None, "retries": 0, "waiting": 0}
        stored = await presses.presses()
        assert [(p.input_index, p.pressed_at) for p in stored[1:]] == pressed
        got = events(emulator)
        assert [e["input_index"] for e in got[1:]] == [index for index, _ in pressed]
        assert len(got) == 501
        assert snapshot["sender_error"] is None
    finally:
        await presses.stop()
        await channels.stop()
