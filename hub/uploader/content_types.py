"""One table of content types: the ``filetype`` a file is created with at Frame.io.

Frame.io signs the part URLs with the asset's ``filetype`` as ``Content-Type``
(docs/rulings.md#part-put-rules), and the uploader's priorities by type (``audio/wav``,
``audio/*``) match on it, so one file must get one type whoever queues it: a take's track,
``c2c-hub upload``, the control API, a plugin's routing rule. Before this table a ``.wav`` went
up as ``audio/wav`` from takes and as ``audio/x-wav`` from ``c2c-hub upload`` (the system's
``mimetypes``, which also differs from one machine's ``/etc/mime.types`` to the next).

:func:`content_type` reads this table first (the types a sound recorder's files have), then
Python's own built-in table (never the machine's files, so the answer is the same everywhere),
then ``application/octet-stream``; :func:`extension_for` answers the other way round (a
real-time asset created without a name's suffix).
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Mapping
from pathlib import PurePath
from types import MappingProxyType

WAV = "audio/wav"
"""Every WAV: a take's track, BWF (``.wav`` or ``.bwf``) and RF64."""

WAV_TYPES = frozenset({WAV, "audio/x-wav", "audio/wave", "audio/vnd.wave"})
"""Types a caller may give a WAV (ours, and others' spellings): such a file is checked as one."""

DEFAULT = "application/octet-stream"

CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        # audio
        ".wav": WAV,
        ".bwf": WAV,
        ".rf64": WAV,
        ".aif": "audio/aiff",
        ".aiff": "audio/aiff",
        ".flac": "audio/flac",
        ".mp3": "audio/mpeg",
        ".m4a": "audio/mp4",
        ".aac": "audio/aac",
        ".ogg": "audio/ogg",
        ".opus": "audio/opus",
        # video, from a camera beside the recorder
        ".mov": "video/quicktime",
        ".mp4": "video/mp4",
        ".mxf": "application/mxf",
        # a sound report and metadata
        ".pdf": "application/pdf",
        ".csv": "text/csv",
        ".txt": "text/plain",
        ".xml": "application/xml",
        ".json": "application/json",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
    }
)


@functools.cache
def _built_in() -> mimetypes.MimeTypes:
    """Python's own table (built on first use: making one reads the machine's ``mime.types``
    files into the module's global table first, 20-odd ms of the uploader's start-up, for a
    suffix the table above rarely lacks)."""
    return mimetypes.MimeTypes(filenames=())


def content_type(name: str) -> str:
    """The ``filetype`` for a file named ``name`` (the table, then Python's built-in one)."""
    suffix = PurePath(name).suffix.lower()
    known = CONTENT_TYPES.get(suffix)
    if known is not None:
        return known
    guessed, _ = _built_in().guess_type(f"file{suffix}", strict=False) if suffix else (None, None)
    return guessed or DEFAULT


def extension_for(filetype: str) -> str | None:
    """The suffix a file of ``filetype`` is named with (the table first), if any is known."""
    kind = filetype.lower()
    for suffix, known in CONTENT_TYPES.items():
        if known == kind:
            return suffix
    return _built_in().guess_extension(kind, strict=False)
