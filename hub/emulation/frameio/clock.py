"""The emulator's clock: wall time plus an offset that tests advance.

Token lifetimes (8 h / 14 d), device-code expiry, upload-URL expiry, pause windows and rate-limit
windows all read this clock, so a test can move through a day in milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        with self._lock:
            return self._source() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._source() + self._offset

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset
