"""The MIME type a file is uploaded as, when the caller gives none."""

from __future__ import annotations

import mimetypes


def guess_filetype(name: str) -> str:
    kind, _ = mimetypes.guess_type(name, strict=False)
    return kind or "application/octet-stream"
