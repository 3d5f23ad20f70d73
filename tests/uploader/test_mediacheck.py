"""Files checked before queueing: a WAV/BWF/RF64 whose header disagrees with its size is
``corrupt`` with the reason and never uploaded (before: truncated WAVs went up as ``done``)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from c2c_hub.uploader.mediacheck import check_file
from tests.uploader.conftest import UploaderFactory, make_file, sha256_of


def _real_wav(path: Path, fmt: str = "WAV", seconds: float = 1.0) -> Path:
    """A WAV written by libsndfile (not by us): 48 kHz, 24-bit, stereo."""
    frames = int(48000 * seconds)
    rng = np.random.default_rng(7)
    samples = rng.uniform(-0.5, 0.5, size=(frames, 2))
    soundfile.write(path, samples, 48000, subtype="PCM_24", format=fmt)
    return path


def _cut(source: Path, target: Path, size: int) -> Path:
    shutil.copyfile(source, target)
    with target.open("r+b") as f:
        f.truncate(size)
    return target


@pytest.mark.parametrize("fmt", ["WAV", "RF64"])
def test_whole_files_pass_and_every_cut_is_named(tmp_path: Path, fmt: str) -> None:
    whole = _real_wav(tmp_path / f"whole.{fmt.lower()}.wav", fmt)
    assert check_file(str(whole), whole.name) is None
    size = whole.stat().st_size
    for cut in (8, 30, 60, size // 2, size - 6, size - 1):
        part = _cut(whole, tmp_path / f"cut-{cut}.wav", cut)
        reason = check_file(str(part), part.name)
        assert reason is not None, f"{fmt} cut to {cut} bytes passed"
        assert "truncated" in reason or "chunk" in reason or "header" in reason, reason
    longer = tmp_path / "longer.wav"
    longer.write_bytes(whole.read_bytes() + b"\0" * 10)
    assert f"the file has {size + 10}" in (check_file(str(longer), longer.name) or "")


def test_what_is_checked_and_what_is_not(tmp_path: Path) -> None:
    noise = make_file(tmp_path, "clip.mov", 5000)
    assert check_file(str(noise), noise.name) is None  # not a WAV: not read as one
    named = tmp_path / "take.WAV"
    named.write_bytes(noise.read_bytes())
    assert "not a WAV file" in (check_file(str(named), named.name) or "")
    # A WAV by its first bytes, whatever its name.
    disguised = _cut(_real_wav(tmp_path / "a.wav"), tmp_path / "take.dat", 1000)
    assert "truncated" in (check_file(str(disguised), disguised.name) or "")
    # A recorder that lost power before writing the sizes.
    unfinished = bytearray(_real_wav(tmp_path / "b.wav").read_bytes())
    unfinished[4:8] = b"\0\0\0\0"
    (tmp_path / "unfinished.wav").write_bytes(bytes(unfinished))
    assert "never finished" in (check_file(str(tmp_path / "unfinished.wav"), "u.wav") or "")


async def test_a_truncated_wav_is_corrupt_with_its_reason_and_never_uploaded(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    good = _real_wav(media / "S1_T001.wav", seconds=2.0)
    rf64 = _real_wav(media / "S1_T002.wav", fmt="RF64")
    cut = _cut(good, media / "S1_T003.wav", good.stat().st_size * 2 // 3)
    header_only = _cut(good, media / "S1_T004.wav", 40)
    uploader = uploaders()
    await uploader.start()
    ids = {p.name: await uploader.enqueue(p) for p in (good, rf64, cut, header_only)}
    async with asyncio.timeout(30):
        await uploader.wait_idle()
    states = {name: uploader.file(i) for name, i in ids.items()}
    for path in (good, rf64):
        record = states[path.name]
        assert record["state"] == FileState.DONE, record
        assert emulator.asset(record["asset_id"])["sha256"] == sha256_of(path)
    for path in (cut, header_only):
        record = states[path.name]
        assert record["state"] == FileState.CORRUPT, record
        assert record["asset_id"] is None
        assert "truncated" in record["reason"], record["reason"]
    assert "the RIFF header says" in states[cut.name]["reason"]
    assert {a["name"] for a in emulator.assets()} == {good.name, rf64.name}
