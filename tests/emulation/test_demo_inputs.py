"""The demo's local inputs: its check that a track is its player's signal can fail, and without
jackd the demo has no local inputs and says why."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.emulation.demo_inputs import (
    INPUTS,
    OF_THE_TAKE,
    LocalInput,
    LocalInputs,
    check_signal,
)
from c2c_hub_plugins.jack_inputs.emulated import signal

RATE = 48000
FRAMES = 2 * RATE
SINE, RAMP = INPUTS  # "Line 1" plays the sine, "Line 2" the ramp


def track(path: Path, samples: np.ndarray) -> Path:
    """A 24-bit track, as the recorder writes them."""
    sf.write(str(path), samples.astype(np.float64), RATE, subtype="PCM_24")
    return path


def played(output: int, kind: str, first_frame: int) -> np.ndarray:
    return signal(output, np.arange(FRAMES, dtype=np.int64) + first_frame, kind)


@pytest.mark.parametrize("item", INPUTS, ids=lambda i: i.kind)
@pytest.mark.parametrize("first_frame", [0, 12345, (1 << 32) - 700])
def test_a_track_of_the_players_signal_is_found_whatever_its_first_frame_and_its_dropouts(
    tmp_path: Path, item: LocalInput, first_frame: int
) -> None:
    samples = played(item.output, item.kind, first_frame)
    for start in (1000, 40000, 70000):  # three lost periods: silence where they were
        samples[start : start + 256] = 0
    found = check_signal(track(tmp_path / "t.wav", samples), item)
    assert found["is_signal"] and not found["silent"], found
    assert found["share"] >= 1 - 3 * 256 / FRAMES and found["dropped"] > 0
    assert found["other"] == 0


def test_silence_the_other_signal_or_too_little_of_it_is_not_the_players_signal(
    tmp_path: Path,
) -> None:
    silence = check_signal(track(tmp_path / "silence.wav", np.zeros(FRAMES)), RAMP)
    assert silence["silent"] and not silence["is_signal"]
    # the inputs swapped: the sine where the ramp is expected, and the other way round
    sine = track(tmp_path / "sine.wav", played(SINE.output, SINE.kind, 0))
    ramp = track(tmp_path / "ramp.wav", played(RAMP.output, RAMP.kind, 0))
    for path, item in ((sine, RAMP), (ramp, SINE)):
        found = check_signal(path, item)
        assert not found["is_signal"] and found["share"] < 0.05, found
    # mostly lost: its signal, but too little of the take
    samples = played(RAMP.output, RAMP.kind, 0)
    samples[: int(FRAMES * (1 - OF_THE_TAKE)) + 2 * 256] = 0
    found = check_signal(track(tmp_path / "lost.wav", samples), RAMP)
    assert not found["is_signal"] and found["dropped"] > FRAMES // 2
    # half lost and the rest right: the player's signal, with what was lost counted
    samples = played(RAMP.output, RAMP.kind, 0)
    samples[: FRAMES // 2] = 0
    found = check_signal(track(tmp_path / "half.wav", samples), RAMP)
    assert found["is_signal"] and found["dropped"] >= FRAMES // 2 - 256
    # the blocks arrived but a fifth of them one frame late: not the player's signal
    samples = played(RAMP.output, RAMP.kind, 0)
    for start in range(0, FRAMES, 5 * 256):
        samples[start : start + 256] = played(RAMP.output, RAMP.kind, -1)[start : start + 256]
    found = check_signal(track(tmp_path / "late.wav", samples), RAMP)
    assert not found["is_signal"] and found["other"] >= FRAMES // 6, found


def test_without_jackd_there_are_no_local_inputs_and_the_reason_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no jackd on it
    inputs = LocalInputs()
    with inputs:
        assert not inputs.available and inputs.server is None
        assert inputs.reason is not None and "jackd is not installed" in inputs.reason


def test_the_server_and_the_player_run_until_stopped_and_then_are_gone() -> None:
    """What the demo starts for its local inputs: a JACK server of its own and a player
    that plays into it; stopped, neither is left (nor the server's name held)."""
    inputs = LocalInputs()
    with inputs:
        inputs.ready()
        assert inputs.available and inputs.server is not None
        server = inputs.server.process
        player = inputs.player_pid
        assert server is not None and server.poll() is None and player is not None
        os.kill(player, 0)  # playing
        name = inputs.server.name
    assert not inputs.available
    assert server.poll() is not None, "jackd stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(player, 0)
    assert inputs.result["server"] == name and "cycles" in inputs.result  # it said goodbye
