"""The level meters' numbers: a known sine reads as it should, clips are held, a track with
no signal is marked, and readings are published from the tracks' audio."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.recorder.meters import Meters
from c2c_hub.subdevices import AudioBlock, AudioFormat, SubDevice

MIC = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"  # the shipped network microphone model


def registry(*serials: str) -> DeviceRegistry:
    devices = DeviceRegistry(DeviceModelRegistry.load(shipped_models_dir()), now=time.time)
    for serial in serials:
        assert devices.attach("test", SubDevice(serial, MIC, f"Mic {serial}", audio=AudioFormat()))
    return devices


def block(values: np.ndarray, position: int = 0) -> AudioBlock:
    """Float samples (full scale 1.0) as the hub's int32 blocks (24-bit, left-justified)."""
    ints = np.clip(np.rint(values * 2**23), -(2**23), 2**23 - 1).astype(np.int32) << 8
    return AudioBlock(position, ints)


def sine(amplitude: float, frames: int = 4800, hz: float = 1000.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(frames) / 48000)


def test_a_sine_of_half_full_scale_peaks_at_minus_6_02_and_its_rms_is_minus_9_03() -> None:
    meters = Meters(registry("M1"), clock=ManualClock(1000.0))
    for n in range(5):
        meters.feed("M1", block(sine(0.5, 960), n * 960))
    (reading,) = meters.read()
    assert abs(reading["peak_dbfs"] - (-6.02)) <= 0.01
    assert abs(reading["rms_dbfs"] - (-9.03)) <= 0.01
    assert reading["signal"] and reading["state"] == "ok" and not reading["clip"]


def test_a_clip_is_held_for_clip_hold_s_and_counted() -> None:
    clock = ManualClock(1000.0)
    meters = Meters(registry("M1"), clock=clock, clip_hold_s=2.0)
    meters.feed("M1", block(np.array([0.1, 1.0, -1.0, 0.2])))
    assert meters.read()[0]["clip"] and meters.read()[0]["clips"] == 2
    clock.advance(0.1)
    meters.feed("M1", block(sine(0.25, 480)))
    quiet = meters.read()[0]
    assert quiet["clip"] and quiet["peak_dbfs"] < -12  # the peak moved on, the clip is held
    clock.advance(2.1)
    meters.feed("M1", block(sine(0.25, 480)))
    assert not meters.read()[0]["clip"]


def test_a_track_with_no_signal_is_marked_and_why() -> None:
    clock = ManualClock(1000.0)
    meters = Meters(registry("LIVE", "ZERO", "GONE"), clock=clock, no_signal_s=0.5)
    meters.feed("LIVE", block(sine(0.1, 480)))
    meters.feed("ZERO", block(np.zeros(480)))
    by = {r["serial"]: r for r in meters.read()}
    assert by["LIVE"]["signal"] and by["LIVE"]["state"] == "ok"
    assert not by["ZERO"]["signal"] and by["ZERO"]["state"] == "silent"
    assert by["ZERO"]["peak_dbfs"] is None  # silence has no dBFS (and JSON has no -inf)
    assert not by["GONE"]["signal"] and by["GONE"]["state"] == "no_audio"
    clock.advance(0.6)  # LIVE stops sending
    by = {r["serial"]: r for r in meters.read()}
    assert by["LIVE"]["state"] == "no_audio" and by["LIVE"]["rms_dbfs"] is None


async def test_the_hub_side_publishes_readings_every_interval_from_the_tracks_audio() -> None:
    devices = registry("M1")
    meters = Meters(devices, clock=SystemClock())
    events: list[dict[str, object]] = []
    meters.on_reading(events.append)
    await meters.start()
    try:
        position = 0
        deadline = time.monotonic() + 30
        while len(events) < 5:  # the rate itself is measured by bench.jack_inputs
            assert time.monotonic() < deadline
            devices.audio("test", "M1", block(sine(0.5, 480), position))
            position += 480
            await asyncio.sleep(0.01)
    finally:
        await meters.stop()
    assert meters.interval_s <= 0.1  # at least ten readings a second
    assert events[-1]["tracks"][0]["serial"] == "M1"  # type: ignore[index]
    assert abs(meters.snapshot()["tracks"][0]["peak_dbfs"] - (-6.02)) <= 0.01


def test_every_block_of_an_interval_counts_however_many_and_a_track_is_its_first_channel() -> None:
    # Blocks are measured together at the reading (and every so many blocks when nobody reads):
    # a clip in one 1 ms packet among thousands is still seen, and the RMS is the interval's.
    clock = ManualClock(1000.0)
    meters = Meters(registry("M1", "ST"), clock=clock)
    tone = sine(0.5, 48 * 2500)
    for n in range(2500):
        part = tone[48 * n : 48 * (n + 1)].copy()
        if n == 10:
            part[3] = -1.0
        meters.feed("M1", block(part, 48 * n))
    stereo = np.stack([sine(0.25, 960), np.ones(960)], axis=1)  # the second channel is full scale
    meters.feed("ST", block(stereo))
    by = {r["serial"]: r for r in meters.read()}
    assert by["M1"]["clip"] and by["M1"]["clips"] == 1 and by["M1"]["peak_dbfs"] == 0.0
    assert abs(by["M1"]["rms_dbfs"] - (-9.03)) <= 0.01
    assert abs(by["ST"]["peak_dbfs"] - (-12.04)) <= 0.01 and not by["ST"]["clip"]
