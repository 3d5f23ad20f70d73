"""One hub per data directory: an exclusive lock on ``<data_dir>/hub.lock``.

Two hubs on one data directory would share tokens (a single-use refresh token spent twice), a
queue, a press log and the control socket: the second would take over ``control.sock``, delete it
on exit and disconnect every channel at Frame.io under the first. So the first thing a hub (and
every command that writes the data directory) does is take this lock; a second one fails at
once with :class:`DataDirBusy`, naming the process that holds it, before it has touched anything
(no file written, no socket bound, no call to Frame.io).

The lock is ``flock(LOCK_EX | LOCK_NB)`` on an open file: the kernel drops it when the holder's
process ends, however it ends (a crash, SIGKILL, a power cut), so a stale lock cannot exist and
the file is never deleted (deleting it would let two processes lock two different files). The
holder writes its pid into the file, for the message only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from c2c_hub.errors import HubError

LOCK_FILE = "hub.lock"


class DataDirBusy(HubError, RuntimeError):
    """Another process holds the data directory's lock."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        who = f"another c2c-hub (pid {pid})" if pid else "another c2c-hub (pid unknown)"
        super().__init__(
            f"{who} is using the data directory {directory}; stop it first, or give this one "
            "its own storage.data_dir. Nothing was changed."
        )


class DataDirLock:
    """The exclusive lock on one data directory (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        """Take the lock, or raise :class:`DataDirBusy` (having changed nothing)."""
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirBusy(self.directory, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the lock go (the file stays: see the module docstring)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder(directory: Path) -> int | None:
    """The pid of the live process holding ``directory`` 's lock, without taking it (a look must
    never stop a hub from starting); None when no process does.

    A hub that ends cleanly empties the file; one that was killed leaves its pid behind, so the
    pid counts only while that process is alive.
    """
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        pid = _read_pid(fd)
    finally:
        os.close(fd)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
