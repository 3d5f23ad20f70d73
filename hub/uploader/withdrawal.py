"""Withdrawing a PUT at a recording's stop, while its last byte has not gone.

A re-send of a grown part (an append-only file's tail bound) can be in flight when its
recording stops. S3 stores a part only once its whole body has arrived: a PUT whose last chunk
was never handed to the socket cannot be stored, so the part's earlier upload stands, and the
stop need not wait for the re-send (see :meth:`c2c_hub.uploader.realtime.RealtimeUploads.\
_withdraw_resends`).
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
from collections.abc import Callable

from c2c_hub.uploader.errors import Withdrawn

__all__ = ["Withdrawal", "Withdrawn", "send_queue"]


class Withdrawal:
    """Lets a PUT be withdrawn (at a recording's stop) until its last chunk is handed over.

    The sending side calls :meth:`last_chunk` just before it hands the body's last chunk to
    the socket; :meth:`withdraw` succeeds only before that. Both take one lock, so exactly one
    of them wins: either the server gets the whole body (the PUT must then be waited for), or
    it never does (the PUT can be dropped, and the part's earlier upload stands: S3 keeps the
    latest *complete* upload of a part number, R10/R11).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.handed = 0  # bytes the socket has taken so far (the httpx path: yielded to it)
        #: bytes handed over but still in the kernel's send queue, not acknowledged by the
        #: peer (set by a sender that has the socket; else none are counted)
        self.queued: Callable[[], int] | None = None
        self._lock = threading.Lock()
        self._state = "open"  # -> "committed" | "withdrawn"

    def left(self) -> int:
        """Bytes the peer has still to get: not handed over yet, or queued in the kernel."""
        queued = self.queued() if self.queued is not None else 0
        return self.size - self.handed + queued

    def handed_over(self, nbytes: int) -> None:
        self.handed += nbytes

    def last_chunk(self) -> bool:
        """The last chunk is about to go: True, and the PUT can no longer be withdrawn; False
        if it was withdrawn already (the chunk must not go)."""
        with self._lock:
            if self._state == "withdrawn":
                return False
            self._state = "committed"
            return True

    def withdraw(self, worth: Callable[[int], bool] | None = None) -> bool:
        """Withdraw the PUT if its last chunk has not gone, and ``worth(``:meth:`left```)``
        says so. True: the last chunk never goes."""
        with self._lock:
            if self._state != "open":
                return False
            if worth is not None and not worth(self.left()):
                return False
            self._state = "withdrawn"
            return True

    @property
    def withdrawn(self) -> bool:
        return self._state == "withdrawn"

    @property
    def committed(self) -> bool:
        """The last chunk has gone (or is going): the PUT must be waited for."""
        return self._state == "committed"


def send_queue(sock: socket.socket | None) -> Callable[[], int]:
    """How many bytes ``sock``'s kernel send queue holds (sent or not, not yet acknowledged by
    the peer: ``TIOCOUTQ``); 0 once the socket is gone."""

    def queued() -> int:
        if sock is None:
            return 0
        try:
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        except (OSError, ValueError):
            return 0
        return int(struct.unpack("i", raw)[0])

    return queued
