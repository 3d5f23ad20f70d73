"""Broadcast WAV tracks written so that the real-time uploader can follow them as they grow.

The uploader sends a recording in 5 MiB parts while it is written and holds part 1 back until the
file is closed. So the layout is fixed when the file is opened: the header (``RIFF``, ``JUNK``,
``fmt``, ``bext``, ``iXML``, ``data``; a few KiB) is written once, samples are only ever appended
after it, and the only bytes that change later are the size fields in the header (the RIFF and
data sizes, updated at every :meth:`BwfWriter.flush` and at :meth:`BwfWriter.close`). A take over
4 GiB becomes RF64 at the same places (``RIFF`` → ``RF64``, the reserved ``JUNK`` → ``ds64``).
See docs/recording-files.md.

- :class:`BwfWriter` writes one file; soundfile encodes the samples (``RAW`` PCM) into it.
- :class:`TrackAssembler` places blocks by sample position: gaps become silence, late or repeated
  samples are dropped, and :meth:`TrackAssembler.finish` makes the take exactly its length.
- :func:`read_track_metadata` reads fmt, bext and iXML back (stdlib only).
- :func:`track_filename` names a track file.

Blocking I/O throughout: the hub runs these in a worker thread.
"""

from __future__ import annotations

import collections
import errno
import os
import re
import struct
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt
import soundfile as sf

from c2c_hub.errors import HubError
from c2c_hub.timecode import FrameRate, Timecode

__all__ = [
    "BextInfo",
    "BwfWriter",
    "IxmlInfo",
    "TrackAssembler",
    "TrackInfo",
    "TrackMetadata",
    "WavFormatError",
    "read_track_metadata",
    "track_filename",
]

ORIGINATOR: Final = "c2c-hub"
TRACK_MODE: Final = 0o640  # the owner writes, the sound team's group reads, nobody else
WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM, 00000001-0000-0010-8000-00aa00389b71, as stored in a WAV file.
_PCM_GUID: Final = struct.pack("<IHH", 1, 0, 0x10) + bytes.fromhex("800000aa00389b71")
_SUBTYPES: Final = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}
_BEXT_STRUCT: Final = struct.Struct("<256s32s32s10s8sQH64s190s")  # BWF version 1, 602 bytes
_DS64_SIZE: Final = 28  # riffSize, dataSize, sampleCount (u64 each), table length (u32)
_MAX_HEADER: Final = 1 << 20
_U32_MAX: Final = 0xFFFFFFFF
_FOURCC = re.compile(rb"[\x20-\x7e]{4}")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Samples = npt.NDArray[Any]
"""int32 left-justified (a 24-bit value << 8, soundfile's int32 convention) or float in [-1, 1];
shape ``(frames,)`` for mono or ``(frames, channels)``."""


class WavFormatError(HubError, ValueError):
    """A file that is not a WAV we can read: not RIFF, truncated, missing a chunk."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class TrackInfo:
    """Everything written into a track's header. Only ``path`` is positional.

    ``start_position`` is the take's first sample in samples since midnight at ``sample_rate``
    (see :meth:`c2c_hub.timecode.TimecodeClock.sample_position`); it is the timeline origin
    of a :class:`TrackAssembler` and, wrapped into one day, the bext time reference.
    ``track_index`` is the recorder's track number (iXML ``CHANNEL_INDEX`` of the first channel).
    ``channel_names`` names each channel of a polyphonic file (default: ``track_name`` for mono,
    ``track_name`` + ``" 1"``, ``" 2"``… otherwise). ``description`` defaults to the
    recorder-style ``sSCENE=…`` lines; ``origination`` (local time) defaults to when the file is
    opened.
    """

    path: Path
    _: KW_ONLY
    start_position: int
    timecode_rate: FrameRate
    sample_rate: int = 48_000
    channels: int = 1
    bits: int = 24
    project: str = ""
    scene: str = ""
    take: str = ""
    tape: str = ""
    track_name: str = ""
    track_index: int = 1
    channel_names: tuple[str, ...] = ()
    note: str = ""
    description: str | None = None
    originator_reference: str = ""
    origination: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.bits not in _SUBTYPES:
            raise ValueError(f"bits: must be 16, 24 or 32, got {self.bits}")
        if not 1 <= self.channels <= 64:
            raise ValueError(f"channels: must be 1..64, got {self.channels}")
        if not 1 <= self.sample_rate <= 768_000:
            raise ValueError(f"sample_rate: must be 1..768000 Hz, got {self.sample_rate}")
        if self.track_index < 1:
            raise ValueError(f"track_index: must be 1 or more, got {self.track_index}")
        if self.channel_names and len(self.channel_names) != self.channels:
            raise ValueError(
                f"channel_names: {len(self.channel_names)} names for {self.channels} channels"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The name of each channel, in interleave order."""
        if self.channel_names:
            return self.channel_names
        if self.channels == 1:
            return (self.track_name,)
        base = self.track_name or "Track"
        return tuple(f"{base} {i}" for i in range(1, self.channels + 1))

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def time_reference(self) -> int:
        """The bext time reference: ``start_position`` wrapped into one day."""
        return self.start_position % (86_400 * self.sample_rate)


