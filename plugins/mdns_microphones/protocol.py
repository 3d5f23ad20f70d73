"""The network microphone protocol, version 1: TXT record, hello line, binary frames.

This module is the reference for ``docs/mic-protocol.md`` (which is what a microphone maker
implements from). It is pure: no sockets, no zeroconf. Both sides use it: the emulated
microphone (:mod:`c2c_hub_plugins.mdns_microphones.emulated`) encodes, the hub's plugin
(:mod:`c2c_hub_plugins.mdns_microphones`) decodes.

- :func:`parse_txt` / :func:`encode_txt`: the mDNS TXT record (``_c2cmic._tcp.local.``).
- :func:`encode_hello` / :func:`decode_hello` / :func:`check_hello`: the one JSON line a
  microphone sends first on every connection.
- :func:`encode_frame` / :func:`decode_frame`: one binary frame (24-byte header, PCM payload).
- :class:`StreamDecoder`: frames from a byte stream, incrementally, surviving garbage: a bad
  magic or CRC is counted, logged once per burst, and the decoder resyncs on the next valid
  header. It never raises for bad input.

Errors::

    ProtocolError (ValueError)
    ├── TxtError      the TXT record cannot be used (the message says which key and why)
    ├── HelloError    the hello is malformed, or disagrees with the TXT record
    └── FrameError    one frame is bad (magic, version, frame count, CRC)
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from c2c_hub.kit import SERIAL_RE, AudioFormat, HubError, SubDeviceError

SERVICE_TYPE = "_c2cmic._tcp.local."
PROTO_VERSION = 1
MAGIC = b"C2CF"
# magic, version, flags, frames, seq, position; then the CRC32 (u32) of these 20 bytes + payload
_HEAD = struct.Struct("<4sBBHIQ")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size  # 24
MAX_FRAMES = 4800  # sample frames per frame: 100 ms at 48 kHz
MAX_HELLO_BYTES = 1024
MAX_FRAME_BYTES = HEADER_SIZE + MAX_FRAMES * 8 * 4  # 8 channels of 32-bit: 153,624 bytes
TXT_REQUIRED = ("serial", "proto", "rate", "bits", "ch")


class ProtocolError(HubError, ValueError):
    """Something a microphone sent that the protocol does not allow."""


class TxtError(ProtocolError):
    """A TXT record the hub cannot use; the message names the key and the reason."""


class HelloError(ProtocolError):
    """A hello line that is malformed, or that disagrees with the TXT record."""


class FrameError(ProtocolError):
    """One bad frame; ``kind`` is ``"magic"``, ``"header"`` or ``"crc"``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------------------------- TXT record
@dataclass(frozen=True)
class MicTxt:
    """A parsed, validated TXT record. ``keys`` holds every key (lower-cased) with its value."""

    serial: str
    proto: int
    audio: AudioFormat
    name: str | None
    vendor: str | None
    model: str | None
    keys: Mapping[str, str] = field(default_factory=dict)


def _decimal(key: str, value: str) -> int:
    if not (value.isascii() and value.isdecimal()) or len(value) > 9:
        raise TxtError(f"TXT key {key!r}: not a decimal number: {value!r}")
    return int(value)


def decode_txt_rdata(text: bytes) -> dict[bytes, bytes | None]:
    """A TXT record's wire form (length-prefixed strings) to ``{key: value}`` (RFC 6763 6).

    A key without ``=`` maps to ``None``; of a repeated key only the first counts; empty
    strings and strings starting with ``=`` are skipped. A length running past the end is a
    :class:`TxtError` (zeroconf would silently cut the record short).
    """
    properties: dict[bytes, bytes | None] = {}
    pos = 0
    while pos < len(text):
        length = text[pos]
        end = pos + 1 + length
        if end > len(text):
            raise TxtError(f"malformed TXT record: string at byte {pos} runs past the end")
        key, sep, value = text[pos + 1 : end].partition(b"=")
        pos = end
        if key and key.lower() not in {k.lower() for k in properties}:
            properties[key] = value if sep else None
    return properties


