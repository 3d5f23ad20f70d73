"""A single-producer, single-consumer ring of float32 audio for the JACK process callback.

The producer is the process callback of the capture process
(:mod:`c2c_hub_plugins.jack_inputs.capture`), in JACK's real-time thread: it must not wait,
and should make as few Python objects as it can. :meth:`InputRing.write` copies each port's
buffer into preallocated memory (one ``memmove`` per port, into a row of one numpy array) and
notes the cycle's JACK frame time in preallocated arrays; nothing else. The consumer is the
hub: :meth:`InputRing.read` joins cycles whose frame times follow on into runs and converts
them to int32 there.

The ring lives in one block of shared memory that both processes map (``buffer=``): the
samples and the cycles' metadata, each slot written by the producer only; no lock anywhere.
Which slots hold a whole cycle, and which the consumer has finished with, is said through two
**eventfds**, never through a word of the shared block: the producer writes 1 to ``published``
once a cycle's data and metadata are in place; the consumer reads ``published`` (non-blocking)
and takes the value read as the number of cycles newly there, and once it has copied them out
writes their number to ``freed``, which the producer reads when its own count says the ring
is full. A write and a read of one eventfd take the kernel's lock of that eventfd, a release
and an acquire: whatever one side stored (or loaded) before its write is complete for the
other side after its read, on any CPU Linux runs on (x86-64's ordered stores made plain
counters enough; ARM's do not, and may even move a load of a slot after a later store of the
counter that frees it). Python has no fence of its own, and a compiled one would need a C
compiler where the hub is installed. The counters still in the block (``cycles_written``,
``overruns``, ``cycles_read`` ...) are statistics, never trusted for what is there to read.

A cycle that finds the ring full is dropped whole and counted (:attr:`InputRing.overruns`): a
gap of the right length on the timeline, never a shifted sample. No hub imports.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FULL_SCALE_24 = 1 << 23
_MAX_24 = FULL_SCALE_24 - 1
_FRAME_MASK = 0xFFFFFFFF  # JACK's frame time is a 32-bit counter
#: int64 counters at the start of the block (statistics: see the module's docstring):
#: cycles_written, frames_written, overruns, dropped_frames (the producer's); cycles_read,
#: frames_read (the consumer's); two spare.
_COUNTERS = 8


def signals() -> tuple[int, int]:
    """A pair of eventfds for one ring, ``(published, freed)``: non-blocking, closed on exec
    (hand them to a child with ``pass_fds``)."""
    flags = os.EFD_NONBLOCK | os.EFD_CLOEXEC
    published = os.eventfd(0, flags)
    try:
        return published, os.eventfd(0, flags)
    except BaseException:
        os.close(published)
        raise


def _close(fds: tuple[int, ...]) -> None:
    for fd in fds:
        os.close(fd)


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
    ``fds`` are the ring's two eventfds (:func:`signals`), the same pair on both sides; a ring
    given none makes its own (a ring used by one process: tests) and closes them with itself.
    An object keeps the producer's counts apart from the consumer's: each side has its own
    object over the one block (a private ring may be both).
    """

    def __init__(
        self,
        inputs: int,
        capacity: int,
        *,
        cycles: int = 4096,
        buffer: object | None = None,
        fds: tuple[int, int] | None = None,
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
        if fds is None:
            fds = signals()
            weakref.finalize(self, _close, fds)
        self.published_fd, self.freed_fd = fds
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
        # the producer's own counts: written, and freed as the consumer said through ``freed``
        self._written = self._frames_written = self._freed = self._frames_freed = 0
        # the consumer's: published as the producer said through ``published``, and read
        self._published = self._read = 0
        self._last_read: tuple[int, int] | None = None
        self._last32: int | None = None
        self._unwrapped = 0
        self._row_bytes = capacity * 4

    @staticmethod
    def nbytes(inputs: int, capacity: int, cycles: int = 4096) -> int:
        """The bytes a ring of this shape needs."""
        return 8 * (_COUNTERS + 3 * cycles) + 4 * inputs * capacity

    # The counters, in the shared block: statistics for the status, each written by one side
    # (the producer the first four, the consumer the rest) and never used to decide what to
    # read or overwrite (the eventfds say that).
    cycles_written = property(lambda self: int(self._counters[0]))
    frames_written = property(lambda self: int(self._counters[1]))
    #: Cycles dropped whole because the ring was full, and their frames.
    overruns = property(lambda self: int(self._counters[2]))
    dropped_frames = property(lambda self: int(self._counters[3]))
    cycles_read = property(lambda self: int(self._counters[4]))
    frames_read = property(lambda self: int(self._counters[5]))

    def latest(self) -> tuple[int, int] | None:
        """(Consumer) the last cycle published: (its 32-bit frame time, its frames); ``None``
        before any."""
        self._poll_published()
        if self._published > self._read:  # not freed yet: the producer leaves its slot alone
            slot = (self._published - 1) % self.slots
            return int(self.cycle_frame[slot]), int(self.cycle_frames[slot])
        return self._last_read

    # ------------------------------------------------------------------ producer (JACK thread)
    def _room(self, frames: int) -> bool:
        """Whether a cycle of ``frames`` fits, by what the consumer said it freed; asks the
        ``freed`` eventfd (one non-blocking read) only when the count known says full."""
        if (
            self._frames_written + frames - self._frames_freed <= self.capacity
            and self._written - self._freed < self.slots
        ):
            return True
        try:
            freed = os.eventfd_read(self.freed_fd)
        except BlockingIOError:
            return False
        self._freed += freed
        # the last cycle freed is the producer's own metadata, not yet overwritten: its slot
        # is reused only once the producer knows it freed, which is now
        last = (self._freed - 1) % self.slots
        self._frames_freed = int(self.cycle_start[last] + self.cycle_frames[last])
        return (
            self._frames_written + frames - self._frames_freed <= self.capacity
            and self._written - self._freed < self.slots
        )

    def _overrun(self, frames: int) -> None:
        counters = self._counters
        counters[2] += 1
        counters[3] += frames

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
        if not self._room(frames):
            self._overrun(frames)
            return
        start = self._frames_written % self.capacity
        first = min(frames, self.capacity - start)
        rest = frames - first
        for row, src in enumerate(buffers):
            dst = base[row]
            memmove(dst + start * 4, src, first * 4)  # type: ignore[operator]
            if rest:
                memmove(dst, char(src) + first * 4, rest * 4)  # type: ignore[operator]
        self._store(frame_time, frames)
        self.publish()  # last: the consumer reads what this says is there

    def write_arrays(self, frame_time: int, arrays: Sequence[npt.NDArray[np.float32]]) -> None:
        """:meth:`write` from numpy arrays (tests, and hosts without a raw pointer)."""
        frames = int(arrays[0].shape[0])
        if not self._room(frames):
            self._overrun(frames)
            return
        self.put(frame_time, arrays)
        self.publish()

    def put(self, frame_time: int, arrays: Sequence[npt.NDArray[np.float32]]) -> None:
        """A cycle's data and metadata into the next slot, unpublished (:meth:`publish` says
        it is there); :meth:`write_arrays` is both. Apart only to show that a cycle put but not
        published is not read."""
        frames = int(arrays[0].shape[0])
        start = self._frames_written % self.capacity
        first = min(frames, self.capacity - start)
        for row, array in enumerate(arrays):
            self.samples[row, start : start + first] = array[:first]
            self.samples[row, : frames - first] = array[first:]
        self._store(frame_time, frames)

    def _store(self, frame: int, frames: int) -> None:
        slot = self._written % self.slots
        self.cycle_frame[slot] = frame
        self.cycle_start[slot] = self._frames_written
        self.cycle_frames[slot] = frames
        self._written += 1
        self._frames_written += frames
        counters = self._counters
        counters[0], counters[1] = self._written, self._frames_written

    def publish(self) -> None:
        """Tell the consumer one more cycle is there (after its data and metadata)."""
        os.eventfd_write(self.published_fd, 1)

    # ------------------------------------------------------------------ consumer (normal thread)
    def _poll_published(self) -> None:
        try:
            self._published += os.eventfd_read(self.published_fd)
        except BlockingIOError:
            pass  # nothing new

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
        """Every cycle published since the last read, as runs of frames that follow on."""
        self._poll_published()
        begin, end = self._read, self._published
        runs: list[Run] = []
        first_frame = run_start = run_frames = 0
        expected: int | None = None
        for cycle in range(begin, end):
            slot = cycle % self.slots
            frame32 = int(self.cycle_frame[slot])
            frame = self._unwrap(frame32)
            start = int(self.cycle_start[slot])
            frames = int(self.cycle_frames[slot])
            if expected is not None and frame == expected and start == run_start + run_frames:
                run_frames += frames
            else:
                if run_frames:
                    runs.append(Run(first_frame, self._take(run_start, run_frames)))
                first_frame, run_start, run_frames = frame, start, frames
            expected = frame + frames
            self._last_read = (frame32, frames)
        if run_frames:
            runs.append(Run(first_frame, self._take(run_start, run_frames)))
        if end > begin:
            self._read = end
            counters = self._counters
            counters[4], counters[5] = end, run_start + run_frames
            # last, after every load of those slots (the copies above): the producer may
            # overwrite them once it has read this
            os.eventfd_write(self.freed_fd, end - begin)
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
