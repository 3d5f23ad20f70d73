"""The tone_mics plugin, tested without hardware or a Frame.io account."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from c2c_hub import kit
from c2c_hub.clock import SystemClock
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.devices import DeviceRegistry
from c2c_hub.plugin import PluginHost, route_file
from c2c_hub.settings import DeviceModelSettings, PluginSettings
from c2c_hub.subdevices import AudioBlock, QueuedFile

import c2c_hub_tone_mics
from c2c_hub_tone_mics import Options, samples_since_midnight

RATE = 48000
OPTIONS = {
    "mics": [
        {"serial": "TONE-1", "name": "Boom", "frequency": 440},
        {"serial": "TONE-2", "name": "Lav", "frequency": 1000},
    ]
}


async def test_the_mics_attach_stream_their_tone_in_real_time_and_detach() -> None:
    models = DeviceModelRegistry.load(DeviceModelSettings().directory)
    registry = DeviceRegistry(models, SystemClock().now)
    blocks: list[AudioBlock] = []
    registry.on_audio(lambda serial, block: blocks.append(block) if serial == "TONE-1" else None)

    host = PluginHost(PluginSettings(options={"tone_mics": OPTIONS}))
    host.register_object(c2c_hub_tone_mics, "tone_mics")
    await host.start_all(registry)
    try:
        await asyncio.sleep(0.5)
        assert sorted(registry.devices()) == ["TONE-1", "TONE-2"]
        take = QueuedFile("/takes/Boom_T03.wav", "Boom_T03.wav", "audio/wav")
        assert route_file(host.routes(), take, registry.devices()) == (
            "tone_mics:by-mic-name",
            "TONE-1",
        )
    finally:
        await host.stop_all()
    assert len(registry) == 0  # detached on the way out

    frames = sum(block.frames for block in blocks)
    assert 0.3 * RATE <= frames <= 0.7 * RATE  # about 0.5 s of audio: real-time pace
    for before, after in itertools.pairwise(blocks):
        assert after.position == before.position + before.frames  # no gap, no overlap
    assert abs(blocks[0].position - samples_since_midnight(RATE)) < RATE  # the time of day

    samples = np.concatenate([block.samples for block in blocks])
    assert not np.any(samples & 0xFF)  # 24 bits, left-justified in int32
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * RATE / len(samples)
    assert abs(peak_hz - 440) < 5


def test_a_bad_entry_in_the_options_is_named() -> None:
    with pytest.raises(kit.OptionsError, match=r"tone_mics: mics\.1\.serial: Field required"):
        Options.parse({"mics": [{"serial": "A"}, {"name": "no serial"}]}, plugin="tone_mics")
    with pytest.raises(kit.OptionsError, match=r"mics\.0\.frequency: Input should be less"):
        Options.parse({"mics": [{"serial": "A", "frequency": 30000}]}, plugin="tone_mics")
