"""LTC decode speed: how many times real time the hub reads LTC, and the CPU it costs.

LTC from libltc's encoder (60 s at 48 kHz by default, at 25 fps and 29.97 DF), decoded two ways:

- **decoder**: :class:`~c2c_hub.timecode.ltc.LtcDecoder` alone (the binding over libltc), fed
  float32 blocks;
- **hub path**: what the hub runs for the LTC source, :class:`~c2c_hub.timecode.ltc_input.
  LtcInput` (the level follower, the frame-by-frame judgement) fed int32 blocks converted as
  :func:`~c2c_hub.timecode.ltc.samples_to_float` does;

each with 10 ms blocks (a network microphone's) and 1 ms blocks (an AES67 packet). It reports
times real time (audio seconds per wall second, and per CPU second: on a shared machine the wall
figure also counts others' load), the CPU seconds per audio second as a share of one core at
real time, and whether every frame came back in order.

Last, what the hub's timecode costs every *other* source: the drift watch on each block of
64 channels of 1 ms packets (8 AES67 streams x 8 channels), in microseconds a block and as a
share of a core.

Run: ``python -m bench.ltc [--seconds S]`` (prints JSON), or :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from c2c_hub.timecode import FPS_25, FPS_29_97_DF, FrameRate, Timecode
from c2c_hub.timecode.ltc import LtcDecoder, LtcEncoder, samples_to_float
from c2c_hub.timecode.ltc_input import LtcInput

SR = 48000


def _measure(work: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run_rate(rate: FrameRate, seconds: float) -> list[dict[str, Any]]:
    start = Timecode.from_string("10:00:00;00" if rate.drop_frame else "10:00:00:00", rate)
    frames_wanted = round(rate.fps * seconds)
    encode_s, _, signal = _measure(lambda: LtcEncoder(SR, rate, start).frames(frames_wanted))
    pcm = (np.round(signal * (2**23 - 1)).astype(np.int32)) << 8
    audio_s = len(signal) / SR
    rows = []
    for block in (480, 48):
        blocks = [signal[i : i + block] for i in range(0, len(signal), block)]
        int_blocks = [pcm[i : i + block] for i in range(0, len(pcm), block)]

        def decoder_only(blocks: list[Any] = blocks, block: int = block) -> list[int]:
            decoder = LtcDecoder(SR, rate.fps)
            counts: list[int] = []
            for n, chunk in enumerate(blocks):
                for frame in decoder.write(chunk, n * block):
                    counts.append(frame.timecode(rate).frames)
            return counts

        def hub_path(blocks: list[Any] = int_blocks, block: int = block) -> list[int]:
            reader = LtcInput(rate, SR)
            counts: list[int] = []
            for n, chunk in enumerate(blocks):
                for event in reader.feed(n * block, samples_to_float(chunk)):
                    if event.kind == "frame" and event.count is not None:
                        counts.append(event.count)
            return counts

        for name, work in (("decoder", decoder_only), ("hub path", hub_path)):
            wall, cpu, counts = _measure(work)
            in_order = (
                counts == list(range(counts[0], counts[0] + len(counts))) if counts else False
            )
            rows.append(
                {
                    "rate": str(rate),
                    "path": name,
                    "block_samples": block,
                    "audio_s": round(audio_s, 1),
                    "frames": len(counts),
                    "in_order": in_order,
                    "x_realtime": round(audio_s / wall, 1),
                    "x_realtime_cpu": round(audio_s / cpu, 1) if cpu > 0 else None,
                    "cpu_pct_of_core_at_realtime": round(100 * cpu / audio_s, 3),
                    "encode_s": round(encode_s, 3),
                }
            )
    return rows


def run_drift_watch(seconds: float = 5.0, channels: int = 64) -> dict[str, Any]:
    from c2c_hub.clock import ManualClock
    from c2c_hub.subdevices import AudioBlock
    from c2c_hub.timecode.timeline import HubTimecode

    clock = ManualClock()
    tc = HubTimecode(clock, FPS_25)
    quiet = np.zeros(48, dtype=np.int32)
    serials = [f"aes67-bench-m0-ch{c + 1}" for c in range(channels)]
    packets = round(seconds * 1000)
    start = tc.reference.sample_position(SR)

    def work() -> None:
        for n in range(packets):
            clock.advance(0.001)
            block = AudioBlock(start + 48 * n, quiet)
            for serial in serials:
                tc.audio(serial, block)

    _wall, cpu, _ = _measure(work)
    blocks = packets * channels
    return {
        "channels": channels,
        "blocks": blocks,
        "us_per_block": round(cpu / blocks * 1e6, 2),
        "cpu_pct_of_core_at_realtime": round(100 * cpu / seconds, 2),
    }


def run(seconds: float = 60.0) -> dict[str, Any]:
    rows = run_rate(FPS_25, seconds) + run_rate(FPS_29_97_DF, seconds)
    for row in rows:
        print(
            f"  {row['rate']:>8} {row['path']:<9} {row['block_samples']:>4}-sample blocks: "
            f"{row['x_realtime']:>6,.0f}x real time ({row['x_realtime_cpu']:,.0f}x by CPU), "
            f"{row['cpu_pct_of_core_at_realtime']:.3f} % "
            f"of a core, {row['frames']} frames {'in order' if row['in_order'] else 'OUT OF ORDER'}"
        )
    slowest = min(r["x_realtime"] for r in rows)
    watch = run_drift_watch()
    print(
        f"  drift watch: {watch['us_per_block']} us a block, "
        f"{watch['cpu_pct_of_core_at_realtime']} % of a core for {watch['channels']} channels "
        "of 1 ms packets"
    )
    return {
        "seconds": seconds,
        "rows": rows,
        "drift_watch": watch,
        "slowest_x_realtime": slowest,
        "ok": all(r["in_order"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    result = run(args.seconds)
    print(json.dumps({"bench": "ltc", **result}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
