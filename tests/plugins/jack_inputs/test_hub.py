"""The whole way: the recorder's JACK inputs recorded sample for sample into a take's tracks,
uploaded on the primary channel (no channel of their own), and an input whose source port
vanishes mid-take ends valid while the others go on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

import c2c_hub_plugins.jack_inputs.plugin as jack_plugin
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub_plugins.jack_inputs.emulated import PERIOD, SHIFT, DummyServer, signal
from c2c_hub_plugins.jack_inputs.ring import to_int24

from .conftest import Player
from .test_source import A, B, C

RATE = 48000


async def until(check: Callable[[], Any], within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


def ramp_offset(data: npt.NDArray[np.int32], output: int) -> int:
    """``D`` (mod the ramp's period) such that sample ``k`` of a track is frame ``k + D``."""
    v24 = data.astype(np.int64) >> 8
    k = int(np.flatnonzero(v24)[len(np.flatnonzero(v24)) // 2])  # well inside the track
    phase = (int(v24[k]) + (1 << 21)) // 64  # signal(): v = phase / 2**17 - 0.25
    return (phase - output * SHIFT - k) % PERIOD


def check_track(path: Path, output: int, xruns: int, frames: int) -> tuple[int, int]:
    """(samples exactly as played, cycles that differ); asserts the differences are explained."""
    data, rate = sf.read(str(path), dtype="int32")
    assert rate == RATE and data.shape == (frames,), "every track has the take's length"
    offset = ramp_offset(data, output)
    expected = to_int24(signal(output, np.arange(frames, dtype=np.int64) + offset)[None, :])[0]
    # 24-bit in the file, float32 from JACK: within one LSB (the ramp is exact, so 0 here)
    close = np.abs((data.astype(np.int64) >> 8) - (expected.astype(np.int64) >> 8)) <= 1
    cycles = set(((np.flatnonzero(~close) + offset) // 256).tolist())
    return int(close.sum()), len(cycles)


async def test_a_take_holds_each_input_sample_for_sample_on_the_primary_channel(
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    jack_server: DummyServer,
    players: Callable[..., Player],
) -> None:
    players("tones", 2)
    extra = players("extra", 1)
    options = {
        "server": jack_server.name,
        "inputs": [
            {"name": "Boom", "connect": ["tones:out_1"]},
            {"name": "Lav", "connect": ["tones:out_2"]},
            {"name": "Plant", "connect": ["extra:out_1"]},
        ],
    }
    by_name = {"jack_inputs": options, jack_plugin.__name__: options}
    async with plugin_hub(jack_plugin, options=by_name) as hub:
        await until(lambda: all(hub.devices.get(s) for s in (A, B, C)))
        await asyncio.sleep(0.5)  # past the xruns of the clients' activation
        await hub.recorder.start_take(scene="9")
        await asyncio.sleep(2.0)
        extra.stop()  # the interface feeding "Plant" goes, mid-take
        await until(lambda: hub.devices.get(C) is None)
        await asyncio.sleep(1.5)
        done = await hub.recorder.stop_take()
        tracks = {serial: done.tracks[serial] for serial in (A, B, C)}
        await until(
            lambda: all(hub.uploader.file(t.file_id)["state"] == "done" for t in tracks.values()),
            within=60,
        )
        for track in tracks.values():
            record = hub.uploader.file(track.file_id)
            assert emulator.asset(record["asset_id"])["channel"] == 0, "the primary channel"
            assert emulator.asset_content(record["asset_id"]) == track.path.read_bytes()
        # the mix and every proxy (there is no other channel here) are on the primary too
        assert {asset["channel"] for asset in emulator.assets()} == {0}
        # the recorder's own inputs are no sub-device channels at Frame.io
        (device,) = emulator.devices()
        assert not set(device["channel_client_ids"].values()) & {A, B, C}
        assert not hub.channels.links
    await asyncio.to_thread(jack_server.stop)
    xruns = jack_server.xruns()
    frames = done.frames
    assert frames is not None and frames > 3 * RATE
    for serial, output in ((A, 0), (B, 1)):
        good, bad_cycles = check_track(tracks[serial].path, output, xruns, frames)
        # exact but where an xrun cost a cycle, and but the edges (the stop's grace)
        assert bad_cycles <= 2 * xruns + 2 * RATE // 10 // 256, (serial, bad_cycles, xruns)
        assert good >= frames - (2 * xruns + 2) * 256 - RATE // 5, (serial, good, frames)
    # Plant: its source until it vanished, then silence to the take's end: a valid, whole track
    data, _ = sf.read(str(tracks[C].path), dtype="int32")
    assert data.shape == (frames,)
    assert not data[-RATE // 2 :].any(), "silence once its source port vanished"
    assert np.count_nonzero(data) >= RATE, "its source until then"
    head = data[: np.flatnonzero(data)[-1]]
    offset = ramp_offset(head, 0)
    expected = to_int24(signal(0, np.arange(head.size, dtype=np.int64) + offset)[None, :])[0]
    assert np.count_nonzero(head == expected) >= head.size - (2 * xruns + 4) * 256


async def test_a_new_sample_rate_splits_the_take_cleanly_and_says_why(
    plugin_hub: PluginHubFactory, jack_server: DummyServer, players: Callable[..., Player]
) -> None:
    options = {"server": jack_server.name, "inputs": [{"name": "Boom", "connect": ["tones:out_1"]}]}
    options["reconnect_s"] = 0.2  # type: ignore[assignment]
    by_name = {"jack_inputs": options, jack_plugin.__name__: options}
    async with plugin_hub(jack_plugin, options=by_name) as hub:
        events: list[dict[str, Any]] = []
        hub.recorder.on_event(events.append)
        players("tones", 1)
        await until(lambda: hub.devices.get(A))
        first = await hub.recorder.start_take(scene="5")
        assert first.sample_rate == RATE
        await asyncio.sleep(1.0)
        await asyncio.to_thread(jack_server.stop)  # the mixer picks 44.1 kHz: the server restarts
        await until(lambda: hub.devices.get(A) is None)
        await asyncio.to_thread(jack_server.start, rate=44100)
        players("tones", 1)
        second = await until(
            lambda: (
                hub.recorder.take is not None
                and hub.recorder.take is not first
                and hub.recorder.take
            )
        )
        assert second.sample_rate == 44100 and second.number == first.number + 1
        assert first.split is not None and "44100 Hz" in first.split and "48000 Hz" in first.split
        assert [e["reason"] for e in events if e["type"] == "take_split"] == [first.split]
        await until(lambda: second.tracks.get(A) and second.tracks[A].frames > 44100 // 2)
        await asyncio.sleep(0.5)
        await hub.recorder.stop_take()
    for take, rate in ((first, RATE), (second, 44100)):
        info = sf.info(str(take.tracks[A].path))
        assert (info.samplerate, info.frames) == (rate, take.frames)
    data, _ = sf.read(str(second.tracks[A].path), dtype="int32")
    assert np.count_nonzero(data) > 44100 // 4, "the new take records at the new rate"
