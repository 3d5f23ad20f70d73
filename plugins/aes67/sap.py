"""SAP (RFC 2974): session announcements carrying SDP, received and sent.

- :func:`parse_sap` / :func:`build_sap`: one packet. Compressed and encrypted packets are
  refused (:class:`SapError`, with the reason): AES67 gear sends neither, and RFC 2974 4 lets
  a receiver ignore them.
- :class:`SapDirectory`: what is announced now. Announcements are keyed by their origin
  address and message id hash; a deletion packet removes one; an announcement not repeated
  within the time-out expires. Time is passed in, so the rules are tested without waiting.
- :func:`open_sap_socket`: a UDP socket on port 9875 joined to the SAP groups on one interface.
- :class:`SapAnnouncer`: sends an announcement every ``interval`` seconds, and a deletion when
  it stops (the emulated sender uses it).

The groups: 239.255.255.255 is the SAP group of the IPv4 local scope (239.255.0.0/16, where
AES67 and Dante announce); 224.2.127.254 is the global scope's. Others (the highest address of an
administratively scoped zone, RFC 2365) can be passed as ``groups``.

No hub imports.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from c2c_hub.kit import HubError

SAP_PORT = 9875
#: Linux delivers to a socket bound to a port every group any socket joined there, unless this
#: is off: a receiver hears only the groups it joined itself.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
SAP_GROUPS = ("239.255.255.255", "224.2.127.254")
SDP_TYPE = "application/sdp"
MAX_SAP_BYTES = 65507
DEFAULT_TIMEOUT_S = 300.0


class SapError(HubError, ValueError):
    """A SAP packet the hub ignores; the message says why."""


@dataclass(frozen=True)
class SapPacket:
    deletion: bool
    msg_id_hash: int
    origin: str  # the originating source's address (IPv4 or IPv6)
    payload_type: str
    sdp: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.origin, self.msg_id_hash)


def parse_sap(data: bytes) -> SapPacket:
    """One SAP packet; :class:`SapError` with the reason when it is unusable."""
    if len(data) < 8:
        raise SapError(f"{len(data)} bytes, shorter than a SAP header (8)")
    b0, auth_len, msg_hash = struct.unpack_from("!BBH", data)
    version = b0 >> 5
    if version != 1:
        raise SapError(f"SAP version {version}, expected 1")
    if b0 & 0x02:
        raise SapError("encrypted announcement (E bit set): encrypted SAP is not supported")
    if b0 & 0x01:
        raise SapError("compressed announcement (C bit set): zlib-compressed SAP is not supported")
    ipv6 = bool(b0 & 0x10)
    addr_len = 16 if ipv6 else 4
    offset = 4 + addr_len + 4 * auth_len
    if len(data) < offset:
        raise SapError("header (origin address, authentication data) cut short")
    raw_origin = data[4 : 4 + addr_len]
    origin = str(ipaddress.IPv6Address(raw_origin) if ipv6 else ipaddress.IPv4Address(raw_origin))
    body = data[offset:]
    payload_type = SDP_TYPE
    if not body.startswith(b"v=0"):
        nul = body.find(b"\0")
        if nul < 0 or nul > 255:
            raise SapError("no payload type, and the payload does not start with v=0")
        payload_type = body[:nul].decode("ascii", "replace")
        body = body[nul + 1 :]
        if payload_type.lower() != SDP_TYPE:
            raise SapError(f"payload type {payload_type!r}: only {SDP_TYPE} is understood")
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SapError(f"the SDP is not UTF-8: {exc}") from None
    return SapPacket(bool(b0 & 0x04), msg_hash, origin, payload_type, sdp)


def build_sap(
    sdp: str, origin: str, *, deletion: bool = False, msg_id_hash: int | None = None
) -> bytes:
    """An uncompressed, unauthenticated SAP packet (V=1) with the ``application/sdp`` type."""
    address = ipaddress.ip_address(origin)
    ipv6 = isinstance(address, ipaddress.IPv6Address)
    b0 = 0x20 | (0x10 if ipv6 else 0) | (0x04 if deletion else 0)
    body = sdp.encode("utf-8")
    if msg_id_hash is None:
        msg_id_hash = zlib.crc32(body) & 0xFFFF or 1
    head = struct.pack("!BBH", b0, 0, msg_id_hash & 0xFFFF) + address.packed
    return head + SDP_TYPE.encode("ascii") + b"\0" + body


# ---------------------------------------------------------------------------------- directory
@dataclass
class Announcement:
    key: tuple[str, int]
    sdp: str
    first_seen: float
    last_seen: float
    interval: float | None = None  # the last gap between repetitions


@dataclass(frozen=True)
class SapEvent:
    """``kind``: ``"new"``, ``"changed"`` (same key or same SDP origin, new text),
    ``"deleted"`` (a deletion packet) or ``"expired"`` (not repeated in time)."""

    kind: str
    key: tuple[str, int]
    sdp: str


def _sdp_origin(sdp: str) -> str | None:
    for line in sdp.splitlines():
        if line.startswith("o="):
            parts = line[2:].split()
            if len(parts) == 6:
                return " ".join((parts[0], parts[1], parts[5]))  # identity: no version
    return None


class SapDirectory:
    """The sessions announced now, by ``(origin address, msg id hash)``.

    :param timeout_s: the least time an announcement lives without being repeated. RFC 2974
        says ten announcement intervals or one hour, whichever is greater; a set wants to
        know sooner, so here it is the greater of ``timeout_s`` and ten observed intervals.
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._live: dict[tuple[str, int], Announcement] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, key: tuple[str, int]) -> Announcement | None:
        return self._live.get(key)

    def feed(self, packet: SapPacket, now: float) -> list[SapEvent]:
        if packet.deletion:
            return self._delete(packet)
        events: list[SapEvent] = []
        known = self._live.get(packet.key)
        if known is None:
            # a modified session may come with a new hash: the same SDP origin replaces it. The
            # new one is told first, so a receiver keeps a stream both describe running.
            self._live[packet.key] = Announcement(packet.key, packet.sdp, now, now)
            events.append(SapEvent("new", packet.key, packet.sdp))
            origin = _sdp_origin(packet.sdp)
            for key, other in list(self._live.items()):
                if key == packet.key or origin is None or key[0] != packet.origin:
                    continue
                if _sdp_origin(other.sdp) == origin:
                    del self._live[key]
                    events.append(SapEvent("deleted", key, other.sdp))
            return events
        known.interval = now - known.last_seen
        known.last_seen = now
        if known.sdp != packet.sdp:
            known.sdp = packet.sdp
            events.append(SapEvent("changed", packet.key, packet.sdp))
        return events

    def _delete(self, packet: SapPacket) -> list[SapEvent]:
        known = self._live.pop(packet.key, None)
        if known is None:
            # RFC 2974: a deletion may carry only the o= line; match by origin
            origin = _sdp_origin(packet.sdp)
            for key, other in list(self._live.items()):
                if key[0] == packet.origin and origin and _sdp_origin(other.sdp) == origin:
                    known = self._live.pop(key)
                    break
        if known is None:
            return []
        return [SapEvent("deleted", known.key, known.sdp)]

    def expire(self, now: float) -> list[SapEvent]:
        events = []
        for key, known in list(self._live.items()):
            bound = max(self.timeout_s, 10 * (known.interval or 0.0))
            if now - known.last_seen > bound:
                del self._live[key]
                events.append(SapEvent("expired", key, known.sdp))
        return events