# -- writing -------------------------------------------------------------------------------------


def _ascii(text: str, size: int) -> bytes:
    """bext text is ASCII: accents are dropped ("Café" → "Cafe"), the rest becomes "?"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "replace")[:size]


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _default_description(info: TrackInfo) -> str:
    lines = [f"sSCENE={info.scene}", f"sTAKE={info.take}", f"sTAPE={info.tape}"]
    lines += [f"sTRK{info.track_index + i}={name}" for i, name in enumerate(info.names)]
    if info.note:
        lines.append(f"sNOTE={info.note}")
    return "\r\n".join(lines) + "\r\n"


def coding_history(info: TrackInfo) -> str:
    mode = {1: "mono", 2: "stereo"}.get(info.channels, "multichannel")
    return f"A=PCM,F={info.sample_rate},W={info.bits},M={mode},T={ORIGINATOR}\r\n"


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    assert len(payload) % 2 == 0, fourcc
    return fourcc + struct.pack("<I", len(payload)) + payload


def _fmt_payload(info: TrackInfo) -> bytes:
    byte_rate = info.sample_rate * info.block_align
    if info.channels <= 2:
        return struct.pack(
            "<HHIIHH",
            WAVE_FORMAT_PCM,
            info.channels,
            info.sample_rate,
            byte_rate,
            info.block_align,
            info.bits,
        )
    return struct.pack(
        "<HHIIHHHHI16s",
        WAVE_FORMAT_EXTENSIBLE,
        info.channels,
        info.sample_rate,
        byte_rate,
        info.block_align,
        info.bits,
        22,  # cbSize
        info.bits,  # valid bits per sample
        0,  # channel mask: no speaker positions (independent tracks)
        _PCM_GUID,
    )


def _bext_payload(info: TrackInfo, origination: datetime) -> bytes:
    description = _default_description(info) if info.description is None else info.description
    fixed = _BEXT_STRUCT.pack(
        _ascii(description, 256),
        _ascii(ORIGINATOR, 32),
        _ascii(info.originator_reference, 32),
        origination.strftime("%Y-%m-%d").encode("ascii"),
        origination.strftime("%H:%M:%S").encode("ascii"),
        info.time_reference,
        1,  # BWF version 1 (UMID present, all zero: none)
        b"",
        b"",
    )
    history = _ascii(coding_history(info), 1 << 16)
    return _even(fixed + history, b"\0")  # the NUL terminates the coding history


def _even(payload: bytes, filler: bytes) -> bytes:
    """Every chunk has an even size, so no pad byte follows it: libsndfile's RF64 parser does
    not skip pad bytes (its RIFF parser does)."""
    return payload + filler if len(payload) % 2 else payload


def ixml_document(info: TrackInfo) -> bytes:
    """The iXML chunk's payload (UTF-8)."""
    root = ET.Element("BWFXML")

    def add(parent: ET.Element, tag: str, text: str | int) -> None:
        ET.SubElement(parent, tag).text = _xml_text(str(text))

    add(root, "IXML_VERSION", "2.10")
    add(root, "PROJECT", info.project)
    add(root, "SCENE", info.scene)
    add(root, "TAKE", info.take)
    add(root, "TAPE", info.tape)
    if info.note:
        add(root, "NOTE", info.note)
    speed = ET.SubElement(root, "SPEED")
    rate = info.timecode_rate
    add(speed, "MASTER_SPEED", rate.ratio())
    add(speed, "CURRENT_SPEED", rate.ratio())
    add(speed, "TIMECODE_RATE", rate.ratio())
    add(speed, "TIMECODE_FLAG", "DF" if rate.drop_frame else "NDF")
    add(speed, "FILE_SAMPLE_RATE", info.sample_rate)
    add(speed, "AUDIO_BIT_DEPTH", info.bits)
    add(speed, "DIGITIZER_SAMPLE_RATE", info.sample_rate)
    reference = info.time_reference
    add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", reference >> 32)
    add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", reference & _U32_MAX)
    add(speed, "TIMESTAMP_SAMPLE_RATE", info.sample_rate)
    tracks = ET.SubElement(root, "TRACK_LIST")
    add(tracks, "TRACK_COUNT", info.channels)
    for i, name in enumerate(info.names):
        track = ET.SubElement(tracks, "TRACK")
        add(track, "CHANNEL_INDEX", info.track_index + i)
        add(track, "INTERLEAVE_INDEX", i + 1)
        add(track, "NAME", name)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    document = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")
    return _even(document, b"\n")


