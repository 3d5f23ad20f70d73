"""The writer benchmark (:mod:`bench.wavwrite`) run at a fraction of a second, so that it cannot
rot between the runs of ``make bench``; and its reference, the libsndfile writer, checked to
write the very bytes the hub's writer writes (so the two are compared doing the same work)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import wavwrite
from c2c_hub.recorder.wav import BwfWriter


def test_the_reference_writes_the_same_bytes_as_the_writer(tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"{kind}.wav" for kind in ("packed", "libsndfile")}
    rng = np.random.default_rng(4)
    blocks = [(rng.integers(-(2**23), 2**23, (n, 2)) << 8).astype(np.int32) for n in (48, 4801)]
    for kind, path in paths.items():
        writer = wavwrite.WRITERS[kind](wavwrite._info(path, 2, "Mix"))
        for block in blocks:
            writer.write(block)
            writer.flush()
        writer.close()
    assert paths["packed"].read_bytes() == paths["libsndfile"].read_bytes()
    packed = wavwrite._packed(wavwrite._info(tmp_path / "x.wav", 1, "x"))
    assert isinstance(packed, BwfWriter)  # the benchmark measures the hub's own writer
    packed.close()


def test_the_benchmark_measures_both_writers(tmp_path: Path) -> None:
    result = wavwrite.run(seconds=0.2, rounds=1, directory=tmp_path, blocks=(256,))
    row = result["block_256"]
    assert row["packed_pct"] > 0 and row["libsndfile_pct"] > 0
    assert result["files"] == 26 and result["load_avg_1min_before"] >= 0
    lines = wavwrite.summary(result)
    assert any("256 frames" in line for line in lines)
    assert result["contended"]["packed_wall_s_per_audio_s"] > 0
    assert not list(tmp_path.iterdir())  # every file it wrote is gone
