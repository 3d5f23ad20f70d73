"""The key that protects the tokens is never stored beside them: a systemd credential (as systemd
hands it to a service: a file under ``$CREDENTIALS_DIRECTORY``), a real Secret Service
(GNOME Keyring on a private session bus), or the fallback key file outside the data directory;
and the client secret comes from a credential file only the hub's user can read."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from c2c_hub.keys import (
    LEGACY_KEY_FILE,
    TOKEN_KEY_CREDENTIAL,
    FileKey,
    KeyUnavailable,
    SecretServiceKey,
    SystemdCredentialKey,
    choose_provider,
    default_key_file,
)
from c2c_hub.settings import (
    CLIENT_ID_CREDENTIAL,
    CLIENT_SECRET_CREDENTIAL,
    SettingsError,
    load_settings,
)
from c2c_hub.tokens import CREDENTIALS_FILE, Credentials, TokenStore, TokenStoreError

ACCESS = "access-token-kept-away-from-its-key-0123"
REFRESH = "refresh-token-kept-away-from-its-key-4567"


def creds() -> Credentials:
    return Credentials(
        client_id="unit-1",
        access_token=ACCESS,
        refresh_token=REFRESH,
        access_expires_at=1.0,
        refresh_expires_at=2.0,
        obtained_at=0.0,
    )


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$CREDENTIALS_DIRECTORY`` as systemd lays it out for a service: one 0400 file a name."""
    directory = tmp_path / "run-credentials"
    directory.mkdir(mode=0o500)
    key = directory / TOKEN_KEY_CREDENTIAL
    key.write_bytes(secrets.token_bytes(32))  # what `systemd-creds encrypt` of random bytes gives
    key.chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return directory


