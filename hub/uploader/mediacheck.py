"""Files checked before they are queued: a WAV whose header disagrees with its size is corrupt.

A finished WAV, BWF or RF64 file (by its name's type, or by its first bytes) is read before it
is queued: its RIFF (or RF64/BW64 ``ds64``) size must be the file's size, every chunk must fit
in the file, it must have a ``fmt`` and a ``data`` chunk, and the data must be whole sample
frames. A file cut short (a copy interrupted, a card pulled, a recorder that lost power before
it rewrote the header) is queued ``corrupt`` with the reason, and never uploaded as ``done``.

Only headers are read (a few small reads, whatever the file's size). A file still being written
is not checked here: the recorder's growing tracks go through ``begin_recording``.

The chunk walk is written here rather than taken from a library: the WAV readers at hand
(``wave``, ``soundfile``, ``wavinfo``) read what they can and do not say whether the sizes agree,
which is the one question asked here.
"""

from __future__ import annotations

import os
import struct
from pathlib import PurePath
from typing import BinaryIO

from c2c_hub.uploader.content_types import WAV_TYPES, content_type

_U32_MAX = 0xFFFFFFFF
_RIFF_FORMS = (b"RIFF", b"RF64", b"BW64")


def is_wav(name: str, filetype: str | None, head: bytes) -> bool:
    """Whether a file is to be checked as a WAV: its type says so, or its first 12 bytes."""
    kind = (filetype or content_type(PurePath(name).name)).lower()
    if kind in WAV_TYPES:
        return True
    return head[:4] in _RIFF_FORMS and head[8:12] == b"WAVE"


def check_file(path: str, name: str, filetype: str | None = None) -> str | None:
    """Why the finished file at ``path`` is not fit to be uploaded, or None if it is.

    Raises ``OSError`` when it cannot be read at all (the caller's error, as before).
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if not is_wav(name, filetype, head):
            return None
        total = os.fstat(f.fileno()).st_size
        return _check_wav(f, head, total)


def _check_wav(f: BinaryIO, head: bytes, total: int) -> str | None:
    if len(head) < 12:
        return f"truncated: {total} bytes, a WAV file needs at least 12"
    form, riff_size, wave = struct.unpack("<4sI4s", head)
    if form not in _RIFF_FORMS or wave != b"WAVE":
        return f"not a WAV file: it starts with {head!r}, not a RIFF/RF64 WAVE header"
    data64: int | None = None
    if form == b"RIFF":
        declared = riff_size + 8
    else:
        f.seek(12)
        ds64 = f.read(8 + 24)
        if len(ds64) < 32 or ds64[:4] != b"ds64":
            return f"{form.decode()} file without its ds64 chunk (the real sizes)"
        riff64, data64, _frames = struct.unpack_from("<QQQ", ds64, 8)
        declared = riff64 + 8
    if form == b"RIFF" and riff_size in (0, _U32_MAX):
        return f"the header was never finished (RIFF size {riff_size}); the file has {total} bytes"
    if declared > total:
        return f"truncated: the {form.decode()} header says {declared} bytes, the file has {total}"
    if total > declared + (declared % 2):
        return f"the {form.decode()} header says {declared} bytes, the file has {total}"
    fmt_align: int | None = None
    data_size: int | None = None
    offset = 12
    while offset + 8 <= declared:
        f.seek(offset)
        chunk_id, size = struct.unpack("<4sI", f.read(8))
        label = chunk_id.decode("latin-1").strip() or "unnamed"
        if chunk_id == b"data" and data64 is not None and size == _U32_MAX:
            size = data64
        start = offset + 8
        if start + size > total:
            return f"truncated: the {label} chunk claims {size} bytes, {total - start} remain"
        if chunk_id == b"fmt ":
            if size < 16:
                return f"the fmt chunk is {size} bytes, at least 16 needed"
            fmt = f.read(16)
            fmt_align = struct.unpack_from("<H", fmt, 12)[0]
        elif chunk_id == b"data":
            data_size = size
        offset = start + size + (size % 2)
    if fmt_align is None:
        return "no fmt chunk (the sample format is unknown)"
    if data_size is None:
        return "no data chunk"
    if fmt_align and data_size % fmt_align:
        return f"the data chunk ({data_size} bytes) is not whole frames of {fmt_align} bytes"
    return None
