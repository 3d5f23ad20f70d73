"""Credentials at rest: encrypted, owner-only, atomic, and tamper-evident."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from c2c_hub.tokens import (
    CREDENTIALS_FILE,
    Credentials,
    PairingState,
    TokenStore,
    TokenStoreError,
)

ACCESS = "access-token-that-is-secret-0123456789"
REFRESH = "0b5b4b5e-refresh-token-secret-9876"


def _creds(**kw: object) -> Credentials:
    base: dict[str, object] = {
        "client_id": "unit-1",
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "access_expires_at": 1000.0 + 28800,
        "refresh_expires_at": 1000.0 + 14 * 86400,
        "obtained_at": 1000.0,
        "project_id": "p-1",
        "project_name": "Testbed",
    }
    base.update(kw)
    return Credentials(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "creds")
    assert store.load() is None
    store.save(_creds())
    assert store.load() == _creds()
    # a new store on the same directory (a power cycle) reads the same
    assert TokenStore(tmp_path / "creds").load() == _creds()


def test_tokens_are_encrypted_and_files_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "creds"
    store = TokenStore(directory)
    store.save(_creds())
    raw = (directory / CREDENTIALS_FILE).read_bytes()
    assert ACCESS.encode() not in raw and REFRESH.encode() not in raw
    assert b"Testbed" not in raw  # the whole record is encrypted, not just the tokens
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / CREDENTIALS_FILE).stat().st_mode) == 0o600
    key_file = store.keys.path  # type: ignore[attr-defined]  # the file provider, by default
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not key_file.is_relative_to(directory), "the key is never beside the ciphertext"
    assert [p.name for p in directory.iterdir()] == [CREDENTIALS_FILE]
    assert not list(directory.glob(".*.tmp")), "no temporary file left behind"


def test_repr_never_shows_a_token() -> None:
    text = repr(_creds())
    assert ACCESS not in text and REFRESH not in text


def test_tampered_file_is_a_clear_error(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save(_creds())
    path = tmp_path / CREDENTIALS_FILE
    blob = bytearray(path.read_bytes())
    blob[40] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(TokenStoreError, match="cannot be decrypted"):
        store.load()


def test_another_key_cannot_read_the_credentials(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save(_creds())
    store.keys.path.unlink()  # type: ignore[attr-defined]
    with pytest.raises(TokenStoreError):
        TokenStore(tmp_path).load()


def test_begin_refresh_records_the_intent_durably(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    marked = store.begin_refresh(_creds())
    assert marked.state is PairingState.REFRESHING
    loaded = store.load()
    assert loaded is not None and loaded.state is PairingState.REFRESHING
    assert loaded.refresh_token == REFRESH


def test_wipe_forgets_the_credentials(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save(_creds())
    store.wipe()
    assert store.load() is None


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "creds"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    TokenStore(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
