"""A small ID3v2.3 tag writer (text frames and ``TXXX`` only), for the proxies' metadata.

libsndfile writes MP3 without a tag, and the one well-known Python tagging library (mutagen) is
GPL, which a hub shipped inside recorders cannot carry. ID3v2.3 (id3.org, "ID3 tag version
2.3.0") is small: a 10-byte header (``ID3``, version 3.0, flags 0, the size as a 28-bit
"syncsafe" integer), then frames of a 4-character id, a 32-bit big-endian size, two flag bytes
and the payload. Text payloads start with an encoding byte: 0 for ISO-8859-1, 1 for UTF-16
with a byte-order mark (v2.3 has no UTF-8). ``TXXX`` (user text) is the encoding, a
description, a terminator, and the value. No unsynchronisation, no extended header.

v2.3 rather than v2.4: more players and editing systems read it (mutagen saves v2.3 on request
for the same reason).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

TEXT_FRAME = re.compile(r"^T[A-Z0-9]{3}$")
PADDING = 256  # room for an editor to add a frame without rewriting the file


def _encode(text: str) -> tuple[int, bytes, bytes]:
    """(encoding byte, encoded text, terminator)."""
    try:
        return 0, text.encode("latin-1"), b"\0"
    except UnicodeEncodeError:
        return 1, text.encode("utf-16"), b"\0\0"  # with a BOM, as v2.3 requires


def _frame(frame_id: str, payload: bytes) -> bytes:
    return frame_id.encode("ascii") + struct.pack(">I", len(payload)) + b"\0\0" + payload


def text_frame(frame_id: str, text: str) -> bytes:
    """A text information frame (``TIT2``, ``TALB``, ``TRCK`` ...)."""
    if not TEXT_FRAME.match(frame_id) or frame_id == "TXXX":
        raise ValueError(f"not a text frame id: {frame_id!r}")
    encoding, data, _ = _encode(text)
    return _frame(frame_id, bytes([encoding]) + data)


def user_text_frame(description: str, value: str) -> bytes:
    """A ``TXXX`` frame: a described value (both in one encoding)."""
    encoding, _, terminator = _encode(description + value)
    codec = "latin-1" if encoding == 0 else "utf-16"
    payload = bytes([encoding]) + description.encode(codec) + terminator + value.encode(codec)
    return _frame("TXXX", payload)


def _syncsafe(n: int) -> bytes:
    if n >= 1 << 28:
        raise ValueError("an ID3 tag must be under 256 MiB")
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v23_tag(
    text: Iterable[tuple[str, str]] = (),
    user: Iterable[tuple[str, str]] = (),
    *,
    padding: int = PADDING,
) -> bytes:
    """A whole tag: text frames ``(id, text)``, then ``TXXX`` frames ``(description, value)``;
    empty values are left out."""
    frames = b"".join(text_frame(i, t) for i, t in text if t)
    frames += b"".join(user_text_frame(d, v) for d, v in user if v)
    body = frames + bytes(padding)
    return b"ID3\x03\x00\x00" + _syncsafe(len(body)) + body


__all__ = ["id3v23_tag", "text_frame", "user_text_frame"]
