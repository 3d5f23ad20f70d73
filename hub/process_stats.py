"""The hub process's own footprint, for the status: memory, open files, threads, asyncio tasks.

Read from ``/proc/self`` on Linux (where the hub runs); elsewhere the fields the platform does
not give are ``null``. Cheap (a few small reads): the status is built every second. Operators
and the soak test watch these stay flat over days of running (a leak shows as a slope).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

_PROC = Path("/proc/self")


def _rss_bytes() -> int | None:
    try:
        with (_PROC / "statm").open() as f:
            fields = f.read().split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def _open_files() -> int | None:
    try:
        return len(os.listdir(_PROC / "fd"))
    except OSError:
        return None


def _threads() -> int:
    try:
        return len(os.listdir(_PROC / "task"))  # every OS thread, native ones too
    except OSError:
        return threading.active_count()


def _tasks() -> int | None:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop in this thread
        return None


def process_stats() -> dict[str, Any]:
    """``{"pid", "rss_bytes", "fds", "threads", "tasks"}`` of this process, now."""
    return {
        "pid": os.getpid(),
        "rss_bytes": _rss_bytes(),
        "fds": _open_files(),
        "threads": _threads(),
        "tasks": _tasks(),
    }
