"""Small formatters the screen and the plain lines share: every value a device or Frame.io
sent is made one printable line (:func:`clean`) before it is shown."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from c2c_hub.ui.terminal import big_code, qr_text
from c2c_hub.ui.terminal import spaced_code as spaced_code  # the one way to show a code

PAIRED_STATES = ("paired", "refreshing")
FINAL_PAIRING_STEPS = ("approved", "denied", "cancelled", "failed")

Status = Mapping[str, Any]


_UNSAFE = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_UNSAFE.update({c: "?" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})


def clean(value: Any) -> str:
    """``value`` as one printable line: a device's name cannot move the cursor or recolour."""
    return ("-" if value is None else str(value)).translate(_UNSAFE)


def size_text(nbytes: float | None) -> str:
    if nbytes is None:
        return "-"
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def rate_text(bps: float | None) -> str:
    return "-" if bps is None else f"{size_text(bps)}/s"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def clock_text(seconds: float) -> str:
    """Elapsed time the way a recorder shows it: ``m:ss`` or ``h:mm:ss``."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def local_time(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


@functools.lru_cache(maxsize=8)
def qr_block(url: str) -> str:
    return qr_text(url).rstrip("\n")


@functools.lru_cache(maxsize=8)
def big_digits(code: str) -> str:
    return big_code(code)
