"""Proxies: an MP3 copy of a hero WAV, encoded while the take rolls, for cellular uplinks.

A proxy has the hero's base name (``S12A_T003_00_Mix.wav`` → ``S12A_T003_00_Mix.mp3``) and
carries its metadata in an ID3v2.3 tag (:mod:`c2c_hub.recorder.id3`) at the start of the file:
title, album (the project), track number, the recording date, and ``TXXX`` frames ``TIMECODE``,
``SCENE``, ``TAKE``, ``TAPE``, ``TRACK_NAME``, ``PROJECT``, ``TIME_REFERENCE`` (samples since
midnight, as the hero's bext) and ``SAMPLE_RATE``, all known when the take starts.

libsndfile (through soundfile) encodes the samples (constant bit rate, LAME) into the file
after the tag; at close it rewrites its first MPEG frame (the LAME "Info" frame: length and
encoder delay). So, as for a WAV, only the first bytes change when the file is closed and the
real-time uploader's rule (part 1 last) fits it as is.

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


def proxy_name(hero: str | os.PathLike[str]) -> Path:
    """The proxy of a hero file: its base name, ``.mp3``."""
    return Path(hero).with_suffix(".mp3")


class _OffsetSink:
    """The file libsndfile encodes into, starting after the tag (its offset 0 is ours
    ``base``); a write error is kept, never thrown through libsndfile's C callback."""

    def __init__(self, fh: IO[bytes], base: int) -> None:
        self.fh = fh
        self.base = base
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        try:
            self.fh.write(data)
        except OSError as exc:
            self.error = exc
            return 0
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == os.SEEK_SET:
            return self.fh.seek(self.base + offset) - self.base
        return self.fh.seek(offset, whence) - self.base

    def tell(self) -> int:
        return self.fh.tell() - self.base

    def read(self, size: int = -1) -> bytes:
        return self.fh.read(size)


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
        self._sink: _OffsetSink | None = None

    def open(self) -> ProxyEncoder:
        """Create the file (never over another), write the tag, start the encoder; a failure
        is kept in :attr:`failed` (the file, if created, stays for a person to look at)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, TRACK_MODE)
            os.fchmod(fd, TRACK_MODE)
            self._fh = os.fdopen(fd, "w+b")
            self._fh.write(self.tag)
            if self.sample_rate not in MP3_RATES:
                raise ValueError(f"MP3 carries 32, 44.1 or 48 kHz, not {self.sample_rate} Hz")
            self._sink = _OffsetSink(self._fh, len(self.tag))
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
            self._fh.flush()
            os.fsync(self._fh.fileno())
            size = os.fstat(self._fh.fileno()).st_size
            self._fh.close()
            self._fh = None
            return size
        except Exception as exc:
            self._fail(f"closing failed: {exc}")
            return None

    def snapshot(self) -> dict[str, Any]:
        seconds = self.frames / self.sample_rate if self.sample_rate else 0.0
        return {
            "file": self.path.name,
            "bitrate_kbps": self.bitrate_kbps,
            "seconds": round(seconds, 3),
            "encode_speed_x": round(seconds / self.encode_s, 1) if self.encode_s else None,
            "failed": self.failed,
        }


__all__ = ["BITRATES", "ProxyEncoder", "proxy_name"]
