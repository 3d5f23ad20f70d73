"""Placing blocks on the timeline: :class:`TrackAssembler` turns gaps into silence, drops late or
repeated samples, and makes the take exactly its length."""

from __future__ import annotations

import collections
from collections.abc import Callable

import numpy as np

from c2c_hub.recorder.wav.info import Samples, TrackInfo
from c2c_hub.recorder.wav.writer import BwfWriter, as_block


class TrackAssembler:
    """Writes blocks at their sample position, so a dropout never shifts a track.

    Positions are in the writer's timebase: samples since midnight, like
    ``writer.info.start_position`` (and, for a take that crosses midnight, not wrapped).

    - a gap before a block becomes silence (``dropouts`` runs, ``dropout_samples`` in all);
    - samples before the write head (late, duplicated, overlapping) or before the start are
      dropped (``discarded_samples``);
    - :meth:`finish` pads or cuts so the file holds exactly ``end - start`` frames.

    The last ``holdback`` frames (default a quarter second) stay in memory until more arrive, so
    a take that ends before samples already received is cut without shrinking the file the
    real-time uploader is following; only an overshoot beyond ``holdback`` cuts the file itself.

    ``tap``, if set, is called with every block as it goes to the file, in order from the take's
    first sample (dropouts as their silence): the mix and the proxies follow the file this way.
    """

    _SILENCE_CHUNK = 1 << 16

    def __init__(
        self,
        target: TrackInfo | BwfWriter,
        *,
        holdback: int | None = None,
        fsync: bool = False,
        durable: bool = False,
    ) -> None:
        writer = (
            target
            if isinstance(target, BwfWriter)
            else BwfWriter(target, fsync=fsync, durable=durable)
        )
        if writer.frames_written:
            raise ValueError("TrackAssembler needs a writer with nothing written yet")
        self.writer = writer
        info = writer.info
        self.start_position = info.start_position
        self.holdback = info.sample_rate // 4 if holdback is None else holdback
        if self.holdback < 0:
            raise ValueError(f"holdback: must not be negative, got {self.holdback}")
        self.dropouts = 0
        self.dropout_samples = 0
        self.discarded_samples = 0
        self.end_position: int | None = None
        self._head = self.start_position  # next position to be received
        self._pending: collections.deque[Samples] = collections.deque()
        self._pending_frames = 0
        self._silent_tail = False  # the last thing added was inserted silence
        shape: tuple[int, ...] = (
            (self._SILENCE_CHUNK,) if info.channels == 1 else (self._SILENCE_CHUNK, info.channels)
        )
        self._zeros = np.zeros(shape, dtype=np.int32)
        self.tap: Callable[[Samples], None] | None = None

    def _out(self, block: Samples) -> None:
        self.writer.write(block)
        if self.tap is not None:
            self.tap(block)

    @property
    def info(self) -> TrackInfo:
        return self.writer.info

    def open(self) -> TrackAssembler:
        """Create the file and write its header (done by the first write if not called)."""
        if not self.writer.is_open and not self.writer.closed:
            self.writer.open()
        return self

    @property
    def head(self) -> int:
        """The position the next sample goes to."""
        return self._head

    @property
    def finished(self) -> bool:
        return self.end_position is not None

    @property
    def frames_written(self) -> int:
        """Frames placed so far (on disk or held back); after :meth:`finish`, the take's length."""
        return self._head - self.start_position

    def _check_open(self) -> None:
        if self.end_position is not None:
            raise RuntimeError(
                f"{self.writer.info.path}: the track is finished (at {self.end_position}); "
                f"nothing more can be written"
            )
        if self.writer.closed:
            raise RuntimeError(f"{self.writer.info.path}: the file is closed")
        self.open()

    def write_at(self, position: int, samples: Samples, *, copy: bool = True) -> int:
        """Place ``samples`` at ``position``; returns how many frames were kept.

        Held-back samples are kept until written; ``copy=False`` keeps the caller's array
        itself (no copy), for a caller that never changes it afterwards (the recorder: a
        source's blocks are never changed once sent)."""
        self._check_open()
        block = as_block(samples, self.writer.info.channels)
        n = len(block)
        lost = max(0, self._head - position)
        if lost >= n:
            self.discarded_samples += n
            return 0
        if lost:
            block = block[lost:]
            position += lost
            self.discarded_samples += lost
        if position > self._head:
            self._silence(position - self._head)
        self._push(block.copy() if copy else block)
        self._silent_tail = False
        return len(block)

    def pad_to(self, position: int) -> int:
        """Silence up to ``position`` (a source that went quiet); returns the frames added."""
        self._check_open()
        gap = position - self._head
        if gap <= 0:
            return 0
        self._silence(gap)
        return gap

    def flush(self) -> None:
        """Write out what is past the holdback and flush the file."""
        self._check_open()
        self.writer.flush()

    def sync(self) -> int:
        """Write out what is past the holdback, fsync; returns the durable size in bytes."""
        self._check_open()
        return self.writer.sync()

    def finish(self, end_position: int) -> None:
        """Make the file exactly ``end_position - start_position`` frames long and close it."""
        self._check_open()
        length = end_position - self.start_position
        if length < 0:
            raise ValueError(
                f"finish: the end {end_position} is before the start {self.start_position}"
            )
        if end_position > self._head:
            self._silence(end_position - self._head)
        # Keep what fits, from the held-back blocks first.
        room = length - self.writer.frames_written
        while self._pending:
            block = self._pending.popleft()
            keep = max(0, min(len(block), room))
            if keep:
                self._out(block[:keep])
                room -= keep
            self.discarded_samples += len(block) - keep
        self._pending_frames = 0
        if room < 0:  # an overshoot beyond the holdback: cut the file itself
            self.discarded_samples += -room
            self.writer.truncate(length)
        self._head = end_position
        self.end_position = end_position
        self.writer.close()

    # internals

    def _silence(self, frames: int) -> None:
        if not self._silent_tail:
            self.dropouts += 1
        self.dropout_samples += frames
        self._silent_tail = True
        while frames > 0:
            n = min(frames, self._SILENCE_CHUNK)
            self._push(self._zeros[:n])
            frames -= n

    def _push(self, block: Samples) -> None:
        n = len(block)
        self._head += n
        self._pending.append(block)
        self._pending_frames += n
        excess = self._pending_frames - self.holdback
        while excess > 0:
            first = self._pending[0]
            if len(first) <= excess:
                self._pending.popleft()
                self._out(first)
                taken = len(first)
            else:
                self._out(first[:excess])
                self._pending[0] = first[excess:]
                taken = excess
            self._pending_frames -= taken
            excess -= taken
