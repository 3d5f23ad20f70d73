"""The hub's credentials at rest: encrypted, owner-only, written durably before they are used.

What is stored (:class:`Credentials`): the access and refresh tokens with their expiry times, the
project device's identity, and the state of the last refresh. Everything is encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``); the key lives in its own owner-only
file beside it (a unit without a hardware keystore has nowhere better; moving the key to a TPM
or the system keyring changes :class:`KeyFile` only). The directory is created ``0700`` and
every file ``0600``; writes go to a temporary file, are fsynced, renamed over the old one, and
the directory is fsynced, so a power cut leaves either the old or the new credentials, never a
torn file.

A refresh token is single-use. :meth:`TokenStore.begin_refresh` records the intent (the token
about to be spent) before the request goes out, and :meth:`TokenStore.save` records the answer
before anything uses it. If the answer is lost (network drop, power cut), the next start sees
the intent, tries once more, and Frame.io's ``invalid_request`` for a spent token turns into a
clear "needs pairing again" state instead of a crash loop.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from c2c_hub.errors import HubError

CREDENTIALS_FILE = "credentials.enc"
KEY_FILE = "credentials.key"
FORMAT = 1


class TokenStoreError(HubError):
    """The stored credentials cannot be read (tampered, wrong key, unknown format)."""


class PairingState(StrEnum):
    UNPAIRED = "unpaired"
    PAIRED = "paired"
    REFRESHING = "refreshing"  # a refresh was sent and its answer not yet stored
    NEEDS_PAIRING = "needs_pairing"


@dataclass(frozen=True)
class Credentials:
    """What the hub keeps between power cycles. ``repr`` never shows a token."""

    client_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    refresh_expires_at: float
    obtained_at: float
    state: PairingState = PairingState.PAIRED
    device_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    reason: str | None = None  # why NEEDS_PAIRING

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value, "format": FORMAT}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        if data.pop("format", None) != FORMAT:
            raise TokenStoreError("stored credentials are in an unknown format")
        data["state"] = PairingState(data["state"])
        return cls(**data)

    def with_state(self, state: PairingState, reason: str | None = None) -> Credentials:
        return replace(self, state=state, reason=reason)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def ensure_private_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        directory.chmod(0o700)
    return directory


class KeyFile:
    """The Fernet key, generated on first use, in an owner-only file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load_or_create(self) -> bytes:
        try:
            key = self.path.read_bytes().strip()
        except FileNotFoundError:
            key = Fernet.generate_key()
            write_private(self.path, key)
            return key
        if stat.S_IMODE(self.path.stat().st_mode) & 0o077:
            self.path.chmod(0o600)
        return key


class TokenStore:
    """Encrypted credentials in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = ensure_private_dir(directory)
        self.path = directory / CREDENTIALS_FILE
        self._fernet = Fernet(KeyFile(directory / KEY_FILE).load_or_create())

    def load(self) -> Credentials | None:
        """The stored credentials, or None when the hub was never paired (or was unpaired)."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(self._fernet.decrypt(blob))
            return Credentials.from_json(data)
        except InvalidToken:
            raise TokenStoreError(
                f"{self.path} cannot be decrypted (tampered, or the key file changed)"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenStoreError(f"{self.path} holds unreadable credentials: {exc}") from None

    def save(self, credentials: Credentials) -> None:
        """Encrypt and write durably; returns only once the new credentials are on disk."""
        blob = self._fernet.encrypt(json.dumps(credentials.to_json()).encode())
        write_private(self.path, blob)

    def begin_refresh(self, credentials: Credentials) -> Credentials:
        """Record that this refresh token is about to be spent."""
        marked = credentials.with_state(PairingState.REFRESHING)
        self.save(marked)
        return marked

    def wipe(self) -> None:
        """Forget the credentials (the key stays, it protects nothing by itself)."""
        self.path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