@dataclass(frozen=True)
class _Layout:
    header: bytes
    riff_size_at: int  # offset of the RIFF size field (the fourcc is 4 bytes before)
    ds64_at: int  # offset of the reserved JUNK chunk's fourcc (becomes ds64)
    data_size_at: int

    @property
    def data_offset(self) -> int:
        return len(self.header)


def _layout(info: TrackInfo, origination: datetime) -> _Layout:
    junk = _chunk(b"JUNK", bytes(_DS64_SIZE))
    body = b"".join(
        [
            b"WAVE",
            junk,
            _chunk(b"fmt ", _fmt_payload(info)),
            _chunk(b"bext", _bext_payload(info, origination)),
            _chunk(b"iXML", ixml_document(info)),
            b"data",
        ]
    )
    body += struct.pack("<I", 0)  # the data size: the file starts as a valid, empty WAV
    header = b"RIFF" + struct.pack("<I", len(body)) + body
    if len(header) > _MAX_HEADER:
        raise ValueError(
            f"{info.path}: the header would be {len(header)} bytes (notes and names too long); "
            f"it must stay under {_MAX_HEADER} bytes"
        )
    return _Layout(header, riff_size_at=4, ds64_at=12, data_size_at=len(header) - 4)


def _as_block(samples: Samples, channels: int) -> Samples:
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

    riff_limit: int = _U32_MAX
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
        self._layout: _Layout | None = None
        self._frames = 0
        self._closed = False
        self._rf64 = False

    # lifecycle

    def open(self) -> BwfWriter:
        if self._fh is not None or self._closed:
            raise RuntimeError(f"{self.info.path}: already opened (a writer writes one file once)")
        info = self.info
        layout = _layout(info, info.origination or datetime.now())
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
            subtype=_SUBTYPES[info.bits],
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

    def _require_layout(self) -> _Layout:
        if self._layout is None:
            raise RuntimeError(f"{self.info.path}: not open yet")
        return self._layout

    # samples

    def write(self, samples: Samples) -> int:
        """Append a block (see :data:`Samples`); returns its number of frames."""
        self._require_open()
        block = _as_block(samples, self.info.channels)
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
        ds64 = b"ds64" + struct.pack("<IQQQI", _DS64_SIZE, riff, data, self._frames, 0)
        os.pwrite(fd, ds64, layout.ds64_at)
        os.pwrite(fd, struct.pack("<I", _U32_MAX), layout.data_size_at)
        os.pwrite(fd, b"RF64" + struct.pack("<I", _U32_MAX), 0)


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


