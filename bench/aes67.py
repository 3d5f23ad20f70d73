"""AES67 receive cost: 8 streams of 1 and of 8 channels, 48 kHz / 24-bit, 1 ms packets, on
loopback, read a packet at a time (``batch_receive = false``) and in batches, alternately in one
run (``python -m bench.aes67 --only cpu [--shape 8x1] [--compare-rounds N]``).

The senders run in a child process (``python -m bench.aes67 send ...``), so their cost is not
counted; they send pre-built payloads behind fresh RTP headers (the receiver does the same
work whatever the samples are). The aes67 source runs here, on a context that only counts
what it is given, for ``--seconds``; the figure is this process's CPU time (every thread)
over the wall time, per channel. Also measured: from a stream's first SAP announcement to all
of its channels attached, and the packets lost on a clean link.

Two more measurements (``--only announce`` / ``--only loss`` run one alone):

- **announce → connected at the emulator**: a paired hub (its aes67 plugin, the emulated
  Frame.io in a child process); an emulated 8-channel stream starts (its first packet and SAP
  announcement) and the time runs until the emulator holds all 8 of its channels connected
  (read from the emulator's state, polled every 10 ms), median and worst of ``rounds``;
- **1 % packet loss**: a stream through a UDP relay that drops 1 % of its packets at random;
  every sample the source delivered is compared with what the sender sent at that place (a
  lost packet must be silence exactly at its place): samples misplaced (aim 0).

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
    options = {"sap_groups": [sap_group], "latency_ms": 20.0, "batch_receive": args.batch}
    ctx = _Counting(options=options, expected=channels)
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
        for key in ("received", "lost", "late", "duplicate", "malformed", "flood")
    }
    return {
        "receive": "batch" if args.batch else "per-packet",
        "streams": args.streams,
        "channels": channels,
        "packet_ms": 1.0,
        "seconds": round(wall, 2),
        "cpu_percent_of_a_core": round(100 * cpu / wall, 1),
        "cpu_s_per_s_of_audio": round(cpu / wall, 4),
        "cpu_percent_per_channel": round(100 * cpu / wall / channels, 3),
        "frames_per_channel_per_s": round(frames / channels / wall),
        "attached_all_channels_s": None if attach_s is None else round(attach_s, 3),
        "sent": json.loads(out.strip().splitlines()[-1])["sent"] if out.strip() else None,
        **counters,
    }


async def _wait(check: Any, within: float = 60.0, step: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it is true; TimeoutError after ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(step)
    raise TimeoutError(f"not within {within} s")


# ------------------------------------------------------------------ announce -> connected
async def _announce(rounds: int, channels: int) -> dict[str, Any]:
    import statistics
    import tempfile
    from pathlib import Path

    from bench.common import bench_settings
    from bench.part_sink import start_emulator
    from c2c_hub.emulation.plugin_models import plugin_device_models
    from c2c_hub.pairing import PairingStep, PairingUpdate
    from c2c_hub.runtime import Hub
    from c2c_hub.settings import HubSettings, PluginSettings, RecorderSettings, StorageSettings
    from c2c_hub_plugins.aes67.emulated import free_udp_port

    rng = random.SystemRandom()
    group = f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
    emulator = start_emulator()
    times: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="c2c-bench-aes67-") as tmp:
            settings = HubSettings(
                frameio=bench_settings(emulator),
                storage=StorageSettings(data_dir=Path(tmp) / "hub"),
                recorder=RecorderSettings(directory=Path(tmp) / "recordings"),
                plugins=PluginSettings(
                    allow=["aes67"],
                    options={
                        "aes67": {"interface": "127.0.0.1", "sap_groups": [group], "ravenna": False}
                    },
                ),
            )
            for _, model in plugin_device_models(
                settings.plugins, settings.device_models.directory
            ):
                assert model.source is not None
                emulator.handle.declare_device_model(model.source.read_text(encoding="utf-8"))
            async with Hub(settings) as hub:
                await hub.start(presence=False, status_file=False)
                pairing = hub.pairing()
                loop = asyncio.get_running_loop()

                def approve(update: PairingUpdate) -> None:
                    if update.step is PairingStep.SHOW_CODE and update.user_code:
                        loop.run_in_executor(None, emulator.handle.approve, update.user_code)

                pairing.subscribe(approve)
                await pairing.run()

                def connected() -> set[str]:
                    devices = emulator.handle.devices()
                    return set(devices[0]["channel_client_ids"].values()) if devices else set()

                async def _gone(wanted: set[str]) -> bool:
                    return not wanted & await asyncio.to_thread(connected)

                for n in range(rounds):
                    sender = EmulatedAes67Sender(
                        name=f"Bench stream {n + 1}",
                        channels=channels,
                        address="127.0.0.1",
                        port=free_udp_port(),
                        sap_group=group,
                    )
                    wanted = set(sender.serials)
                    started = time.monotonic()
                    sender.start()
                    try:
                        while not wanted <= await asyncio.to_thread(connected):
                            if time.monotonic() - started > 30:
                                raise TimeoutError("the channels did not connect in 30 s")
                            await asyncio.sleep(0.01)
                        times.append(time.monotonic() - started)
                    finally:
                        sender.stop()  # its SAP deletion: the channels go
                    await _wait(
                        lambda w=wanted: _gone(w)  # type: ignore[misc]
                    )
    finally:
        emulator.close()
    return {
        "rounds": rounds,
        "channels_per_stream": channels,
        "announce_to_connected_at_emulator_median_s": round(statistics.median(times), 3),
        "announce_to_connected_at_emulator_max_s": round(max(times), 3),
        "aim_s": 1.5,
    }


# ------------------------------------------------------------------ 1 % loss
class _LossyRelay:
    """Forwards UDP to ``destination``, dropping ``loss`` of the packets (seeded); remembers
    the RTP timestamps it dropped."""

    def __init__(self, destination: tuple[str, int], loss: float, seed: int = 7) -> None:
        import socket
        import threading

        self.inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inbound.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.inbound.bind(("127.0.0.1", 0))
        self.inbound.settimeout(0.2)
        self.port = int(self.inbound.getsockname()[1])
        self.outbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.destination, self.loss = destination, loss
        self.rng = random.Random(seed)
        self.lost: list[int] = []
        self.forwarded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lossy relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from c2c_hub_plugins.aes67.rtp import parse_rtp

        count = 0
        while not self._stop.is_set():
            try:
                data = self.inbound.recv(9000)
            except TimeoutError:
                continue
            count += 1
            if count > 5 and self.rng.random() < self.loss:  # the first ones place the stream
                self.lost.append(parse_rtp(data).timestamp)
                continue
            self.outbound.sendto(data, self.destination)
            self.forwarded += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.inbound.close()
        self.outbound.close()


@dataclass
class _Keeping(_Counting):
    blocks: dict[str, list[AudioBlock]] = field(default_factory=dict)

    def audio(self, serial: str, block: AudioBlock) -> None:
        super().audio(serial, block)
        self.blocks.setdefault(serial, []).append(block)


async def _loss(seconds: float, channels: int, loss: float = 0.01) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import numpy as np

    from c2c_hub_plugins.aes67.emulated import free_udp_port
    from c2c_hub_plugins.aes67.timeline import MediaTimeline

    port = free_udp_port()
    with tempfile.TemporaryDirectory(prefix="c2c-bench-aes67-loss-") as tmp:
        relay = _LossyRelay(("127.0.0.1", port), loss)
        sender = EmulatedAes67Sender(
            name="Lossy", channels=channels, address="127.0.0.1", port=port, sap=False
        )
        (Path(tmp) / "lossy.sdp").write_text(sender.sdp)
        sender.port = relay.port  # the SDP names the receiver's port; the relay sits between
        ctx = _Keeping(options={"sap": False, "ravenna": False, "sdp_folder": tmp})
        source = Aes67Source()
        task = asyncio.get_running_loop().create_task(source.run(ctx))
        try:
            await _wait(source.streams)
            sender.start()
            await asyncio.sleep(seconds)
            sender.stop()
            await _wait(lambda: [s for s in source.streams() if s["state"] == "silent"])
            (counters,) = source.streams()
        finally:
            relay.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert sender.first_index is not None
    timeline = MediaTimeline(sender.format.sample_rate)
    day = sender.first_index - timeline.position(sender.first_index)
    fpp = sender.frames_per_packet
    lost = [
        sender.first_index + ((ts - sender.mediaclk_offset - sender.first_index) & 0xFFFFFFFF)
        for ts in relay.lost
    ]
    # Each packet's place (48 frames of the media clock) holds the sender's samples, or, for a
    # packet lost on the way (the relay's 1 %, or a socket that overflowed on a loaded machine),
    # silence: anything else is a misplaced sample.
    misplaced = compared = 0
    silent_places: set[int] = set()
    dropped = set(lost)
    for channel, serial in enumerate(sender.serials):
        blocks = sorted(ctx.blocks.get(serial, []), key=lambda b: b.position)
        for block in blocks:
            expected = sender.expected(day + block.position, block.frames)[:, channel]
            got = block.samples
            start = day + block.position
            for at in range((sender.first_index - start) % fpp, block.frames, fpp):
                index = start + at
                want, have = expected[at : at + fpp], got[at : at + fpp]
                if np.array_equal(have, want):
                    if index in dropped and want.any():
                        misplaced += fpp  # samples where the relay dropped the packet
                    continue
                if not have.any():
                    silent_places.add(index)
                    continue
                misplaced += int(np.count_nonzero(have != want))
            compared += block.frames
    return {
        "loss": loss,
        "packets_sent": sender.packets_sent,
        "packets_dropped_by_relay": len(relay.lost),
        "relay_drops_silent_in_place": len(dropped & silent_places),
        "lost_elsewhere": len(silent_places - dropped),  # a socket overflowed: load, not us
        "lost_counted": counters["lost"],
        "flood": counters["flood"],
        "late": counters["late"],
        "malformed": counters["malformed"],
        "jumps": counters["jumps"],
        "samples_compared": compared,
        "samples_misplaced": misplaced,
        "aim_misplaced": 0,
    }


def announce(rounds: int = 10, channels: int = 8) -> dict[str, Any]:
    return asyncio.run(_announce(rounds, channels))


def loss(seconds: float = 20.0, channels: int = 8) -> dict[str, Any]:
    return asyncio.run(_loss(seconds, channels))


def run(
    streams: int = 8, channels: int = 8, seconds: float = 10.0, batch: bool = True
) -> dict[str, Any]:
    args = argparse.Namespace(streams=streams, channels=channels, seconds=seconds, batch=batch)
    return asyncio.run(_receive(args))


#: The shapes compared: the recorder's 8 single-channel microphones (8,000 packets/s of 147
#: bytes: the per-packet cost alone) and 8 streams of 8 channels (8,000 packets/s of 1,164 bytes).
SHAPES = ((8, 1), (8, 8))


def compare(
    shapes: tuple[tuple[int, int], ...] = SHAPES, seconds: float = 10.0, rounds: int = 2
) -> list[dict[str, Any]]:
    """Each shape received the old way (a ``recvfrom`` a packet, woken by each) and in batches
    (``recvmmsg`` every 5 ms, numpy), alternately, ``rounds`` times each, in one run: the ratio
    is what to trust on a busy machine (the load average is beside it)."""
    import os
    import statistics

    out = []
    for streams, channels in shapes:
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        loads = []
        for _ in range(rounds):
            for batch in (False, True):
                runs[batch].append(run(streams, channels, seconds, batch))
                loads.append(os.getloadavg()[0])
        old = statistics.median(r["cpu_s_per_s_of_audio"] for r in runs[False])
        new = statistics.median(r["cpu_s_per_s_of_audio"] for r in runs[True])
        out.append(
            {
                "streams": streams,
                "channels": streams * channels,
                "packets_per_s": streams * 1000,
                "rounds": rounds,
                "per_packet_cpu_s_per_s": [r["cpu_s_per_s_of_audio"] for r in runs[False]],
                "batch_cpu_s_per_s": [r["cpu_s_per_s_of_audio"] for r in runs[True]],
                "per_packet_median_pct_of_a_core": round(100 * old, 1),
                "batch_median_pct_of_a_core": round(100 * new, 1),
                "batch_over_per_packet": round(new / old, 3) if old else None,
                **{
                    counter: {
                        "per-packet": [r[counter] for r in runs[False]],
                        "batch": [r[counter] for r in runs[True]],
                    }
                    for counter in ("lost", "late", "flood")
                },
                "frames_per_channel_per_s": {
                    "per-packet": [r["frames_per_channel_per_s"] for r in runs[False]],
                    "batch": [r["frames_per_channel_per_s"] for r in runs[True]],
                },
                "load_avg_1min": [round(x, 2) for x in loads],
                "cores": os.cpu_count(),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aes67")
    parser.add_argument("mode", nargs="?", choices=["receive", "send"], default="receive")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--prefix", default="239.69.200")
    parser.add_argument("--port", type=int, default=5004)
    parser.add_argument("--sap-group", default="239.255.255.255")
    parser.add_argument("--rounds", type=int, default=10, help="announce -> connected rounds")
    parser.add_argument("--only", choices=["cpu", "announce", "loss"])
    parser.add_argument("--compare-rounds", type=int, default=2, help="cpu: rounds of each way")
    parser.add_argument(
        "--shape",
        action="append",
        metavar="STREAMSxCHANNELS",
        help="cpu: a shape to compare (default 8x1 and 8x8)",
    )
    args = parser.parse_args(argv)
    if args.mode == "send":
        _send(args)
        return 0
    if args.only in (None, "cpu"):
        shapes = SHAPES
        if args.shape:
            shapes = tuple(
                (int(a), int(b)) for a, b in (shape.lower().split("x") for shape in args.shape)
            )
        for streams, channels in shapes:
            print(
                f"aes67: receive {streams} streams x {channels} channels, 48 kHz/24-bit, "
                f"1 ms packets, {args.seconds:g} s: per packet and in batches, alternately"
            )
            (result,) = compare(((streams, channels),), args.seconds, args.compare_rounds)
            print(json.dumps({"bench": "aes67.cpu", **result}))
    if args.only in (None, "announce"):
        print(f"aes67: first announcement -> {args.channels} channels connected at the emulator")
        result = asyncio.run(_announce(args.rounds, args.channels))
        print(json.dumps({"bench": "aes67.announce", **result}))
    if args.only in (None, "loss"):
        print(f"aes67: 1 % packet loss, {args.channels} channels, {args.seconds:g} s")
        result = asyncio.run(_loss(args.seconds, args.channels))
        print(json.dumps({"bench": "aes67.loss", **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