# ---------------------------------------------------------------------------------- sockets
def open_sap_socket(interface: str, groups: Iterable[str] = SAP_GROUPS) -> socket.socket:
    """A non-blocking UDP socket on port 9875, joined to ``groups`` on ``interface``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # not on every system; then every group is heard
            sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.bind(("", SAP_PORT))
        for group in groups:
            mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def multicast_sender(interface: str, ttl: int = 1) -> socket.socket:
    """A UDP socket that sends multicast out of ``interface`` (and loops it back locally)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    return sock


class SapAnnouncer:
    """Announces one SDP every ``interval`` seconds on a thread of its own; a deletion at stop.

    ``group`` is 239.255.255.255 unless given; ``origin`` is the address put in the packets.
    """

    def __init__(
        self,
        sdp: str,
        *,
        origin: str,
        interface: str,
        interval: float = 1.0,
        group: str = SAP_GROUPS[0],
        port: int = SAP_PORT,
    ) -> None:
        self.sdp = sdp
        self.origin = origin
        self.interface = interface
        self.interval = interval
        self.group = group
        self.port = port
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._hash = zlib.crc32(sdp.encode()) & 0xFFFF or 1

    def start(self) -> None:
        self._sock = multicast_sender(self.interface)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sap-announcer", daemon=True)
        self._thread.start()

    def announce(self, sdp: str | None = None) -> None:
        """Send now (with a new SDP: a modified session, a new message id hash)."""
        if sdp is not None and sdp != self.sdp:
            self.sdp = sdp
            self._hash = zlib.crc32(sdp.encode()) & 0xFFFF or 1
        self._send(deletion=False)

    def stop(self, delete: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            if delete:
                self._send(deletion=True)
            self._sock.close()
            self._sock = None

    def _send(self, deletion: bool) -> None:
        if self._sock is None:
            return
        packet = build_sap(self.sdp, self.origin, deletion=deletion, msg_id_hash=self._hash)
        try:
            self._sock.sendto(packet, (self.group, self.port))
            self.sent += 1
        except OSError:
            pass  # a missing route is the network's business; the next interval tries again

    def _run(self) -> None:
        while not self._stop.is_set():
            self._send(deletion=False)
            self._stop.wait(self.interval)
