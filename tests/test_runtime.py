"""The whole hub with its mDNS plugin and emulated microphones: mics become channels, a take
becomes one track per mic on that mic's channel, readable by independent WAV readers with the
right timecode and iXML, and byte-identical in the emulator."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

import c2c_hub_plugins.mdns_microphones as mdns_plugin
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub.recorder.recovery import TakeJournal
from c2c_hub.recorder.wav import TrackAssembler, TrackInfo, read_track_metadata
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.timecode import FrameRate
from c2c_hub.uploader import FileState
from c2c_hub_plugins.mdns_microphones.emulated import EmulatedMicrophone
from tests.helpers import REPO
from tests.uploader.conftest import sha256_of

ROOT = REPO


def private_models(tmp_path: Path, service_type: str) -> Path:
    """The project's device models, the microphone announced under a type of this test's own
    (loopback multicast is shared by every process on the machine)."""
    directory = tmp_path / "models"
    shutil.copytree(ROOT / "device_models", directory)
    mic = directory / "c2c-network-mic.toml"
    mic.write_text(mic.read_text().replace("_c2cmic._tcp.local.", service_type))
    return directory


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


@pytest.fixture
async def mics(tmp_path: Path) -> AsyncIterator[tuple[str, list[EmulatedMicrophone]]]:
    kind = f"_c2cmic-{secrets.token_hex(3)}._tcp.local."
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    made = [
        EmulatedMicrophone("NM-1", "Boom", zeroconf=zc, signal="speech", service_type=kind),
        EmulatedMicrophone("NM-2", "Lav", zeroconf=zc, frequency=330, service_type=kind),
    ]
    await asyncio.gather(*(m.start() for m in made))
    try:
        yield kind, made
    finally:
        for mic in made:
            await mic.stop()
        await zc.async_close()


async def test_mics_become_channels_and_a_take_uploads_one_track_per_channel(
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    mics: tuple[str, list[EmulatedMicrophone]],
    tmp_path: Path,
) -> None:
    kind, (boom, lav) = mics
    options = {"mdns_microphones": {"interfaces": ["127.0.0.1"], "vanish_timeout_s": 1.0}}
    models = private_models(tmp_path, kind)
    async with plugin_hub(mdns_plugin, options=options, device_models=models) as hub:
        await until(lambda: hub.channels.available() == {"NM-1", "NM-2"})
        (device,) = emulator.devices()
        assert set(device["channel_client_ids"].values()) == {"NM-1", "NM-2"}

        take = await hub.recorder.start_take(scene="4")
        await asyncio.sleep(1.0)
        await lav.drop(0.3)  # a dropout: silence of the right length, never a shift
        await asyncio.sleep(1.5)
        done = await hub.recorder.stop_take()
        frames = done.frames
        assert frames is not None and 2.4 * 48000 < frames < 3.5 * 48000

        for track in done.tracks.values():
            assert track.file_id is not None
            await until(lambda t=track: hub.uploader.file(t.file_id)["state"] == FileState.DONE)
            record = hub.uploader.file(track.file_id)
            asset = emulator.asset(record["asset_id"])
            assert asset["sha256"] == sha256_of(track.path)
            assert asset["channel"] == hub.channels.index_of(track.serial) == record["channel"]
            assert sf.info(str(track.path)).frames == frames
            check_with_wavinfo(track.path, done.start_position, "4", str(take.number), track.name)
            check_with_sox(track.path, frames)
        lav_track = done.tracks["NM-2"]
        assert lav_track.assembler.dropout_samples >= 0.25 * 48000

        # A mic leaves: its channel is disconnected, by its id, and the other stays.
        await boom.leave()
        await until(lambda: set(emulator.devices()[0]["channel_client_ids"].values()) == {"NM-2"})
        assert hub.devices.get("NM-1") is None
    assert emulator.violations() == []


def check_with_wavinfo(path: Path, start: int, scene: str, take: str, name: str) -> None:
    wavinfo = pytest.importorskip("wavinfo")
    info = wavinfo.WavInfoReader(str(path))
    assert info.bext.time_reference == start
    assert (info.ixml.scene, info.ixml.take) == (scene, take)
    assert [t.name for t in info.ixml.track_list] == [name]
    assert info.fmt.sample_rate == 48000 and info.fmt.bits_per_sample == 24


def check_with_sox(path: Path, frames: int) -> None:
    soxi = shutil.which("soxi")
    if soxi is None:
        pytest.skip("sox is not installed (apt-get install sox)")
    out = subprocess.run([soxi, "-s", str(path)], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == frames


async def test_a_take_cut_short_is_repaired_before_the_uploader_queues_its_tracks(
    frameio_settings: FrameioSettings, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A power cut mid-take: at the next ``c2c-hub run`` each track is a valid WAV of what
    survived, and the upload queue holds it at its repaired size (not what the header said)."""
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "rec"),
        plugins=PluginSettings(allow=[]),
    )
    folder = tmp_path / "rec" / "S1_T001"
    folder.mkdir(parents=True)
    path = folder / "S1_T001_01_Boom.wav"
    info = TrackInfo(path, start_position=0, timecode_rate=FrameRate.parse("25"))
    assembler = TrackAssembler(info, durable=True, holdback=0)
    assembler.write_at(0, np.full(48000, 1 << 20, dtype=np.int32))
    durable = assembler.sync()
    assembler.write_at(48000, np.full(24000, 1 << 20, dtype=np.int32))
    assembler.flush()  # on its way to the disk, not there yet
    async with Hub(settings) as hub:
        await hub.start(presence=False, status_file=False, plugins=False)
        await hub.uploader.set_mode("manual")  # nothing is sent in this test
        file_id = await hub.uploader.begin_recording(path, filetype="audio/wav")
        TakeJournal(hub.data_dir).write({"scene": "1", "take": 1}, [{"path": str(path)}])
    assembler.writer.abandon()  # the power goes
    os.truncate(path, durable + 4000)  # some of what followed the fsync made it, not all
    async with Hub(settings) as hub:
        await hub.start(presence=False, status_file=False, plugins=False)
        frames = sf.info(str(path)).frames
        assert frames == (durable + 4000 - read_track_metadata(path).data_offset) // 3
        record = hub.uploader.file(file_id)
        assert record["state"] == FileState.QUEUED, record
        assert "interrupted" in record["reason"]
        assert record["size"] == path.stat().st_size, "queued at its repaired size"
        assert hub.recorder.snapshot()["recovered"]
        assert not (hub.data_dir / "recording.json").exists()


