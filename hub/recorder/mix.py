"""The mix: every track of a take summed, with a gain, a pan and a mute per track, mono or stereo.

:class:`Mixer` is the arithmetic and the alignment, nothing else (no files, no loop). Each track
feeds it the samples its ISO file receives, in order from the take's first sample (the
:class:`~c2c_hub.recorder.wav.TrackAssembler` tap: what reaches the track's file, dropouts
already silence), so frame *n* of every track is the same instant and the mix is
sample-accurate by construction. :meth:`Mixer.pull` returns the frames every track has
reached; a track that joins mid-take joins at the mix's current frame (what is already mixed
stays as it was).

The law, for 24-bit samples ``x`` (int32, left-justified, as every track holds them):

- a track's gain is ``10 ** (gain_db / 20)``; a muted track adds nothing;
- mono: ``y = Σ g·x``;
- stereo: constant-power pan, ``p`` in [-1, 1] (-1 left, 0 centre, 1 right):
  ``L = Σ g·cos((p + 1)·π/4)·x``, ``R = Σ g·sin((p + 1)·π/4)·x`` (centre: -3 dB each side);
- the sum is computed in float64, clipped to full scale and rounded to 24 bits.

Settings (:class:`MixSettings`) are immutable; :meth:`Mixer.set_settings` swaps them and the
next frames pulled use them (a change while rolling lands at the next block, within
``flush_s``). The mode (mono or stereo) is fixed per take: the file's channel count is written
when the take starts.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

MixMode = Literal["mono", "stereo"]
FULL_SCALE = 1 << 31
MAX_24 = (1 << 23) - 1
MIN_24 = -(1 << 23)


@dataclass(frozen=True)
class TrackMix:
    """One track's place in the mix."""

    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False

    def __post_init__(self) -> None:
        if not -120.0 <= self.gain_db <= 24.0:
            raise ValueError(f"gain_db: must be -120..24 dB, got {self.gain_db}")
        if not -1.0 <= self.pan <= 1.0:
            raise ValueError(f"pan: must be -1 (left) .. 1 (right), got {self.pan}")

    def coefficients(self, channels: int) -> tuple[float, ...]:
        """Multipliers for each output channel."""
        if self.mute:
            return (0.0,) * channels
        g = 10.0 ** (self.gain_db / 20.0)
        if channels == 1:
            return (g,)
        angle = (self.pan + 1.0) * math.pi / 4.0
        return (g * math.cos(angle), g * math.sin(angle))

    def to_json(self) -> dict[str, Any]:
        return {"gain_db": self.gain_db, "pan": self.pan, "mute": self.mute}


@dataclass(frozen=True)
class MixSettings:
    """The mix's mode and each track's gain, pan and mute, by track key (a serial or a name)."""

    mode: MixMode = "stereo"
    tracks: dict[str, TrackMix] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return 1 if self.mode == "mono" else 2

    def for_track(self, serial: str, name: str) -> TrackMix:
        """A track's settings: by serial first, then by name; unity, centre, unmuted if none."""
        return self.tracks.get(serial) or self.tracks.get(name) or TrackMix()

    def with_track(self, key: str, **changes: Any) -> MixSettings:
        current = self.tracks.get(key, TrackMix())
        tracks = dict(self.tracks)
        tracks[key] = replace(current, **{k: v for k, v in changes.items() if v is not None})
        return replace(self, tracks=tracks)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "tracks": {k: t.to_json() for k, t in self.tracks.items()}}


@dataclass
class _Input:
    serial: str
    name: str
    skip: int  # frames of this track's stream before the mix's frame it joined at
    buffered: deque[npt.NDArray[np.int32]] = field(default_factory=deque)
    frames: int = 0  # frames buffered

    def take(self, n: int) -> npt.NDArray[np.int32]:
        out = np.empty(n, dtype=np.int32)
        filled = 0
        while filled < n:
            head = self.buffered[0]
            k = min(n - filled, len(head))
            out[filled : filled + k] = head[:k]
            if k == len(head):
                self.buffered.popleft()
            else:
                self.buffered[0] = head[k:]
            filled += k
        self.frames -= n
        return out


