"""The track writer's samples, byte for byte: what :class:`BwfWriter` packs itself (numpy, one
``os.write`` a block) is exactly what libsndfile encoded before it, for every format, sample type
and edge value, and what readers nobody here wrote read back.

Two proofs. The golden files in ``data/`` were written by the libsndfile writer (the hub before
the writer packed its own samples) from :func:`scenario`; the writer must still write them
byte for byte, header, ``ds64``, pad byte and all. And libsndfile itself is the oracle for any
input: random blocks of every type go through the writer and through libsndfile's own ``RAW``
encoder (soundfile, with its clipping on, as the hub used it), and the bytes must be the same.
"""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
import wave
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from c2c_hub.recorder.recovery import repair_track
from c2c_hub.recorder.wav import BwfWriter, TrackInfo, read_track_metadata
from c2c_hub.timecode import FPS_25
from tests.recorder.test_durability import small_disk

DATA = Path(__file__).parent / "data"
SR = 48_000
SOX = shutil.which("sox")
SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}

# Values where a conversion goes wrong if it is not libsndfile's: full scale both ways (and past
# it: clipped), just inside it, halfway cases of the rounding, the smallest steps, NaN.
EDGES = [0.0, 1.0, -1.0, 1.5, -1.5, 0.5, -0.5, 0.99999994, -0.99999994, 1 - 1e-10, -1 + 1e-10]
EDGES += [2.0**-23, -(2.0**-23), 2.0**-24, 3 * 2.0**-24, 2.0**-15, 2.0**-16, 3 * 2.0**-16]
EDGES += [2.0**-31, 2.0**-32, -(2.0**-32), 1e-30, float("nan"), 1 / 3, -2 / 3]
INT_EDGES = [0, 1, -1, 255, 256, -256, 2**31 - 1, -(2**31), 2**8 - 1, 2**16 - 1, -(2**16)]

# (name, bits, channels, RF64 above this many RIFF bytes or None)
GOLDEN = [
    ("pcm16-mono", 16, 1, None),
    ("pcm24-mono", 24, 1, None),
    ("pcm24-stereo", 24, 2, None),
    ("pcm32-3ch", 32, 3, None),
    ("pcm24-mono-rf64", 24, 1, 4000),
]


def info_for(path: Path, bits: int, channels: int) -> TrackInfo:
    return TrackInfo(
        path,
        start_position=3600 * SR,
        timecode_rate=FPS_25,
        bits=bits,
        channels=channels,
        project="Golden",
        scene="1",
        take="1",
        tape="GOLD",
        track_name="Boom",
        origination=datetime(2026, 1, 2, 3, 4, 5),
    )