def parse_txt(properties: Mapping[bytes, bytes | None]) -> MicTxt:
    """Validate a TXT record (zeroconf's ``ServiceInfo.properties``); :class:`TxtError` if bad.

    Keys are case-insensitive (RFC 6763 6.4) and must be ASCII; values must be UTF-8.
    """
    keys: dict[str, str] = {}
    for raw_key, raw_value in properties.items():
        try:
            key = raw_key.decode("ascii").lower()
        except UnicodeDecodeError:
            raise TxtError(f"TXT key {raw_key!r} is not ASCII") from None
        if key in keys:
            continue  # a repeated key: only the first counts (RFC 6763 6.4)
        if raw_value is None:
            if key in TXT_REQUIRED or key == "name":
                raise TxtError(f"TXT key {key!r} has no value")
            continue
        try:
            keys[key] = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            raise TxtError(f"TXT key {key!r}: value is not UTF-8: {raw_value!r}") from None
    missing = [k for k in TXT_REQUIRED if k not in keys]
    if missing:
        raise TxtError(f"TXT record lacks {', '.join(repr(k) for k in missing)}")
    serial = keys["serial"]
    if not SERIAL_RE.match(serial):
        raise TxtError(f"TXT key 'serial': not 1-128 of letters, digits and ._:- : {serial!r}")
    proto = _decimal("proto", keys["proto"])
    if proto != PROTO_VERSION:
        raise TxtError(f"TXT key 'proto': unsupported protocol version {proto}")
    try:
        audio = AudioFormat(
            _decimal("rate", keys["rate"]),
            _decimal("bits", keys["bits"]),
            _decimal("ch", keys["ch"]),
        )
    except SubDeviceError as exc:
        raise TxtError(f"TXT record: {exc}") from None
    name = keys.get("name")
    if name is not None and not name.strip():
        raise TxtError("TXT key 'name' is empty")
    return MicTxt(serial, proto, audio, name, keys.get("vendor"), keys.get("model"), keys)


def encode_txt(
    *, serial: str, name: str, vendor: str, model: str, audio: AudioFormat
) -> dict[str, str]:
    """The TXT record a microphone advertises (values as strings, for ``ServiceInfo``)."""
    return {
        "vendor": vendor,
        "model": model,
        "serial": serial,
        "name": name,
        "proto": str(PROTO_VERSION),
        "rate": str(audio.sample_rate),
        "bits": str(audio.bits),
        "ch": str(audio.channels),
    }


# ---------------------------------------------------------------------------------- hello
@dataclass(frozen=True)
class Hello:
    """The first line on every connection: who is streaming, and in what format."""

    serial: str
    name: str
    vendor: str
    model: str
    audio: AudioFormat
    proto: int = PROTO_VERSION


