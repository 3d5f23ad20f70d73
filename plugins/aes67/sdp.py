"""SDP (RFC 4566) as AES67, RAVENNA and Dante devices write it, for linear PCM audio streams.

:func:`parse_sdp` turns a session description into a :class:`Session` with one
:class:`MediaStream` per ``m=audio`` section, or raises :class:`SdpError` naming the line and
what is wrong with it. What it understands:

- the origin (``o=``): username, session id and address are the session's identity (RFC 4566
  5.2: they stay the same when the session is modified; the version changes);
- L16 and L24 (RFC 3190) at 44.1, 48 or 96 kHz, 1 to 64 channels, in ``a=rtpmap`` (or the static
  payload types 10 and 11, L16 at 44.1 kHz);
- the connection line (``c=``) at session or media level, with a TTL suffix for IPv4
  multicast (``c=IN IP4 239.69.1.1/32``), or IPv6 (``c=IN IP6 ff15::4:2``, no TTL);
- ``a=ptime`` (milliseconds, fractions allowed) and RAVENNA's ``a=framecount``;
- ``a=source-filter`` (RFC 4570), session or media level;
- channel labels in a media-level ``i=`` (``i=2 channels: Left, Right``);
- ``a=mediaclk:direct=<offset>`` (RFC 7273; a non-zero offset is common) and
  ``a=ts-refclk:ptp=IEEE1588-2008:<grandmaster id>:<domain>`` (or ``:traceable``), session or
  media level.

Anything absurd is refused: 0 or more than 64 channels, an encoding other than L16/L24, a
payload type outside 0..127 or not the one ``a=rtpmap`` describes, a packet time outside
0.1..20 ms. Unknown line types and attributes are ignored, as RFC 4566 asks.

Pure: no sockets, no hub imports.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from c2c_hub.kit import HubError

MAX_CHANNELS = 64
SAMPLE_RATES = (44100, 48000, 96000)
ENCODINGS = {"L16": 2, "L24": 3}  # bytes per sample
#: RFC 3551's static payload types for L16: 10 is stereo, 11 mono, both at 44.1 kHz.
STATIC_PAYLOADS = {10: ("L16", 44100, 2), 11: ("L16", 44100, 1)}
PTIME_MS_RANGE = (0.1, 20.0)
MAX_SDP_BYTES = 64 * 1024

_LINE_RE = re.compile(r"^([a-z])=(.*)$")


class SdpError(HubError, ValueError):
    """A session description the hub cannot use; the message names the line and the reason."""

    def __init__(self, message: str, line_no: int | None = None, line: str | None = None) -> None:
        where = ""
        if line_no is not None:
            shown = line if line is None or len(line) <= 80 else line[:77] + "..."
            where = f"line {line_no} {shown!r}: " if shown is not None else f"line {line_no}: "
        super().__init__(where + message)
        self.line_no = line_no
        self.line = line


@dataclass(frozen=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> IN IP4 <address>``."""

    username: str
    session_id: str
    version: str
    address: str

    @property
    def identity(self) -> str:
        """What stays the same when the session is re-announced or modified (not the version)."""
        return f"{self.username} {self.session_id} {self.address}"


@dataclass(frozen=True)
class RefClock:
    """``a=ts-refclk``: ``ptp=IEEE1588-2008:39-A7-94-FF-FE-07-CB-D0:0`` and its parts."""

    source: str  # "ptp", "localmac", "ntp", ...
    value: str  # everything after "<source>="
    ptp_version: str | None = None  # "IEEE1588-2008"
    grandmaster: str | None = None  # "39-A7-94-FF-FE-07-CB-D0"
    domain: int | None = None
    traceable: bool = False

    def __str__(self) -> str:
        return f"{self.source}={self.value}"


@dataclass(frozen=True)
class SourceFilter:
    """``a=source-filter: incl IN IP4 <dest> <src> ...`` (RFC 4570)."""

    mode: str  # "incl" or "excl"
    destination: str  # "*" for any
    sources: tuple[str, ...]

    def allows(self, source: str) -> bool:
        listed = source in self.sources
        return listed if self.mode == "incl" else not listed


