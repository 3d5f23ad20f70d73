"""Files routed to a sub-device go up on that sub-device's channel *as Frame.io numbers it now*,
and wait (queued, with the reason shown) while it has none; other files are not held up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import SystemClock
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
        await until(lambda: "waiting for the channel" in str(uploader.snapshot()), within=5)
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
