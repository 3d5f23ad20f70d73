"""The whole hub with its AES67 plugin and emulated AES67 microphones: mics become channels, a
take becomes one track per mic on that mic's channel, readable by independent WAV readers with
the right timecode and iXML, and byte-identical in the emulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import c2c_hub_plugins.aes67 as aes67_plugin
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
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, EmulatedMicrophones
from tests.discovery import aes67_options, private_sap_group
from tests.helpers import REPO
from tests.uploader.conftest import sha256_of

ROOT = REPO


def by_name(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The aes67 plugin's options under its entry-point name and its module's (plugin_hub
    registers it by the latter)."""
    return {"aes67": options, aes67_plugin.__name__: options}


def expected_track(sender: EmulatedAes67Sender, start: int, frames: int) -> np.ndarray:
    """What the hub's track of ``sender`` holds from ``start``: its signal, silence where
    :meth:`~EmulatedAes67Sender.drop` kept packets from the wire."""
    expected = sender.expected_at(start, frames)[:, 0].copy()
    for first, end in sender.dropped:
        a = max(0, sender.position_of(first) - start)
        b = min(frames, sender.position_of(end) - start)
        expected[a:b] = 0
    return expected


async def until(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


@pytest.fixture
def mics() -> Iterator[tuple[str, EmulatedMicrophones]]:
    """Two emulated AES67 microphones announced by SAP on a group of this test's own."""
    group = private_sap_group()
    with EmulatedMicrophones(["Boom", "Lav"], sap_group=group, sap_interval=0.5) as made:
        yield group, made


async def test_mics_become_channels_and_a_take_uploads_one_track_per_channel(
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    mics: tuple[str, EmulatedMicrophones],
) -> None:
    group, made = mics
    boom, lav = made.senders
    boom_serial, lav_serial = made.serials
    options = by_name(aes67_options(group))
    async with plugin_hub(aes67_plugin, options=options) as hub:
        await until(lambda: hub.channels.available() == set(made.serials))
        (device,) = emulator.devices()
        assert set(device["channel_client_ids"].values()) == set(made.serials)

        began = time.monotonic()
        take = await hub.recorder.start_take(scene="4")
        await asyncio.sleep(1.0)
        lav.drop(0.3)  # a dropout: silence of the right length at its place, never a shift
        await asyncio.sleep(1.5)
        done = await hub.recorder.stop_take()
        took = time.monotonic() - began  # more than 2.5 s on a busy machine
        frames = done.frames
        assert frames is not None and 2.4 * 48000 < frames < (took + 0.5) * 48000

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
        assert sum(end - first for first, end in lav.dropped) >= 0.25 * 48000
        inner = slice(4800, frames - 9600)  # the edges depend on when packets landed
        for sender, serial in ((boom, boom_serial), (lav, lav_serial)):
            samples = sf.read(done.tracks[serial].path, dtype="int32")[0]
            expected = expected_track(sender, done.start_position, frames)
            assert np.array_equal(samples[inner], expected[inner]), f"{serial} off its place"

        # A mic leaves (its SAP deletion): its channel is disconnected, by its id; the other
        # stays.
        boom.stop()
        await until(
            lambda: set(emulator.devices()[0]["channel_client_ids"].values()) == {lav_serial}
        )
        assert hub.devices.get(boom_serial) is None
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


def _terminated() -> None:
    raise SystemExit(143)  # what c2c-hub demo's SIGTERM handler once raised


def test_a_stop_swept_by_the_end_of_asyncio_run_still_closes_every_database(
    frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    """A signal handler that raises mid-take (``c2c-hub demo``'s SIGTERM handler once raised
    SystemExit; a second Ctrl-C under asyncio.run raises KeyboardInterrupt) raises wherever the
    signal lands, most often in the event loop's own select(), outside every task. asyncio.run
    then cancels every task at once, so the hub's stop (unwinding the demo's task) meets the
    take's writer already cancelled: its CancelledError used to cut the stop short before the
    uploader's, and the upload queue's aiosqlite thread (not a daemon) was left running."""
    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "rec"),
        plugins=PluginSettings(allow=[]),
    )
    hubs: list[Hub] = []

    async def demo() -> None:
        async with Hub(settings) as hub:
            hubs.append(hub)
            await hub.start(presence=False, status_file=False, plugins=False)
            await hub.recorder.start_take(scene="1")
            # The signal, as it lands in select(): SystemExit from the loop, not from a task.
            asyncio.get_running_loop().call_soon(_terminated)
            await asyncio.Event().wait()

    before = set(threading.enumerate())
    with pytest.raises(SystemExit):
        asyncio.run(demo())
    (hub,) = hubs
    assert not hub.uploader.queue.is_open, "the upload queue was never closed"
    workers = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.endswith("(_connection_worker_thread)")
    ]
    for thread in workers:
        thread.join(timeout=10)
    assert [t.name for t in workers if t.is_alive()] == []


