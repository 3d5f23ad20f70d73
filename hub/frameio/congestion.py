"""TCP congestion control per socket: BBR where the kernel offers it, else the system default.

On a lossy, long link (a bonded cellular modem, a hotspot) the congestion control decides the
upload rate more than anything else: loss-based CUBIC halves its window at every lost packet,
so at 0.5 % loss and 80 ms RTT one flow carries a few Mbit/s whatever the link's rate, while
BBR paces to the bottleneck it measures and keeps ~85-95 % of the link. Most systems default to
CUBIC, and a hub cannot (and should not) change the system-wide default; but Linux lets each
socket choose (``TCP_CONGESTION``), so the hub's own connections ask for BBR.

:func:`choose` decides once, at start, by asking the kernel (a throwaway socket is set and read
back, which also honours ``tcp_allowed_congestion_control`` for unprivileged processes):

- ``auto`` (the default): ``cubic`` per socket, and ``bbr`` once the uploads see random loss
  (``upgrade``: the uploader switches its part streams' sockets, live and new, see
  :class:`c2c_hub.uploader.streams.CongestionUpgrade`); ``bbr`` from the start when the kernel
  lets a socket use BBR but not CUBIC; else the system default untouched. On a clean link
  CUBIC keeps the link fuller than BBR (whose probing of the minimum RTT empties the pipe for
  200 ms every 10 s, and whose pacing leaves a few per cent unused: 96.9 % against 98.8 % of a
  raw TCP flow at 50 Mbit/s, measured); on a lossy one BBR carries several times more;
- ``system``: never set anything;
- a name (``bbr``, ``cubic``, ``reno`` ...): that one, or the system default, with the reason,
  when the kernel refuses it (the hub still runs).

:meth:`CongestionControl.socket_options` is what ``httpx.AsyncHTTPTransport(socket_options=...)``
takes; :meth:`CongestionControl.status` goes in the uploads section of the status.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

AVAILABLE = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
DEFAULT = Path("/proc/sys/net/ipv4/tcp_congestion_control")
PREFERRED = "bbr"

#: ``(level, option, value)``, as httpx/httpcore take them.
SocketOption = tuple[int, int, bytes]


@dataclass(frozen=True)
class CongestionControl:
    """What the hub's sockets use: ``algorithm`` set per socket, or None (the system's)."""

    requested: str
    algorithm: str | None
    system_default: str | None
    available: tuple[str, ...]
    reason: str
    #: what the part streams switch to once they see random loss (``auto``), or None
    upgrade: str | None = None

    @property
    def effective(self) -> str | None:
        """The algorithm a new connection of the hub runs."""
        return self.algorithm or self.system_default

    def socket_options(self) -> list[SocketOption]:
        if self.algorithm is None:
            return []
        return [(socket.IPPROTO_TCP, TCP_CONGESTION, self.algorithm.encode())]

    def status(self) -> dict[str, object]:
        return {
            "requested": self.requested,
            "algorithm": self.effective,
            "per_socket": self.algorithm is not None,
            "system_default": self.system_default,
            "available": list(self.available),
            "reason": self.reason,
            "switches_to": self.upgrade,
        }


#: ``TCP_CONGESTION`` (13 on Linux), for code that sets it on sockets of its own
TCP_CONGESTION: int = getattr(socket, "TCP_CONGESTION", 13)


def _read_words(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text().split())
    except OSError:
        return ()


def probe(algorithm: str) -> str | None:
    """Why a socket of this process may not use ``algorithm``, or None when it may."""
    if not hasattr(socket, "TCP_CONGESTION"):
        return "this system sets no congestion control per socket"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode())
            got = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    except OSError as exc:
        return f"the kernel refused it ({exc.strerror or exc})"
    if got.rstrip(b"\0").decode(errors="replace") != algorithm:
        return "the kernel did not keep it"
    return None


def choose(
    requested: str = "auto",
    *,
    available_path: Path = AVAILABLE,
    default_path: Path = DEFAULT,
    may_use: Callable[[str], str | None] = probe,
) -> CongestionControl:
    """Decide what the hub's sockets use (see the module doc); never raises."""
    requested = requested.strip().lower() or "auto"
    available = _read_words(available_path)
    default = next(iter(_read_words(default_path)), None)

    def system(reason: str) -> CongestionControl:
        return CongestionControl(requested, None, default, available, reason)

    if requested == "system":
        return system("the system default, as configured")
    wanted = PREFERRED if requested == "auto" else requested
    if available and wanted not in available:
        refusal: str | None = "the kernel does not offer it"
    else:
        refusal = may_use(wanted)
    if refusal is not None:
        reason = f"{wanted} unavailable ({refusal}): the system default"
        if requested != "auto":
            log.warning("congestion control %s: %s", requested, reason)
        return system(reason)
    if requested == "auto":
        start = "cubic"
        if (not available or start in available) and may_use(start) is None:
            reason = (
                f"{start} per socket (it fills a clean link), {wanted} once the uploads see "
                "random loss (it keeps lossy, long links full)"
            )
            return CongestionControl(requested, start, default, available, reason, upgrade=wanted)
        reason = f"{wanted} per socket (it keeps lossy, long links full)"
    else:
        reason = f"{wanted} per socket, as configured"
    return CongestionControl(requested, wanted, default, available, reason)


def of_socket(sock: Any) -> str | None:
    """The congestion control a connected socket (or asyncio's wrapper of one) runs."""
    if not hasattr(socket, "TCP_CONGESTION"):
        return None
    raw: bytes = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    return raw.rstrip(b"\0").decode(errors="replace")
