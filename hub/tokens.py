"""The hub's credentials at rest: encrypted, owner-only, written durably before they are used.

What is stored (:class:`Credentials`): the access and refresh tokens with their expiry times,
the project device's identity, and the state of the last refresh. Everything is encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``); the key is never stored beside it: a
systemd credential (sealed by the TPM2 or the host key), the Secret Service keyring, or as a
fallback an owner-only key file outside the data directory (:mod:`c2c_hub.keys`). The directory
is created ``0700`` and every file ``0600``; writes go to a temporary file, are fsynced, renamed
over the old one, and the directory is fsynced, so a power cut leaves either the old or the new
credentials, never a torn file.

A refresh token is single-use. :meth:`TokenStore.begin_refresh` records the intent (the token
about to be spent) before the request goes out, and :meth:`TokenStore.save` records the answer
before anything uses it. If the answer is lost (network drop, power cut), the next start sees
the intent, tries once more, and Frame.io's ``invalid_request`` for a spent token turns into a
clear "needs pairing again" state instead of a crash loop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from c2c_hub.errors import HubError
from c2c_hub.keys import LEGACY_KEY_FILE, KeyProvider, KeyUnavailable, choose_provider
from c2c_hub.private_files import ensure_private_dir as ensure_private_dir
from c2c_hub.private_files import fsync_dir
from c2c_hub.private_files import write_private as write_private

CREDENTIALS_FILE = "credentials.enc"
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


class TokenStore:
    """Encrypted credentials in ``directory``."""

    def __init__(self, directory: Path, keys: KeyProvider | None = None) -> None:
        self.directory = ensure_private_dir(directory)
        self.path = directory / CREDENTIALS_FILE
        self.keys = keys or choose_provider(directory)
        try:
            key = self.keys.load_or_create()
        except KeyUnavailable as exc:
            raise TokenStoreError(
                f"no key for the stored credentials ({self.keys.name}): {exc}"
            ) from None
        self._fernet = Fernet(self._adopt_legacy_key(key))

    def _adopt_legacy_key(self, key: bytes) -> bytes:
        """Move a key an older hub left beside the tokens to the provider, or drop it."""
        legacy = self.directory / LEGACY_KEY_FILE
        try:
            old = legacy.read_bytes().strip()
        except FileNotFoundError:
            return key
        if old != key and self.path.exists():
            try:
                Fernet(old).decrypt(self.path.read_bytes())
            except (InvalidToken, ValueError):
                old = b""  # it does not open these credentials: it protects nothing
            else:
                # The credentials are under the old key: re-encrypt them under the new one.
                data = Fernet(old).decrypt(self.path.read_bytes())
                write_private(self.path, Fernet(key).encrypt(data))
        legacy.unlink()
        fsync_dir(self.directory)
        return key

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
        fsync_dir(self.directory)


def open_token_store(
    data_dir: Path, provider: str = "auto", key_file: Path | None = None
) -> TokenStore:
    """The hub's token store in ``data_dir/credentials``, its key from ``storage.key_provider``."""
    credentials = data_dir / "credentials"
    try:
        keys = choose_provider(credentials, provider, key_file)
    except KeyUnavailable as exc:
        raise TokenStoreError(f"no key for the stored credentials: {exc}") from None
    return TokenStore(credentials, keys)
