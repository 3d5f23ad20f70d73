"""The MIME type a file is uploaded as, when the caller gives none: the one table's."""

from __future__ import annotations

from c2c_hub.uploader.content_types import content_type


def guess_filetype(name: str) -> str:
    """The one table's type for ``name`` (:mod:`c2c_hub.uploader.content_types`)."""
    return content_type(name)
