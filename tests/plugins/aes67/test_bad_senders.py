"""Senders that misbehave: one faster than its declared rate (a flood), one whose format
changes mid-take. Each is counted and shown on its channels' status; nothing crashes and no
other stream's samples are harmed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soundfile as sf

import c2c_hub_plugins.aes67 as aes67_plugin
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, EmulatedMicrophones
from c2c_hub_plugins.aes67.timeline import MediaTimeline
from tests.discovery import aes67_options

from .conftest import FakeSourceContext, Groups
from .test_hub import until
from .test_source import assert_exact, serials

Senders = Callable[..., EmulatedAes67Sender]


async def test_a_flood_is_counted_limited_and_shown_and_harms_no_other_stream(
    run_source: Any, senders: Senders
) -> None:
    good = senders(channels=2)
    # 20 ms packets: a loaded machine still sends 10x the declared rate
    flood = senders(channels=2, ptime_ms=20.0)
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("4 channels", lambda: len(ctx.attached()) == 4)
    timeline = MediaTimeline(flood.format.sample_rate)
    assert flood.next_index is not None
    midnight = flood.next_index - timeline.position(flood.next_index)
    began, flood_from = time.monotonic(), flood.next_index
    flood.set_speed(10)
    await asyncio.sleep(3.0)
    flood.set_speed(1)
    lasted, flood_to = time.monotonic() - began, flood.next_index

    def shown(serial: str) -> str:
        attached = ctx.registry.get(serial)
        return attached.device.details.get("warning", "") if attached else ""

    await ctx.wait_for(
        "the flood on the channels' status",
        lambda: all("faster than its declared 48000 Hz" in shown(s) for s in serials(flood)),
    )
    streams = {s["session"]: s for s in run.source.streams()}
    flooded = streams[flood.name]
    assert flooded["flood"] > 0 and any("faster" in w for w in flooded["warnings"])
    assert streams[good.name]["flood"] == 0 and streams[good.name]["warnings"] == []
    # limited: of the 30 s of media sent in 3 s at 10x, what got through is at most those 3 s
    # (as long as the flood really lasted) and the 1 s burst, with a little to spare
    flooded_media = range(flood_from - midnight, flood_to - midnight)
    blocks = ctx.blocks[serials(flood)[0]]
    received_s = sum(b.frames for b in blocks if b.position in flooded_media) / 48000
    assert received_s <= lasted + 1.0 + 0.5, (received_s, lasted)
    assert ctx.last_report is not None and "flood" in ctx.last_report[1]
    for channel in range(2):
        assert assert_exact(ctx, good, channel) >= 2.5 * 48000


async def test_a_format_change_mid_take_is_shown_and_harms_no_other_track(
    plugin_hub: PluginHubFactory, emulator: EmulatorHandle, groups: Groups
) -> None:
    mics = EmulatedMicrophones(["Boom", "Lav"], sap_group=groups.sap, sap_interval=0.5)
    (boom, lav), (boom_serial, lav_serial) = mics.senders, mics.serials
    options = aes67_options(groups.sap)
    with mics:
        by_name = {"aes67": options, aes67_plugin.__name__: options}
        async with plugin_hub(aes67_plugin, options=by_name) as hub:
            await until(lambda: hub.channels.available() == set(mics.serials))
            await hub.recorder.start_take(scene="8")
            await asyncio.sleep(1.0)
            lav.change_format("L16")

            def warning() -> str:
                attached = hub.devices.get(lav_serial)
                return attached.device.details.get("warning", "") if attached else ""

            await until(lambda: "SDP changed from L24/48000/1" in warning())
            await until(lambda: "L16" in hub.devices.get(lav_serial).device.details["format"])
            await asyncio.sleep(1.0)
            done = await hub.recorder.stop_take()
            frames = done.frames
            assert frames is not None
            samples = sf.read(done.tracks[boom_serial].path, dtype="int32")[0]
            expected = boom.expected_at(done.start_position, frames)[:, 0]
            inner = slice(4800, frames - 9600)
            assert np.array_equal(samples[inner], expected[inner]), "Boom harmed"
            assert sf.info(str(done.tracks[lav_serial].path)).frames == frames
            for track in done.tracks.values():
                assert track.file_id is not None
                await until(lambda t=track: hub.uploader.file(t.file_id)["state"] == "done")
    assert emulator.violations() == []
