"""AES67 receive cost: 8 streams x 8 channels, 48 kHz / 24-bit, 1 ms packets, on loopback.

The senders run in a child process (``python -m bench.aes67 send ...``), so their cost is not
counted; they send pre-built payloads behind fresh RTP headers (the receiver does the same
work whatever the samples are). The aes67 source runs here, on a context that only counts
what it is given, for ``--seconds``; the figure is this process's CPU time (every thread)
over the wall time, per channel. Also measured: from a stream's first SAP announcement to all
of its channels attached, and the packets lost on a clean link.

Multicast stays on loopback, on groups picked at random for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import c2c_hub_plugins.aes67 as aes67_plugin
from c2c_hub import kit
from c2c_hub.device_models import DeviceModelRegistry, load_device_models, shipped_models_dir
from c2c_hub.subdevices import AudioBlock, SubDevice
from c2c_hub_plugins.aes67 import Aes67Source
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.rtp import build_rtp


class _CheapSender(EmulatedAes67Sender):
    """Sends one pre-built payload (a second of the real signal, cycled) behind real headers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        frames = self.frames_per_packet
        self._payloads: list[bytes] = []
        for k in range(50):
            self._payloads.append(super().packet(k * frames)[12:])

    def packet(self, index: int) -> bytes:
        payload = self._payloads[(index // self.frames_per_packet) % len(self._payloads)]
        timestamp = (index + self.mediaclk_offset) & 0xFFFFFFFF
        data = build_rtp(self._sequence, timestamp, self.ssrc, self.format.payload_type, payload)
        self._sequence = (self._sequence + 1) & 0xFFFF
        return data


def _send(args: argparse.Namespace) -> None:
    senders = [
        _CheapSender(
            name=f"Bench {n + 1}",
            channels=args.channels,
            address=f"{args.prefix}.{n + 1}",
            port=args.port,
            sap_group=args.sap_group,
            sap_interval=0.5,
        )
        for n in range(args.streams)
    ]
    print(json.dumps({"starting_at": time.time()}), flush=True)
    for sender in senders:
        sender.start()
    time.sleep(args.seconds)
    for sender in senders:
        sender.stop()
    print(json.dumps({"sent": sum(s.packets_sent for s in senders)}), flush=True)


def _models() -> DeviceModelRegistry:
    registry = DeviceModelRegistry.load(shipped_models_dir())
    registry.add(load_device_models(kit.package_models(aes67_plugin.__file__)), origin="aes67")
    return registry


@dataclass
class _Counting:
    """A SourceContext that counts (and remembers when each serial attached)."""

    options: Mapping[str, Any]
    plugin: str = "aes67"
    models: DeviceModelRegistry = field(default_factory=lambda: _models())
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("bench.aes67"))
    expected: int = 0
    attached_at: dict[str, float] = field(default_factory=dict)
    all_attached: asyncio.Event = field(default_factory=asyncio.Event)
    frames: int = 0

    def attach(self, device: SubDevice) -> None:
        self.attached_at.setdefault(device.serial, time.time())
        if len(self.attached_at) >= self.expected:
            self.all_attached.set()

    def detach(self, serial: str, reason: str) -> None:
        pass

    def audio(self, serial: str, block: AudioBlock) -> None:
        self.frames += block.frames

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        pass

    def report(self, healthy: bool, detail: str) -> None:
        pass


async def _receive(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.SystemRandom()
    prefix = f"239.{rng.randrange(70, 250)}.{rng.randrange(1, 250)}"
    sap_group = f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
    port = rng.randrange(20000, 60000, 2)
    channels = args.streams * args.channels
    ctx = _Counting(options={"sap_groups": [sap_group], "latency_ms": 20.0}, expected=channels)
    streams: list[dict[str, Any]] = []
    source = Aes67Source()
    task = asyncio.get_running_loop().create_task(source.run(ctx))
    await asyncio.sleep(0.5)
    command = [sys.executable, "-m", "bench.aes67", "send", f"--streams={args.streams}"]
    command += [f"--channels={args.channels}", f"--seconds={args.seconds + 3}"]
    command += [f"--prefix={prefix}", f"--port={port}", f"--sap-group={sap_group}"]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = await child.stdout.readline()
        started = json.loads(line)["starting_at"]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await ctx.all_attached.wait()
        attach_s = (
            max(ctx.attached_at.values()) - started if len(ctx.attached_at) == channels else None
        )
        await asyncio.sleep(1.0)  # steady state
        cpu0, wall0, frames0 = time.process_time(), time.monotonic(), ctx.frames
        await asyncio.sleep(args.seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        frames = ctx.frames - frames0
        streams = source.streams()
        async with asyncio.timeout(60):
            raw, _ = await child.communicate()
        out = raw.decode()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    counters = {
        key: sum(int(s.get(key, 0)) for s in streams)
        for key in ("received", "lost", "late", "duplicate", "malformed")
    }
    return {
        "streams": args.streams,
        "channels": channels,
        "packet_ms": 1.0,
        "seconds": round(wall, 2),
        "cpu_percent_of_a_core": round(100 * cpu / wall, 1),
        "cpu_percent_per_channel": round(100 * cpu / wall / channels, 3),
        "frames_per_channel_per_s": round(frames / channels / wall),
        "attached_all_channels_s": None if attach_s is None else round(attach_s, 3),
        "sent": json.loads(out.strip().splitlines()[-1])["sent"] if out.strip() else None,
        **counters,
    }


def run(streams: int = 8, channels: int = 8, seconds: float = 10.0) -> dict[str, Any]:
    args = argparse.Namespace(streams=streams, channels=channels, seconds=seconds)
    return asyncio.run(_receive(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aes67")
    parser.add_argument("mode", nargs="?", choices=["receive", "send"], default="receive")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--prefix", default="239.69.200")
    parser.add_argument("--port", type=int, default=5004)
    parser.add_argument("--sap-group", default="239.255.255.255")
    args = parser.parse_args(argv)
    if args.mode == "send":
        _send(args)
        return 0
    print(
        f"aes67: receive {args.streams} streams x {args.channels} channels, 48 kHz/24-bit, "
        f"1 ms packets, {args.seconds:g} s"
    )
    print(json.dumps({"bench": "aes67", **run(args.streams, args.channels, args.seconds)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
