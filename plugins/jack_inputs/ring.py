"""A single-producer, single-consumer ring of float32 audio for the JACK process callback.

The producer is the process callback of the capture process
(:mod:`c2c_hub_plugins.jack_inputs.capture`), in JACK's real-time thread: it must not wait,
and should make as few Python objects as it can. :meth:`InputRing.write` copies each port's
buffer into preallocated memory (one ``memmove`` per port, into a row of one numpy array) and
notes the cycle's JACK frame time in preallocated arrays; nothing else. The consumer is the
hub: :meth:`InputRing.read` joins cycles whose frame times follow on into runs and converts
them to int32 there.

The ring lives in one block of shared memory that both processes map (``buffer=``): the
samples, the cycles' metadata and the counters (aligned int64s, each written by one side only;
no lock anywhere). The producer advances ``cycles_written`` only after the cycle's data and
metadata are in place, the consumer ``cycles_read`` only after it has copied what it read, so
neither ever sees a half-written cycle on x86-64's ordered stores. A cycle that finds the ring
full is dropped whole and counted (:attr:`InputRing.overruns`): a gap of the right length on
the timeline, never a shifted sample. No hub imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FULL_SCALE_24 = 1 << 23
_MAX_24 = FULL_SCALE_24 - 1
_FRAME_MASK = 0xFFFFFFFF  # JACK's frame time is a 32-bit counter
#: int64 counters at the start of the block: cycles_written, frames_written, overruns,
#: dropped_frames (the producer's); cycles_read, frames_read (the consumer's); two spare.
_COUNTERS = 8


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
    """``inputs`` rows of ``capacity`` frames, and ``cycles`` slots of cycle metadata.

    Everything both sides touch (the samples, the cycles' metadata and the counters) lies in
    one block of ``InputRing.nbytes(...)`` bytes: ``buffer`` when given (shared memory mapped
    by the capture process, the producer, and by the hub, the consumer), else a private one.
    """

    def __init__(
        self, inputs: int, capacity: int, *, cycles: int = 4096, buffer: object | None = None
    ) -> None:
        if inputs < 1 or capacity < 1 or cycles < 2:
            raise ValueError("a ring needs at least one input, one frame and two cycles")
        size = self.nbytes(inputs, capacity, cycles)
        if buffer is None:
            buffer = bytearray(size)
        view = memoryview(buffer)  # type: ignore[arg-type]
        if view.nbytes < size:
            raise ValueError(
                f"a ring of that shape needs {size} bytes; the buffer has {view.nbytes}"
            )
        self.inputs = inputs
        self.capacity = capacity
        self.slots = cycles
        at = 0

        def take(dtype: type[np.generic], count: int) -> npt.NDArray[Any]:
            nonlocal at
            array = np.frombuffer(view, dtype=dtype, count=count, offset=at)
            at += array.nbytes
            return array

        self._counters = take(np.int64, _COUNTERS)
        self.cycle_frame = take(np.int64, cycles)
        self.cycle_start = take(np.int64, cycles)
        self.cycle_frames = take(np.int64, cycles)
        self.samples = take(np.float32, inputs * capacity).reshape(inputs, capacity)
        self._last32: int | None = None
        self._unwrapped = 0
        self._row_bytes = capacity * 4

    @staticmethod
    def nbytes(inputs: int, capacity: int, cycles: int = 4096) -> int:
        """The bytes a ring of this shape needs."""
        return 8 * (_COUNTERS + 3 * cycles) + 4 * inputs * capacity

    # The counters, in the shared block. The producer alone writes the first four (and writes
    # ``cycles_written`` last, once a cycle's data is in place), the consumer alone the rest.
    cycles_written = property(lambda self: int(self._counters[0]))
    frames_written = property(lambda self: int(self._counters[1]))
    #: Cycles dropped whole because the ring was full, and their frames.
    overruns = property(lambda self: int(self._counters[2]))
    dropped_frames = property(lambda self: int(self._counters[3]))
    cycles_read = property(lambda self: int(self._counters[4]))
    frames_read = property(lambda self: int(self._counters[5]))

    def latest(self) -> tuple[int, int] | None:
        """The last cycle written: (its 32-bit frame time, its frames); ``None`` before any."""
        written = int(self._counters[0])
        if not written:
            return None
        slot = (written - 1) % self.slots
        return int(self.cycle_frame[slot]), int(self.cycle_frames[slot])

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
        counters = self._counters
        cycles_written, frames_written = int(counters[0]), int(counters[1])
        if (
            frames_written + frames - int(counters[5]) > self.capacity
            or cycles_written - int(counters[4]) >= self.slots
        ):
            counters[2] += 1
            counters[3] += frames
            return
        start = frames_written % self.capacity
        first = min(frames, self.capacity - start)
        rest = frames - first
        for row, src in enumerate(buffers):
            dst = base[row]
            memmove(dst + start * 4, src, first * 4)  # type: ignore[operator]
            if rest:
                memmove(dst, char(src) + first * 4, rest * 4)  # type: ignore[operator]
        self._commit(cycles_written, frames_written, frame_time, frames)

    def write_arrays(self, frame_time: int, arrays: Sequence[npt.NDArray[np.float32]]) -> None:
        """:meth:`write` from numpy arrays (tests, and hosts without a raw pointer)."""
        frames = int(arrays[0].shape[0])
        counters = self._counters
        cycles_written, frames_written = int(counters[0]), int(counters[1])
        if (
            frames_written + frames - int(counters[5]) > self.capacity
            or cycles_written - int(counters[4]) >= self.slots
        ):
            counters[2] += 1
            counters[3] += frames
            return
        start = frames_written % self.capacity
        first = min(frames, self.capacity - start)
        for row, array in enumerate(arrays):
            self.samples[row, start : start + first] = array[:first]
            self.samples[row, : frames - first] = array[first:]
        self._commit(cycles_written, frames_written, frame_time, frames)

    def _commit(self, cycles_written: int, frames_written: int, frame: int, frames: int) -> None:
        slot = cycles_written % self.slots
        self.cycle_frame[slot] = frame
        self.cycle_start[slot] = frames_written
        self.cycle_frames[slot] = frames
        counters = self._counters
        counters[1] = frames_written + frames
        counters[0] = cycles_written + 1  # last: the consumer sees the cycle once its data is in

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
        counters = self._counters
        end, begin = int(counters[0]), int(counters[4])
        runs: list[Run] = []
        first_frame = run_start = run_frames = 0
        expected: int | None = None
        for cycle in range(begin, end):
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
        if end > begin:
            last = (end - 1) % self.slots
            counters[5] = int(self.cycle_start[last] + self.cycle_frames[last])
        counters[4] = end  # the producer may reuse the slots (and frames) read
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
