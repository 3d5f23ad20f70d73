"""The recorder's tests upload what they record: they share the uploader's fixtures, and a rig
that feeds samples into the device registry as microphones would."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.recorder.takes import Recorder
from c2c_hub.session import Session
from c2c_hub.subdevices import AudioBlock, AudioFormat, SubDevice
from c2c_hub.timecode import FrameRate, TimecodeClock
from tests.uploader.conftest import UploaderFactory, session, uploaders

__all__ = ["RATE", "Rig", "attach", "rig", "session", "signal", "uploaders"]

MIC_MODEL = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
MODELS = DeviceModelRegistry.load(shipped_models_dir())
RATE = 48000
SRC = "test:feed"


def signal(position: int, frames: int, freq: float) -> np.ndarray:
    t = (np.arange(position, position + frames) % RATE) / RATE
    values = np.round(np.sin(2 * np.pi * freq * t) * 0.5 * (2**23 - 1)).astype(np.int32)
    return values << 8


@dataclass
class Rig:
    recorder: Recorder
    registry: DeviceRegistry
    channels: ChannelManager
    clock: ManualClock
    directory: Path

    def feed(self, serial: str, start: int, end: int, freq: float, block: int = 480) -> None:
        """Samples as a microphone sends them: each block once its last sample is in the past
        (the hub's clock moves along; a feed behind it is a backlog, sent as fast as it goes)."""
        for at in range(start, end, block):
            n = min(block, end - at)
            self.advance_to(at + n)
            self.registry.audio(SRC, serial, AudioBlock(at, signal(at, n, freq)))

    def send(self, serial: str, position: int, samples: np.ndarray) -> None:
        """One block as a (possibly lying) microphone sends it, the clock left where it is."""
        self.registry.audio(SRC, serial, AudioBlock(position, samples))

    def advance_to(self, position: int) -> None:
        """Move the hub's clock on to the take's ``position`` (never back)."""
        take = self.recorder.take
        assert take is not None
        at = take.started_at + (position - take.start_position) / RATE
        if at > self.clock.now():
            self.clock.advance(at - self.clock.now())


@pytest.fixture
async def rig(session: Session, uploaders: UploaderFactory, tmp_path: Path) -> AsyncIterator[Rig]:
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    clock = ManualClock()
    recorder = Recorder(
        registry,
        uploader,
        directory=tmp_path / "recordings",
        data_dir=tmp_path,
        clock=clock,
        timecode=TimecodeClock(clock, FrameRate.parse("25")),
        stop_grace_s=0,
        project=lambda: "Test Project",
    )
    await uploader.start()
    await channels.start()
    await recorder.start()
    try:
        yield Rig(recorder, registry, channels, clock, tmp_path / "recordings")
    finally:
        await recorder.stop()
        await channels.stop()


def attach(rig: Rig, serial: str, name: str) -> None:
    assert rig.registry.attach(SRC, SubDevice(serial, MIC_MODEL, name, audio=AudioFormat()))
