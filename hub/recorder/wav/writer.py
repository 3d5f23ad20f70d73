"""Writing one track: :class:`BwfWriter` appends samples after the fixed header and keeps its
size fields true at every flush, so the uploader can follow the file as it grows."""

from __future__ import annotations

import errno
import os
import struct
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

import numpy as np
import soundfile as sf

from c2c_hub.recorder.wav.header import Layout, plan_layout
from c2c_hub.recorder.wav.info import DS64_SIZE, SUBTYPES, TRACK_MODE, U32_MAX, Samples, TrackInfo


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
        self._sink: _Sink | None = None
        self._failed: OSError | None = None
        self.overwrite = overwrite
        self._fh: BinaryIO | None = None
        self._sf: Any = None
        self._layout: Layout | None = None
        self._frames = 0
        self._closed = False
        self._rf64 = False

    # lifecycle

    def open(self) -> BwfWriter:
        if self._fh is not None or self._closed:
            raise RuntimeError(f"{self.info.path}: already opened (a writer writes one file once)")
        info = self.info
        layout = plan_layout(info, info.origination or datetime.now())
        # Owner and group only (0640), whatever the umask: recordings are the production's.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.overwrite else os.O_EXCL)
        fd = os.open(info.path, flags, TRACK_MODE)
        try:
            os.fchmod(fd, TRACK_MODE)
        except BaseException:
            os.close(fd)
            raise
        fh = os.fdopen(fd, "wb")
        try:
            fh.write(layout.header)
            if self.fsync or self.durable:
                # The header and the file's name survive a power cut from the start.
                fh.flush()
                os.fsync(fh.fileno())
                _fsync_dir(info.path.parent)
            self._sf = self._encoder(fh)
        except BaseException:
            fh.close()
            raise
        self._fh, self._layout = fh, layout
        self._durable_size = len(layout.header)
        return self

    def _encoder(self, fh: IO[bytes]) -> Any:
        info = self.info
        self._sink = _Sink(fh)
        return sf.SoundFile(
            self._sink,
            mode="w",
            samplerate=info.sample_rate,
            channels=info.channels,
            subtype=SUBTYPES[info.bits],
            endian="LITTLE",
            format="RAW",
        )

    def __enter__(self) -> BwfWriter:
        if self._fh is None:
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
        return self._fh is not None

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

    def _require_open(self) -> BinaryIO:
        if self._closed:
            raise RuntimeError(f"{self.info.path}: the file is closed")
        if self._fh is None:
            raise RuntimeError(f"{self.info.path}: not open (call open() or use 'with')")
        return self._fh

    def _require_layout(self) -> Layout:
        if self._layout is None:
            raise RuntimeError(f"{self.info.path}: not open yet")
        return self._layout

    # samples

    def write(self, samples: Samples) -> int:
        """Append a block (see :data:`Samples`); returns its number of frames."""
        self._require_open()
        block = as_block(samples, self.info.channels)
        if self._failed is not None:
            raise self._failed
        if len(block):
            try:
                self._sf.write(block)
            except Exception as exc:  # soundfile reports a short write as an AssertionError
                sink_error = self._sink.error if self._sink is not None else None
                self._failed = sink_error or OSError(
                    errno.EIO, f"{self.info.path}: writing samples failed ({exc!r})"
                )
                raise self._failed from exc
            self._frames += len(block)
        return len(block)

    @property
    def failed(self) -> OSError | None:
        """The write error that stopped this file (a full disk: ``errno.ENOSPC``), if any."""
        return self._failed

    def abandon(self) -> None:
        """Close without writing anything more (after :attr:`failed`): the sizes in the header
        are left as they were, for :func:`c2c_hub.recorder.recovery.repair_track` to fix from
        what actually reached the disk."""
        if self._closed:
            return
        self._closed = True
        fh, self._fh = self._fh, None
        if fh is None:
            return
        if self._sink is not None:
            self._sink.closing = True
        try:
            self._sf.close()
        except Exception:  # nothing more can reach this file; repair reads the disk
            pass
        try:
            fh.close()
        except OSError:
            pass

    def truncate(self, frames: int) -> None:
        """Cut the file back to ``frames`` frames (shrinks the file: only for a take's end)."""
        fh = self._require_open()
        if not 0 <= frames <= self._frames:
            raise ValueError(f"truncate: {frames} is not within 0..{self._frames} frames")
        if frames == self._frames:
            return
        self._sf.close()
        fh.flush()
        end = self.header_size + frames * self.info.block_align
        fh.truncate(end)
        fh.seek(end)
        self._frames = frames
        self._sf = self._encoder(fh)

    def flush(self) -> None:
        """Push written samples to the OS (and to the disk if ``fsync``) and update the sizes."""
        fh = self._require_open()
        if self._failed is not None:
            raise self._failed
        self._sf.flush()
        try:
            fh.flush()
        except OSError as exc:
            self._failed = exc
            raise
        self._write_sizes(fh, padded=False)
        if self.fsync:
            os.fsync(fh.fileno())
            self._durable_size = self.header_size + self.data_bytes

    def sync(self) -> int:
        """:meth:`flush`, then ``os.fsync``: every byte so far survives a power cut. Returns
        :attr:`durable_size`."""
        fh = self._require_open()
        self.flush()
        if not self.fsync:
            os.fsync(fh.fileno())
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
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            self._sf.close()
            fh.flush()
            if self.data_bytes % 2:
                fh.write(b"\0")
                fh.flush()
            self._write_sizes(fh, padded=True)
            if self.fsync or self.durable:
                os.fsync(fh.fileno())
                self._durable_size = self.header_size + self.data_bytes + self.data_bytes % 2
        finally:
            fh.close()

    def _write_sizes(self, fh: BinaryIO, *, padded: bool) -> None:
        layout = self._require_layout()
        data = self.data_bytes
        riff = layout.data_offset - 8 + data + (data % 2 if padded else 0)
        fd = fh.fileno()
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


class _Sink:
    """The file soundfile encodes into. An ``OSError`` (a full disk) is kept for the writer to
    raise, never thrown through libsndfile's C callback (where it would only be printed)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.error: OSError | None = None
        self.closing = False

    def write(self, data: bytes) -> int:
        if self.error is not None or self.closing:
            return 0
        try:
            self.fh.write(data)
        except OSError as exc:
            self.error = exc
            return 0
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
