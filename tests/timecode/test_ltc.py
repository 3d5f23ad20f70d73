"""libltc's encoder (code we did not write) against our binding of its decoder, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from c2c_hub.timecode import (
    FPS_23_976,
    FPS_24,
    FPS_25,
    FPS_29_97_DF,
    FPS_30,
    FrameRate,
    Timecode,
    ltc,
)
from c2c_hub.timecode.ltc import LtcDecoder, LtcEncoder, LtcUnavailable

SR = 48000


def decode(signal: np.ndarray, rate: FrameRate, *, block: int = 480, at: int = 0) -> list:
    decoder = LtcDecoder(SR, rate.fps)
    frames = []
    for i in range(0, len(signal), block):
        frames += decoder.write(signal[i : i + block], at + i)
    return frames


@pytest.mark.parametrize(
    ("rate", "start"),
    [
        (FPS_23_976, "00:59:58:00"),
        (FPS_24, "10:00:58:00"),
        (FPS_25, "23:59:58:00"),
        (FPS_29_97_DF, "10:00:58;00"),  # a minute boundary: 01:00;00 and ;01 do not exist
        (FPS_29_97_DF, "10:09:58;00"),  # the tenth minute keeps them
        (FPS_30, "10:00:58:00"),
    ],
)
def test_every_frame_libltc_encodes_is_read_back_in_order(rate: FrameRate, start: str) -> None:
    first = Timecode.from_string(start, rate)
    n = round(rate.fps * 4)
    encoder = LtcEncoder(SR, rate, first, user_bits=0x1234ABCD)
    signal = encoder.frames(n)
    frames = decode(signal, rate, at=1_000_000)
    # The decoder emits a frame once it is complete: all but the last.
    assert len(frames) >= n - 1
    labels = [f.label for f in frames]
    expected = [str(first + k) for k in range(len(frames))]
    assert labels == expected
    assert all(f.drop_frame == rate.drop_frame and not f.reverse for f in frames)
    assert {f"{f.user_bits:08X}" for f in frames} == {"1234ABCD"}
    # Each frame starts where the encoder put it, to a sample or two.
    spf = SR * rate.denominator / rate.numerator
    for k, f in enumerate(frames[1:], start=1):
        assert abs(f.start - (1_000_000 + k * spf)) <= 3
    if rate.drop_frame and start.startswith("10:00"):
        assert "10:00:59;29" in labels and "10:01:00;02" in labels
        assert "10:01:00;00" not in labels
    if rate.drop_frame and start.startswith("10:09"):
        assert "10:09:59;29" in labels and "10:10:00;00" in labels


def test_the_day_wraps_at_midnight() -> None:
    first = Timecode.from_string("23:59:59:20", FPS_25)
    frames = decode(LtcEncoder(SR, FPS_25, first).frames(12), FPS_25)
    labels = [f.label for f in frames]
    assert "23:59:59:24" in labels and "00:00:00:00" in labels


@pytest.mark.parametrize("rate", [FPS_25, FPS_29_97_DF])
def test_ltc_played_backwards_is_read_and_marked_reverse(rate: FrameRate) -> None:
    first = Timecode.from_string("10:00:10:00", rate)
    frames = decode(LtcEncoder(SR, rate, first).frames(50, reverse=True), rate)
    assert len(frames) >= 48
    assert all(f.reverse for f in frames)
    counts = [f.timecode(rate).frames for f in frames]
    assert counts == list(range(counts[0], counts[0] - len(counts), -1))


@pytest.mark.parametrize(
    ("gain", "polarity"), [(0.008, 1), (0.02, -1), (1.0, -1), (0.3, -1), (7.0, 1)]
)
def test_level_and_polarity_do_not_matter(gain: float, polarity: int) -> None:
    """From -60 dBFS to 0 dBFS, either way up: biphase mark keeps its bits in the transitions;
    quiet LTC is brought up before libltc reads it at 8 bits."""
    rate = FPS_25
    first = Timecode.from_string("01:02:03:04", rate)
    signal = LtcEncoder(SR, rate, first).frames(50) * np.float32(gain * polarity)
    frames = decode(signal, rate)
    assert [f.label for f in frames] == [str(first + k) for k in range(len(frames))]
    assert len(frames) >= 49


def test_noise_alone_decodes_to_nothing_usable() -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(SR * 3) * 0.2).astype(np.float32)
    frames = decode(noise, FPS_25)
    assert all(not f.valid or f.volume_dbfs < 0 for f in frames)
    assert len([f for f in frames if f.valid]) <= 1


def test_a_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ltc, "_loaded", None)
    monkeypatch.setattr(ltc, "LIBRARY", "libltc-that-is-not-here.so.0")
    with pytest.raises(LtcUnavailable, match="apt install libltc11"):
        LtcDecoder(SR)
    assert not ltc.available()


def test_int32_blocks_become_float_samples() -> None:
    block = np.array([[1 << 30, -(1 << 30)], [0, 1 << 29]], dtype=np.int32)
    assert ltc.samples_to_float(block, 1).tolist() == [-0.5, 0.25]
    with pytest.raises(IndexError):
        ltc.samples_to_float(np.zeros(4, dtype=np.int32), 1)