def blocks(channels: int, frames: int, seed: int) -> list[npt.NDArray[Any]]:
    """int32 left-justified, float32 and float64 blocks (edge values first), in that order."""
    rng = np.random.default_rng(seed)
    shape = (frames,) if channels == 1 else (frames, channels)

    def shaped(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        flat = np.resize(values, frames * channels)
        return flat.reshape(shape)

    ints = rng.integers(-(2**31), 2**31, frames * channels, dtype=np.int64)
    ints[: len(INT_EDGES)] = INT_EDGES
    floats = rng.uniform(-1.1, 1.1, frames * channels)
    floats[: len(EDGES)] = EDGES
    return [
        shaped(ints.astype(np.int32)),
        shaped(floats.astype(np.float32)),
        shaped(floats),
    ]


def scenario(writer: BwfWriter, seed: int = 16) -> None:
    """What a golden file holds: every sample type, flushes, a truncation, an odd length."""
    channels = writer.info.channels
    with writer as w:
        for block in blocks(channels, 257, seed):
            w.write(block)
            w.flush()
        w.sync()
        w.truncate(600)
        for block in blocks(channels, 101, seed + 1):
            w.write(block)
        w.flush()
        w.write(blocks(channels, 33, seed + 2)[0])


def write_golden(directory: Path) -> None:
    """Write the golden files (run once, with the libsndfile writer, to make them)."""
    for name, bits, channels, limit in GOLDEN:
        path = directory / f"{name}.wav"
        path.unlink(missing_ok=True)
        writer = BwfWriter(info_for(path, bits, channels))
        if limit is not None:
            writer.riff_limit = limit
        scenario(writer)


@pytest.mark.parametrize(("name", "bits", "channels", "limit"), GOLDEN)
def test_the_writer_writes_what_the_libsndfile_writer_wrote(
    tmp_path: Path, name: str, bits: int, channels: int, limit: int | None
) -> None:
    path = tmp_path / f"{name}.wav"
    writer = BwfWriter(info_for(path, bits, channels))
    if limit is not None:
        writer.riff_limit = limit
    scenario(writer)
    golden = (DATA / f"{name}.wav").read_bytes()
    assert len(path.read_bytes()) == len(golden)
    assert path.read_bytes() == golden
    assert read_track_metadata(path).rf64 == (limit is not None)


def libsndfile_pcm(block: npt.NDArray[Any], bits: int, channels: int) -> bytes:
    """libsndfile's own encoding of a block (``RAW``, little-endian; soundfile turns on its
    clipping, as it did for the hub)."""
    out = io.BytesIO()
    with sf.SoundFile(
        out,
        "w",
        samplerate=SR,
        channels=channels,
        subtype=SUBTYPES[bits],
        endian="LITTLE",
        format="RAW",
    ) as encoder:
        encoder.write(
            np.clip(np.nan_to_num(block, nan=0.0), -1, 1) if block.dtype.kind == "f" else block
        )
    return out.getvalue()


@pytest.mark.parametrize("bits", [16, 24, 32])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_every_sample_is_packed_as_libsndfile_packs_it(
    tmp_path: Path, bits: int, channels: int
) -> None:
    path = tmp_path / "t.wav"
    expected = b""
    with BwfWriter(info_for(path, bits, channels)) as w:
        for seed in range(3):
            for block in blocks(channels, 20_000 + seed, seed):
                w.write(block)
                expected += libsndfile_pcm(block, bits, channels)
        header = w.header_size
    data = path.read_bytes()[header:]
    if len(expected) % 2:
        expected += b"\0"
    assert data == expected


def test_a_non_contiguous_block_is_packed_as_its_values(tmp_path: Path) -> None:
    """A column of a wider array, a reversed block: what the samples are, not their memory."""
    wide = blocks(4, 999, 3)[0]
    path = tmp_path / "t.wav"
    with BwfWriter(info_for(path, 24, 2)) as w:
        w.write(wide[:, 1:3])
        w.write(wide[::-1, :2])
    expected = np.concatenate([wide[:, 1:3], wide[::-1, :2]])
    np.testing.assert_array_equal(sf.read(path, dtype="int32")[0], expected >> 8 << 8)


@pytest.mark.parametrize("bits", [16, 24])
def test_pythons_wave_reads_the_same_samples(tmp_path: Path, bits: int) -> None:
    """The standard library's reader (plain PCM, 1 or 2 channels) agrees with what was written."""
    path = tmp_path / "t.wav"
    x = blocks(2, 4801, 5)[0]
    with BwfWriter(info_for(path, bits, 2)) as w:
        w.write(x)
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (2, bits // 8)
        assert (reader.getframerate(), reader.getnframes()) == (SR, 4801)
        raw = reader.readframes(4801)
    width = bits // 8
    padded = np.zeros((4801 * 2, 4), dtype=np.uint8)
    padded[:, 4 - width :] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
    got = padded.view("<i4").reshape(4801, 2)
    np.testing.assert_array_equal(got, x >> (32 - bits) << (32 - bits))


@pytest.mark.skipif(SOX is None, reason="sox is not installed (apt-get install sox)")
@pytest.mark.parametrize("bits", [16, 24, 32])
def test_sox_decodes_the_same_samples(tmp_path: Path, bits: int) -> None:
    """sox (its own WAV reader, not libsndfile) turns the file into raw 32-bit samples that
    match what was written."""
    path = tmp_path / "t.wav"
    x = blocks(3, 3001, 6)[0]
    with BwfWriter(info_for(path, bits, 3)) as w:
        w.write(x)
    out = subprocess.run(
        [str(SOX), str(path), "-t", "raw", "-e", "signed", "-b", "32", "-L", "-"],
        capture_output=True,
        check=True,
    ).stdout
    got = np.frombuffer(out, dtype="<i4").reshape(-1, 3)
    np.testing.assert_array_equal(got, x >> (32 - bits) << (32 - bits))


def test_small_blocks_are_all_in_the_file_at_every_flush(tmp_path: Path) -> None:
    """1 ms packets are gathered in memory, but a flush hands every one of them to the OS: a
    reader following the file (the uploader) sees a valid WAV of all that was written."""
    path = tmp_path / "t.wav"
    x = blocks(1, 48 * 1000, 8)[0] >> 8 << 8  # what 24 bits hold
    with BwfWriter(info_for(path, 24, 1)) as w:
        for i in range(0, len(x), 48):
            w.write(x[i : i + 48])
            if i % 4800 == 4752:
                w.flush()
                assert path.stat().st_size == w.header_size + w.data_bytes
                assert read_track_metadata(path).frames == w.frames_written == i + 48
                np.testing.assert_array_equal(sf.read(path, dtype="int32")[0], x[: i + 48])
    np.testing.assert_array_equal(sf.read(path, dtype="int32")[0], x)


@pytest.mark.parametrize("block", [480, 48_000])  # gathered in memory; written straight
def test_a_full_disk_stops_the_file_and_leaves_what_reached_it(tmp_path: Path, block: int) -> None:
    """The disk fills: the writer keeps the OSError (ENOSPC) and raises it again, writes
    nothing more, and the file repairs to a valid WAV of a prefix of what was written."""
    x = blocks(1, 48_000 * 4, 9)[0] >> 8 << 8  # 576 kB, far more than the disk
    with small_disk(tmp_path / "small", "128k") as disk:
        path = disk / "t.wav"
        w = BwfWriter(info_for(path, 24, 1)).open()
        failure: OSError | None = None
        for i in range(0, len(x), block):
            try:
                w.write(x[i : i + block])
                if block > 4800 or i // block % 10 == 9:  # a flush every 100 ms
                    w.flush()
            except OSError as exc:
                failure = exc
                break
        assert failure is not None and failure.errno == errno.ENOSPC
        assert w.failed is failure
        with pytest.raises(OSError) as again:
            w.write(x[:480])
        assert again.value is failure
        with pytest.raises(OSError) as again:
            w.flush()
        assert again.value is failure
        w.abandon()
        assert w.closed and not w.is_open
        repair = repair_track(path, pad=False)
        assert 0 < repair.frames < len(x)
        np.testing.assert_array_equal(sf.read(path, dtype="int32")[0], x[: repair.frames])
