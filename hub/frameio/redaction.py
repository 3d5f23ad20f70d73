"""Keeping secrets (client_secret, tokens, device codes) out of messages, reprs and logs.

The client never puts a request's body or headers into an error or a log line. Text that comes
from the server (an error's ``detail``, a transport error's message) is still passed through
:func:`redact` with the secrets of that request, in case a server or proxy echoes one back.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr

REDACTED = "[redacted]"

# A "secret" shorter than this is not worth scrubbing (and would mangle ordinary words).
_MIN_SECRET_LEN = 4


def reveal(value: str | SecretStr) -> str:
    """The plain value of a secret given either as ``str`` or as pydantic's ``SecretStr``."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def redact(text: str, secrets: Iterable[str | SecretStr]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[redacted]``."""
    for secret in sorted((reveal(s) for s in secrets), key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, REDACTED)
    return text
