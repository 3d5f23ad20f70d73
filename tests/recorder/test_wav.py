"""Track files: read back identically by soundfile, wavinfo and sox; a layout the real-time uploader
can follow; dropouts that never shift a track; clear errors for broken files."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import struct
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from c2c_hub.recorder.wav import (
    BwfWriter,
    TrackAssembler,
    TrackInfo,
    WavFormatError,
    read_track_metadata,
    track_filename,
)
from c2c_hub.timecode import FPS_23_976, FPS_25, FPS_29_97_DF, FrameRate

SR = 48_000
START = 3600 * SR  # 01:00:00 of time of day, in samples since midnight
SOXI = shutil.which("soxi")
HAVE_WAVINFO = importlib.util.find_spec("wavinfo") is not None
needs_wavinfo = pytest.mark.skipif(
    not HAVE_WAVINFO, reason="wavinfo is not installed (pip install wavinfo)"
)


def wavinfo_of(path: Path) -> Any:
    """What wavinfo (someone else's BWF reader) makes of the file."""
    return importlib.import_module("wavinfo").WavInfoReader(str(path))


def signal(frames: int, channels: int = 1, bits: int = 24, seed: int = 7) -> npt.NDArray[Any]:
    """Random full-scale samples, int32 left-justified (what the writer takes)."""
    rng = np.random.default_rng(seed)
    shape = (frames,) if channels == 1 else (frames, channels)
    values = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), shape, dtype=np.int64)
    return (values << (32 - bits)).astype(np.int32)


def track(path: Path, **overrides: Any) -> TrackInfo:
    fields: dict[str, Any] = {
        "start_position": START,
        "timecode_rate": FPS_23_976,
        "project": "Night Shoot",
        "scene": "12A",
        "take": "3",
        "tape": "DAY04",
        "track_name": "Boom",
        "track_index": 2,
        "originator_reference": "mic-0042",
        "origination": datetime(2026, 3, 14, 1, 0, 0),
    }
    fields.update(overrides)
    return TrackInfo(path, **fields)


def read_int32(path: Path) -> npt.NDArray[Any]:
    data, rate = sf.read(path, dtype="int32", always_2d=False)
    assert rate == SR
    return data  # type: ignore[no-any-return]


# -- read back by other software -----------------------------------------------------------------


@pytest.mark.parametrize("bits", [16, 24, 32])
@pytest.mark.parametrize("channels", [1, 2, 8])
def test_soundfile_reads_back_identical_samples(tmp_path: Path, bits: int, channels: int) -> None:
    x = signal(4801, channels, bits)  # odd: a 24-bit mono data chunk needs its pad byte
    path = tmp_path / "t.wav"
    with BwfWriter(track(path, channels=channels, bits=bits)) as w:
        for i in range(0, len(x), 1000):
            w.write(x[i : i + 1000])
    assert w.frames_written == len(x)
    np.testing.assert_array_equal(read_int32(path), x)
    meta = read_track_metadata(path)
    assert (meta.channels, meta.bits, meta.sample_rate, meta.frames) == (channels, bits, SR, 4801)
    assert meta.format_tag == (0xFFFE if channels > 2 else 1)  # WAVE_FORMAT_EXTENSIBLE above 2
    size = path.stat().st_size
    assert size % 2 == 0
    assert struct.unpack_from("<I", path.read_bytes(), 4)[0] == size - 8


def test_float_samples_are_accepted_and_clipped(tmp_path: Path) -> None:
    path = tmp_path / "f.wav"
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, np.nan], dtype=np.float64)
    with BwfWriter(track(path)) as w:
        w.write(x)
        w.write(x.astype(np.float32))
    y = read_int32(path) >> 8
    full = 2**23 - 1
    expected = [0, 2**22, -(2**22), full, -full - 1, full, -full - 1, 0]
    assert list(y[:8]) == expected
    assert list(y[8:]) == expected


