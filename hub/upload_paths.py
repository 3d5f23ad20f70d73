"""Which files an outside caller may have the hub upload: regular files under known folders.

The control API (and anything else that takes a path from outside the hub) passes every path
through :func:`confine` before it reaches the uploader. A path is accepted only when, after
resolving every symlink and ``..``, it names a regular file inside one of the allowed roots: the
recordings folder and the folders the operator listed in ``control.upload_roots``. FIFOs,
devices (``/dev/zero``), sockets, folders, and anything outside the roots (``/etc/shadow``, the
hub's own ``credentials.key``) are refused with the reason.

The hub's own data directory is never a root, even when a listed folder contains it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from c2c_hub.errors import HubError


class UploadPathRefused(HubError, ValueError):
    """A path the hub will not upload, and why."""


def confine(
    path: str | os.PathLike[str], roots: Iterable[Path], *, private: Path | None = None
) -> Path:
    """The resolved path of ``path`` if it may be uploaded, else :class:`UploadPathRefused`.

    ``roots`` are the allowed folders; ``private`` (the hub's data directory) is refused even
    inside a root.
    """
    given = Path(path)
    if not given.is_absolute():
        raise UploadPathRefused(f"{given}: give an absolute path")
    try:
        resolved = given.resolve(strict=True)
    except FileNotFoundError:
        raise UploadPathRefused(f"{given}: no such file") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
        raise UploadPathRefused(f"{given}: cannot be resolved ({exc})") from None
    allowed = [Path(root).resolve() for root in roots]
    if private is not None and resolved.is_relative_to(private.resolve()):
        raise UploadPathRefused(f"{given}: the hub's own data directory is never uploaded")
    if not any(resolved.is_relative_to(root) for root in allowed):
        where = ", ".join(str(root) for root in allowed) or "(none)"
        raise UploadPathRefused(
            f"{given}: outside the folders the hub uploads from ({where}); "
            "add its folder to control.upload_roots to allow it"
        )
    try:
        mode = os.stat(resolved).st_mode
    except OSError as exc:
        raise UploadPathRefused(f"{given}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise UploadPathRefused(f"{given}: not a regular file ({_kind(mode)})")
    return resolved


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"
