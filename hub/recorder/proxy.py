"""Proxies: an MP3 copy of a hero WAV, encoded while the take rolls, for cellular uplinks.

A proxy has the hero's base name (``S12A_T003_00_Mix.wav`` → ``S12A_T003_00_Mix.mp3``) and
carries its metadata in an ID3v2.3 tag (:mod:`c2c_hub.recorder.id3`) at the start of the file:
title, album (the project), track number, the recording date, and ``TXXX`` frames ``TIMECODE``,
``SCENE``, ``TAKE``, ``TAPE``, ``TRACK_NAME``, ``PROJECT``, ``TIME_REFERENCE`` (samples since
midnight, as the hero's bext) and ``SAMPLE_RATE``, all known when the take starts.

libsndfile (through soundfile) encodes the samples (constant bit rate, LAME) into the file
after the tag. **A proxy is append-only**: once a byte is written it never changes, so the
real-time uploader may send it, part 1 included, while the take rolls, and at stop only the
tail is left to send. libsndfile would break that in one place: it starts the stream with a
placeholder LAME "Info" frame and fills it in at close (frame count, byte count, seek table,
encoder delay and padding), i.e. it rewrites the file's first bytes. The proxy leaves that
frame out (:class:`_AppendOnlySink` keeps it, and its rewrite, out of the file): a constant
bit rate stream needs no seek table (its length is its size over its bit rate). What the
frame also carried is the encoder delay that gapless decoders trim: without it a decoder puts
:data:`LEAD_IN` samples (LAME's 576 + the decoder's 529) before the first sample encoded, so
the encoder skips the hero's first :data:`LEAD_IN` samples and the proxy's sample *n* is the
hero's sample *n* for any decoder (its first 23 ms at 48 kHz are the codec's lead-in,
silence).

The encode is deterministic (the same samples give the same bytes, however they are cut into
blocks): after a power cut :func:`rebuild_proxy` encodes the proxy again from its repaired
hero, and the bytes already sent are the same bytes.

Blocking I/O: the recorder runs it in its writer thread, never on the loop. An encoder that
fails (a rate MP3 cannot carry, a full disk) keeps the reason in :attr:`ProxyEncoder.failed`
and accepts no more samples; it never raises into the hero's write.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from c2c_hub.recorder.wav.info import TRACK_MODE, Samples

log = logging.getLogger(__name__)

#: Bit rates (kbit/s) libsndfile's MP3 encoder gives at constant bit rate, and the
#: ``compression_level`` that gives each (measured: libsndfile 1.2 maps the level onto LAME's
#: bit rate table; 1.0 is refused).
BITRATES: dict[int, float] = {
    32: 0.99,
    48: 0.95,
    56: 0.92,
    64: 0.87,
    80: 0.85,
    96: 0.8,
    112: 0.72,
    128: 0.65,
    160: 0.5,
    192: 0.4,
    224: 0.3,
    256: 0.2,
    320: 0.0,
}
MP3_RATES = frozenset({32000, 44100, 48000})  # MPEG-1 layer III
#: Samples a decoder puts before the first sample encoded in an MP3 without a LAME tag: LAME's
#: encoder delay (576) and the MPEG synthesis filter's (529). Measured with libsndfile 1.2
#: (LAME 3.100, mpg123) at every rate, bit rate and channel count; the tests hold it.
LEAD_IN = 1105
_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG1_RATES = (44100, 48000, 32000)


def proxy_name(hero: str | os.PathLike[str]) -> Path:
    """The proxy of a hero file: its base name, ``.mp3``."""
    return Path(hero).with_suffix(".mp3")


def mpeg_frame_length(header: bytes) -> int | None:
    """The length of the MPEG-1 layer III frame whose 4-byte header starts ``header``; None if
    it is not one (or is free-format)."""
    if len(header) < 4:
        return None
    h = int.from_bytes(header[:4], "big")
    if h >> 21 != 0x7FF or (h >> 19) & 3 != 3 or (h >> 17) & 3 != 1:  # sync, MPEG-1, layer III
        return None
    bitrate, rate = (h >> 12) & 15, (h >> 10) & 3
    if bitrate in (0, 15) or rate == 3:
        return None
    return 144000 * _MPEG1_L3_KBPS[bitrate] // _MPEG1_RATES[rate] + ((h >> 9) & 1)


def info_frame_length(data: bytes) -> int:
    """If ``data`` (libsndfile's first write) is the LAME "Info"/"Xing" frame, its length; else
    0. LAME writes it first, on its own, as a frame header and zeros (a placeholder filled in at
    close); a filled one names itself after the side information."""
    length = mpeg_frame_length(data)
    if length is None:
        return 0
    mono = (data[3] >> 6) & 3 == 3
    at = 4 + (17 if mono else 32)  # after the side information (MPEG-1, no CRC)
    if data[at : at + 4] in (b"Info", b"Xing"):
        return length
    placeholder = len(data) == length and not any(data[4:])
    return length if placeholder else 0


class _AppendOnlySink:
    """The file as libsndfile sees it: its offset 0 is just after the tag, and its first MPEG
    frame, if it is the LAME "Info" placeholder, is kept out of the file, as is its rewrite at
    close (see the module docstring). Every other byte goes to the file, in order. A write
    error is kept, never thrown through libsndfile's C callback."""

    def __init__(self, fh: IO[bytes], base: int) -> None:
        self.fh = fh
        self.base = base
        self.error: OSError | None = None
        self.hidden: int | None = None  # the Info frame's length, once the first write shows it
        self.rewrote = False  # libsndfile wrote over bytes already in the file (never expected)
        self._pos = 0  # libsndfile's position
        self._end = 0  # libsndfile's length of the file
        self._at = fh.tell()  # where the file's own position is

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        n = len(data)
        if self.hidden is None:
            self.hidden = info_frame_length(bytes(data))
        skip = min(n, max(0, self.hidden - self._pos))
        if skip < n:
            if self._pos + skip < self._end:
                self.rewrote = True
            target = self.base + self._pos + skip - self.hidden
            try:
                if target != self._at:
                    self.fh.seek(target)
                self.fh.write(data[skip:])
            except (OSError, ValueError) as exc:
                # ValueError: the file was closed under the encoder (an abrupt stop closing it
                # from another thread); kept like a disk's error, never thrown through the C
                # callback (where it would be printed and lost, the encoder none the wiser)
                self.error = exc if isinstance(exc, OSError) else OSError(f"the file: {exc}")
                return 0
            self._at = target + n - skip
        self._pos += n
        self._end = max(self._end, self._pos)
        return n

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self._end
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        return b""  # write-only: libsndfile reads nothing back from an MP3 it encodes


class ProxyEncoder:
    """One MP3 proxy, written front to back (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        sample_rate: int,
        channels: int,
        bitrate_kbps: int,
        tag: bytes,
    ) -> None:
        if bitrate_kbps not in BITRATES:
            raise ValueError(
                f"bitrate_kbps: one of {', '.join(map(str, BITRATES))}, got {bitrate_kbps}"
            )
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels
        self.bitrate_kbps = bitrate_kbps
        self.tag = tag
        self.frames = 0
        self.failed: str | None = None
        self.closed = False
        self.encode_s = 0.0  # seconds spent encoding (for the encode speed)
        self._fh: IO[bytes] | None = None
        self._sf: Any = None
        self._sink: _AppendOnlySink | None = None
        self._skip = LEAD_IN  # samples still to skip (see the module docstring)

    def open(self, *, rebuild: bool = False) -> ProxyEncoder:
        """Create the file (never over another), write the tag, start the encoder; a failure
        is kept in :attr:`failed` (the file, if created, stays for a person to look at).

        ``rebuild``: the file exists (a proxy cut short by a power cut) and is written again
        from its start, in place (the same inode: the uploader follows it)."""
        try:
            if rebuild:
                fd = os.open(self.path, os.O_RDWR)
                os.ftruncate(fd, 0)
            else:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, TRACK_MODE)
                os.fchmod(fd, TRACK_MODE)
            self._fh = os.fdopen(fd, "w+b")
            self._fh.write(self.tag)
            if self.sample_rate not in MP3_RATES:
                raise ValueError(f"MP3 carries 32, 44.1 or 48 kHz, not {self.sample_rate} Hz")
            self._sink = _AppendOnlySink(self._fh, len(self.tag))
            self._sf = sf.SoundFile(
                self._sink,
                mode="w",
                samplerate=self.sample_rate,
                channels=self.channels,
                format="MP3",
                subtype="MPEG_LAYER_III",
                compression_level=BITRATES[self.bitrate_kbps],
                bitrate_mode="CONSTANT",
            )
        except Exception as exc:
            self._fail(f"the MP3 encoder could not start: {exc}")
        return self

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.error("proxy %s: %s", self.path.name, reason)
        if self._sf is not None:
            try:
                self._sf.close()
            except Exception:
                pass
            self._sf = None
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None

    def write(self, samples: Samples) -> None:
        """Encode the next samples (int32, ``(frames,)`` or ``(frames, channels)``)."""
        if self.failed is not None or self._sf is None:
            return
        started = time.perf_counter()
        try:
            block = np.ascontiguousarray(samples)
            if block.ndim == 1 and self.channels > 1:
                raise ValueError(f"mono samples for a {self.channels}-channel proxy")
            if self._skip:
                skipped = min(self._skip, len(block))
                self._skip -= skipped
                block = block[skipped:]
            if len(block):
                self._sf.write(block)
            if self._sink is not None and self._sink.error is not None:
                raise self._sink.error
        except Exception as exc:
            self._fail(f"encoding failed: {exc}")
            return
        finally:
            self.encode_s += time.perf_counter() - started
        self.frames += len(samples)

    def sync(self) -> int | None:
        """Push what is encoded to the disk (fsync); the size that is durable, None if failed."""
        fh = self._fh
        if self.failed is not None or fh is None:
            return None
        try:
            fh.flush()
            os.fsync(fh.fileno())
            return os.fstat(fh.fileno()).st_size
        except OSError as exc:
            self._fail(f"writing failed: {exc}")
            return None

    def close(self) -> int | None:
        """Flush the encoder, rewrite its Info frame, fsync, close; the file's size."""
        if self.closed:
            return None
        self.closed = True
        if self.failed is not None or self._sf is None or self._fh is None:
            return None
        try:
            self._sf.close()
            self._sf = None
            if self._sink is not None and self._sink.error is not None:
                raise self._sink.error
            if self._sink is not None and self._sink.rewrote:  # the uploader will say so too
                log.error("proxy %s: the encoder rewrote bytes it had written", self.path.name)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            size = os.fstat(self._fh.fileno()).st_size
            self._fh.close()
            self._fh = None
            return size
        except Exception as exc:
            self._fail(f"closing failed: {exc}")
            return None

    def abandon(self) -> None:
        """Stop, writing nothing more (what a power cut leaves: the file as the disk has it,
        for :func:`rebuild_proxy`); the encoder's buffered frames are dropped."""
        self.closed = True
        if self._sink is not None and self._sink.error is None:
            self._sink.error = OSError("abandoned")  # libsndfile's close writes nowhere
        self._fail("abandoned")

    def snapshot(self) -> dict[str, Any]:
        seconds = self.frames / self.sample_rate if self.sample_rate else 0.0
        return {
            "file": self.path.name,
            "bitrate_kbps": self.bitrate_kbps,
            "seconds": round(seconds, 3),
            "encode_speed_x": round(seconds / self.encode_s, 1) if self.encode_s else None,
            "failed": self.failed,
        }


def read_tag(path: Path) -> bytes:
    """The ID3v2 tag at the start of a proxy (its header says its length)."""
    with open(path, "rb") as fh:
        header = fh.read(10)
        if len(header) < 10 or header[:3] != b"ID3":
            raise ValueError(f"{path.name}: no ID3 tag at its start")
        size = 0
        for byte in header[6:10]:
            size = (size << 7) | (byte & 0x7F)
        tag = header + fh.read(size)
    if len(tag) < 10 + size:
        raise ValueError(f"{path.name}: its ID3 tag is cut short")
    return tag


def rebuild_proxy(path: Path, hero: Path, bitrate_kbps: int, block: int = 1 << 16) -> int:
    """After a power cut: encode the proxy ``path`` again, in place, from its hero (already
    repaired: every sample that survived), keeping its tag; its size. The encode is
    deterministic, so the bytes the first encode had written (and perhaps sent) come out the
    same, and the proxy now holds everything its hero does."""
    tag = read_tag(path)
    with sf.SoundFile(str(hero)) as reader:
        encoder = ProxyEncoder(
            path,
            sample_rate=reader.samplerate,
            channels=reader.channels,
            bitrate_kbps=bitrate_kbps,
            tag=tag,
        ).open(rebuild=True)
        while encoder.failed is None:
            data = reader.read(block, dtype="int32", always_2d=True)
            if not len(data):
                break
            encoder.write(data if reader.channels > 1 else data[:, 0])
    size = encoder.close()
    if size is None:
        raise OSError(f"{path.name}: {encoder.failed}")
    return size


__all__ = [
    "BITRATES",
    "LEAD_IN",
    "ProxyEncoder",
    "info_frame_length",
    "proxy_name",
    "read_tag",
    "rebuild_proxy",
]
