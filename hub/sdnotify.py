"""Telling systemd how the hub is: ``READY=1`` once it serves, ``WATCHDOG=1`` while its event
loop turns, ``STOPPING=1`` on the way out, and a one-line ``STATUS=``.

The protocol (sd_notify(3)) is a datagram of ``KEY=value`` lines to the ``AF_UNIX`` socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace); a dozen lines, so written
here rather than taken from a library. Without ``$NOTIFY_SOCKET`` (not under systemd, or a unit
that is not ``Type=notify``) every call does nothing. The watchdog pings from the hub's own
event loop at half of ``$WATCHDOG_USEC``: a loop that hangs stops the pings, and systemd
restarts the hub (``WatchdogSec=`` in the unit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """The hub's line to systemd (see the module docstring)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self.watchdog_s = _watchdog_interval(env)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when there is nowhere to send."""
        if self.address is None:
            return False
        address = self.address
        if address.startswith("@"):  # the abstract namespace
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            log.warning("could not notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "running") -> bool:
        return self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")

    def start_watchdog(self) -> None:
        """Ping ``WATCHDOG=1`` from this event loop while it runs (when systemd asks for it)."""
        if self.enabled and self.watchdog_s and self._task is None:
            self._task = asyncio.create_task(self._pings(), name="sd-watchdog")

    async def stop_watchdog(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _pings(self) -> None:
        assert self.watchdog_s is not None
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 2)


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """``$WATCHDOG_USEC`` in seconds, if it is meant for this process (``$WATCHDOG_PID``)."""
    usec = env.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000