def test_auto_takes_the_systemd_credential_and_nothing_lands_beside_the_tokens(
    systemd_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "credentials"
    provider = choose_provider(store_dir)
    assert isinstance(provider, SystemdCredentialKey)
    TokenStore(store_dir, provider).save(creds())
    assert TokenStore(store_dir, choose_provider(store_dir)).load() == creds()
    assert [p.name for p in store_dir.iterdir()] == [CREDENTIALS_FILE]
    assert not default_key_file(store_dir).exists(), "no key file was made either"
    # Without the service's credential (a copied SD card, another service) the tokens stay shut.
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(TokenStoreError, match="cannot be decrypted"):
        TokenStore(store_dir, choose_provider(store_dir, "file", tmp_path / "k" / "key")).load()
    with pytest.raises(TokenStoreError, match="CREDENTIALS_DIRECTORY"):
        TokenStore(store_dir, choose_provider(store_dir, "systemd-credential"))


def test_the_file_fallback_keeps_its_key_outside_the_data_directory(tmp_path: Path) -> None:
    store_dir = tmp_path / "state" / "credentials"
    provider = choose_provider(store_dir)
    assert isinstance(provider, FileKey)
    assert not provider.path.is_relative_to(tmp_path / "state")
    TokenStore(store_dir, provider).save(creds())
    assert provider.path.stat().st_mode & 0o077 == 0
    assert provider.path.parent.stat().st_mode & 0o077 == 0
    with pytest.raises(KeyUnavailable, match="beside the tokens"):
        choose_provider(store_dir, "file", store_dir / "my.key")


def test_a_key_an_older_hub_left_beside_the_tokens_is_retired(tmp_path: Path) -> None:
    store_dir = tmp_path / "credentials"
    store_dir.mkdir(mode=0o700)
    old_key = Fernet.generate_key()
    (store_dir / LEGACY_KEY_FILE).write_bytes(old_key)
    import json

    blob = Fernet(old_key).encrypt(json.dumps(creds().to_json()).encode())
    (store_dir / CREDENTIALS_FILE).write_bytes(blob)
    store = TokenStore(store_dir, FileKey(tmp_path / "keys" / "token.key"))
    assert store.load() == creds(), "the credentials survive the move to the new key"
    assert not (store_dir / LEGACY_KEY_FILE).exists()
    assert [p.name for p in store_dir.iterdir()] == [CREDENTIALS_FILE]
    with pytest.raises(Exception):  # noqa: B017  (the old key opens nothing any more)
        Fernet(old_key).decrypt((store_dir / CREDENTIALS_FILE).read_bytes())


# ----------------------------------------------------------------------------- Secret Service
@pytest.fixture
def secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """GNOME Keyring's real Secret Service, unlocked, on a private session bus."""
    daemon, keyring = shutil.which("dbus-daemon"), shutil.which("gnome-keyring-daemon")
    if daemon is None or keyring is None:
        pytest.skip("needs dbus-daemon and gnome-keyring-daemon (apt-get install gnome-keyring)")
    home, runtime = tmp_path / "home", tmp_path / "runtime"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    bus = subprocess.Popen(
        [daemon, "--config-file=/usr/share/dbus-1/session.conf", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    env = {
        **os.environ,
        "DBUS_SESSION_BUS_ADDRESS": address,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    service = subprocess.Popen(
        [keyring, "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert service.stdin is not None
    service.stdin.write(b"keyring-password")
    service.stdin.close()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    try:
        deadline = time.monotonic() + 20
        # The login keyring is made (and unlocked) from the password first; asking before that
        # would make the daemon look for a prompter, and there is no screen here.
        login = home / ".local" / "share" / "keyrings" / "login.keyring"
        while not login.exists():
            assert service.poll() is None, "gnome-keyring-daemon stopped"
            assert time.monotonic() < deadline, "the login keyring was not created"
            time.sleep(0.1)
        while not SecretServiceKey(tmp_path).available():
            assert time.monotonic() < deadline, "the Secret Service did not come up"
            time.sleep(0.1)
        yield address
    finally:
        for process in (service, bus):
            process.terminate()
            process.wait(10)


def test_auto_takes_the_secret_service_and_the_key_is_in_no_file(
    secret_service: str, tmp_path: Path
) -> None:
    store_dir = tmp_path / "state" / "credentials"
    provider = choose_provider(store_dir)
    assert isinstance(provider, SecretServiceKey)
    TokenStore(store_dir, provider).save(creds())
    again = TokenStore(store_dir, choose_provider(store_dir))
    assert again.load() == creds(), "the same key comes back from the keyring"
    assert [p.name for p in store_dir.iterdir()] == [CREDENTIALS_FILE]
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    key = provider.load_or_create()
    for path in files_under(tmp_path / "state", config_home / "c2c-hub"):
        assert key not in path.read_bytes(), f"{path} holds the key"


# ----------------------------------------------------------------------------- client secret
def _write(path: Path, text: str, mode: int = 0o400) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_production_refuses_a_client_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "integration-secret-from-the-environment"
    monkeypatch.setenv("C2C_HUB_FRAMEIO__CLIENT_SECRET", secret)
    with pytest.raises(SettingsError, match="credential file") as info:
        load_settings()
    assert secret not in str(info.value)
    # An emulator (or any other API base URL) keeps the easy path.
    emulated = load_settings(frameio={"api_base_url": "https://127.0.0.1:9443"})
    assert emulated.frameio.client_secret.get_secret_value() == secret


def test_production_reads_the_client_id_and_secret_from_systemd_credentials(
    systemd_credentials: Path,
) -> None:
    secret_file = _write(systemd_credentials / CLIENT_SECRET_CREDENTIAL, "from-systemd-secret\n")
    _write(systemd_credentials / CLIENT_ID_CREDENTIAL, "unit-serial-42\n")
    settings = load_settings()
    assert settings.frameio.api_base_url == "https://api.frame.io"
    assert settings.frameio.client_secret.get_secret_value() == "from-systemd-secret"
    assert settings.frameio.client_id == "unit-serial-42"
    assert "from-systemd-secret" not in repr(settings)
    assert secret_file.exists()


def test_a_client_secret_file_others_can_read_or_own_is_refused(tmp_path: Path) -> None:
    loose = _write(tmp_path / "loose", "loose-secret-value", 0o644)
    with pytest.raises(SettingsError, match="readable by others") as info:
        load_settings(frameio={"client_secret_file": loose})
    assert "loose-secret-value" not in str(info.value)
    if os.geteuid() == 0:
        foreign = _write(tmp_path / "foreign", "someone-elses-secret", 0o400)
        os.chown(foreign, 65534, 65534)
        with pytest.raises(SettingsError, match="belongs to uid 65534"):
            load_settings(frameio={"client_secret_file": foreign})
    good = _write(tmp_path / "good", "the-real-secret")
    settings = load_settings(frameio={"client_secret_file": good})
    assert settings.frameio.client_secret.get_secret_value() == "the-real-secret"


def _load_key_in_process(path: str) -> bytes:
    return FileKey(Path(path)).load_or_create()


def test_processes_that_create_the_key_at_once_all_get_the_one_on_disk(tmp_path: Path) -> None:
    """A command and the running hub may both find no key: neither may keep a key of its own
    (tokens sealed with it could never be read again), and neither may trip on the other's
    temporary file."""
    import concurrent.futures
    import multiprocessing

    for attempt in range(5):
        path = tmp_path / f"try-{attempt}" / "token.key"
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(6, mp_context=context) as pool:
            keys = list(pool.map(_load_key_in_process, [str(path)] * 12))
        assert set(keys) == {path.read_bytes().strip()}
        assert [p.name for p in path.parent.iterdir()] == ["token.key"]  # no temporary left
