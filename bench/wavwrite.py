"""The track writer's CPU (issue 16's hub CPU aim): what writing a take's WAV files costs, per
second of audio, for the files of the whole-recorder benchmark.

The files: 24 mono ISO tracks (16 local inputs + 8 network microphones) and the stereo mix, all
48 kHz/24-bit, written as the hub's take writer writes them (a block of 4,800 frames per file
every ``flush_s`` of 0.1 s, a flush after each, an fsync of every file each second); then the
24-channel poly file, written after the take as :func:`~c2c_hub.recorder.derived.write_poly`
writes it (65,536-frame blocks). 26 files. The samples are made beforehand (not measured).

Two writers, alternately, in the same run (the machine's load is the same for both):

- **packed**: :class:`~c2c_hub.recorder.wav.BwfWriter`, which packs the samples with numpy and
  writes each block with one ``os.write``;
- **libsndfile** (the reference): :class:`LibsndfileWriter` below, the writer as it was before,
  libsndfile encoding into the file through soundfile's virtual I/O (a Python callback for
  every chunk libsndfile writes).

Then the same with another Python thread kept busy beside the writer (:func:`contended`): the
writer's wall time per second of audio, whether it keeps up when it must share the GIL.

It reports, for each, the process's CPU time (user + system, so the write system calls count)
per second of audio as a share of one core, for the take's 25 files and for the poly file, the
best and the median of the rounds, and the ratio. The load average is printed beside them:
on a shared machine trust the ratio more than either figure.

``python -m bench.wavwrite [--seconds S] [--rounds N] [--dir D]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from c2c_hub.recorder.wav import BwfWriter, TrackInfo
from c2c_hub.recorder.wav.header import plan_layout
from c2c_hub.recorder.wav.info import SUBTYPES, TRACK_MODE
from c2c_hub.recorder.wav.writer import as_block
from c2c_hub.timecode import FPS_25

RATE = 48_000
ISOS = 24
BLOCK = 4_800  # frames a file per flush: the take writer's flush_s of 0.1 s
SYNC_EVERY = 10  # flushes: recorder.fsync_interval_s of 1 s
POLY_CHUNK = 1 << 16


class LibsndfileWriter:
    """The reference: the track writer as it was before it packed its own samples (its
    header, sizes and flushes the same; libsndfile encodes the samples into the file through
    soundfile's virtual I/O). Only what the benchmark calls."""

    def __init__(self, info: TrackInfo) -> None:
        self.info = info
        self.frames = 0
        layout = plan_layout(info, info.origination or datetime.now())
        self.layout = layout
        fd = os.open(info.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, TRACK_MODE)
        self.fh = os.fdopen(fd, "wb")
        self.fh.write(layout.header)
        self.fh.flush()
        os.fsync(fd)
        self.sf = sf.SoundFile(
            _Sink(self.fh),
            mode="w",
            samplerate=info.sample_rate,
            channels=info.channels,
            subtype=SUBTYPES[info.bits],
            endian="LITTLE",
            format="RAW",
        )

    def write(self, samples: npt.NDArray[Any]) -> None:
        block = as_block(samples, self.info.channels)
        self.sf.write(block)
        self.frames += len(block)

    def flush(self) -> None:
        self.sf.flush()
        self.fh.flush()
        self._sizes()

    def sync(self) -> None:
        self.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.sf.close()
        self.fh.flush()
        if (self.frames * self.info.block_align) % 2:
            self.fh.write(b"\0")
            self.fh.flush()
        self._sizes()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def _sizes(self) -> None:
        data = self.frames * self.info.block_align
        fd = self.fh.fileno()
        os.pwrite(fd, struct.pack("<I", self.layout.data_offset - 8 + data), 4)
        os.pwrite(fd, struct.pack("<I", data), self.layout.data_size_at)


class _Sink:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()


def _packed(info: TrackInfo) -> BwfWriter:
    return BwfWriter(info, durable=True).open()


WRITERS: dict[str, Any] = {"packed": _packed, "libsndfile": LibsndfileWriter}


def _info(path: Path, channels: int, name: str) -> TrackInfo:
    return TrackInfo(
        path,
        start_position=10 * 3600 * RATE,
        timecode_rate=FPS_25,
        channels=channels,
        track_name=name,
        origination=datetime(2026, 1, 1, 10, 0, 0),
    )


def _blocks(frames: int, channels: int, count: int, seed: int) -> list[npt.NDArray[np.int32]]:
    """A few different blocks of noise, int32 left-justified (24-bit), to cycle through."""
    rng = np.random.default_rng(seed)
    shape = (frames,) if channels == 1 else (frames, channels)
    return [
        (rng.integers(-(2**23), 2**23, shape, dtype=np.int32) << 8).astype(np.int32)
        for _ in range(count)
    ]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def one_round(kind: str, seconds: float, directory: Path, block: int) -> dict[str, float]:
    make = WRITERS[kind]
    mono = _blocks(block, 1, 8, 1)
    sizes = [block] * (BLOCK // block) + ([BLOCK % block] if BLOCK % block else [])
    stereo = _blocks(BLOCK, 2, 4, 2)
    poly = _blocks(POLY_CHUNK, ISOS, 2, 3)
    flushes = round(seconds * RATE / BLOCK)
    with tempfile.TemporaryDirectory(prefix=f"c2c-bench-wavwrite-{kind}-", dir=directory) as tmp:
        root = Path(tmp)
        cpu0, wall0 = _cpu(), time.perf_counter()
        files = [make(_info(root / f"iso{i:02d}.wav", 1, f"In {i}")) for i in range(ISOS)]
        mix = make(_info(root / "mix.wav", 2, "Mix"))
        for n in range(flushes):
            sync = (n + 1) % SYNC_EVERY == 0
            for i, writer in enumerate(files):
                for k, size in enumerate(sizes):
                    writer.write(mono[(n + i + k) % len(mono)][:size])
                writer.sync() if sync else writer.flush()
            mix.write(stereo[n % len(stereo)])
            mix.sync() if sync else mix.flush()
        for writer in [*files, mix]:
            writer.close()
        cpu1, wall1 = _cpu(), time.perf_counter()
        frames = flushes * BLOCK
        writer = make(_info(root / "poly.wav", ISOS, "Poly"))
        done = 0
        while done < frames:
            n = min(POLY_CHUNK, frames - done)
            writer.write(poly[(done // POLY_CHUNK) % len(poly)][:n])
            done += n
        writer.close()
        cpu2, wall2 = _cpu(), time.perf_counter()
    audio_s = frames / RATE
    return {
        "take_cpu_s": cpu1 - cpu0,
        "poly_cpu_s": cpu2 - cpu1,
        "take_wall_s": wall1 - wall0,
        "poly_wall_s": wall2 - wall1,
        "audio_s": audio_s,
    }


def run(
    seconds: float = 10.0,
    rounds: int = 3,
    directory: Path | None = None,
    blocks: tuple[int, ...] = (48, 256, 4800),
) -> dict[str, Any]:
    """Each block size (the frames an ISO track's source hands over at a time: 48 is an AES67
    microphone's 1 ms packet, 256 a JACK period, 4,800 a flush's worth), both writers,
    ``rounds`` times each, alternately."""
    base = directory or Path(tempfile.gettempdir())
    load_before = os.getloadavg()[0]
    one_round("packed", 1.0, base, 4800)  # warm up: imports, first allocations
    out: dict[str, Any] = {"files": ISOS + 2, "audio_s_per_round": seconds, "rounds": rounds}
    for block in blocks:
        results: dict[str, list[dict[str, float]]] = {kind: [] for kind in WRITERS}
        for r in range(rounds):
            for kind in list(WRITERS) if r % 2 == 0 else list(reversed(WRITERS)):
                results[kind].append(one_round(kind, seconds, base, block))
        row: dict[str, Any] = {}
        for kind, runs in results.items():
            for part in ("take", "poly"):
                pct = [100 * run[f"{part}_cpu_s"] / run["audio_s"] for run in runs]
                row[f"{kind}_{part}_pct"] = round(statistics.median(pct), 2)
            total = [100 * (run["take_cpu_s"] + run["poly_cpu_s"]) / run["audio_s"] for run in runs]
            row[f"{kind}_pct_best"] = round(min(total), 2)
            row[f"{kind}_pct"] = round(statistics.median(total), 2)
        row["saved_pct"] = round(row["libsndfile_pct"] - row["packed_pct"], 2)
        row["ratio"] = round(row["libsndfile_pct"] / max(row["packed_pct"], 1e-9), 1)
        out[f"block_{block}"] = row
    out["contended"] = contended(seconds / 2, rounds, base)
    out["load_avg_1min_before"] = round(load_before, 2)
    out["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    out["cpus"] = os.cpu_count()
    return out


def contended(
    seconds: float = 5.0, rounds: int = 3, directory: Path | None = None, block: int = 256
) -> dict[str, Any]:
    """The take's 25 files written while another Python thread keeps busy (as the hub's event
    loop, sources and uploader do): the writer's *wall* time per second of audio, which is
    what decides whether it keeps up. Every time libsndfile's callback or a system call gives
    the GIL up, the writer waits to get it back; the hub's writer gives it up far less often.
    (The process's CPU counts the busy thread too, so only wall time is reported.)"""
    base = directory or Path(tempfile.gettempdir())
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=busy, name="bench-busy", daemon=True)
    thread.start()
    walls: dict[str, list[float]] = {kind: [] for kind in WRITERS}
    try:
        for r in range(rounds):
            for kind in list(WRITERS) if r % 2 == 0 else list(reversed(WRITERS)):
                row = one_round(kind, seconds, base, block)
                walls[kind].append(row["take_wall_s"] / row["audio_s"])
    finally:
        stop.set()
        thread.join()
    out: dict[str, Any] = {"block": block}
    for kind, values in walls.items():
        out[f"{kind}_wall_s_per_audio_s"] = round(statistics.median(values), 3)
    return out


def summary(result: dict[str, Any]) -> list[str]:
    """Human lines: CPU per second of audio for the 26 files, as a share of one core."""
    lines = [
        f"wavwrite: {result['files']} files (24 ISOs + mix while rolling, the 24-channel poly "
        f"after), 48 kHz/24-bit; CPU per second of audio, % of one core (median of "
        f"{result['rounds']} rounds of {result['audio_s_per_round']:g} s)"
    ]
    for key, row in result.items():
        if key.startswith("block_"):
            lines.append(
                f"  ISO blocks of {key[6:]:>5} frames: libsndfile {row['libsndfile_pct']:6.2f} %"
                f"  packed {row['packed_pct']:6.2f} %  saved {row['saved_pct']:6.2f} %"
                f"  (x{row['ratio']})"
            )
    busy = result.get("contended")
    if busy is not None:
        lines.append(
            f"  beside a busy Python thread, {busy['block']}-frame blocks: the writer's wall "
            f"time per second of audio: libsndfile {busy['libsndfile_wall_s_per_audio_s']} s, "
            f"packed {busy['packed_wall_s_per_audio_s']} s (over 1 s: it falls behind)"
        )
    lines.append(
        f"  load average (1 min) {result['load_avg_1min_before']} before, "
        f"{result['load_avg_1min_after']} after, on {result['cpus']} cores"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wavwrite", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio a round (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each writer (3)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a temp dir)")
    parser.add_argument(
        "--blocks", default="48,256,4800", help="ISO block sizes in frames (48,256,4800)"
    )
    args = parser.parse_args(argv)
    blocks = tuple(int(b) for b in args.blocks.split(","))
    result = run(args.seconds, args.rounds, args.dir, blocks)
    print("\n".join(summary(result)))
    print(json.dumps({"bench": "wavwrite", **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
