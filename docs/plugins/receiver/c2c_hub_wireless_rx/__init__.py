"""Wireless receivers: a new kind of sub-device, from a plugin that touches no file of the hub.

The second example of docs/plugins/index.md. A wireless receiver sits in the sound bag beside
the recorder; each of its channels carries one radio microphone. The plugin declares its own
kind of device, ``wireless_receiver`` (its sub-devices send audio: each one is a track), ships
the receiver's device model in its package, and follows each receiver with a tracker of the
kit's tracker pool. Configure it with::

    [plugins.options.wireless_rx]
    block_s = "10ms"
    receivers = [{ serial = "RX-0042", name = "Bag RX", channels = 2 }]

The link to a receiver is emulated here (each channel plays a tone of its own): a plugin for a
real receiver puts the receiver's driver in ``ReceiverTracker.run``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from c2c_hub import kit

RECEIVER = kit.DeviceKind(
    "wireless_receiver", "a wireless receiver: each channel is a track", audio=True
)
MODEL_ID = "61b8dd47-91ee-4886-a28e-bceff1869836"  # device_models/wireless-receiver.toml
FORMAT = kit.AudioFormat(sample_rate=48000, bits=24, channels=1)


class Receiver(kit.PluginOptions):
    """One entry of ``receivers``."""

    serial: str
    name: str = ""
    channels: int = kit.Field(default=2, ge=1, le=8)


class Options(kit.PluginOptions):
    """The ``[plugins.options.wireless_rx]`` table."""

    receivers: tuple[Receiver, ...] = ()
    block_s: kit.Duration = 0.01


def channel_devices(receiver: Receiver) -> list[kit.SubDevice]:
    """One sub-device per channel of the receiver: its serial, then the channel's number."""
    return [
        kit.SubDevice(
            serial=f"{receiver.serial}-CH{n}",
            model_id=MODEL_ID,
            name=f"{receiver.name or receiver.serial} ch {n}",
            audio=FORMAT,
            details={"receiver": receiver.serial, "channel": str(n)},
        )
        for n in range(1, receiver.channels + 1)
    ]


def time_of_day(rate: int) -> int:
    """Now, in samples since midnight: the BWF time reference of the first block."""
    now = dt.datetime.now()
    return round((now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6) * rate)


class ReceiverTracker:
    """Follows one receiver: attaches its channels, streams their audio, detaches them."""

    def __init__(
        self,
        ctx: kit.SourceContext,
        receiver: Receiver,
        options: Options,
        pool: kit.TrackerPool[str, ReceiverTracker],
    ) -> None:
        self.ctx, self.receiver, self.options, self.pool = ctx, receiver, options, pool
        self.attached: list[kit.SubDevice] = []

    async def run(self) -> None:
        for device in channel_devices(self.receiver):
            holder = self.pool.claim(device.serial, self.receiver.serial)
            if holder is not None:
                self.ctx.log.warning("%s is already %s's: not used", device.serial, holder)
                continue
            self.ctx.attach(device)
            self.attached.append(device)
        try:
            await self.stream()
        finally:
            self.retired("receiver stopped")

    async def stream(self) -> None:
        rate, loop = FORMAT.sample_rate, asyncio.get_running_loop()
        frames = round(self.options.block_s * rate)
        start, started, sent = time_of_day(rate), loop.time(), 0
        while True:
            await asyncio.sleep(max(0.0, started + (sent + frames) / rate - loop.time()))
            position = (start + sent) % (86400 * rate)
            n = np.arange(position, position + frames, dtype=np.float64)
            for number, device in enumerate(self.attached, start=1):
                wave = 0.25 * (2**23 - 1) * np.sin(2 * np.pi * 220 * number * n / rate)
                samples = np.round(wave).astype(np.int32) << 8
                self.ctx.audio(device.serial, kit.AudioBlock(position, samples))
            sent += frames

    def retired(self, reason: str) -> None:
        attached, self.attached = self.attached, []
        for device in attached:
            self.pool.release(device.serial, self.receiver.serial)
            self.ctx.detach(device.serial, reason)


class ReceiverSource:
    """Every configured receiver, each followed by its tracker."""

    name = "receivers"

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)
        pool: kit.TrackerPool[str, ReceiverTracker] = kit.TrackerPool(ctx, name="wireless_rx")
        try:
            for receiver in options.receivers:
                pool.start(receiver.serial, partial(ReceiverTracker, ctx, receiver, options, pool))
            channels = sum(r.channels for r in options.receivers)
            pool.report(True, f"{len(options.receivers)} receiver(s), {channels} channel(s)")
            await asyncio.Event().wait()
        finally:
            await pool.close()


@kit.hookimpl
def register_device_kinds(register: Callable[[kit.DeviceKind], None]) -> None:
    register(RECEIVER)


@kit.hookimpl
def register_device_models(register: Callable[[Path], None]) -> None:
    register(kit.package_models(__file__))


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(ReceiverSource())
