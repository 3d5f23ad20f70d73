"""Track files made whole again: after a power cut, a full disk, or a hub killed mid-take.

A track is written front to back (:mod:`c2c_hub.recorder.wav`) and fsynced on a cadence, so after
a power cut the file holds its header and some samples: at least those of the last fsync, maybe
more, maybe half a sample frame at the end, and size fields that may be older *or newer* than the
data actually on disk. :func:`repair_track` rewrites the header to the samples actually there
(whole sample frames only: a partial frame at the end is cut), so every reader agrees on the
length, and the file is a valid WAV of exactly what survived.

:class:`TakeJournal` is how the recorder knows, at the next start, which tracks were being
written: ``<data_dir>/recording.json`` lists the open take's track files from the moment each is
created, and is removed once every track is closed. Whatever it still lists at start is repaired
before the uploader looks at anything (see :meth:`c2c_hub.recorder.takes.Recorder.recover`).

Blocking I/O throughout: the hub runs these in a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from c2c_hub.recorder.wav import WavFormatError
from c2c_hub.tokens import write_private

__all__ = ["JOURNAL_FILE", "Repair", "TakeJournal", "fsync_path", "repair_track"]

log = logging.getLogger(__name__)

JOURNAL_FILE: Final = "recording.json"
_U32_MAX: Final = 0xFFFFFFFF
_DS64_SIZE: Final = 28
_MAX_HEADER: Final = 1 << 20


@dataclass(frozen=True)
class Repair:
    """What :func:`repair_track` found and did."""

    path: Path
    frames: int  # whole sample frames in the repaired file
    data_bytes: int
    claimed_bytes: int  # what the header said before (may be more or less than on disk)
    cut_bytes: int  # a partial frame (or stale pad) cut off the end
    changed: bool

    def describe(self) -> str:
        if not self.changed:
            return f"{self.path.name}: intact ({self.frames} frames)"
        return (
            f"{self.path.name}: header said {self.claimed_bytes} data bytes, "
            f"{self.data_bytes} survived ({self.frames} whole frames"
            + (f", {self.cut_bytes} bytes of a partial frame cut" if self.cut_bytes else "")
            + ")"
        )


@dataclass(frozen=True)
class _Header:
    rf64: bool
    riff: int  # the RIFF size field as found
    block_align: int
    data_offset: int
    claimed: int
    junk_at: int | None  # a 28-byte JUNK or ds64 chunk that can hold RF64 sizes


def _read_header(path: Path, fh: Any, total: int) -> _Header:
    """The chunk layout up to the data chunk's payload; the data size is not trusted."""
    head = fh.read(12)
    if len(head) < 12:
        raise WavFormatError(path, f"truncated: {len(head)} bytes, a WAV file needs at least 12")
    fourcc, riff, wave = struct.unpack("<4sI4s", head)
    if fourcc not in (b"RIFF", b"RF64") or wave != b"WAVE":
        raise WavFormatError(path, f"not a RIFF/WAVE file (it starts with {head!r})")
    align = 0
    junk_at: int | None = None
    ds64_data: int | None = None
    offset = 12
    while offset + 8 <= min(total, _MAX_HEADER):
        fh.seek(offset)
        chunk_id, size = struct.unpack("<4sI", fh.read(8))
        if chunk_id == b"data":
            claimed = ds64_data if (size == _U32_MAX and ds64_data is not None) else size
            if not align:
                raise WavFormatError(path, "no fmt chunk before the data chunk")
            return _Header(fourcc == b"RF64", riff, align, offset + 8, claimed, junk_at)
        if offset + 8 + size > total:
            raise WavFormatError(path, f"truncated inside the header ({chunk_id!r} chunk)")
        payload = fh.read(min(size, 64))
        if chunk_id == b"fmt " and size >= 16:
            align = struct.unpack_from("<HHIIH", payload)[4]
            if align <= 0:
                raise WavFormatError(path, "the fmt chunk has a block align of 0")
        elif chunk_id in (b"JUNK", b"ds64") and size == _DS64_SIZE:
            junk_at = offset
            if chunk_id == b"ds64":
                ds64_data = struct.unpack_from("<QQ", payload)[1]
        offset += 8 + size + (size % 2)
    raise WavFormatError(path, "no data chunk")


def repair_track(path: str | os.PathLike[str], *, pad: bool = True) -> Repair:
    """Make ``path`` a valid WAV (or RF64) of the whole sample frames on disk; fsync it.

    Bytes past the last whole frame are cut; the RIFF (or ds64) and data sizes are rewritten to
    what is there; an odd-length data chunk gets its pad byte (``pad``; skipped, without harm to
    readers, when the disk has no room for it). Raises :class:`WavFormatError` for a file whose
    header itself did not survive, and ``OSError`` for I/O errors.
    """
    p = Path(path)
    with open(p, "r+b") as fh:
        total = os.fstat(fh.fileno()).st_size
        header = _read_header(p, fh, total)
        available = max(0, total - header.data_offset)
        data = available // header.block_align * header.block_align
        cut = available - data
        padded = pad and data % 2 == 1
        riff = header.data_offset - 8 + data + (1 if padded else 0)
        expected_total = header.data_offset + data + (1 if padded else 0)
        already = (
            header.claimed == data
            and total == expected_total
            and (header.riff == riff or (header.rf64 and header.riff == _U32_MAX))
        )
        fd = fh.fileno()
        if not already:
            os.ftruncate(fd, header.data_offset + data)
            if padded:
                try:
                    os.pwrite(fd, b"\0", header.data_offset + data)
                except OSError:  # a full disk: no pad byte (readers do not need it at the end)
                    os.ftruncate(fd, header.data_offset + data)
                    riff -= 1
            if riff <= _U32_MAX and not header.rf64:
                os.pwrite(fd, struct.pack("<I", riff), 4)
                os.pwrite(fd, struct.pack("<I", data), header.data_offset - 4)
            elif header.junk_at is not None:
                frames = data // header.block_align
                ds64 = b"ds64" + struct.pack("<IQQQI", _DS64_SIZE, riff, data, frames, 0)
                os.pwrite(fd, ds64, header.junk_at)
                os.pwrite(fd, struct.pack("<I", _U32_MAX), header.data_offset - 4)
                os.pwrite(fd, b"RF64" + struct.pack("<I", _U32_MAX), 0)
            else:
                raise WavFormatError(p, "over 4 GiB without room for RF64 sizes (no ds64/JUNK)")
        os.fsync(fd)
    return Repair(
        path=p,
        frames=data // header.block_align,
        data_bytes=data,
        claimed_bytes=header.claimed,
        cut_bytes=cut,
        changed=not already,
    )


def fsync_path(path: Path) -> None:
    """fsync a file by name (a closed track), or a directory (so a new file's name survives)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TakeJournal:
    """``<data_dir>/recording.json``: the track files of the take being recorded, if any."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / JOURNAL_FILE

    def write(self, take: dict[str, Any], tracks: list[dict[str, Any]]) -> None:
        write_private(self.path, json.dumps({"take": take, "tracks": tracks}).encode())

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("%s: unreadable (%s); no interrupted take to recover", self.path, exc)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("tracks"), list):
            log.error("%s: not a take journal; no interrupted take to recover", self.path)
            return None
        return data

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