# -- placing blocks on the timeline --------------------------------------------------------------


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

    def write_at(self, position: int, samples: Samples) -> int:
        """Place ``samples`` at ``position``; returns how many frames were kept."""
        self._check_open()
        block = _as_block(samples, self.writer.info.channels)
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
        self._push(block.copy())
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
                self.writer.write(block[:keep])
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
                self.writer.write(first)
                taken = len(first)
            else:
                self.writer.write(first[:excess])
                self._pending[0] = first[excess:]
                taken = excess
            self._pending_frames -= taken
            excess -= taken


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BextInfo:
    description: str
    originator: str
    originator_reference: str
    origination_date: str
    origination_time: str
    time_reference: int
    version: int
    coding_history: str


@dataclass(frozen=True)
class IxmlInfo:
    project: str | None
    scene: str | None
    take: str | None
    tape: str | None
    note: str | None
    timecode_rate: str | None
    timecode_flag: str | None
    track_names: tuple[str, ...]
    xml: str

    def frame_rate(self) -> FrameRate | None:
        """The timecode rate (``TIMECODE_RATE`` + ``TIMECODE_FLAG``), if present and valid."""
        if not self.timecode_rate:
            return None
        suffix = " df" if (self.timecode_flag or "").upper() == "DF" else ""
        try:
            return FrameRate.parse(self.timecode_rate + suffix)
        except ValueError:
            return None


@dataclass(frozen=True)
class TrackMetadata:
    path: Path
    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    block_align: int
    data_offset: int
    data_size: int
    rf64: bool
    bext: BextInfo | None
    ixml: IxmlInfo | None
    chunks: tuple[str, ...] = field(default=())

    @property
    def frames(self) -> int:
        return self.data_size // self.block_align if self.block_align else 0

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def start_timecode(self) -> Timecode | None:
        """The bext time reference as timecode at the iXML rate (None without either)."""
        rate = self.ixml.frame_rate() if self.ixml else None
        if self.bext is None or rate is None or not self.sample_rate:
            return None
        return Timecode.from_seconds(self.bext.time_reference / self.sample_rate, rate)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _parse_bext(payload: bytes) -> BextInfo:
    fixed = payload[: _BEXT_STRUCT.size].ljust(_BEXT_STRUCT.size, b"\0")
    desc, orig, ref, date, time, reference, version, _umid, _rest = _BEXT_STRUCT.unpack(fixed)
    return BextInfo(
        description=_text(desc),
        originator=_text(orig),
        originator_reference=_text(ref),
        origination_date=_text(date),
        origination_time=_text(time),
        time_reference=reference,
        version=version,
        coding_history=_text(payload[_BEXT_STRUCT.size :]),
    )


def _parse_ixml(path: Path, payload: bytes) -> IxmlInfo:
    data = payload.rstrip(b"\0")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise WavFormatError(path, f"the iXML chunk is not well-formed XML ({e})") from None

    def get(xpath: str) -> str | None:
        element = root.find(xpath)
        return None if element is None else (element.text or "")

    names = tuple((t.findtext("NAME") or "") for t in root.findall("TRACK_LIST/TRACK"))
    return IxmlInfo(
        project=get("PROJECT"),
        scene=get("SCENE"),
        take=get("TAKE"),
        tape=get("TAPE"),
        note=get("NOTE"),
        timecode_rate=get("SPEED/TIMECODE_RATE"),
        timecode_flag=get("SPEED/TIMECODE_FLAG"),
        track_names=names,
        xml=data.decode("utf-8", "replace"),
    )


