"""A take across midnight with an AES67 source: the stream's positions count from the midnight
of their own day (the media clock knows no takes), the take counts on from the midnight before
its start; the recorder adds the day, and the track is the sender's samples without a seam.

The hub's clock and the media clock are one manual clock set three seconds before the local
midnight; packets go through the plugin's own jitter buffer and media timeline into a real
recorder, which writes and uploads the track."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.devices import DeviceRegistry
from c2c_hub.recorder.takes import Recorder
from c2c_hub.session import Session
from c2c_hub.subdevices import AudioBlock, AudioFormat, SubDevice
from c2c_hub.timecode import FrameRate, TimecodeClock
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.rtp import JitterBuffer
from c2c_hub_plugins.aes67.timeline import MediaTimeline
from tests.recorder.conftest import MIC_MODEL, MODELS
from tests.uploader.conftest import UploaderFactory, session, uploaders  # noqa: F401

SRC = "aes67:aes67"
RATE = 48000


def next_midnight() -> float:
    now = datetime.now()
    return (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp()


@pytest.fixture
async def recorder_at(
    session: Session,  # noqa: F811
    uploaders: UploaderFactory,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[tuple[Recorder, DeviceRegistry, ManualClock]]:
    clock = ManualClock(next_midnight() - 3.0)
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    recorder = Recorder(
        registry,
        uploader,
        directory=tmp_path / "recordings",
        data_dir=tmp_path,
        clock=clock,
        timecode=TimecodeClock(clock, FrameRate.parse("25")),
        stop_grace_s=0,
    )
    await uploader.start()
    await channels.start()
    await recorder.start()
    try:
        yield recorder, registry, clock
    finally:
        await recorder.stop()
        await channels.stop()


async def test_a_take_across_midnight_holds_the_stream_without_a_seam(
    recorder_at: tuple[Recorder, DeviceRegistry, ManualClock],
) -> None:
    recorder, registry, clock = recorder_at
    sender = EmulatedAes67Sender(channels=1, sap=False, clock=clock.now)
    timeline = MediaTimeline(RATE, clock=clock.now)
    buffer = JitterBuffer(
        sender.format,
        mediaclk_offset=sender.mediaclk_offset,
        latency_frames=0,
        anchor=timeline.anchor,
        burst_s=None,
    )
    serial = "aes67-10.0.0.21-1-m0-ch1"
    assert registry.attach(SRC, SubDevice(serial, MIC_MODEL, "Boom", audio=AudioFormat()))
    take = await recorder.start_take(scene="M")
    index = start_index = sender.index_now()
    first_position = timeline.position(index)
    assert first_position == take.start_position  # one clock, one place
    for _ in range(600):  # 6 s in 10 ms steps: midnight is 3 s in
        clock.advance(0.01)
        while index + 48 <= sender.index_now():
            buffer.push(sender.packet(index))
            index += 48
        for block in buffer.pop():
            registry.audio(SRC, serial, AudioBlock(timeline.position(block.index), block.samples))
    assert timeline.position(index) < first_position  # the stream's positions did wrap
    done = await recorder.stop_take()
    frames = done.frames
    assert frames is not None and 5.9 * RATE < frames < 6.1 * RATE
    track = done.tracks[serial]
    samples = sf.read(track.path, dtype="int32")[0]
    expected = sender.expected(start_index, frames)[:, 0]
    written = int(np.count_nonzero(samples))
    assert written > 5.8 * RATE, "the samples after midnight were lost"
    assert np.array_equal(samples[: 5 * RATE], expected[: 5 * RATE]), "a seam at midnight"
    assert take.to_json()["tracks"][0]["source"]["discontinuities"] == 0
