"""The uploader's own errors (the Frame.io API's are in :mod:`c2c_hub.frameio.errors`).

``UploadError`` hangs from the hub's root, :class:`c2c_hub.errors.HubError`::

    UploadError
    ├── S3Error          a part PUT answered >= 300 (S3's XML ``Code`` and ``Message``)
    ├── FileProblem      the media file cannot be sent as queued: unreadable, truncated,
    │                    changed since it was queued, or (real-time) bytes already sent changed
    └── NothingToSend    an empty file (Frame.io takes no 0-byte asset)

Transport failures of a part PUT (reset, timeout, TLS) are raised as
:class:`c2c_hub.frameio.TransportError` / :class:`c2c_hub.frameio.TransportTimeout`, like the
API's, so
:mod:`c2c_hub.uploader.policy` treats both alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from c2c_hub.errors import HubError


class UploadError(HubError):
    """Base of the uploader's errors."""


class S3Error(UploadError):
    """A part PUT that S3 refused."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"S3 answered {status} {code}: {message}".rstrip(": "))
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_response(cls, status: int, body: bytes) -> S3Error:
        code, message = "", ""
        try:
            root = ET.fromstring(body)
            code = (root.findtext("Code") or "").strip()
            message = (root.findtext("Message") or "").strip()
        except ET.ParseError:
            message = body[:200].decode("utf-8", "replace").strip()
        return cls(status, code or f"HTTP{status}", message)

    @property
    def expired(self) -> bool:
        """S3's answer to a presigned URL past its ``X-Amz-Expires``."""
        return (
            self.status == 403 and self.code == "AccessDenied" and "expired" in self.message.lower()
        )


class FileProblem(UploadError):
    """The media cannot be sent as it was queued; ``reason`` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NothingToSend(UploadError):
    """A 0-byte file: Frame.io accepts assets of 1 byte to 5 TiB."""


class Withdrawn(UploadError):
    """A PUT withdrawn before its last byte was handed to the socket: the server never got the
    whole body, so it stored nothing, and what it held for that part before still stands
    (:mod:`c2c_hub.uploader.withdrawal`)."""
