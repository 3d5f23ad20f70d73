"""Writing one track: :class:`BwfWriter` appends samples after the fixed header and keeps its
size fields true at every flush, so the uploader can follow the file as it grows.

The samples are packed here, with numpy, straight from the blocks the hub holds (int32
left-justified, or float) to little-endian 16-, 24- or 32-bit PCM, exactly as libsndfile packed
them when it encoded the tracks (tests compare the bytes with golden files it wrote and with its
own encoder), and written to the file descriptor with ``os.write``: small blocks (a 1 ms network
packet) are gathered in memory first, so a flush is one system call a file. libsndfile encoded
through soundfile's virtual I/O, a Python callback for every chunk it wrote: that was most of
the writer's CPU (docs/recording-files.md has the figures)."""

from __future__ import annotations

import errno
import os
import struct
import weakref
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from c2c_hub.recorder.wav.header import Layout, plan_layout
from c2c_hub.recorder.wav.info import DS64_SIZE, TRACK_MODE, U32_MAX, Samples, TrackInfo

GATHER: Final = 1 << 16
"""Packed samples are gathered in memory up to this many bytes, then written in one go (and
every :meth:`BwfWriter.flush` writes what is gathered)."""

# The top bytes of a little-endian int32: 16-bit PCM is bytes 2-3, 24-bit PCM bytes 1-3.
_TOP: Final = {
    bits: np.dtype(
        {"names": ["s"], "formats": [f"V{bits // 8}"], "offsets": [4 - bits // 8], "itemsize": 4}
    )
    for bits in (16, 24)
}
_INT32_LE: Final = np.dtype("<i4")
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def as_block(samples: Samples, channels: int) -> Samples:
    """Check and normalise a block: ``(frames,)`` for mono, ``(frames, channels)`` otherwise."""
    block = np.asarray(samples)
    if block.dtype == np.int32:
        pass
    elif block.dtype in (np.float32, np.float64):
        block = np.nan_to_num(np.clip(block, -1.0, 1.0), copy=False, nan=0.0)
    else:
        raise TypeError(
            f"samples must be int32 (left-justified) or float32/float64 in [-1, 1], "
            f"got {block.dtype}"
        )
    if block.ndim == 2 and block.shape[1] == channels:
        if channels == 1:
            block = block[:, 0]
    elif not (block.ndim == 1 and channels == 1):
        raise ValueError(
            f"samples of shape {block.shape} do not fit {channels} channel(s): "
            f"expected (frames,) for mono or (frames, {channels})"
        )
    return np.ascontiguousarray(block)


def to_int32(block: Samples) -> npt.NDArray[np.int32]:
    """Float samples in [-1, 1] as int32, left-justified, rounded as libsndfile rounds them
    (scaled by 2^31 in the samples' own precision, to the nearest even, full scale clipped);
    int32 as they are."""
    if block.dtype == np.int32:
        return block
    scaled = block * block.dtype.type(2**31)  # float32 stays float32, as in libsndfile
    rounded = np.rint(scaled.astype(np.float64))
    np.clip(rounded, _INT32_MIN, _INT32_MAX, out=rounded)
    as_int: npt.NDArray[np.int32] = rounded.astype(np.int32)
    return as_int


def pack_pcm(block: Samples, bits: int) -> npt.NDArray[np.uint8]:
    """A contiguous block (see :func:`as_block`) as little-endian PCM of ``bits`` bits,
    interleaved: the top 2, 3 or 4 bytes of each left-justified int32 sample, in one copy."""
    samples = block if block.dtype == _INT32_LE else to_int32(block).astype(_INT32_LE, copy=False)
    if bits == 32:
        return samples.view(np.uint8)
    packed: npt.NDArray[np.uint8] = np.ascontiguousarray(samples.view(_TOP[bits])["s"])
    return packed.view(np.uint8)


class BwfWriter:
    """One Broadcast WAV file, written front to back; see the module docstring.

    ``open()`` (or ``with``) creates the file (never over an existing one unless ``overwrite``)
    and writes the whole header; ``write()`` appends samples; ``flush()`` makes them visible to
    other processes and updates the size fields (so a power cut leaves a valid file up to the
    last flush), with ``os.fsync`` when ``fsync`` is set; ``close()`` writes the final sizes and
    the pad byte of an odd-length data chunk.
    """

    riff_limit: int = U32_MAX
    """Above this RIFF size the file becomes RF64 (a class attribute, lowered by tests)."""

    def __init__(
        self,
        info: TrackInfo,
        *,
        fsync: bool = False,
        overwrite: bool = False,
        durable: bool = False,
    ) -> None:
        self.info = info
        self.fsync = fsync
        self.durable = durable  # fsync at open and close; :meth:`sync` in between
        self._durable_size = 0
        self._failed: OSError | None = None
        self.overwrite = overwrite
        self._fd: int | None = None
        self._release: weakref.finalize[Any, Any] | None = None
        self._gathered = bytearray()  # packed samples not yet handed to the OS
        self._layout: Layout | None = None
        self._frames = 0
        self._closed = False
        self._rf64 = False

    # lifecycle

    def open(self) -> BwfWriter:
        if self._fd is not None or self._closed:
            raise RuntimeError(f"{self.info.path}: already opened (a writer writes one file once)")
        info = self.info
        layout = plan_layout(info, info.origination or datetime.now())
        # Owner and group only (0640), whatever the umask: recordings are the production's.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.overwrite else os.O_EXCL)
        fd = os.open(info.path, flags, TRACK_MODE)  # not inherited by children (PEP 446)
        try:
            os.fchmod(fd, TRACK_MODE)
            _write_all(fd, layout.header)
            if self.fsync or self.durable:
                # The header and the file's name survive a power cut from the start.
                os.fsync(fd)
                _fsync_dir(info.path.parent)
        except BaseException:
            os.close(fd)
            raise
        # The descriptor is closed with the writer even if it is never closed (as a file
        # object would be).
        self._release = weakref.finalize(self, os.close, fd)
        self._fd, self._layout = fd, layout
        self._durable_size = len(layout.header)
        return self

    def __enter__(self) -> BwfWriter:
        if self._fd is None:
            self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def header_size(self) -> int:
        """Bytes before the first sample (the data chunk's payload offset)."""
        return self._require_layout().data_offset

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def data_bytes(self) -> int:
        return self._frames * self.info.block_align

    def _require_open(self) -> int:
        if self._closed:
            raise RuntimeError(f"{self.info.path}: the file is closed")
        if self._fd is None:
            raise RuntimeError(f"{self.info.path}: not open (call open() or use 'with')")
        return self._fd

    def _require_layout(self) -> Layout:
        if self._layout is None:
            raise RuntimeError(f"{self.info.path}: not open yet")
        return self._layout

    # samples

    def write(self, samples: Samples) -> int:
        """Append a block (see :data:`Samples`); returns its number of frames."""
        fd = self._require_open()
        block = as_block(samples, self.info.channels)
        if self._failed is not None:
            raise self._failed
        frames = len(block)
        if frames:
            packed = pack_pcm(block, self.info.bits).data
            try:
                if not self._gathered and packed.nbytes >= GATHER:
                    _write_all(fd, packed)  # a big block goes straight to the file
                else:
                    self._gathered += packed
                    if len(self._gathered) >= GATHER:
                        self._write_gathered(fd)
            except OSError as exc:  # a full disk: kept, and raised again by every call
                self._failed = exc
                raise
            self._frames += frames
        return frames

    def _write_gathered(self, fd: int) -> None:
        """Hand the gathered samples to the OS; what a failed write left out stays gathered.
        (``os.write`` takes the bytearray itself: a memoryview of it, kept alive by an
        exception's traceback, would forbid resizing it afterwards.)"""
        gathered = self._gathered
        while gathered:
            del gathered[: _write_some(fd, gathered)]

    @property
    def failed(self) -> OSError | None:
        """The write error that stopped this file (a full disk: ``errno.ENOSPC``), if any."""
        return self._failed

    def abandon(self) -> None:
        """Close without writing anything more (after :attr:`failed`): the sizes in the header
        are left as they were, for :func:`c2c_hub.recorder.recovery.repair_track` to fix from
        what actually reached the disk (the samples still in memory are tried once, as a
        buffered file's close would)."""
        if self._closed:
            return
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._write_gathered(fd)
        except OSError:  # nothing more can reach this file; repair reads the disk
            pass
        finally:
            self._gathered.clear()
            self._close_fd()

    def truncate(self, frames: int) -> None:
        """Cut the file back to ``frames`` frames (shrinks the file: only for a take's end)."""
        fd = self._require_open()
        if not 0 <= frames <= self._frames:
            raise ValueError(f"truncate: {frames} is not within 0..{self._frames} frames")
        if frames == self._frames:
            return
        self._write_gathered(fd)
        end = self.header_size + frames * self.info.block_align
        os.ftruncate(fd, end)
        os.lseek(fd, end, os.SEEK_SET)
        self._frames = frames

    def flush(self) -> None:
        """Push written samples to the OS (and to the disk if ``fsync``) and update the sizes."""
        fd = self._require_open()
        if self._failed is not None:
            raise self._failed
        try:
            self._write_gathered(fd)
        except OSError as exc:
            self._failed = exc
            raise
        self._write_sizes(fd, padded=False)
        if self.fsync:
            os.fsync(fd)
            self._durable_size = self.header_size + self.data_bytes

    def sync(self) -> int:
        """:meth:`flush`, then ``os.fsync``: every byte so far survives a power cut. Returns
        :attr:`durable_size`."""
        fd = self._require_open()
        self.flush()
        if not self.fsync:
            os.fsync(fd)
        self._durable_size = self.header_size + self.data_bytes
        return self._durable_size

    @property
    def durable_size(self) -> int:
        """Bytes of the file known to be on disk (header and samples) as of the last fsync."""
        return self._durable_size

    def close(self) -> None:
        """Final sizes, the pad byte, close. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.data_bytes % 2:
                self._gathered += b"\0"
            self._write_gathered(fd)
            self._write_sizes(fd, padded=True)
            if self.fsync or self.durable:
                os.fsync(fd)
                self._durable_size = self.header_size + self.data_bytes + self.data_bytes % 2
        finally:
            self._gathered.clear()
            self._close_fd()

    def _close_fd(self) -> None:
        if self._release is not None:
            self._release()  # os.close, once

    def _write_sizes(self, fd: int, *, padded: bool) -> None:
        layout = self._require_layout()
        data = self.data_bytes
        riff = layout.data_offset - 8 + data + (data % 2 if padded else 0)
        if riff <= self.riff_limit and not self._rf64:
            os.pwrite(fd, struct.pack("<I", riff), layout.riff_size_at)
            os.pwrite(fd, struct.pack("<I", data), layout.data_size_at)
            return
        # RF64 (EBU Tech 3306): the real sizes go in ds64, which takes the JUNK chunk's place.
        # Once RF64, always RF64 (even if a truncation brings it back under 4 GiB).
        self._rf64 = True
        ds64 = b"ds64" + struct.pack("<IQQQI", DS64_SIZE, riff, data, self._frames, 0)
        os.pwrite(fd, ds64, layout.ds64_at)
        os.pwrite(fd, struct.pack("<I", U32_MAX), layout.data_size_at)
        os.pwrite(fd, b"RF64" + struct.pack("<I", U32_MAX), 0)


def _write_some(fd: int, data: memoryview | bytes | bytearray) -> int:
    written = os.write(fd, data)
    if written <= 0:  # a regular file says ENOSPC rather than 0; never loop on it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return written


def _write_all(fd: int, data: memoryview | bytes) -> None:
    # Never released by hand: a slice kept alive by an exception's traceback would turn the
    # OSError into a BufferError. (Only ever over bytes or a numpy array, never resized.)
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += _write_some(fd, view[done:])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