def test_bad_blocks_are_refused_clearly(tmp_path: Path) -> None:
    with BwfWriter(track(tmp_path / "b.wav", channels=2)) as w:
        with pytest.raises(ValueError, match=r"shape \(10,\) do not fit 2 channel"):
            w.write(np.zeros(10, dtype=np.int32))
        with pytest.raises(TypeError, match="got int16"):
            w.write(np.zeros((10, 2), dtype=np.int16))


@needs_wavinfo
def test_wavinfo_reads_bext_and_ixml(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    with BwfWriter(track(path, note="car pass at the end")) as w:
        w.write(signal(4800))
    info = wavinfo_of(path)
    assert info.fmt.channel_count == 1
    assert info.fmt.sample_rate == SR
    assert info.fmt.bits_per_sample == 24
    assert info.data.frame_count == 4800
    assert info.bext.time_reference == START
    assert info.bext.originator == "c2c-hub"
    assert info.bext.originator_ref == "mic-0042"
    assert info.bext.originator_date == "2026-03-14"
    assert info.bext.originator_time == "01:00:00"
    assert info.bext.version == 1
    assert info.bext.description.startswith("sSCENE=12A\r\nsTAKE=3\r\nsTAPE=DAY04\r\nsTRK2=Boom")
    assert info.bext.coding_history == "A=PCM,F=48000,W=24,M=mono,T=c2c-hub\r\n"
    assert (info.ixml.project, info.ixml.scene, info.ixml.take) == ("Night Shoot", "12A", "3")
    assert info.ixml.tape == "DAY04"
    tracks = list(info.ixml.track_list)
    assert [(t.channel_index, t.interleave_index, t.name) for t in tracks] == [("2", "1", "Boom")]
    speed = info.ixml.raw_xml.find("SPEED")
    assert speed.findtext("TIMECODE_RATE") == "24000/1001"
    assert speed.findtext("TIMECODE_FLAG") == "NDF"
    assert speed.findtext("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO") == str(START)
    assert speed.findtext("TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI") == "0"
    assert speed.findtext("TIMESTAMP_SAMPLE_RATE") == "48000"
    assert info.ixml.raw_xml.findtext("NOTE") == "car pass at the end"


@needs_wavinfo
def test_accents_stay_in_ixml_and_become_ascii_in_bext(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    with BwfWriter(track(path, scene="Café", track_name="Perche 東")) as w:
        w.write(signal(10))
    info = wavinfo_of(path)  # decodes bext as strict ASCII
    assert info.ixml.scene == "Café"
    assert [t.name for t in info.ixml.track_list] == ["Perche 東"]
    assert "sSCENE=Cafe\r\n" in info.bext.description
    assert "sTRK2=Perche ?\r\n" in info.bext.description


def test_polyphonic_file_names_every_channel(tmp_path: Path) -> None:
    path = tmp_path / "poly.wav"
    names = ("Boom", "Lav 1", "Lav 2")
    with BwfWriter(track(path, channels=3, channel_names=names, track_index=1)) as w:
        w.write(signal(100, 3))
    meta = read_track_metadata(path)
    assert meta.ixml is not None
    assert meta.ixml.track_names == names
    assert meta.bext is not None
    assert "M=multichannel" in meta.bext.coding_history


@pytest.mark.skipif(SOXI is None, reason="sox is not installed (apt-get install -y sox)")
@pytest.mark.parametrize("channels", [1, 8])
def test_sox_reads_sample_count_and_rate(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "t.wav"
    with BwfWriter(track(path, channels=channels)) as w:
        w.write(signal(12_345, channels))

    def soxi(flag: str) -> str:
        assert SOXI is not None
        out = subprocess.run([SOXI, flag, str(path)], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    assert soxi("-s") == "12345"
    assert soxi("-r") == "48000"
    assert soxi("-c") == str(channels)
    assert soxi("-b") == "24"


# -- the layout the real-time uploader relies on -------------------------------------------------


def changed_offsets(before: bytes, after: bytes) -> set[int]:
    return {i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}


def test_bytes_on_disk_never_move_and_only_size_fields_change(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    x = signal(48_001)
    snapshots: list[bytes] = []
    with BwfWriter(track(path)) as w:
        header = w.header_size
        snapshots.append(path.read_bytes())
        for i in range(0, len(x), 4800):
            w.write(x[i : i + 4800])
            w.flush()
            snapshot = path.read_bytes()
            # A reader following the file sees a valid WAV of what was flushed (power-cut safe).
            assert read_track_metadata(path).frames == w.frames_written
            snapshots.append(snapshot)
    final = path.read_bytes()
    assert header < 8192  # a few KiB, far inside the uploader's held-back first 5 MiB part
    assert read_track_metadata(path).data_offset == header
    size_fields = {*range(4, 8), *range(header - 4, header)}
    for snapshot in snapshots:
        assert len(snapshot) <= len(final)  # the file only grows
        assert final[header : len(snapshot)] == snapshot[header:]  # samples written in place
        assert changed_offsets(snapshot[:header], final[:header]) <= size_fields
    assert len(final) == header + 3 * len(x) + 1  # the pad byte of an odd data chunk
    np.testing.assert_array_equal(read_int32(path), x)


def test_over_4_gib_becomes_rf64_in_the_header_only(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    x = signal(3001, 2)
    writer = BwfWriter(track(path, channels=2))
    writer.riff_limit = 10_000  # stands for 4 GiB
    with writer as w:
        w.write(x[:1000])
        w.flush()
        before = path.read_bytes()
        w.write(x[1000:])
    final = path.read_bytes()
    header = writer.header_size
    assert final[:4] == b"RF64"
    assert final[12:16] == b"ds64"  # in place of the JUNK chunk reserved for it
    assert final[header : len(before)] == before[header:]
    assert changed_offsets(before[:header], final[:header]) <= {
        *range(0, 8),
        *range(12, 12 + 36),
        *range(header - 4, header),
    }
    np.testing.assert_array_equal(read_int32(path), x)
    meta = read_track_metadata(path)
    assert (meta.rf64, meta.frames, meta.data_size) == (True, 3001, 3001 * 6)
    if HAVE_WAVINFO:
        info = wavinfo_of(path)
        assert (info.data.frame_count, info.bext.time_reference) == (3001, START)
    if SOXI is not None:
        out = subprocess.run([SOXI, "-s", str(path)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "3001"


def test_never_overwrites_an_existing_recording(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    path.write_bytes(b"yesterday's take")
    with pytest.raises(FileExistsError):
        BwfWriter(track(path)).open()
    assert path.read_bytes() == b"yesterday's take"


def test_the_header_stays_small(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the header would be"):
        BwfWriter(track(tmp_path / "t.wav", note="x" * (2 << 20))).open()


# -- placing blocks by sample position -----------------------------------------------------------


def assemble(
    path: Path,
    blocks: list[tuple[int, npt.NDArray[Any]]],
    end: int,
    *,
    holdback: int | None = None,
    channels: int = 1,
) -> TrackAssembler:
    assembler = TrackAssembler(track(path, channels=channels), holdback=holdback)
    for position, samples in blocks:
        assembler.write_at(position, samples)
        assembler.flush()
    assembler.finish(end)
    return assembler


def blocks_of(x: npt.NDArray[Any], size: int, skip: range = range(0)) -> list[tuple[int, Any]]:
    return [(START + i, x[i : i + size]) for i in range(0, len(x), size) if i // size not in skip]


@pytest.mark.parametrize("channels", [1, 2])
def test_a_dropout_becomes_silence_and_never_shifts_the_track(
    tmp_path: Path, channels: int
) -> None:
    x = signal(48_000, channels)
    path = tmp_path / "t.wav"
    a = assemble(path, blocks_of(x, 480, skip=range(20, 30)), START + 48_000, channels=channels)
    y = read_int32(path)
    expected = x.copy()
    expected[9600:14400] = 0
    np.testing.assert_array_equal(y, expected)
    assert (a.dropouts, a.dropout_samples, a.discarded_samples) == (1, 4800, 0)


def test_late_duplicate_and_overlapping_blocks_are_discarded(tmp_path: Path) -> None:
    x = signal(9600)
    blocks = blocks_of(x, 480)
    blocks.insert(11, blocks[5])  # a block repeated late
    blocks.insert(15, (START + 14 * 480 - 100, x[14 * 480 - 100 : 15 * 480]))  # overlaps by 100
    blocks.insert(0, (START - 200, signal(480, seed=9)))  # begins before the take
    path = tmp_path / "t.wav"
    a = assemble(path, blocks, START + 9600)
    np.testing.assert_array_equal(read_int32(path)[280:], x[280:])
    assert (a.dropouts, a.dropout_samples) == (0, 0)
    # 200 before the start; then the first real block overlaps the early one's last 280.
    assert a.discarded_samples == 200 + 480 + 580 + 280


def test_a_take_is_exactly_its_length_when_the_source_stops_early(tmp_path: Path) -> None:
    x = signal(30_000)
    path = tmp_path / "t.wav"
    a = assemble(path, blocks_of(x, 1000), START + 48_000)
    y = read_int32(path)
    assert len(y) == 48_000
    np.testing.assert_array_equal(y[:30_000], x)
    assert not y[30_000:].any()
    assert (a.dropouts, a.dropout_samples, a.frames_written) == (1, 18_000, 48_000)


@pytest.mark.parametrize("holdback", [None, 0], ids=["held-back", "cut-on-disk"])
def test_a_take_is_exactly_its_length_when_the_source_overshoots(
    tmp_path: Path, holdback: int | None
) -> None:
    x = signal(50_000)
    path = tmp_path / "t.wav"
    sizes = []
    a = TrackAssembler(track(path), holdback=holdback)
    for position, samples in blocks_of(x, 1000):
        a.write_at(position, samples)
        a.flush()
        sizes.append(path.stat().st_size)
    a.finish(START + 48_000)
    y = read_int32(path)
    np.testing.assert_array_equal(y, x[:48_000])
    assert a.discarded_samples == 2000
    if holdback is None:  # the overshoot never reached the disk: the file never shrinks
        assert max(sizes) <= path.stat().st_size


def test_pad_to_fills_a_silent_source(tmp_path: Path) -> None:
    x = signal(2000)
    path = tmp_path / "t.wav"
    a = TrackAssembler(track(path))
    a.write_at(START, x[:1000])
    assert a.pad_to(START + 1500) == 500
    assert a.pad_to(START + 1200) == 0  # already there
    a.write_at(START + 1500, x[1500:])
    a.finish(START + 2000)
    expected = x.copy()
    expected[1000:1500] = 0
    np.testing.assert_array_equal(read_int32(path), expected)
    assert (a.dropouts, a.dropout_samples) == (1, 500)


def test_nothing_is_written_after_finish(tmp_path: Path) -> None:
    a = TrackAssembler(track(tmp_path / "t.wav"))
    a.write_at(START, signal(100))
    a.finish(START + 100)
    with pytest.raises(RuntimeError, match="the track is finished"):
        a.write_at(START + 100, signal(100))
    with pytest.raises(RuntimeError, match="the track is finished"):
        a.pad_to(START + 200)
    with pytest.raises(RuntimeError, match="the track is finished"):
        a.finish(START + 200)
    assert read_track_metadata(tmp_path / "t.wav").frames == 100


def test_a_take_crossing_midnight_keeps_counting(tmp_path: Path) -> None:
    day = 86_400 * SR
    start = day - 480  # 10 ms before midnight
    path = tmp_path / "t.wav"
    x = signal(960)
    a = TrackAssembler(track(path, start_position=start, timecode_rate=FPS_25))
    a.write_at(start, x[:480])
    a.write_at(day, x[480:])  # positions are not wrapped at midnight
    a.finish(start + 960)
    np.testing.assert_array_equal(read_int32(path), x)
    meta = read_track_metadata(path)
    assert meta.bext is not None and meta.bext.time_reference == start
    assert str(meta.start_timecode()) == "23:59:59:24"


# -- reading metadata ----------------------------------------------------------------------------


def test_metadata_gives_start_timecode(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    start = round((3600 + 0.5) * SR)
    rate = FrameRate.parse("29.97df")
    with BwfWriter(track(path, start_position=start, timecode_rate=rate)) as w:
        w.write(signal(10))
    meta = read_track_metadata(path)
    assert meta.ixml is not None and meta.ixml.frame_rate() == FPS_29_97_DF
    assert str(meta.start_timecode()) == "01:00:00;15"
    assert meta.chunks == ("JUNK", "fmt ", "bext", "iXML", "data")


def test_metadata_of_any_wav(tmp_path: Path) -> None:
    path = tmp_path / "plain.wav"
    sf.write(path, np.zeros((10, 2), dtype=np.int32), 44_100, subtype="PCM_16")
    meta = read_track_metadata(path)
    assert (meta.channels, meta.sample_rate, meta.bits, meta.frames) == (2, 44_100, 16, 10)
    assert meta.bext is None and meta.ixml is None and meta.start_timecode() is None


def test_truncated_wav_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    with BwfWriter(track(path, start_position=0, timecode_rate=FPS_25)) as w:
        w.write(signal(1000))
    whole = path.read_bytes()
    header = w.header_size
    path.write_bytes(whole[: header + 10])
    with pytest.raises(WavFormatError) as info:
        read_track_metadata(path)
    assert info.value.path == path
    assert info.value.reason == "truncated: the data chunk claims 3000 bytes, 10 remain"
    assert str(info.value) == f"{path}: truncated: the data chunk claims 3000 bytes, 10 remain"

    path.write_bytes(whole[:200])
    with pytest.raises(WavFormatError, match=r"truncated: the bext chunk claims \d+ bytes"):
        read_track_metadata(path)
    path.write_bytes(whole[:5])
    with pytest.raises(WavFormatError, match="truncated: 5 bytes"):
        read_track_metadata(path)


def test_not_a_wav_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(b"ID3\x04 this is an mp3, renamed")
    with pytest.raises(WavFormatError, match="not a RIFF/WAVE file"):
        read_track_metadata(path)


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("12A", 3, 2, "Boom"), "S12A_T003_02_Boom.wav"),
        (("12A", "3", 2, "Boom"), "S12A_T003_02_Boom.wav"),
        (("12A", 1234, 11, "Lav 1 (Anna)"), "S12A_T1234_11_Lav_1_Anna.wav"),
        (("12 A/pick_up", 7, 1, "Perche é/ø"), "S12-A-pick-up_T007_01_Perche_e.wav"),
        (("Crème", 7, 1, "../../etc/passwd"), "SCreme_T007_01_etc_passwd.wav"),
        (("", 1, 3, ""), "S_T001_03.wav"),
        (("5", 2, 4, "Boom"), "S5_T002_04_Boom.wav"),
    ],
)
def test_track_filename(args: tuple[str, int | str, int, str], name: str) -> None:
    assert track_filename(*args) == name


def test_track_filename_extension() -> None:
    assert track_filename("1", 1, 1, "Mix", ext=".bwf") == "S1_T001_01_Mix.bwf"
    with pytest.raises(ValueError, match="extension"):
        track_filename("1", 1, 1, "Mix", ext="/.wav")
