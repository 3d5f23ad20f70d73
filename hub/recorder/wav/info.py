"""What a track file is: its header's description (:class:`TrackInfo`), the constants of the
format, and the error a file we cannot read raises."""

from __future__ import annotations

import os
import re
import struct
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy.typing as npt

from c2c_hub.errors import HubError
from c2c_hub.timecode import FrameRate

ORIGINATOR: Final = "c2c-hub"
TRACK_MODE: Final = 0o640  # the owner writes, the sound team's group reads, nobody else
WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM, 00000001-0000-0010-8000-00aa00389b71, as stored in a WAV file.
PCM_GUID: Final = struct.pack("<IHH", 1, 0, 0x10) + bytes.fromhex("800000aa00389b71")
SUBTYPES: Final = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}
BEXT_STRUCT: Final = struct.Struct("<256s32s32s10s8sQH64s190s")  # BWF version 1, 602 bytes
DS64_SIZE: Final = 28  # riffSize, dataSize, sampleCount (u64 each), table length (u32)
MAX_HEADER: Final = 1 << 20
U32_MAX: Final = 0xFFFFFFFF
FOURCC = re.compile(rb"[\x20-\x7e]{4}")
XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Samples = npt.NDArray[Any]
"""int32 left-justified (a 24-bit value << 8, soundfile's int32 convention) or float in [-1, 1];
shape ``(frames,)`` for mono or ``(frames, channels)``."""


class WavFormatError(HubError, ValueError):
    """A file that is not a WAV we can read: not RIFF, truncated, missing a chunk."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class TrackInfo:
    """Everything written into a track's header. Only ``path`` is positional.

    ``start_position`` is the take's first sample in samples since midnight at ``sample_rate``
    (see :meth:`c2c_hub.timecode.TimecodeClock.sample_position`); it is the timeline origin
    of a :class:`TrackAssembler` and, wrapped into one day, the bext time reference.
    ``track_index`` is the recorder's track number (iXML ``CHANNEL_INDEX`` of the first channel).
    ``channel_names`` names each channel of a polyphonic file (default: ``track_name`` for mono,
    ``track_name`` + ``" 1"``, ``" 2"``… otherwise). ``description`` defaults to the
    recorder-style ``sSCENE=…`` lines; ``origination`` (local time) defaults to when the file is
    opened.
    """

    path: Path
    _: KW_ONLY
    start_position: int
    timecode_rate: FrameRate
    sample_rate: int = 48_000
    channels: int = 1
    bits: int = 24
    project: str = ""
    scene: str = ""
    take: str = ""
    tape: str = ""
    track_name: str = ""
    track_index: int = 1
    channel_names: tuple[str, ...] = ()
    note: str = ""
    description: str | None = None
    originator_reference: str = ""
    origination: datetime | None = None
    timecode_source: str = ""
    user_bits: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.bits not in SUBTYPES:
            raise ValueError(f"bits: must be 16, 24 or 32, got {self.bits}")
        if not 1 <= self.channels <= 64:
            raise ValueError(f"channels: must be 1..64, got {self.channels}")
        if not 1 <= self.sample_rate <= 768_000:
            raise ValueError(f"sample_rate: must be 1..768000 Hz, got {self.sample_rate}")
        if self.track_index < 1:
            raise ValueError(f"track_index: must be 1 or more, got {self.track_index}")
        if self.channel_names and len(self.channel_names) != self.channels:
            raise ValueError(
                f"channel_names: {len(self.channel_names)} names for {self.channels} channels"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The name of each channel, in interleave order."""
        if self.channel_names:
            return self.channel_names
        if self.channels == 1:
            return (self.track_name,)
        base = self.track_name or "Track"
        return tuple(f"{base} {i}" for i in range(1, self.channels + 1))

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def time_reference(self) -> int:
        """The bext time reference: ``start_position`` wrapped into one day."""
        return self.start_position % (86_400 * self.sample_rate)