@dataclass(frozen=True)
class MediaStream:
    """One ``m=audio`` section: where the RTP packets go and what they carry."""

    index: int  # 0-based among the session's m= sections
    address: str  # destination IPv4 or IPv6 address (multicast group or unicast)
    port: int
    ttl: int | None
    encoding: str  # "L16" or "L24"
    payload_type: int
    sample_rate: int
    channels: int
    ptime_ms: float | None
    framecount: int | None
    mediaclk_offset: int  # RTP timestamp at media clock zero (mod 2**32)
    refclock: RefClock | None
    source_filter: SourceFilter | None
    labels: tuple[str, ...]  # one per channel, or empty
    direction: str  # sendonly, recvonly, sendrecv, inactive
    info: str | None = None  # the media-level i= line, as written

    @property
    def multicast(self) -> bool:
        return ipaddress.ip_address(self.address).is_multicast

    @property
    def bytes_per_sample(self) -> int:
        return ENCODINGS[self.encoding]

    @property
    def bits(self) -> int:
        return 8 * self.bytes_per_sample

    @property
    def frames_per_packet(self) -> int | None:
        """Sample frames per packet from ``a=framecount``, else ``a=ptime``; None if neither."""
        if self.framecount is not None:
            return self.framecount
        if self.ptime_ms is None:
            return None
        return max(1, round(self.ptime_ms * self.sample_rate / 1000))

    def label(self, channel: int) -> str | None:
        return self.labels[channel] if channel < len(self.labels) else None

    @property
    def endpoint(self) -> str:
        """``address:port``, an IPv6 address in brackets (``[ff15::4:2]:5004``)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def same_format(self, other: MediaStream) -> bool:
        """True if a receiver of ``self`` can keep running for ``other`` (a re-announcement)."""
        keys = (
            "address",
            "port",
            "encoding",
            "payload_type",
            "sample_rate",
            "channels",
            "mediaclk_offset",
            "source_filter",
        )
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class Session:
    origin: Origin
    name: str
    info: str | None
    streams: tuple[MediaStream, ...]
    attributes: tuple[tuple[str, str], ...] = field(default=())  # session-level a= lines
    text: str = field(default="", repr=False, compare=False)

    @property
    def identity(self) -> str:
        return self.origin.identity

    def attribute(self, name: str) -> str | None:
        return next((v for k, v in self.attributes if k == name), None)


# ---------------------------------------------------------------------------------- parsing
@dataclass
class _Section:
    """The raw lines of the session part or of one m= section, with their line numbers."""

    line_no: int
    line: str
    connection: tuple[int, str, str] | None = None  # (line_no, line, value)
    info: str | None = None
    attributes: list[tuple[int, str, str, str]] = field(default_factory=list)  # no, line, k, v

    def attr(self, name: str) -> tuple[int, str, str] | None:
        for no, line, key, value in self.attributes:
            if key == name:
                return no, line, value
        return None


def parse_sdp(text: str | bytes) -> Session:
    """Parse a session description; :class:`SdpError` (naming the line) if it is unusable."""
    if isinstance(text, bytes):
        if len(text) > MAX_SDP_BYTES:
            raise SdpError(f"too long ({len(text)} bytes; at most {MAX_SDP_BYTES})")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError(f"not UTF-8 text: {exc}") from None
    if len(text) > MAX_SDP_BYTES:
        raise SdpError(f"too long ({len(text)} characters; at most {MAX_SDP_BYTES})")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    origin: Origin | None = None
    name: str | None = None
    session = _Section(0, "")
    media: list[_Section] = []
    current = session
    seen_version = False
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise SdpError("not an SDP line (<letter>=<value>)", no, line)
        kind, value = match.groups()
        if not seen_version:
            if kind != "v":
                raise SdpError("an SDP must start with v=0", no, line)
            if value.strip() != "0":
                raise SdpError("unsupported SDP version (only v=0)", no, line)
            seen_version = True
            continue
        if kind == "o" and current is session:
            origin = _origin(value, no, line)
        elif kind == "s" and current is session:
            name = value.strip()
        elif kind == "i":
            current.info = value.strip()
        elif kind == "c":
            current.connection = (no, line, value)
        elif kind == "a":
            key, _, attr_value = value.partition(":")
            current.attributes.append((no, line, key.strip().lower(), attr_value.strip()))
        elif kind == "m":
            current = _Section(no, line)
            media.append(current)
    if not seen_version:
        raise SdpError("empty: no v=0 line")
    if origin is None:
        raise SdpError("no origin (o=) line")
    if name is None:
        raise SdpError("no session name (s=) line")
    if not media:
        raise SdpError("no media (m=) line")
    streams = tuple(_stream(i, m, session) for i, m in enumerate(media))
    return Session(
        origin=origin,
        name=name,
        info=session.info,
        streams=streams,
        attributes=tuple((k, v) for _, _, k, v in session.attributes),
        text=text,
    )


def _origin(value: str, no: int, line: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("expected o=<username> <sess-id> <sess-version> IN IP4 <address>", no, line)
    username, session_id, version, nettype, addrtype, address = parts
    if nettype != "IN" or addrtype not in ("IP4", "IP6"):
        raise SdpError(f"unknown network/address type {nettype} {addrtype}", no, line)
    if not session_id.isdigit() or not version.isdigit():
        raise SdpError("sess-id and sess-version must be numbers", no, line)
    return Origin(username, session_id, version, address)


def _stream(index: int, section: _Section, session: _Section) -> MediaStream:
    no, line = section.line_no, section.line
    parts = line[2:].split()
    if len(parts) < 4:
        raise SdpError("expected m=audio <port> RTP/AVP <payload type>", no, line)
    media, port_text, proto, *formats = parts
    if media != "audio":
        raise SdpError(f"only audio streams are supported, not {media}", no, line)
    if proto not in ("RTP/AVP", "RTP/AVPF"):
        raise SdpError(f"transport {proto}: only RTP/AVP is supported", no, line)
    port_text = port_text.split("/")[0]
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise SdpError(f"port {port_text!r}: expected 1..65535", no, line)
    port = int(port_text)
    if len(formats) != 1:
        raise SdpError(
            f"expected one payload type, got {len(formats)} (an AES67 stream carries one)",
            no,
            line,
        )
    if not formats[0].isdigit() or not 0 <= int(formats[0]) <= 127:
        raise SdpError(f"payload type {formats[0]!r}: expected 0..127", no, line)
    payload_type = int(formats[0])
    encoding, rate, channels = _rtpmap(payload_type, section)

    address, ttl = _connection(section, session)
    ptime = _ptime(section)
    framecount = _framecount(section)
    return MediaStream(
        index=index,
        address=address,
        port=port,
        ttl=ttl,
        encoding=encoding,
        payload_type=payload_type,
        sample_rate=rate,
        channels=channels,
        ptime_ms=ptime,
        framecount=framecount,
        mediaclk_offset=_mediaclk(section, session),
        refclock=_refclock(section, session),
        source_filter=_source_filter(section, session),
        labels=_labels(section.info, channels),
        direction=_direction(section, session),
        info=section.info,
    )


def _rtpmap(payload_type: int, section: _Section) -> tuple[str, int, int]:
    """(encoding, rate, channels) from ``a=rtpmap:<pt> <enc>/<rate>[/<channels>]``."""
    found = None
    for no, line, key, value in section.attributes:
        if key != "rtpmap":
            continue
        pt_text, _, mapping = value.partition(" ")
        if pt_text.strip() != str(payload_type):
            raise SdpError(
                f"a=rtpmap describes payload type {pt_text.strip()}, but m= carries {payload_type}",
                no,
                line,
            )
        found = (no, line, mapping.strip())
    if found is None:
        if payload_type in STATIC_PAYLOADS:
            return STATIC_PAYLOADS[payload_type]
        raise SdpError(
            f"payload type {payload_type} has no a=rtpmap (dynamic types need one)",
            section.line_no,
            section.line,
        )
    no, line, mapping = found
    pieces = mapping.split("/")
    if len(pieces) not in (2, 3):
        raise SdpError("expected a=rtpmap:<pt> <encoding>/<rate>[/<channels>]", no, line)
    encoding = pieces[0].upper()
    if encoding not in ENCODINGS:
        raise SdpError(f"encoding {pieces[0]!r}: only L16 and L24 are supported", no, line)
    if not pieces[1].isdigit() or int(pieces[1]) not in SAMPLE_RATES:
        raise SdpError(
            f"sample rate {pieces[1]!r}: expected one of {', '.join(map(str, SAMPLE_RATES))}",
            no,
            line,
        )
    channels_text = pieces[2] if len(pieces) == 3 else "1"
    if not channels_text.isdigit() or not 1 <= int(channels_text) <= MAX_CHANNELS:
        raise SdpError(f"channel count {channels_text!r}: expected 1..{MAX_CHANNELS}", no, line)
    return encoding, int(pieces[1]), int(channels_text)


def _connection(section: _Section, session: _Section) -> tuple[str, int | None]:
    conn = section.connection or session.connection
    if conn is None:
        raise SdpError(
            "no connection (c=) line, neither in this m= section nor at session level",
            section.line_no,
            section.line,
        )
    no, line, value = conn
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError("expected c=IN IP4|IP6 <address>[/<ttl>]", no, line)
    if parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"address type {parts[1]}: expected IP4 or IP6", no, line)
    address, *suffix = parts[2].split("/")
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        ip = (ipaddress.IPv4Address if parts[1] == "IP4" else ipaddress.IPv6Address)(address)
    except ValueError:
        kind = "IPv4" if parts[1] == "IP4" else "IPv6"
        raise SdpError(f"{address!r} is not an {kind} address", no, line) from None
    ttl = None
    if ip.version == 6:
        # RFC 4566 5.7: an IPv6 multicast address has no TTL, only an optional address count
        if suffix and (len(suffix) > 1 or suffix[0] != "1"):
            what = "several multicast addresses" if ip.is_multicast else "a /suffix"
            raise SdpError(f"{what} in one IP6 c= line: not supported", no, line)
    elif ip.is_multicast:
        if not suffix or not suffix[0].isdigit() or not 0 <= int(suffix[0]) <= 255:
            raise SdpError("a multicast address needs a TTL: <address>/<ttl 0..255>", no, line)
        ttl = int(suffix[0])
        if len(suffix) > 1 and suffix[1] != "1":
            raise SdpError("several multicast addresses in one c= line are not supported", no, line)
    elif suffix:
        raise SdpError("a unicast address takes no /suffix", no, line)
    if ip.is_unspecified:
        raise SdpError(f"{ip} is not a destination", no, line)
    return str(ip), ttl


def _ptime(section: _Section) -> float | None:
    found = section.attr("ptime")
    if found is None:
        return None
    no, line, value = found
    try:
        ptime = float(value)
    except ValueError:
        raise SdpError(f"ptime {value!r} is not a number of milliseconds", no, line) from None
    low, high = PTIME_MS_RANGE
    if not low <= ptime <= high:
        raise SdpError(f"ptime {value} ms: expected {low} to {high} ms", no, line)
    return ptime


def _framecount(section: _Section) -> int | None:
    found = section.attr("framecount")
    if found is None:
        return None
    no, line, value = found
    if not value.isdigit() or not 1 <= int(value) <= 4096:
        raise SdpError(f"framecount {value!r}: expected 1..4096", no, line)
    return int(value)


def _either(section: _Section, session: _Section, name: str) -> tuple[int, str, str] | None:
    return section.attr(name) or session.attr(name)


def _mediaclk(section: _Section, session: _Section) -> int:
    found = _either(section, session, "mediaclk")
    if found is None:
        return 0  # RFC 7273 / AES67: without it, the offset is taken as 0
    no, line, value = found
    words = value.split()
    head = words[0] if words else ""
    if head == "sender":
        return 0
    if not head.startswith("direct="):
        raise SdpError("expected a=mediaclk:direct=<offset> (or sender)", no, line)
    offset = head.removeprefix("direct=")
    if not offset.isdigit() or int(offset) > 0xFFFFFFFF:
        raise SdpError(f"media clock offset {offset!r}: expected 0..4294967295", no, line)
    for extra in words[1:]:
        if extra.startswith("rate=") and not extra[5:].replace("/", "").isdigit():
            raise SdpError(f"media clock {extra!r}: expected rate=<number>", no, line)
    return int(offset)


def _refclock(section: _Section, session: _Section) -> RefClock | None:
    found = _either(section, session, "ts-refclk")
    if found is None:
        return None
    no, line, value = found
    source, sep, rest = value.partition("=")
    if not sep or not source:
        raise SdpError("expected a=ts-refclk:<source>=<value>", no, line)
    if source != "ptp":
        return RefClock(source, rest)
    pieces = rest.split(":")
    version = pieces[0]
    if not version.startswith("IEEE1588") and version != "IEEE802.1AS-2011":
        raise SdpError(f"PTP version {version!r}: expected IEEE1588-2002/2008/2019", no, line)
    if len(pieces) == 2 and pieces[1] == "traceable":
        return RefClock(source, rest, version, None, None, True)
    if len(pieces) not in (2, 3):
        raise SdpError("expected ptp=<version>:<grandmaster id>[:<domain>]", no, line)
    gmid = pieces[1].upper()
    if not re.fullmatch(r"[0-9A-F]{2}(-[0-9A-F]{2}){7}", gmid):
        raise SdpError(f"grandmaster id {pieces[1]!r}: expected 8 hex octets with -", no, line)
    domain = None
    if len(pieces) == 3:
        if not pieces[2].isdigit() or int(pieces[2]) > 255:
            raise SdpError(f"PTP domain {pieces[2]!r}: expected 0..255", no, line)
        domain = int(pieces[2])
    return RefClock(source, rest, version, gmid, domain, False)


def _source_filter(section: _Section, session: _Section) -> SourceFilter | None:
    found = _either(section, session, "source-filter")
    if found is None:
        return None
    no, line, value = found
    parts = value.split()
    if len(parts) < 5 or parts[0] not in ("incl", "excl") or parts[1] != "IN":
        raise SdpError(
            "expected a=source-filter: incl|excl IN IP4 <destination> <source>...", no, line
        )
    if parts[2] not in ("IP4", "IP6"):
        raise SdpError(f"address type {parts[2]}: expected IP4 or IP6", no, line)
    kind = ipaddress.IPv4Address if parts[2] == "IP4" else ipaddress.IPv6Address
    sources = []
    for text in parts[4:]:
        try:
            sources.append(str(kind(text)))
        except ValueError:
            raise SdpError(
                f"source {text!r} is not an {'IPv4' if parts[2] == 'IP4' else 'IPv6'} address",
                no,
                line,
            ) from None
    return SourceFilter(parts[0], parts[3], tuple(sources))


def _labels(info: str | None, channels: int) -> tuple[str, ...]:
    """Channel labels from a media-level ``i=``, when it names exactly one per channel.

    Dante writes ``i=2 channels: Left, Right``; others write the list alone.
    """
    if not info:
        return ()
    text = re.sub(r"^\s*\d+\s+channels?\s*:\s*", "", info, flags=re.IGNORECASE)
    labels = tuple(part.strip() for part in text.split(","))
    if len(labels) != channels or not all(labels):
        return ()
    return labels


def _direction(section: _Section, session: _Section) -> str:
    for source in (section, session):
        for _, _, key, _ in source.attributes:
            if key in ("sendonly", "recvonly", "sendrecv", "inactive"):
                return key
    return "sendrecv"


# ---------------------------------------------------------------------------------- writing
def write_sdp(
    *,
    origin: Origin,
    name: str,
    address: str,
    port: int,
    encoding: str,
    sample_rate: int,
    channels: int,
    payload_type: int = 96,
    ttl: int = 32,
    ptime_ms: float = 1.0,
    mediaclk_offset: int = 0,
    grandmaster: str | None = None,
    domain: int = 0,
    labels: tuple[str, ...] = (),
    source: str | None = None,
) -> str:
    """An AES67 session description as a sender writes it (what the emulated sender announces)."""
    ip = ipaddress.ip_address(address)
    multicast = ip.is_multicast
    family = f"IP{ip.version}"
    conn = f"{address}/{ttl}" if multicast and ip.version == 4 else address
    origin_family = "IP6" if ":" in origin.address else "IP4"
    lines = [
        "v=0",
        f"o={origin.username} {origin.session_id} {origin.version} IN {origin_family} "
        f"{origin.address}",
        f"s={name}",
        f"c=IN {family} {conn}",
        "t=0 0",
        "a=sendonly",
        f"m=audio {port} RTP/AVP {payload_type}",
    ]
    if labels:
        lines.append(f"i={len(labels)} channels: {', '.join(labels)}")
    if multicast and source is not None:
        lines.append(f"a=source-filter: incl IN {family} {address} {source}")
    lines.append(f"a=rtpmap:{payload_type} {encoding}/{sample_rate}/{channels}")
    ptime_text = f"{ptime_ms:g}"
    lines.append(f"a=ptime:{ptime_text}")
    if grandmaster is not None:
        lines.append(f"a=ts-refclk:ptp=IEEE1588-2008:{grandmaster}:{domain}")
    else:
        lines.append("a=ts-refclk:ptp=IEEE1588-2008:traceable")
    lines.append(f"a=mediaclk:direct={mediaclk_offset}")
    return "\r\n".join(lines) + "\r\n"
