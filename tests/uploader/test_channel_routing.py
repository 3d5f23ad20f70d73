"""Files routed to a sub-device go up on that sub-device's channel *as Frame.io numbers it now*,
and wait (queued, with the reason shown) while it has none; other files are not held up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.session import Session
from c2c_hub.subdevices import AudioFormat, SubDevice
from c2c_hub.uploader import FileState
from c2c_hub.uploader.queue import UploadQueue
from tests.uploader.conftest import MiB, UploaderFactory, fast_config, make_file, sha256_of, until

MIC_MODEL = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
MODELS = DeviceModelRegistry.load(shipped_models_dir())


async def test_a_file_waits_for_its_channel_and_goes_up_on_it(
    emulator: EmulatorHandle, session: Session, uploaders: UploaderFactory, media: Path
) -> None:
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    await uploader.start()
    await channels.start()
    try:
        # A lav's track from an earlier take: its mic is not here yet.
        lav = make_file(media, "S1_T001_02_Lav.wav", 6 * MiB)
        mix = make_file(media, "S1_T001_mix.wav", 1 * MiB)
        lav_id = await uploader.enqueue(lav, device="NM-9")
        mix_id = await uploader.enqueue(mix)
        await until(lambda: uploader.file(mix_id)["state"] == FileState.DONE, within=10)
        assert uploader.file(lav_id)["state"] == FileState.QUEUED

        # Another sub-device takes index 1 first, so the lav's channel cannot be guessed.
        registry.attach("t:s", SubDevice("NM-1", MIC_MODEL, "Boom", audio=AudioFormat()))
        await until(lambda: channels.index_of("NM-1") is not None, within=10)
        registry.attach("t:s", SubDevice("NM-9", MIC_MODEL, "Lav", audio=AudioFormat()))
        await until(lambda: uploader.file(lav_id)["state"] == FileState.DONE, within=10)

        record = uploader.file(lav_id)
        asset = emulator.asset(record["asset_id"])
        assert asset["channel"] == channels.index_of("NM-9") == record["channel"]
        assert asset["channel"] != channels.index_of("NM-1")
        assert asset["sha256"] == sha256_of(lav)
        assert emulator.asset(uploader.file(mix_id)["asset_id"])["channel"] == 0
    finally:
        await channels.stop()


async def test_a_growing_track_waits_for_its_channel_without_blocking_workers(
    emulator: EmulatorHandle, session: Session, uploaders: UploaderFactory, media: Path
) -> None:
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    await uploader.start()
    await channels.start()
    try:
        track = media / "S1_T002_01_Boom.wav"
        track.write_bytes(b"\0" * (6 * MiB))
        track_id = await uploader.begin_recording(track, filetype="audio/wav", device="NM-3")
        other = make_file(media, "notes.txt", 2000)
        other_id = await uploader.enqueue(other)
        await until(lambda: uploader.file(other_id)["state"] == FileState.DONE, within=10)
        await until(lambda: "waiting for the channel" in str(uploader.snapshot()), within=30)
        registry.attach("t:s", SubDevice("NM-3", MIC_MODEL, "Boom", audio=AudioFormat()))
        with track.open("ab") as fh:
            fh.write(b"\1" * (2 * MiB))
        await uploader.end_recording(track_id)
        await until(lambda: uploader.file(track_id)["state"] == FileState.DONE, within=10)
        asset = emulator.asset(uploader.file(track_id)["asset_id"])
        assert asset["channel"] == channels.index_of("NM-3")
        assert asset["sha256"] == sha256_of(track)
    finally:
        await channels.stop()


async def test_a_version_1_queue_gains_the_device_column_and_keeps_its_files(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE files (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL,
        name TEXT NOT NULL, filetype TEXT NOT NULL, channel INTEGER NOT NULL DEFAULT 0,
        size INTEGER, mtime_ns INTEGER, inode INTEGER, capture_time REAL NOT NULL,
        enqueued_at REAL NOT NULL, state TEXT NOT NULL, reason TEXT,
        priority INTEGER NOT NULL DEFAULT 0, type_priority INTEGER NOT NULL DEFAULT 0,
        realtime INTEGER NOT NULL DEFAULT 0, released INTEGER NOT NULL DEFAULT 0,
        asset_id TEXT, create_pending INTEGER NOT NULL DEFAULT 0,
        bytes_acked INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL, finished_at REAL,
        info TEXT NOT NULL DEFAULT '{}');
        INSERT INTO files (path, name, filetype, capture_time, enqueued_at, state, updated_at)
        VALUES ('/m/a.wav', 'a.wav', 'audio/wav', 1.0, 1.0, 'queued', 1.0);
        PRAGMA user_version = 1;"""
    )
    db.commit()
    db.close()
    queue = UploadQueue(path)
    await queue.open(time.time())
    try:
        (record,) = queue.files.values()
        assert record.name == "a.wav" and record.device is None
        claimed = await queue.claim(time.time(), manual=False, devices=set())
        assert claimed is not None and claimed.id == record.id
    finally:
        await queue.close()


