"""A single-producer, single-consumer ring of float32 audio for the JACK process callback.

The process callback runs in JACK's real-time thread: it must not wait, and should make as few
Python objects as it can. :meth:`InputRing.write` copies each port's buffer into preallocated
memory (one ``memmove`` per port, into a row of one numpy array) and notes the cycle's JACK
frame time in preallocated arrays; nothing else. A normal thread drains it with
:meth:`InputRing.read`, which joins cycles whose frame times follow on into runs and converts
them to int32 there.

Single producer, single consumer, under the GIL: the producer only advances ``cycles_written``
(after its data is in place), the consumer only ``cycles_read``. A cycle that finds the ring
full is dropped whole and counted (:attr:`InputRing.overruns`): a gap of the right length on the
timeline, never a shifted sample. No hub imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FULL_SCALE_24 = 1 << 23
_MAX_24 = FULL_SCALE_24 - 1
_FRAME_MASK = 0xFFFFFFFF  # JACK's frame time is a 32-bit counter


@dataclass(frozen=True)
class Run:
    """Frames that follow on: ``frame`` is the first one's (unwrapped) JACK frame time;
    ``samples`` is int32, left-justified 24-bit, shape ``(inputs, frames)``."""

    frame: int
    samples: npt.NDArray[np.int32]

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])


def to_int24(block: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """Float samples (full scale 1.0) as 24-bit values, rounded and clipped, shifted left by 8
    (the hub's int32 convention)."""
    scaled = np.rint(block.astype(np.float64) * FULL_SCALE_24)
    np.clip(scaled, -FULL_SCALE_24, _MAX_24, out=scaled)
    return scaled.astype(np.int32) << 8


class InputRing:
    """``inputs`` rows of ``capacity`` frames, and ``cycles`` slots of cycle metadata."""

    def __init__(self, inputs: int, capacity: int, *, cycles: int = 4096) -> None:
        if inputs < 1 or capacity < 1 or cycles < 2:
            raise ValueError("a ring needs at least one input, one frame and two cycles")
        self.inputs = inputs
        self.capacity = capacity
        self.samples = np.zeros((inputs, capacity), dtype=np.float32)
        self.cycle_frame = np.zeros(cycles, dtype=np.int64)
        self.cycle_start = np.zeros(cycles, dtype=np.int64)
        self.cycle_frames = np.zeros(cycles, dtype=np.int64)
        self.slots = cycles
        self.cycles_written = 0
        self.cycles_read = 0
        self.frames_written = 0
        self.frames_read = 0
        self.overruns = 0
        self.dropped_frames = 0
        self._last32: int | None = None
        self._unwrapped = 0
        self._row_bytes = capacity * 4

    # ------------------------------------------------------------------ producer (JACK thread)
    def write(
        self,
        frame_time: int,
        frames: int,
        buffers: Sequence[object],
        memmove: Callable[[object, object, int], None],
        base: Sequence[object],
        char: Callable[[object], object] = lambda pointer: pointer,
    ) -> None:
        """One process cycle: ``buffers[i]`` (a pointer to ``frames`` floats) into row ``i``.

        ``base[i]`` is a pointer to row ``i`` of :attr:`samples` (as char*, so offsets are
        bytes); ``memmove(dst, src, nbytes)`` copies; ``char(src)`` makes a source pointer one
        that offsets in bytes (needed only when a cycle wraps round the ring's end, which a
        capacity that is a multiple of the period never does). Nothing here waits or grows.
        """
        if (
            self.frames_written + frames - self.frames_read > self.capacity
            or self.cycles_written - self.cycles_read >= self.slots
        ):
            self.overruns += 1
            self.dropped_frames += frames
            return
        start = self.frames_written % self.capacity
        first = min(frames, self.capacity - start)
        rest = frames - first
        for row, src in enumerate(buffers):
            dst = base[row]
            memmove(dst + start * 4, src, first * 4)  # type: ignore[operator]
            if rest:
                memmove(dst, char(src) + first * 4, rest * 4)  # type: ignore[operator]
        slot = self.cycles_written % self.slots
        self.cycle_frame[slot] = frame_time
        self.cycle_start[slot] = self.frames_written
        self.cycle_frames[slot] = frames
        self.frames_written += frames
        self.cycles_written += 1  # last: the consumer sees the cycle once its data is in

    def write_arrays(self, frame_time: int, arrays: Sequence[npt.NDArray[np.float32]]) -> None:
        """:meth:`write` from numpy arrays (tests, and hosts without a raw pointer)."""
        frames = int(arrays[0].shape[0])
        if (
            self.frames_written + frames - self.frames_read > self.capacity
            or self.cycles_written - self.cycles_read >= self.slots
        ):
            self.overruns += 1
            self.dropped_frames += frames
            return
        start = self.frames_written % self.capacity
        first = min(frames, self.capacity - start)
        for row, array in enumerate(arrays):
            self.samples[row, start : start + first] = array[:first]
            self.samples[row, : frames - first] = array[first:]
        slot = self.cycles_written % self.slots
        self.cycle_frame[slot] = frame_time
        self.cycle_start[slot] = self.frames_written
        self.cycle_frames[slot] = frames
        self.frames_written += frames
        self.cycles_written += 1

    # ------------------------------------------------------------------ consumer (normal thread)
    def _unwrap(self, frame32: int) -> int:
        """A 32-bit frame time as a count that never wraps (JACK's wraps every ~25 h at 48k)."""
        if self._last32 is None:
            self._unwrapped = frame32
        else:
            step = (frame32 - self._last32) & _FRAME_MASK
            if step >= 1 << 31:  # backwards (a restarted server counts from 0 again)
                step -= 1 << 32
            self._unwrapped += step
        self._last32 = frame32
        return self._unwrapped

    def read(self) -> list[Run]:
        """Every cycle written since the last read, as runs of frames that follow on."""
        end = self.cycles_written
        runs: list[Run] = []
        first_frame = run_start = run_frames = 0
        expected: int | None = None
        for cycle in range(self.cycles_read, end):
            slot = cycle % self.slots
            frame = self._unwrap(int(self.cycle_frame[slot]))
            start = int(self.cycle_start[slot])
            frames = int(self.cycle_frames[slot])
            if expected is not None and frame == expected and start == run_start + run_frames:
                run_frames += frames
            else:
                if run_frames:
                    runs.append(Run(first_frame, self._take(run_start, run_frames)))
                first_frame, run_start, run_frames = frame, start, frames
            expected = frame + frames
        if run_frames:
            runs.append(Run(first_frame, self._take(run_start, run_frames)))
        if end > self.cycles_read:
            last = (end - 1) % self.slots
            self.frames_read = int(self.cycle_start[last] + self.cycle_frames[last])
        self.cycles_read = end
        return runs

    def _take(self, start: int, frames: int) -> npt.NDArray[np.int32]:
        at = start % self.capacity
        first = min(frames, self.capacity - at)
        if first == frames:
            block = self.samples[:, at : at + frames]
        else:
            block = np.concatenate(
                (self.samples[:, at:], self.samples[:, : frames - first]), axis=1
            )
        return to_int24(block)

    def reset_frames(self) -> None:
        """Forget the frame count (a new server counts from its own start)."""
        self._last32 = None
