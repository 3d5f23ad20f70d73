"""Where the key that encrypts the hub's tokens lives: never beside the tokens.

:class:`~c2c_hub.tokens.TokenStore` encrypts the credentials with a Fernet key; this module
finds that key. ``storage.key_provider`` picks one of:

- ``systemd-credential``: the file ``$CREDENTIALS_DIRECTORY/c2c-hub-token-key``, which systemd
  decrypts at service start from ``LoadCredentialEncrypted=`` (sealed with the TPM2 and/or the
  host key by ``systemd-creds encrypt``); it lives in a non-swappable, service-private ramfs and
  is gone when the service stops. Any secret of at least 32 bytes will do (a Fernet key is used
  as it is, anything else is stretched with HKDF-SHA256).
- ``secret-service``: an item in the user's Secret Service keyring (GNOME Keyring, KeePassXC,
  KWallet) over D-Bus, through the ``secretstorage`` library; created on first use.
- ``file``: the fallback, a key file generated on first use, owner-only, in its own folder
  *outside* the data directory (``storage.key_file``, by default
  ``$XDG_CONFIG_HOME/c2c-hub/keys/<id>.key``), so a copy of the data directory (a backup, a
  stolen SD card image of the state partition) does not carry the key. It protects no more than
  the file's permissions do; use a systemd credential where there is one.
- ``auto`` (the default): the systemd credential when the service has one, else the Secret
  Service when a session bus offers an unlocked one, else the file.

A key file left beside the ciphertext by an older hub (``credentials/credentials.key``) is moved
to the file provider's place on first start, or removed when the chosen provider already holds
the same key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from c2c_hub.errors import HubError
from c2c_hub.private_files import create_private, ensure_private_dir

log = logging.getLogger(__name__)

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
TOKEN_KEY_CREDENTIAL = "c2c-hub-token-key"
LEGACY_KEY_FILE = "credentials.key"
SECRET_SERVICE_LABEL = "c2c-hub token key"
PROVIDERS = ("auto", "systemd-credential", "secret-service", "file")


class KeyUnavailable(HubError):
    """The chosen key provider cannot give a key (and why)."""


class KeyProvider(Protocol):
    name: str

    def load_or_create(self) -> bytes:
        """A Fernet key (urlsafe base64 of 32 bytes)."""
        ...


def fernet_key_from(secret: bytes) -> bytes:
    """``secret`` as a Fernet key: used as it is when it is one, else stretched with HKDF."""
    candidate = secret.strip()
    try:
        if len(base64.urlsafe_b64decode(candidate)) == 32 and len(candidate) == 44:
            return candidate
    except (binascii.Error, ValueError):
        pass
    if len(secret) < 32:
        raise KeyUnavailable(f"the key material is too short ({len(secret)} bytes, need 32)")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"c2c-hub token store")
    return base64.urlsafe_b64encode(hkdf.derive(secret))


def systemd_credential_path(environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    directory = env.get(CREDENTIALS_DIRECTORY)
    return Path(directory) / TOKEN_KEY_CREDENTIAL if directory else None


class SystemdCredentialKey:
    """The key systemd hands the service (``LoadCredentialEncrypted=c2c-hub-token-key:…``)."""

    name = "systemd-credential"

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.path = systemd_credential_path(environ)

    def available(self) -> bool:
        return self.path is not None and self.path.is_file()

    def load_or_create(self) -> bytes:
        if self.path is None:
            raise KeyUnavailable(
                f"no systemd credentials: ${CREDENTIALS_DIRECTORY} is not set (run the hub as a "
                f"service with LoadCredentialEncrypted={TOKEN_KEY_CREDENTIAL}:…)"
            )
        try:
            return fernet_key_from(self.path.read_bytes())
        except FileNotFoundError:
            raise KeyUnavailable(
                f"the service has no credential {TOKEN_KEY_CREDENTIAL!r} in "
                f"${CREDENTIALS_DIRECTORY}"
            ) from None


class SecretServiceKey:
    """The key as an item of the Secret Service keyring (``secretstorage`` over D-Bus)."""

    name = "secret-service"

    def __init__(self, credentials_dir: Path) -> None:
        self.attributes = {"application": "c2c-hub", "store": str(credentials_dir.resolve())}

    def _collection(self) -> tuple[Any, Any]:
        try:
            import secretstorage
        except ImportError:
            raise KeyUnavailable("the secretstorage library is not installed") from None
        try:
            connection = secretstorage.dbus_init()
        except (secretstorage.SecretServiceNotAvailableException, OSError, ValueError) as exc:
            raise KeyUnavailable(f"no Secret Service on the session bus: {exc}") from None
        try:
            collection = secretstorage.get_default_collection(connection)
            if collection.is_locked():
                raise KeyUnavailable("the Secret Service keyring is locked")
        except KeyUnavailable:
            connection.close()
            raise
        except Exception as exc:  # secretstorage and jeepney raise several kinds
            connection.close()
            raise KeyUnavailable(f"the Secret Service did not answer: {exc}") from None
        return connection, collection

    def available(self) -> bool:
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return False
        try:
            connection, _ = self._collection()
        except KeyUnavailable:
            return False
        connection.close()
        return True

    def load_or_create(self) -> bytes:
        connection, collection = self._collection()
        try:
            for item in collection.search_items(self.attributes):
                return fernet_key_from(bytes(item.get_secret()))
            key = Fernet.generate_key()
            collection.create_item(SECRET_SERVICE_LABEL, self.attributes, key, replace=True)
            return key
        except KeyUnavailable:
            raise
        except Exception as exc:
            raise KeyUnavailable(f"the Secret Service refused: {exc}") from None
        finally:
            connection.close()


def default_key_file(credentials_dir: Path, environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/c2c-hub/keys/<id>.key``: one per credentials folder, outside it."""
    env = os.environ if environ is None else environ
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    ident = hashlib.sha256(str(credentials_dir.resolve()).encode()).hexdigest()[:16]
    return base / "c2c-hub" / "keys" / f"{ident}.key"


class FileKey:
    """The fallback: a generated key in an owner-only file, never in the credentials folder."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def available(self) -> bool:
        return True

    def load_or_create(self) -> bytes:
        try:
            key = self.path.read_bytes().strip()
        except FileNotFoundError:
            ensure_private_dir(self.path.parent)
            key = Fernet.generate_key()
            if create_private(self.path, key):
                return key
            key = self.path.read_bytes().strip()  # another process created it first: use theirs
        if stat.S_IMODE(self.path.stat().st_mode) & 0o077:
            self.path.chmod(0o600)
        return fernet_key_from(key)


def choose_provider(
    credentials_dir: Path, provider: str = "auto", key_file: Path | None = None
) -> KeyProvider:
    """The provider ``storage.key_provider`` names (``auto``: the best the system offers)."""
    if provider not in PROVIDERS:
        raise KeyUnavailable(f"unknown key provider {provider!r} (one of {', '.join(PROVIDERS)})")
    file_key = FileKey(key_file or default_key_file(credentials_dir))
    if file_key.path.resolve().parent == credentials_dir.resolve():
        raise KeyUnavailable(f"{file_key.path}: the key file must not be beside the tokens")
    if provider == "systemd-credential":
        return SystemdCredentialKey()
    if provider == "secret-service":
        return SecretServiceKey(credentials_dir)
    if provider == "file":
        return file_key
    systemd = SystemdCredentialKey()
    if systemd.available():
        return systemd
    keyring = SecretServiceKey(credentials_dir)
    if keyring.available():
        return keyring
    return file_key