async def test_a_file_whose_sub_device_never_returns_goes_on_the_primary_channel(
    emulator: EmulatorHandle, session: Session, uploaders: UploaderFactory, media: Path
) -> None:
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels, config=fast_config(channel_wait_s=0.8))
    channels.on_change(uploader.channels_changed)
    await uploader.start()
    await channels.start()
    try:
        # A mic that joined a take and left before its channel was connected.
        registry.attach("t:s", SubDevice("NM-6", MIC_MODEL, "Gone", audio=AudioFormat()))
        registry.detach("t:s", "NM-6", "vanished")
        path = make_file(media, "S1_T003_01_Gone.wav", 1 * MiB)
        file_id = await uploader.enqueue(path, device="NM-6")
        await asyncio.sleep(0.3)
        assert uploader.file(file_id)["state"] == FileState.QUEUED  # still waiting for it
        await until(lambda: uploader.file(file_id)["state"] == FileState.DONE, within=10)
        record = uploader.file(file_id)
        assert record["channel"] == 0
        assert "gone for" in record["info"]["channel_fallback"]
        asset = emulator.asset(record["asset_id"])
        assert asset["channel"] == 0 and asset["sha256"] == sha256_of(path)
    finally:
        await channels.stop()


def _true_indexes(emulator: EmulatorHandle) -> dict[str, int]:
    """Each sub-device's channel index as the emulator really holds it: {client_id: index}."""
    (device,) = emulator.devices()
    return {
        client: device["channel_indexes"][cid]
        for cid, client in device["channel_client_ids"].items()
    }


async def test_each_mic_goes_on_its_own_channel_when_connect_answers_index_0(
    emulator: EmulatorHandle,
    session: Session,
    uploaders: UploaderFactory,
    media: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seed 002's connect example answers a sub-device channel with ``external_index: 0``. The
    hub must not take that for the primary: the mics' files wait (shown, logged) until
    /v2/devices/me numbers the channels apart, then each goes on its own channel."""
    emulator.configure(channel_index_mode="zero_on_connect")
    clock = session.clock
    assert isinstance(clock, ManualClock)
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    await uploader.start()
    await channels.start()
    try:
        for serial, name in (("NM-1", "Boom"), ("NM-2", "Lav")):
            registry.attach("t:s", SubDevice(serial, MIC_MODEL, name, audio=AudioFormat()))
        boom = await uploader.enqueue(make_file(media, "S1_T001_01_Boom.wav", 2000), device="NM-1")
        lav = await uploader.enqueue(make_file(media, "S1_T001_02_Lav.wav", 2000), device="NM-2")
        mix = await uploader.enqueue(make_file(media, "S1_T001_mix.wav", 2000))
        await until(lambda: uploader.file(mix)["state"] == FileState.DONE, within=10)
        await until(lambda: channels.links["NM-2"].unroutable is not None, within=10)
        link = channels.snapshot()["channels"]
        assert all(not x["routable"] and "primary channel" in x["error"] for x in link)
        assert "cannot be told apart" in caplog.text
        assert uploader.file(boom)["state"] == uploader.file(lav)["state"] == FileState.QUEUED
        assert [a["channel"] for a in emulator.assets()] == [0]  # only the mix, on the primary

        clock.advance(60)  # the minute allows /v2/devices/me again: it numbers them apart
        await until(lambda: uploader.file(boom)["state"] == FileState.DONE, within=10)
        await until(lambda: uploader.file(lav)["state"] == FileState.DONE, within=10)
        truth = _true_indexes(emulator)
        assert emulator.asset(uploader.file(boom)["asset_id"])["channel"] == truth["NM-1"]
        assert emulator.asset(uploader.file(lav)["asset_id"])["channel"] == truth["NM-2"]
        assert 0 not in (truth["NM-1"], truth["NM-2"]) and truth["NM-1"] != truth["NM-2"]
        assert all(x["routable"] for x in channels.snapshot()["channels"])
    finally:
        await channels.stop()


async def test_a_channel_frameio_numbers_like_the_primary_never_takes_the_primary(
    emulator: EmulatorHandle,
    session: Session,
    uploaders: UploaderFactory,
    media: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seed 002's /me example too gives the sub-device ``external_index: 0``: its files cannot
    be told apart on asset create, so they wait (and say why); nothing lands on the primary."""
    emulator.configure(channel_index_mode="zero")
    clock = session.clock
    assert isinstance(clock, ManualClock)
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    await uploader.start()
    await channels.start()
    try:
        registry.attach("t:s", SubDevice("NM-1", MIC_MODEL, "Boom", audio=AudioFormat()))
        boom = await uploader.enqueue(make_file(media, "S1_T001_01_Boom.wav", 2000), device="NM-1")
        await until(lambda: channels.links["NM-1"].unroutable is not None, within=10)
        before = session.identity
        clock.advance(60)  # /v2/devices/me is asked again: it says 0 as well
        await until(lambda: session.identity is not before, within=10)
        await asyncio.sleep(0.5)  # the channel manager looks at the answer
        assert channels.links["NM-1"].unroutable is not None
        assert channels.channel_id_of("NM-1") is not None  # connected all the same
        (shown,) = channels.snapshot()["channels"]
        assert shown["routable"] is False and "same as the primary channel" in shown["error"]
        assert uploader.file(boom)["state"] == FileState.QUEUED
        assert emulator.assets() == []
        assert caplog.text.count("cannot be told apart") == 1  # said once, not every minute
    finally:
        await channels.stop()