@pytest.mark.parametrize("lie", ["jumps two hours ahead", "sends 20x real time"])
async def test_one_lying_microphone_of_three_harms_neither_other_track(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, tmp_path: Path, lie: str
) -> None:
    """Three emulated microphones over mDNS and TCP; one lies about time. Its track stays the
    take's length (not two hours of silence, not 20x the samples) and says what happened; the
    two others are exactly what their microphones sent, and all three upload."""
    kind = f"_c2cmic-{secrets.token_hex(3)}._tcp.local."
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    boom = EmulatedMicrophone("NM-1", "Boom", zeroconf=zc, signal="speech", service_type=kind)
    lav = EmulatedMicrophone("NM-2", "Lav", zeroconf=zc, frequency=330, service_type=kind)
    # Blocks of 100 ms (the most a frame carries): a busy machine still sends 20x real time.
    bad = EmulatedMicrophone(
        "NM-3", "Plant", zeroconf=zc, frequency=550, service_type=kind, block_frames=4800
    )
    mics = (boom, lav, bad)
    await asyncio.gather(*(m.start() for m in mics))
    options = {"mdns_microphones": {"interfaces": ["127.0.0.1"], "vanish_timeout_s": 5.0}}
    try:
        async with plugin_hub(
            mdns_plugin, options=options, device_models=private_models(tmp_path, kind)
        ) as hub:
            await until(lambda: hub.channels.available() == {"NM-1", "NM-2", "NM-3"})
            take = await hub.recorder.start_take(scene="5")
            await asyncio.sleep(1.0)
            if lie.startswith("jumps"):
                await bad.jump(7200)
            else:
                await bad.set_speed(20)

            def shown() -> dict[str, Any]:
                return next(t for t in take.to_json()["tracks"] if t["serial"] == "NM-3")

            await until(lambda: shown()["warning"])
            await asyncio.sleep(1.5)
            await bad.set_speed(1)
            done = await hub.recorder.stop_take()
            frames = done.frames
            assert frames is not None
            plant = done.tracks["NM-3"]
            assert sf.info(str(plant.path)).frames == frames
            assert plant.path.stat().st_size < frames * 3 + 64 * 1024
            source = shown()["source"]
            if lie.startswith("jumps"):
                assert source["discontinuities"] == 1 and source["cut_off"] is None
            else:
                assert "faster than real time" in source["cut_off"]
            for mic in (boom, lav):
                track = done.tracks[mic.serial]
                samples = sf.read(track.path, dtype="int32")[0]
                assert len(samples) == frames
                inner = slice(24000, frames - 24000)  # the edges depend on when blocks landed
                expected = mic.expected_samples(done.start_position, frames)
                assert (samples[inner] == expected[inner]).all()
            for track in done.tracks.values():
                assert track.file_id is not None
                try:
                    await until(
                        lambda t=track: hub.uploader.file(t.file_id)["state"] == FileState.DONE
                    )
                except AssertionError:
                    raise AssertionError(hub.uploader.file(track.file_id)) from None
                asset = emulator.asset(hub.uploader.file(track.file_id)["asset_id"])
                assert asset["sha256"] == sha256_of(track.path)
    finally:
        for mic in mics:
            await mic.stop()
        await zc.async_close()
    assert emulator.violations() == []
