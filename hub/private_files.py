"""Files only their owner reads: written atomically and durably, in owner-only folders."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a new owner-only file beside ``path``, fsynced: a name no other writer uses."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably, readable by the owner only.

    Two processes may write the same file at once (a command and the running hub): each writes
    its own temporary file, and the last rename wins whole.
    """
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_private(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` (owner-only, durable) unless it exists; True if created.

    For a value that must be one and the same for every process (a key): whoever links first
    wins, and everyone else reads what the winner wrote instead of replacing it.
    """
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def ensure_private_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        directory.chmod(0o700)
    return directory
