"""Logging for the hub, with secrets redacted from every record, whoever logs it.

:class:`RedactingFilter` sits on the hub's handlers (not on loggers, so records from libraries
such as httpx, websockets and uvicorn pass through it too). It replaces every value registered
with :func:`register_secret` (the client secret, each access and refresh token as the session
obtains them, device codes) and anything shaped like a bearer credential
(``Bearer …``, ``Authorization=Bearer%20…``, ``access_token``/``refresh_token`` fields).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import TextIO

REDACTED = "[redacted]"
_MIN_LEN = 6

_PATTERNS = [
    re.compile(r"(?i)(bearer(?:%20|\s|\+)+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|device_code|client_secret|token)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
]

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line from now on."""
    if value and len(value) >= _MIN_LEN:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (with its arguments merged in) and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger, with redaction; returns it (tests add their own)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
