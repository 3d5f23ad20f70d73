"""Tone microphones: virtual network microphones that each play a sine tone.

An example c2c-hub plugin, built step by step in docs/plugins/index.md. Configure it with::

    [plugins.options.tone_mics]
    mics = [
        { serial = "TONE-1", name = "Boom", frequency = 440 },
        { serial = "TONE-2", name = "Lav", frequency = 660 },
    ]
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from c2c_hub import kit

NETWORK_MICROPHONE = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"  # device_models/c2c-network-mic.toml
GENERATOR = "tone_mics"  # marks our sub-devices, in their details
FORMAT = kit.AudioFormat(sample_rate=48000, bits=24, channels=1)
BLOCK_FRAMES = 480  # 10 ms at 48 kHz
LEVEL = 0.25  # of full scale: about -12 dBFS


class Mic(kit.PluginOptions):
    """One entry of ``mics``: ``{ serial = "TONE-1", name = "Boom", frequency = 440 }``."""

    serial: str
    name: str = ""
    frequency: float = kit.Field(default=440.0, ge=20, le=FORMAT.sample_rate / 2)


class Options(kit.PluginOptions):
    """The ``[plugins.options.tone_mics]`` table."""

    mics: tuple[Mic, ...] = ()


@dataclass(frozen=True)
class ToneMic:
    device: kit.SubDevice
    frequency: float


def read_mics(options: Options) -> list[ToneMic]:
    """The microphones of the plugin's options, as sub-devices of the network mic model."""
    return [
        ToneMic(
            kit.SubDevice(
                serial=mic.serial,
                model_id=NETWORK_MICROPHONE,
                name=mic.name or mic.serial,
                audio=FORMAT,
                details={"generator": GENERATOR},
            ),
            mic.frequency,
        )
        for mic in options.mics
    ]


def samples_since_midnight(rate: int, now: dt.datetime | None = None) -> int:
    """The time of day of ``now`` (default: now) in samples: the BWF time reference."""
    now = now or dt.datetime.now()
    seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    return round(seconds * rate)


def tone(frequency: float, position: int, frames: int, rate: int) -> npt.NDArray[np.int32]:
    """``frames`` samples of a sine from sample ``position`` on: int32, 24 bits left-justified."""
    n = np.arange(position, position + frames, dtype=np.float64)
    wave = LEVEL * (2**23 - 1) * np.sin(2 * np.pi * frequency * n / rate)
    return np.round(wave).astype(np.int32) << 8


class ToneSource:
    """Attaches the configured tone microphones and streams their tones at real-time pace."""

    name = "tones"

    async def run(self, ctx: kit.SourceContext) -> None:
        mics = read_mics(Options.load(ctx))
        for mic in mics:
            ctx.attach(mic.device)
        ctx.report(True, f"{len(mics)} tone microphone(s)")
        try:
            await self.stream(ctx, mics)
        finally:  # cancelled: the hub is stopping us
            for mic in mics:
                ctx.detach(mic.device.serial, "tone source stopped")

    async def stream(self, ctx: kit.SourceContext, mics: list[ToneMic]) -> None:
        rate = FORMAT.sample_rate
        loop = asyncio.get_running_loop()
        start, started = samples_since_midnight(rate), loop.time()
        sent = 0
        while True:
            # wait until the block's last sample is "captured", on the loop's monotonic clock
            await asyncio.sleep(max(0.0, started + (sent + BLOCK_FRAMES) / rate - loop.time()))
            position = (start + sent) % (86400 * rate)  # the time of day wraps at midnight
            for mic in mics:
                samples = tone(mic.frequency, position, BLOCK_FRAMES, rate)
                ctx.audio(mic.device.serial, kit.AudioBlock(position, samples))
            sent += BLOCK_FRAMES


class RouteByMicName:
    """A file whose name contains a tone microphone's name goes on that microphone's channel."""

    name = "by-mic-name"

    def route(self, file: kit.QueuedFile, attached: Mapping[str, kit.SubDevice]) -> str | None:
        ours = [d for d in attached.values() if d.details.get("generator") == GENERATOR]
        for device in sorted(ours, key=lambda d: len(d.name), reverse=True):  # "Boom 2" first
            if device.name.casefold() in file.name.casefold():
                return device.serial
        return None


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(ToneSource())


@kit.hookimpl
def register_routes(register: Callable[[kit.RouteRule], None]) -> None:
    register(RouteByMicName())
