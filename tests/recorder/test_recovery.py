"""Power cuts, simulated many times: a track cut back to any length at or after its last durable
point (and with size fields that may be older or newer than the samples) is repaired into a
valid WAV holding exactly the whole sample frames that survived, which soundfile, the stdlib's
``wave`` and wavinfo all read alike."""

from __future__ import annotations

import random
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.recorder.recovery import TakeJournal, repair_track
from c2c_hub.recorder.wav import TrackAssembler, TrackInfo, WavFormatError, read_track_metadata
from c2c_hub.timecode import FrameRate

SIMULATIONS = 200
RATE = 48000


def info(path: Path, channels: int = 1, bits: int = 24) -> TrackInfo:
    return TrackInfo(
        path,
        start_position=10 * 3600 * RATE,
        timecode_rate=FrameRate.parse("25"),
        channels=channels,
        bits=bits,
        scene="12A",
        take="3",
        track_name="Boom",
    )


def record(path: Path, rng: random.Random, channels: int, bits: int) -> tuple[int, bytes]:
    """A track being written, as the recorder writes it: random blocks, a flush after each, an
    fsync now and then. Returns the last durable size and the file's bytes at the cut."""
    assembler = TrackAssembler(info(path, channels, bits), durable=True, holdback=0)
    assembler.open()
    position = assembler.start_position
    durable = assembler.writer.durable_size
    for _ in range(rng.randint(1, 12)):
        frames = rng.randint(1, 9000)
        shape = (frames,) if channels == 1 else (frames, channels)
        samples = np.asarray(
            np.random.default_rng(rng.getrandbits(32)).integers(
                -(2**31), 2**31 - 1, size=shape, dtype=np.int64
            ),
            dtype=np.int32,
        )
        samples &= np.int32(-(1 << (32 - bits)))  # what the format keeps (left-justified)
        assembler.write_at(position, samples)
        position += frames
        if rng.random() < 0.4:
            durable = assembler.sync()
        else:
            assembler.flush()
    data = path.read_bytes()
    assembler.writer.abandon()  # the power goes: nothing more is written
    return durable, data


def check_valid(path: Path, header: int, align: int, frames: int) -> None:
    size = path.stat().st_size
    raw = path.read_bytes()
    riff = struct.unpack_from("<I", raw, 4)[0]
    assert riff == size - 8, "the RIFF size agrees with the file"
    meta = read_track_metadata(path)
    assert meta.data_offset == header
    assert meta.data_size == frames * align
    assert size == header + meta.data_size + meta.data_size % 2  # the pad byte, if odd
    assert sf.info(str(path)).frames == frames
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == frames
    wavinfo = pytest.importorskip("wavinfo")
    reader = wavinfo.WavInfoReader(str(path))
    assert reader.data.frame_count == frames
    assert reader.bext.time_reference == 10 * 3600 * RATE


def test_200_simulated_power_cuts_each_leave_a_valid_wav_of_exactly_what_survived(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261202)
    recovered = 0
    for n in range(SIMULATIONS):
        channels, bits = rng.choice([(1, 24), (1, 24), (1, 16), (2, 24)])
        align = channels * bits // 8
        path = tmp_path / f"cut-{n}.wav"
        durable, data = record(path, rng, channels, bits)
        header = read_track_metadata(path).data_offset
        assert durable >= header and len(data) >= durable
        # The power cut: the file ends anywhere at or after its last durable point...
        cut = rng.randint(durable, len(data))
        survived = bytearray(data[:cut])
        # ...and the size fields may be the durable ones, the last ones written, or any value
        # a half-done header update left (more than the file holds, too).
        claim = rng.choice(
            [
                (durable - header),
                struct.unpack_from("<I", data, header - 4)[0],
                rng.randint(0, 2**31),
            ]
        )
        struct.pack_into("<I", survived, header - 4, claim)
        struct.pack_into("<I", survived, 4, rng.choice([header - 8 + claim, 0xFFFFFFFF]))
        path.write_bytes(bytes(survived))

        repair = repair_track(path)

        frames = (cut - header) // align
        assert repair.frames == frames
        assert frames * align >= durable - header, "every durable frame survives"
        check_valid(path, header, align, frames)
        got = path.read_bytes()[header : header + frames * align]
        assert got == data[header : header + frames * align], "exactly the surviving frames"
        # A second repair finds nothing to do.
        assert not repair_track(path).changed
        recovered += 1
    assert recovered == SIMULATIONS


def test_a_file_whose_header_did_not_survive_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "no-header.wav"
    path.write_bytes(b"RIFF\x00\x00")
    with pytest.raises(WavFormatError, match="truncated"):
        repair_track(path)
    path.write_bytes(b"not a wav file at all")
    with pytest.raises(WavFormatError, match="not a RIFF/WAVE"):
        repair_track(path)


def test_the_journal_lists_a_take_and_is_gone_once_cleared(tmp_path: Path) -> None:
    journal = TakeJournal(tmp_path)
    assert journal.read() is None
    journal.write({"scene": "1", "take": 2}, [{"path": "/x.wav", "serial": "NM-1"}])
    assert journal.read() == {
        "take": {"scene": "1", "take": 2},
        "tracks": [{"path": "/x.wav", "serial": "NM-1"}],
    }
    assert journal.path.stat().st_mode & 0o077 == 0
    journal.clear()
    assert journal.read() is None
    journal.path.write_text("{not json")
    assert journal.read() is None  # logged; no take to recover
