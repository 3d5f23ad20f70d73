"""What the kernel knows about a part stream's TCP connection (Linux ``TCP_INFO``).

A flow's throughput over a few seconds is a poor guide to whether more flows would help: on a
lossy link one CUBIC flow's rate swings by ±60 % from one 2 s epoch to the next. The kernel's
own view of each connection is steadier and says *why* a flow carries what it carries:

- ``rtt`` against ``min_rtt``: the smoothed RTT above the least seen means packets wait in the
  bottleneck's queue, so the link is full and another flow only takes from the others;
- ``bytes_retrans`` against ``bytes_sent``: losses, which make loss-based congestion control
  (CUBIC, Reno) shrink its window; with RTT at its minimum they are the link's random loss, not
  congestion, and another flow adds nearly its own share;
- ``busy_time``, ``rwnd_limited``, ``sndbuf_limited``: how long the flow had data to send, and
  how much of that it was held by the receiver's window or its own send buffer rather than by
  its congestion window.

:func:`read` parses ``struct tcp_info`` (``include/uapi/linux/tcp.h``) for the fields the
running kernel fills: the struct grew over the years, so a field beyond the length the kernel
returns is None. Where ``TCP_INFO`` does not exist (not Linux) or a socket refuses it,
:func:`read` answers None, and the caller does what it did before (throughput alone).
"""

from __future__ import annotations

import socket
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: ``TCP_INFO`` (11 on Linux); None where the system has none.
TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)

#: Bytes asked for: up to ``tcpi_snd_wnd`` (kernel 5.4+) and some room for later fields.
ASK = 256

# (name, offset, struct format) of the fields used, as laid out in include/uapi/linux/tcp.h.
_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("state", 0, "B"),
    ("ca_state", 1, "B"),
    ("snd_mss", 16, "I"),
    ("lost", 32, "I"),  # segments currently thought lost
    ("rtt_us", 68, "I"),  # smoothed RTT
    ("rttvar_us", 72, "I"),
    ("snd_ssthresh", 76, "I"),
    ("snd_cwnd", 80, "I"),  # segments
    ("total_retrans", 100, "I"),  # segments retransmitted over the connection's life
    ("pacing_rate", 104, "Q"),  # bytes/s
    ("bytes_acked", 120, "Q"),  # kernel 4.1+
    ("notsent_bytes", 144, "I"),  # kernel 4.6+
    ("min_rtt_us", 148, "I"),
    ("delivery_rate", 160, "Q"),  # bytes/s, kernel 4.9+
    ("busy_time_us", 168, "Q"),  # kernel 4.10+
    ("rwnd_limited_us", 176, "Q"),
    ("sndbuf_limited_us", 184, "Q"),
    ("bytes_sent", 200, "Q"),  # kernel 4.19+
    ("bytes_retrans", 208, "Q"),
)


#: Where the last field used ends (a recording keeps this much of each reading).
USED = max(offset + struct.calcsize(fmt) for _, offset, fmt in _FIELDS)


@dataclass(frozen=True)
class TcpInfo:
    """The fields of one ``TCP_INFO`` reading (None: the kernel's struct stops before it)."""

    state: int
    ca_state: int | None = None
    snd_mss: int | None = None
    lost: int | None = None
    rtt_us: int | None = None
    rttvar_us: int | None = None
    snd_ssthresh: int | None = None
    snd_cwnd: int | None = None
    total_retrans: int | None = None
    pacing_rate: int | None = None
    bytes_acked: int | None = None
    notsent_bytes: int | None = None
    min_rtt_us: int | None = None
    delivery_rate: int | None = None
    busy_time_us: int | None = None
    rwnd_limited_us: int | None = None
    sndbuf_limited_us: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None

    @classmethod
    def parse(cls, raw: bytes) -> TcpInfo | None:
        """The fields ``raw`` (what ``getsockopt`` returned) holds; None if it holds none."""
        if len(raw) < 1:
            return None
        values: dict[str, Any] = {}
        for name, offset, fmt in _FIELDS:
            end = offset + struct.calcsize(fmt)
            if end <= len(raw):
                values[name] = struct.unpack_from("=" + fmt, raw, offset)[0]
        return cls(**values)


def read(sock: Any) -> TcpInfo | None:
    """``TCP_INFO`` of a connected socket (an ``ssl.SSLSocket`` too), or None where the system
    or the socket gives none (not Linux, closed, not TCP)."""
    if TCP_INFO is None:
        return None
    try:
        raw: bytes = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, ASK)
    except (OSError, ValueError, AttributeError):
        return None
    return TcpInfo.parse(raw)


