"""The whole way: an AES67 stream's channels become Frame.io channels of a paired hub, and a
take's tracks hold the sender's samples at the take's own timeline (same clock, same place)."""

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
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.timeline import MediaTimeline

from .conftest import Groups
from .test_source import serials


async def until(check: Callable[[], Any], within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_a_take_records_each_aes67_channel_on_its_own_channel_in_place(
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    groups: Groups,
    senders: Callable[..., EmulatedAes67Sender],
) -> None:
    sender = senders(channels=2, labels=["Boom", "Lav"])
    options = {"interface": "127.0.0.1", "sap_groups": [groups.sap]}
    by_name = {"aes67": options, aes67_plugin.__name__: options}
    async with plugin_hub(aes67_plugin, options=by_name) as hub:
        await until(lambda: hub.channels.available() == set(serials(sender)))
        (device,) = emulator.devices()
        assert set(device["channel_client_ids"].values()) == set(serials(sender))
        take = await hub.recorder.start_take(scene="7")
        await asyncio.sleep(1.5)
        done = await hub.recorder.stop_take()
        assert done.frames is not None and done.frames > 48000
        timeline = MediaTimeline(48000)
        assert sender.first_index is not None
        day = sender.first_index - timeline.position(sender.first_index)
        expected = sender.expected(day + done.start_position, done.frames)
        for channel, serial in enumerate(serials(sender)):
            track = done.tracks[serial]
            assert track.name == ["Boom", "Lav"][channel]
            data, rate = sf.read(str(track.path), dtype="int32")
            assert rate == 48000 and data.shape == (done.frames,)
            # the tail may miss what was still on its way at the stop (stop_grace_s)
            got = data[: done.frames - 4800]
            assert np.array_equal(got, expected[: got.size, channel]), f"{serial} off its place"
        assert take.number == done.number
