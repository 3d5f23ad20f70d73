"""The header written once when a track opens: ``RIFF``, ``JUNK`` (``ds64`` when the take outgrows
RIFF), ``fmt``, ``bext``, ``iXML`` and the ``data`` chunk's head, with where the sizes go."""

from __future__ import annotations

import struct
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from c2c_hub.recorder.wav.info import (
    BEXT_STRUCT,
    DS64_SIZE,
    MAX_HEADER,
    ORIGINATOR,
    PCM_GUID,
    U32_MAX,
    WAVE_FORMAT_EXTENSIBLE,
    WAVE_FORMAT_PCM,
    XML_INVALID,
    TrackInfo,
)


def _ascii(text: str, size: int) -> bytes:
    """bext text is ASCII: accents are dropped ("Café" → "Cafe"), the rest becomes "?"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "replace")[:size]


def _xml_text(text: str) -> str:
    return XML_INVALID.sub("", text)


def _default_description(info: TrackInfo) -> str:
    lines = [f"sSCENE={info.scene}", f"sTAKE={info.take}", f"sTAPE={info.tape}"]
    lines += [f"sTRK{info.track_index + i}={name}" for i, name in enumerate(info.names)]
    if info.note:
        lines.append(f"sNOTE={info.note}")
    if info.timecode_source:
        lines.append(f"sTCSOURCE={info.timecode_source}")
    if info.user_bits:
        lines.append(f"sUBITS={info.user_bits}")
    return "\r\n".join(lines) + "\r\n"


def coding_history(info: TrackInfo) -> str:
    mode = {1: "mono", 2: "stereo"}.get(info.channels, "multichannel")
    return f"A=PCM,F={info.sample_rate},W={info.bits},M={mode},T={ORIGINATOR}\r\n"


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    assert len(payload) % 2 == 0, fourcc
    return fourcc + struct.pack("<I", len(payload)) + payload


def _fmt_payload(info: TrackInfo) -> bytes:
    byte_rate = info.sample_rate * info.block_align
    if info.channels <= 2:
        return struct.pack(
            "<HHIIHH",
            WAVE_FORMAT_PCM,
            info.channels,
            info.sample_rate,
            byte_rate,
            info.block_align,
            info.bits,
        )
    return struct.pack(
        "<HHIIHHHHI16s",
        WAVE_FORMAT_EXTENSIBLE,
        info.channels,
        info.sample_rate,
        byte_rate,
        info.block_align,
        info.bits,
        22,  # cbSize
        info.bits,  # valid bits per sample
        0,  # channel mask: no speaker positions (independent tracks)
        PCM_GUID,
    )


def _bext_payload(info: TrackInfo, origination: datetime) -> bytes:
    description = _default_description(info) if info.description is None else info.description
    fixed = BEXT_STRUCT.pack(
        _ascii(description, 256),
        _ascii(ORIGINATOR, 32),
        _ascii(info.originator_reference, 32),
        origination.strftime("%Y-%m-%d").encode("ascii"),
        origination.strftime("%H:%M:%S").encode("ascii"),
        info.time_reference,
        1,  # BWF version 1 (UMID present, all zero: none)
        b"",
        b"",
    )
    history = _ascii(coding_history(info), 1 << 16)
    return _even(fixed + history, b"\0")  # the NUL terminates the coding history


def _even(payload: bytes, filler: bytes) -> bytes:
    """Every chunk has an even size, so no pad byte follows it: libsndfile's RF64 parser does
    not skip pad bytes (its RIFF parser does)."""
    return payload + filler if len(payload) % 2 else payload


def ixml_document(info: TrackInfo) -> bytes:
    """The iXML chunk's payload (UTF-8)."""
    root = ET.Element("BWFXML")

    def add(parent: ET.Element, tag: str, text: str | int) -> None:
        ET.SubElement(parent, tag).text = _xml_text(str(text))

    add(root, "IXML_VERSION", "2.10")
    add(root, "PROJECT", info.project)
    add(root, "SCENE", info.scene)
    add(root, "TAKE", info.take)
    add(root, "TAPE", info.tape)
    if info.note:
        add(root, "NOTE", info.note)
    speed = ET.SubElement(root, "SPEED")
    rate = info.timecode_rate
    add(speed, "MASTER_SPEED", rate.ratio())
    add(speed, "CURRENT_SPEED", rate.ratio())
    add(speed, "TIMECODE_RATE", rate.ratio())
    add(speed, "TIMECODE_FLAG", "DF" if rate.drop_frame else "NDF")
    add(speed, "FILE_SAMPLE_RATE", info.sample_rate)
    add(speed, "AUDIO_BIT_DEPTH", info.bits)
    add(speed, "DIGITIZER_SAMPLE_RATE", info.sample_rate)
    reference = info.time_reference
    add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI", reference >> 32)
    add(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO", reference & U32_MAX)
    add(speed, "TIMESTAMP_SAMPLE_RATE", info.sample_rate)
    if info.timecode_source or info.user_bits:
        # iXML has no field for the sync source: USER is its free text (KEY=value lines).
        user = [f"TIMECODE_SOURCE={info.timecode_source}"] if info.timecode_source else []
        user += [f"UBITS={info.user_bits}"] if info.user_bits else []
        add(root, "USER", "\n".join(user))
    tracks = ET.SubElement(root, "TRACK_LIST")
    add(tracks, "TRACK_COUNT", info.channels)
    for i, name in enumerate(info.names):
        track = ET.SubElement(tracks, "TRACK")
        add(track, "CHANNEL_INDEX", info.track_index + i)
        add(track, "INTERLEAVE_INDEX", i + 1)
        add(track, "NAME", name)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    document = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")
    return _even(document, b"\n")


@dataclass(frozen=True)
class Layout:
    header: bytes
    riff_size_at: int  # offset of the RIFF size field (the fourcc is 4 bytes before)
    ds64_at: int  # offset of the reserved JUNK chunk's fourcc (becomes ds64)
    data_size_at: int

    @property
    def data_offset(self) -> int:
        return len(self.header)


def plan_layout(info: TrackInfo, origination: datetime) -> Layout:
    junk = _chunk(b"JUNK", bytes(DS64_SIZE))
    body = b"".join(
        [
            b"WAVE",
            junk,
            _chunk(b"fmt ", _fmt_payload(info)),
            _chunk(b"bext", _bext_payload(info, origination)),
            _chunk(b"iXML", ixml_document(info)),
            b"data",
        ]
    )
    body += struct.pack("<I", 0)  # the data size: the file starts as a valid, empty WAV
    header = b"RIFF" + struct.pack("<I", len(body)) + body
    if len(header) > MAX_HEADER:
        raise ValueError(
            f"{info.path}: the header would be {len(header)} bytes (notes and names too long); "
            f"it must stay under {MAX_HEADER} bytes"
        )
    return Layout(header, riff_size_at=4, ds64_at=12, data_size_at=len(header) - 4)
