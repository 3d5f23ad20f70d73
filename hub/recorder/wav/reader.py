"""Reading a track back: fmt, bext and iXML (:func:`read_track_metadata`, stdlib only)."""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from c2c_hub.recorder.wav.info import BEXT_STRUCT, FOURCC, U32_MAX, WavFormatError
from c2c_hub.timecode import FrameRate, Timecode


@dataclass(frozen=True)
class BextInfo:
    description: str
    originator: str
    originator_reference: str
    origination_date: str
    origination_time: str
    time_reference: int
    version: int
    coding_history: str


@dataclass(frozen=True)
class IxmlInfo:
    project: str | None
    scene: str | None
    take: str | None
    tape: str | None
    note: str | None
    timecode_rate: str | None
    timecode_flag: str | None
    track_names: tuple[str, ...]
    xml: str

    def frame_rate(self) -> FrameRate | None:
        """The timecode rate (``TIMECODE_RATE`` + ``TIMECODE_FLAG``), if present and valid."""
        if not self.timecode_rate:
            return None
        suffix = " df" if (self.timecode_flag or "").upper() == "DF" else ""
        try:
            return FrameRate.parse(self.timecode_rate + suffix)
        except ValueError:
            return None


@dataclass(frozen=True)
class TrackMetadata:
    path: Path
    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    block_align: int
    data_offset: int
    data_size: int
    rf64: bool
    bext: BextInfo | None
    ixml: IxmlInfo | None
    chunks: tuple[str, ...] = field(default=())

    @property
    def frames(self) -> int:
        return self.data_size // self.block_align if self.block_align else 0

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def start_timecode(self) -> Timecode | None:
        """The bext time reference as timecode at the iXML rate (None without either)."""
        rate = self.ixml.frame_rate() if self.ixml else None
        if self.bext is None or rate is None or not self.sample_rate:
            return None
        return Timecode.from_seconds(self.bext.time_reference / self.sample_rate, rate)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _parse_bext(payload: bytes) -> BextInfo:
    fixed = payload[: BEXT_STRUCT.size].ljust(BEXT_STRUCT.size, b"\0")
    desc, orig, ref, date, time, reference, version, _umid, _rest = BEXT_STRUCT.unpack(fixed)
    return BextInfo(
        description=_text(desc),
        originator=_text(orig),
        originator_reference=_text(ref),
        origination_date=_text(date),
        origination_time=_text(time),
        time_reference=reference,
        version=version,
        coding_history=_text(payload[BEXT_STRUCT.size :]),
    )


def _parse_ixml(path: Path, payload: bytes) -> IxmlInfo:
    data = payload.rstrip(b"\0")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise WavFormatError(path, f"the iXML chunk is not well-formed XML ({e})") from None

    def get(xpath: str) -> str | None:
        element = root.find(xpath)
        return None if element is None else (element.text or "")

    names = tuple((t.findtext("NAME") or "") for t in root.findall("TRACK_LIST/TRACK"))
    return IxmlInfo(
        project=get("PROJECT"),
        scene=get("SCENE"),
        take=get("TAKE"),
        tape=get("TAPE"),
        note=get("NOTE"),
        timecode_rate=get("SPEED/TIMECODE_RATE"),
        timecode_flag=get("SPEED/TIMECODE_FLAG"),
        track_names=names,
        xml=data.decode("utf-8", "replace"),
    )


def read_track_metadata(path: str | os.PathLike[str]) -> TrackMetadata:
    """fmt, bext and iXML of a WAV / BWF / RF64 file; raises :class:`WavFormatError`."""
    p = Path(path)
    with open(p, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12:
            raise WavFormatError(p, f"truncated: {len(head)} bytes, a WAV file needs at least 12")
        fourcc, _riff_size, wave = struct.unpack("<4sI4s", head)
        if fourcc not in (b"RIFF", b"RF64") or wave != b"WAVE":
            raise WavFormatError(p, f"not a RIFF/WAVE file (it starts with {head[:12]!r})")
        rf64 = fourcc == b"RF64"
        ds64_data: int | None = None
        fmt: tuple[int, int, int, int, int] | None = None
        bext: BextInfo | None = None
        ixml: IxmlInfo | None = None
        data_offset = data_size = -1
        chunks: list[str] = []
        offset = 12
        while offset + 8 <= total:
            f.seek(offset)
            chunk_id, size = struct.unpack("<4sI", f.read(8))
            name = chunk_id.decode("latin-1")
            chunks.append(name)
            start = offset + 8
            if chunk_id == b"data" and ds64_data is not None and size == U32_MAX:
                size = ds64_data
            remain = total - start
            after_data = data_offset >= 0
            if after_data and (not FOURCC.fullmatch(chunk_id) or size > remain):
                break  # samples not yet counted in a growing file, or trailing garbage
            if size > remain:
                raise WavFormatError(
                    p, f"truncated: the {name.strip()} chunk claims {size} bytes, {remain} remain"
                )
            if chunk_id == b"data":
                data_offset, data_size = start, size
            elif size <= 16 << 20:  # metadata chunks; skip anything absurdly large
                payload = f.read(size)
                if chunk_id == b"ds64" and size >= 16:
                    ds64_data = struct.unpack_from("<QQ", payload)[1]
                elif chunk_id == b"fmt ":
                    if size < 16:
                        raise WavFormatError(
                            p, f"the fmt chunk is {size} bytes, at least 16 needed"
                        )
                    tag, channels, rate, _byte_rate, align, bits = struct.unpack_from(
                        "<HHIIHH", payload
                    )
                    fmt = (tag, channels, rate, align, bits)
                elif chunk_id == b"bext":
                    bext = _parse_bext(payload)
                elif chunk_id == b"iXML":
                    ixml = _parse_ixml(p, payload)
            offset = start + size + (size % 2)
    if fmt is None:
        raise WavFormatError(p, "no fmt chunk (the sample format is unknown)")
    if data_offset < 0:
        raise WavFormatError(p, "no data chunk")
    tag, channels, rate, align, bits = fmt
    return TrackMetadata(
        path=p,
        format_tag=tag,
        channels=channels,
        sample_rate=rate,
        bits=bits,
        block_align=align,
        data_offset=data_offset,
        data_size=data_size,
        rf64=rf64,
        bext=bext,
        ixml=ixml,
        chunks=tuple(chunks),
    )