@dataclass(frozen=True)
class LinkSignal:
    """One epoch of the part streams' connections, as their ``TCP_INFO`` tells it."""

    streams: int  # connections read in the epoch
    rtt_s: float  # the median of their smoothed RTTs over the epoch
    min_rtt_s: float  # the least RTT the path showed lately (its propagation delay)
    sent: int  # bytes sent in the epoch (retransmissions included)
    retrans: int  # bytes retransmitted in the epoch
    busy_s: float  # summed over the connections: time with data to send
    rwnd_limited_s: float  # ... of it held by the receiver's window
    loss_based: bool  # a connection runs a loss-based congestion control (not BBR)

    @property
    def queueing_s(self) -> float:
        """How long packets waited in the bottleneck's queue (RTT above its minimum)."""
        return max(0.0, self.rtt_s - self.min_rtt_s)

    @property
    def loss(self) -> float:
        """The share of bytes sent that were sent again."""
        return self.retrans / self.sent if self.sent else 0.0

    @property
    def rwnd_share(self) -> float:
        return self.rwnd_limited_s / self.busy_s if self.busy_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "rtt_ms": round(self.rtt_s * 1e3, 1),
            "min_rtt_ms": round(self.min_rtt_s * 1e3, 1),
            "retrans_pct": round(self.loss * 100, 2),
            "rwnd_limited_pct": round(self.rwnd_share * 100, 1),
        }


@dataclass
class _Seen:
    last: TcpInfo
    loss_based: bool


class LinkMeter:
    """Reads the part streams' sockets during an epoch and sums it up (:meth:`epoch`).

    Counters are cumulative per connection, so each reading counts what changed since the one
    before on the same socket (a connection first seen counts from its start). The path's
    minimum RTT is the least ``min_rtt`` of the last ``memory`` epochs, so a new network (a
    different path) is learnt within them.
    """

    def __init__(
        self, memory: int = 30, reader: Callable[[Any], TcpInfo | None] | None = None
    ) -> None:
        self._read = reader or read
        # per socket while it lives (an idle keep-alive connection comes back with its counts)
        self._seen: weakref.WeakKeyDictionary[Any, _Seen] = weakref.WeakKeyDictionary()
        self._rtts: list[int] = []
        self._epoch_min: int | None = None
        self._mins: list[int] = []
        self.memory = memory
        self._sent = self._retrans = 0
        self._busy = self._rwnd = 0
        self._loss_based = False
        self._streams: set[int] = set()

    def sample(self, sockets: list[Any]) -> None:
        """One reading of every socket in ``sockets`` (those sending parts now)."""
        for sock in sockets:
            info = self._read(sock)
            if info is None or info.rtt_us is None or not info.rtt_us:
                continue
            seen = self._seen.get(sock)
            if seen is None:  # first seen: count from the connection's start
                seen = self._seen[sock] = _Seen(TcpInfo(state=info.state), _loss_based(sock))
            self._add(seen, info)
            seen.last = info
            self._streams.add(id(sock))

    def recheck(self) -> None:
        """Read again which congestion control each socket runs (it was switched)."""
        for sock, seen in list(self._seen.items()):
            seen.loss_based = _loss_based(sock)

    def _add(self, seen: _Seen, info: TcpInfo) -> None:
        last = seen.last
        assert info.rtt_us is not None
        self._rtts.append(info.rtt_us)
        if info.min_rtt_us:
            self._epoch_min = min(self._epoch_min or info.min_rtt_us, info.min_rtt_us)
        self._sent += _delta(info.bytes_sent, last.bytes_sent)
        if info.bytes_retrans is not None:
            self._retrans += _delta(info.bytes_retrans, last.bytes_retrans)
        elif info.total_retrans is not None and info.snd_mss:  # before kernel 4.19
            self._retrans += _delta(info.total_retrans, last.total_retrans) * info.snd_mss
        self._busy += _delta(info.busy_time_us, last.busy_time_us)
        self._rwnd += _delta(info.rwnd_limited_us, last.rwnd_limited_us)
        self._loss_based |= seen.loss_based

    def epoch(self) -> LinkSignal | None:
        """What the epoch's readings say, then a new epoch; None when nothing was read."""
        rtts, self._rtts = sorted(self._rtts), []
        if self._epoch_min is not None:
            self._mins = [*self._mins, self._epoch_min][-self.memory :]
        self._epoch_min = None
        signal = None
        if rtts and self._mins:
            signal = LinkSignal(
                streams=len(self._streams),
                rtt_s=rtts[len(rtts) // 2] / 1e6,
                min_rtt_s=min(self._mins) / 1e6,
                sent=self._sent,
                retrans=self._retrans,
                busy_s=self._busy / 1e6,
                rwnd_limited_s=self._rwnd / 1e6,
                loss_based=self._loss_based,
            )
        self._sent = self._retrans = self._busy = self._rwnd = 0
        self._loss_based = False
        self._streams = set()
        return signal


def _delta(now: int | None, before: int | None) -> int:
    if now is None:
        return 0
    return max(0, now - (before or 0))


def _loss_based(sock: Any) -> bool:
    """Whether the socket's congestion control reads loss as congestion (all but BBR)."""
    option = getattr(socket, "TCP_CONGESTION", None)
    if option is None:
        return True
    try:
        name: bytes = sock.getsockopt(socket.IPPROTO_TCP, option, 16)
    except (OSError, ValueError, AttributeError):
        return True
    return not name.rstrip(b"\0").startswith(b"bbr")