class Mixer:
    """Sums tracks by frame (see the module docstring). Thread-safe: tracks join from the
    hub's loop while a worker thread feeds and pulls."""

    def __init__(self, settings: MixSettings) -> None:
        self._settings = settings
        self.channels = settings.channels
        self._inputs: dict[str, _Input] = {}
        self._lock = threading.Lock()
        self.mixed = 0  # frames pulled so far
        self.clipped = 0  # output samples clipped at full scale

    @property
    def settings(self) -> MixSettings:
        return self._settings

    def set_settings(self, settings: MixSettings) -> None:
        """New gains, pans and mutes from the next frames mixed on (the mode stays the take's)."""
        self._settings = replace(settings, mode=self._settings.mode)

    def add(self, key: str, serial: str, name: str) -> None:
        """A track joins the mix at the mix's current frame."""
        with self._lock:
            if key not in self._inputs:
                self._inputs[key] = _Input(serial, name, skip=self.mixed)

    def remove(self, key: str) -> None:
        """A track leaves (its file failed): the mix goes on without it."""
        with self._lock:
            self._inputs.pop(key, None)

    def feed(self, key: str, samples: npt.NDArray[np.int32]) -> None:
        """The next samples of a track's stream (mono int32, in order from the take's start).

        The array is kept, not copied, until mixed: the caller must not change it afterwards
        (the track's assembler hands over its own blocks, written and never changed)."""
        with self._lock:
            track = self._inputs.get(key)
            if track is None:
                return
            block = np.asarray(samples, dtype=np.int32).reshape(-1)
            if track.skip:
                cut = min(track.skip, len(block))
                track.skip -= cut
                block = block[cut:]
            if len(block):
                track.buffered.append(block)
                track.frames += len(block)

    def ready(self) -> int:
        """Frames every track has reached (what :meth:`pull` would return)."""
        with self._lock:
            return self._ready()

    def _ready(self) -> int:
        if not self._inputs:
            return 0
        return min(t.frames for t in self._inputs.values())

    def pull(self, limit: int | None = None) -> npt.NDArray[np.int32]:
        """The next mixed frames every track has reached (at most ``limit``): int32,
        left-justified 24-bit, shape ``(frames,)`` mono or ``(frames, 2)`` stereo."""
        with self._lock:
            n = self._ready()
            if limit is not None:
                n = min(n, limit)
            settings = self._settings
            channels = self.channels
            out = np.zeros((n, channels), dtype=np.float64)
            if n:
                for track in self._inputs.values():
                    samples = track.take(n)
                    coeffs = settings.for_track(track.serial, track.name).coefficients(channels)
                    if not any(coeffs):
                        continue
                    x = samples.astype(np.float64) / FULL_SCALE
                    for c, k in enumerate(coeffs):
                        if k:
                            out[:, c] += k * x
            self.mixed += n
            return self._quantise(out if channels > 1 else out[:, 0])

    def silence(self, n: int) -> npt.NDArray[np.int32]:
        """``n`` frames of a mix with no track (a take with no microphone)."""
        self.mixed += n
        shape = (n,) if self.channels == 1 else (n, self.channels)
        return np.zeros(shape, dtype=np.int32)

    def _quantise(self, y: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        scaled = np.rint(y * (MAX_24 + 1))
        clipped = np.clip(scaled, MIN_24, MAX_24)
        self.clipped += int(np.count_nonzero(clipped != scaled))
        return clipped.astype(np.int32) << 8

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self._settings.mode,
                "mixed_frames": self.mixed,
                "clipped_samples": self.clipped,
                "tracks": [
                    {
                        "key": key,
                        "serial": t.serial,
                        "name": t.name,
                        **self._settings.for_track(t.serial, t.name).to_json(),
                    }
                    for key, t in self._inputs.items()
                ],
            }


__all__ = ["MixMode", "MixSettings", "Mixer", "TrackMix"]