def read_track_metadata(path: str | os.PathLike[str]) -> TrackMetadata:
    """fmt, bext and iXML of a WAV / BWF / RF64 file; raises :class:`WavFormatError`."""
    p = Path(path)
    with open(p, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12:
            raise WavFormatError(p, f"truncated: {len(head)} bytes, a WAV file needs at least 12")
        fourcc, _riff_size, wave = struct.unpack("<4sI4s", head)
        if fourcc not in (b"RIFF", b"RF64") or wave != b"WAVE":
            raise WavFormatError(p, f"not a RIFF/WAVE file (it starts with {head[:12]!r})")
        rf64 = fourcc == b"RF64"
        ds64_data: int | None = None
        fmt: tuple[int, int, int, int, int] | None = None
        bext: BextInfo | None = None
        ixml: IxmlInfo | None = None
        data_offset = data_size = -1
        chunks: list[str] = []
        offset = 12
        while offset + 8 <= total:
            f.seek(offset)
            chunk_id, size = struct.unpack("<4sI", f.read(8))
            name = chunk_id.decode("latin-1")
            chunks.append(name)
            start = offset + 8
            if chunk_id == b"data" and ds64_data is not None and size == _U32_MAX:
                size = ds64_data
            remain = total - start
            after_data = data_offset >= 0
            if after_data and (not _FOURCC.fullmatch(chunk_id) or size > remain):
                break  # samples not yet counted in a growing file, or trailing garbage
            if size > remain:
                raise WavFormatError(
                    p, f"truncated: the {name.strip()} chunk claims {size} bytes, {remain} remain"
                )
            if chunk_id == b"data":
                data_offset, data_size = start, size
            elif size <= 16 << 20:  # metadata chunks; skip anything absurdly large
                payload = f.read(size)
                if chunk_id == b"ds64" and size >= 16:
                    ds64_data = struct.unpack_from("<QQ", payload)[1]
                elif chunk_id == b"fmt ":
                    if size < 16:
                        raise WavFormatError(
                            p, f"the fmt chunk is {size} bytes, at least 16 needed"
                        )
                    tag, channels, rate, _byte_rate, align, bits = struct.unpack_from(
                        "<HHIIHH", payload
                    )
                    fmt = (tag, channels, rate, align, bits)
                elif chunk_id == b"bext":
                    bext = _parse_bext(payload)
                elif chunk_id == b"iXML":
                    ixml = _parse_ixml(p, payload)
            offset = start + size + (size % 2)
    if fmt is None:
        raise WavFormatError(p, "no fmt chunk (the sample format is unknown)")
    if data_offset < 0:
        raise WavFormatError(p, "no data chunk")
    tag, channels, rate, align, bits = fmt
    return TrackMetadata(
        path=p,
        format_tag=tag,
        channels=channels,
        sample_rate=rate,
        bits=bits,
        block_align=align,
        data_offset=data_offset,
        data_size=data_size,
        rf64=rf64,
        bext=bext,
        ixml=ixml,
        chunks=tuple(chunks),
    )


# -- names ---------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def track_filename(
    scene: str, take: int | str, index: int, track_name: str, ext: str = ".wav"
) -> str:
    """``S<scene>_T<take>_<index>_<name><ext>``, e.g. ``S12A_T003_02_Boom.wav``.

    - scene: letters and digits kept (accents dropped), every other run becomes ``-``; empty
      gives ``S``;
    - take: a number, zero-padded to 3 digits (``T003``; ``T1234`` past 999); a take that is not
      a number (``"3A"``) is sanitized like the scene;
    - index: the recorder's track number, zero-padded to 2 digits;
    - name: ``[A-Za-z0-9_-]`` kept, every other run becomes ``_``, at most 64 characters; an
      empty name leaves ``S12A_T003_02.wav``.
    """
    if index < 0:
        raise ValueError(f"track index: must not be negative, got {index}")
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,8}", ext):
        raise ValueError(f"extension: expected e.g. '.wav', got {ext!r}")
    scene_part = re.sub(r"[^A-Za-z0-9]+", "-", _plain(scene)).strip("-")[:32]
    take_text = str(take).strip()
    if take_text.isdigit():
        take_part = f"{int(take_text):03d}"
    elif isinstance(take, int):
        raise ValueError(f"take: must not be negative, got {take}")
    else:
        take_part = re.sub(r"[^A-Za-z0-9]+", "-", _plain(take_text)).strip("-")[:16] or "000"
    name_part = re.sub(r"[^A-Za-z0-9_-]+", "_", _plain(track_name)).strip("_-")[:64]
    name = f"S{scene_part}_T{take_part}_{index:02d}"
    if name_part:
        name += f"_{name_part}"
    return name + ext