@pytest.mark.parametrize("lie", ["jumps two hours ahead", "sends 20x real time"])
async def test_one_lying_microphone_of_three_harms_neither_other_track(
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    lie: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three emulated AES67 microphones; one lies about time. Its track stays the take's
    length (not two hours of silence, not 20x the samples) and says what happened (the
    recorder's discontinuity; the plugin's flood limit on the device's status); the two others
    are exactly what their microphones sent, and all three upload."""
    group = private_sap_group()
    good = EmulatedMicrophones(["Boom", "Lav"], sap_group=group, sap_interval=0.5)
    # Packets of 20 ms (the most an SDP may declare): a busy machine still sends 20x real time.
    liar = EmulatedMicrophones(["Plant"], sap_group=group, sap_interval=0.5, ptime_ms=20)
    (bad,), (bad_serial,) = liar.senders, liar.serials
    with good, liar:
        async with plugin_hub(aes67_plugin, options=by_name(aes67_options(group))) as hub:
            await until(lambda: hub.channels.available() == {*good.serials, bad_serial})
            take = await hub.recorder.start_take(scene="5")
            await asyncio.sleep(1.0)
            if lie.startswith("jumps"):
                bad.jump(7200)
            else:
                bad.set_speed(20)

            def shown() -> dict[str, Any]:
                return next(t for t in take.to_json()["tracks"] if t["serial"] == bad_serial)

            def flood_shown() -> bool:
                attached = hub.devices.get(bad_serial)
                warning = attached.device.details.get("warning", "") if attached else ""
                return "faster than its declared" in warning

            if lie.startswith("jumps"):
                await until(lambda: shown()["warning"])
            else:  # limited by the plugin: counted, shown on the device, no faster than real time
                await until(flood_shown)
            await asyncio.sleep(1.5)
            bad.set_speed(1)
            done = await hub.recorder.stop_take()
            frames = done.frames
            assert frames is not None
            plant = done.tracks[bad_serial]
            assert sf.info(str(plant.path)).frames == frames
            assert plant.path.stat().st_size < frames * 3 + 64 * 1024
            source = shown()["source"]
            if lie.startswith("jumps"):
                assert source["discontinuities"] == 1 and source["cut_off"] is None
            else:
                # The plugin's flood limit holds the stream to real time plus a 1 s burst; on a
                # machine so busy that the limit's pace started late, the recorder's own guard
                # (2 s ahead: cut off) is the second line, and says so. Either way, no more.
                cut_off = source["cut_off"]
                assert cut_off is None or "faster than real time" in cut_off
                # More than one discontinuity only where the plugin accepted timeline jumps (a
                # sender thread stalled inside the flood on a loaded machine), and said so (in
                # its log: the device shows its latest warning, which the flood's may replace).
                said = [r for r in caplog.records if "timeline jumped" in r.getMessage()]
                assert source["discontinuities"] <= 1 or said, source
            for sender, serial in zip(good.senders, good.serials, strict=True):
                samples = sf.read(done.tracks[serial].path, dtype="int32")[0]
                assert len(samples) == frames
                inner = slice(4800, frames - 9600)  # the edges depend on when packets landed
                expected = expected_track(sender, done.start_position, frames)
                assert np.array_equal(samples[inner], expected[inner]), serial
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
    assert emulator.violations() == []