def encode_hello(hello: Hello) -> bytes:
    line = json.dumps(
        {
            "proto": hello.proto,
            "serial": hello.serial,
            "name": hello.name,
            "vendor": hello.vendor,
            "model": hello.model,
            "sample_rate": hello.audio.sample_rate,
            "bits": hello.audio.bits,
            "channels": hello.audio.channels,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return line + b"\n"


def _field(doc: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in doc:
        raise HelloError(f"hello lacks {key!r}")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise HelloError(f"hello {key!r}: expected {kind.__name__}, got {value!r}")
    return value


def decode_hello(line: bytes) -> Hello:
    """Parse and validate a hello line (with or without its final LF); :class:`HelloError`."""
    if len(line) > MAX_HELLO_BYTES:
        raise HelloError(f"hello longer than {MAX_HELLO_BYTES} bytes")
    try:
        doc = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise HelloError("hello is not UTF-8") from None
    except ValueError as exc:
        raise HelloError(f"hello is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HelloError("hello is not a JSON object")
    proto = _field(doc, "proto", int)
    if proto != PROTO_VERSION:
        raise HelloError(f"hello: unsupported protocol version {proto}")
    serial = _field(doc, "serial", str)
    if not SERIAL_RE.match(serial):
        raise HelloError(f"hello 'serial': not a valid serial: {serial!r}")
    name = _field(doc, "name", str)
    if not name.strip():
        raise HelloError("hello 'name' is empty")
    try:
        audio = AudioFormat(
            _field(doc, "sample_rate", int), _field(doc, "bits", int), _field(doc, "channels", int)
        )
    except SubDeviceError as exc:
        raise HelloError(f"hello: {exc}") from None
    return Hello(serial, name, _field(doc, "vendor", str), _field(doc, "model", str), audio, proto)


def check_hello(hello: Hello, txt: MicTxt) -> None:
    """:class:`HelloError` naming every field where the hello and the TXT record disagree.

    The name may differ (a rename shows in the TXT record first); nothing else may.
    """
    pairs = [
        ("serial", hello.serial, "serial", txt.serial),
        ("vendor", hello.vendor, "vendor", txt.vendor),
        ("model", hello.model, "model", txt.model),
        ("sample_rate", hello.audio.sample_rate, "rate", txt.audio.sample_rate),
        ("bits", hello.audio.bits, "bits", txt.audio.bits),
        ("channels", hello.audio.channels, "ch", txt.audio.channels),
    ]
    wrong = [f"hello {h}={hv!r} but TXT {t}={tv!r}" for h, hv, t, tv in pairs if hv != tv]
    if wrong:
        raise HelloError("; ".join(wrong))


# ---------------------------------------------------------------------------------- frames
Samples = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Frame:
    """One decoded frame: int32 left-justified samples, ``(n,)`` mono or ``(n, channels)``."""

    seq: int
    position: int
    samples: Samples

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])


def payload_size(frames: int, audio: AudioFormat) -> int:
    return frames * audio.channels * (audio.bits // 8)


def pack_samples(samples: Samples, bits: int) -> bytes:
    """Left-justified int32 samples to little-endian PCM of ``bits`` (interleaved by row)."""
    flat = np.ascontiguousarray(samples, dtype="<i4").reshape(-1)
    if bits == 32:
        return flat.tobytes()
    if bits == 16:
        return (flat >> 16).astype("<i2").tobytes()
    if bits == 24:
        return flat.view(np.uint8).reshape(-1, 4)[:, 1:].tobytes()
    raise ValueError(f"unsupported bits {bits}")


def unpack_samples(payload: bytes, audio: AudioFormat) -> Samples:
    """Little-endian PCM to left-justified int32, shape ``(n,)`` or ``(n, channels)``."""
    if audio.bits == 32:
        flat = np.frombuffer(payload, dtype="<i4").astype(np.int32)
    elif audio.bits == 16:
        flat = np.frombuffer(payload, dtype="<i2").astype(np.int32) << 16
    else:
        wide = np.zeros((len(payload) // 3, 4), dtype=np.uint8)
        wide[:, 1:] = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3)
        flat = wide.view("<i4").reshape(-1).astype(np.int32)
    return flat if audio.channels == 1 else flat.reshape(-1, audio.channels)


def encode_frame(seq: int, position: int, samples: Samples, audio: AudioFormat) -> bytes:
    """One frame: header, CRC32 of header and payload, payload."""
    frames = int(samples.shape[0])
    expected = (frames,) if audio.channels == 1 else (frames, audio.channels)
    if samples.shape != expected and samples.shape != (frames, 1):
        raise ValueError(f"samples of shape {samples.shape} for {audio.channels} channel(s)")
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"a frame carries 1 to {MAX_FRAMES} sample frames, got {frames}")
    head = _HEAD.pack(MAGIC, PROTO_VERSION, 0, frames, seq & 0xFFFFFFFF, position)
    payload = pack_samples(samples, audio.bits)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _CRC.pack(crc) + payload


def decode_frame(
    buffer: bytes | bytearray, offset: int, audio: AudioFormat
) -> tuple[Frame, int] | None:
    """The frame at ``buffer[offset:]`` and its size, ``None`` if incomplete; :class:`FrameError`.

    The header is checked before the payload is awaited: a wrong magic, version or frame count
    fails at once, a wrong CRC once the whole frame is there.
    """
    available = len(buffer) - offset
    if available < len(MAGIC):
        return None
    if buffer[offset : offset + len(MAGIC)] != MAGIC:
        raise FrameError("magic", "bad magic")
    if available < HEADER_SIZE:
        return None
    _, version, _flags, frames, seq, position = _HEAD.unpack_from(buffer, offset)
    if version != PROTO_VERSION:
        raise FrameError("header", f"unsupported frame version {version}")
    if not 1 <= frames <= MAX_FRAMES:
        raise FrameError("header", f"frame count {frames} outside 1..{MAX_FRAMES}")
    size = HEADER_SIZE + payload_size(frames, audio)
    if available < size:
        return None
    (crc,) = _CRC.unpack_from(buffer, offset + _HEAD.size)
    head = bytes(buffer[offset : offset + _HEAD.size])
    payload = bytes(buffer[offset + HEADER_SIZE : offset + size])
    if zlib.crc32(payload, zlib.crc32(head)) != crc:
        raise FrameError("crc", f"CRC mismatch in frame seq {seq}")
    return Frame(seq, position, unpack_samples(payload, audio)), size


class StreamDecoder:
    """Frames from a byte stream, fed in pieces of any size. Never raises for bad bytes.

    Counters: ``frames``, ``bytes`` (fed), ``crc_errors``, ``bad_headers`` (wrong version or
    frame count behind a magic), ``resyncs`` (times sync was lost), ``skipped_bytes``,
    ``seq_gaps`` and ``position_gaps`` (frames whose seq / position does not follow the last),
    ``gap_samples`` (the samples missing at forward position jumps).

    When sync is lost, one warning is logged; when it is found again, one info line says how
    many bytes were skipped. A burst of garbage costs two log lines, however long it is.
    """

    def __init__(
        self, audio: AudioFormat, *, log: logging.Logger | None = None, label: str = "stream"
    ) -> None:
        self.audio = audio
        self._log = log or logging.getLogger(__name__)
        self._label = label
        self._buffer = bytearray()
        self._in_sync = True
        self._burst_skipped = 0
        self._next_seq: int | None = None
        self._next_position: int | None = None
        self.frames = 0
        self.bytes = 0
        self.crc_errors = 0
        self.bad_headers = 0
        self.resyncs = 0
        self.skipped_bytes = 0
        self.seq_gaps = 0
        self.position_gaps = 0
        self.gap_samples = 0

    @property
    def in_sync(self) -> bool:
        return self._in_sync

    def counters(self) -> dict[str, int]:
        return {
            name: getattr(self, name)
            for name in (
                "frames",
                "bytes",
                "crc_errors",
                "bad_headers",
                "resyncs",
                "skipped_bytes",
                "seq_gaps",
                "position_gaps",
                "gap_samples",
            )
        }

    def feed(self, data: bytes) -> list[Frame]:
        """Every complete, valid frame in what has arrived so far, in order."""
        self.bytes += len(data)
        buffer = self._buffer
        buffer.extend(data)
        out: list[Frame] = []
        pos = 0
        while True:
            try:
                result = decode_frame(buffer, pos, self.audio)
            except FrameError as exc:
                if exc.kind == "crc":
                    self.crc_errors += 1
                elif exc.kind == "header":
                    self.bad_headers += 1
                skip = self._scan(buffer, pos)
                self._skip(skip, str(exc))
                pos += skip
                continue
            if result is None:
                break  # incomplete: at most one frame (MAX_FRAME_BYTES) stays buffered
            frame, size = result
            pos += size
            self._accept(frame)
            out.append(frame)
        del buffer[:pos]
        return out

    @staticmethod
    def _scan(buffer: bytearray, pos: int) -> int:
        """Bytes to skip from ``pos``: up to the next magic, or all but a possible partial one."""
        found = buffer.find(MAGIC, pos + 1)
        if found >= 0:
            return found - pos
        return max(1, len(buffer) - pos - (len(MAGIC) - 1))

    def _skip(self, count: int, why: str) -> None:
        if self._in_sync:
            self._in_sync = False
            self.resyncs += 1
            self._burst_skipped = 0
            self._log.warning("%s: lost sync (%s); scanning for the next frame", self._label, why)
        self.skipped_bytes += count
        self._burst_skipped += count

    def _accept(self, frame: Frame) -> None:
        if not self._in_sync:
            self._in_sync = True
            self._log.info(
                "%s: back in sync after skipping %d bytes", self._label, self._burst_skipped
            )
        if self._next_seq is not None and frame.seq != self._next_seq:
            self.seq_gaps += 1
        if self._next_position is not None and frame.position != self._next_position:
            self.position_gaps += 1
            self.gap_samples += max(0, frame.position - self._next_position)
        self._next_seq = (frame.seq + 1) & 0xFFFFFFFF
        self._next_position = frame.position + frame.frames
        self.frames += 1
