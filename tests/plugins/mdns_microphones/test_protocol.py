"""The microphone stream protocol: TXT, hello, frames, CRC, and the resyncing decoder."""

from __future__ import annotations

import json
import logging
import random
import struct
import zlib

import numpy as np
import pytest

from c2c_hub.subdevices import AudioFormat
from c2c_hub_plugins.mdns_microphones.protocol import (
    HEADER_SIZE,
    MAGIC,
    MAX_FRAMES,
    FrameError,
    Hello,
    HelloError,
    StreamDecoder,
    TxtError,
    check_hello,
    decode_frame,
    decode_hello,
    decode_txt_rdata,
    encode_frame,
    encode_hello,
    encode_txt,
    pack_samples,
    parse_txt,
    unpack_samples,
)

MONO24 = AudioFormat(48000, 24, 1)


def samples(n: int, channels: int = 1, bits: int = 24, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    full = 1 << (bits - 1)
    shape = (n,) if channels == 1 else (n, channels)
    values = rng.integers(-full, full, size=shape, dtype=np.int64)
    return (values << (32 - bits)).astype(np.int32)


def txt_props(**changes: bytes | None) -> dict[bytes, bytes | None]:
    base = encode_txt(serial="MIC-1", name="Boom", vendor="c2c-hub", model="netmic-1", audio=MONO24)
    props: dict[bytes, bytes | None] = {k.encode(): v.encode() for k, v in base.items()}
    for key, value in changes.items():
        props[key.encode()] = value
    return props


# ------------------------------------------------------------------------------ PCM
@pytest.mark.parametrize("bits", [16, 24, 32])
@pytest.mark.parametrize("channels", [1, 2, 8])
def test_pcm_round_trips_left_justified(bits: int, channels: int) -> None:
    audio = AudioFormat(48000, bits, channels)
    original = samples(300, channels, bits)
    payload = pack_samples(original, bits)
    assert len(payload) == 300 * channels * bits // 8
    back = unpack_samples(payload, audio)
    assert back.dtype == np.int32
    assert back.shape == original.shape
    assert np.array_equal(back, original)


def test_24_bit_payload_is_packed_little_endian() -> None:
    value = np.array([0x123456 << 8, -1 << 8], dtype=np.int32)  # left-justified 24-bit
    assert pack_samples(value, 24) == bytes([0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF])
    back = unpack_samples(bytes([0x56, 0x34, 0x12, 0x00, 0x00, 0x80]), MONO24)
    assert back.tolist() == [0x123456 << 8, -(1 << 31)]


# ------------------------------------------------------------------------------ frames
def test_frame_layout_matches_the_document() -> None:
    data = encode_frame(7, 123_456_789, samples(480), MONO24)
    assert len(data) == HEADER_SIZE + 480 * 3
    magic, version, flags, frames, seq, position, crc = struct.unpack_from("<4sBBHIQI", data)
    assert (magic, version, flags, frames, seq, position) == (MAGIC, 1, 0, 480, 7, 123_456_789)
    assert crc == zlib.crc32(data[24:], zlib.crc32(data[:20]))


def test_frame_round_trips() -> None:
    original = samples(480, 2)
    audio = AudioFormat(48000, 24, 2)
    frame, size = decode_frame(encode_frame(3, 10**10, original, audio), 0, audio) or (None, 0)
    assert frame is not None and size == HEADER_SIZE + 480 * 2 * 3
    assert (frame.seq, frame.position, frame.frames) == (3, 10**10, 480)
    assert np.array_equal(frame.samples, original)


def test_incomplete_frame_waits_bad_ones_raise_by_kind() -> None:
    data = encode_frame(0, 0, samples(10), MONO24)
    assert decode_frame(data[:-1], 0, MONO24) is None
    assert decode_frame(data[:10], 0, MONO24) is None
    with pytest.raises(FrameError) as bad_magic:
        decode_frame(b"XXXX" + data[4:], 0, MONO24)
    assert bad_magic.value.kind == "magic"
    corrupted = bytearray(data)
    corrupted[-1] ^= 1
    with pytest.raises(FrameError) as bad_crc:
        decode_frame(bytes(corrupted), 0, MONO24)
    assert bad_crc.value.kind == "crc"
    too_many = bytearray(data)
    struct.pack_into("<H", too_many, 6, MAX_FRAMES + 1)
    with pytest.raises(FrameError) as bad_header:
        decode_frame(bytes(too_many), 0, MONO24)
    assert bad_header.value.kind == "header"


def test_encoder_refuses_oversized_frames() -> None:
    with pytest.raises(ValueError, match="1 to 4800"):
        encode_frame(0, 0, samples(MAX_FRAMES + 1), MONO24)


# ------------------------------------------------------------------------------ decoder
def stream(count: int, start: int = 1000, block: int = 480) -> list[bytes]:
    return [
        encode_frame(i, start + i * block, samples(block, seed=i), MONO24) for i in range(count)
    ]


def test_decoder_handles_any_split_of_the_stream() -> None:
    data = b"".join(stream(20))
    rng = random.Random(5)
    decoder = StreamDecoder(MONO24)
    got = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 2000)
        got += decoder.feed(data[pos : pos + step])
        pos += step
    assert [f.seq for f in got] == list(range(20))
    assert [f.position for f in got] == [1000 + 480 * i for i in range(20)]
    assert np.array_equal(got[5].samples, samples(480, seed=5))
    assert decoder.counters() == {
        "frames": 20,
        "bytes": len(data),
        "crc_errors": 0,
        "bad_headers": 0,
        "resyncs": 0,
        "skipped_bytes": 0,
        "seq_gaps": 0,
        "position_gaps": 0,
        "gap_samples": 0,
    }


def test_decoder_resyncs_after_garbage_and_logs_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = stream(6)
    garbage = bytes(random.Random(1).randbytes(1000)).replace(MAGIC, b"XXXX")
    decoder = StreamDecoder(MONO24, log=logging.getLogger("t"), label="mic X")
    with caplog.at_level(logging.INFO, logger="t"):
        got = decoder.feed(b"".join(frames[:2]) + garbage)
        for i in range(0, len(garbage), 7):  # the same garbage again, in small pieces
            got += decoder.feed(garbage[i : i + 7])
        got += decoder.feed(b"".join(frames[2:]))
    assert [f.seq for f in got] == list(range(6))
    assert decoder.resyncs == 1 and decoder.skipped_bytes == 2000 and decoder.crc_errors == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "mic X: lost sync" in warnings[0].getMessage()
    assert len(infos) == 1 and "after skipping 2000 bytes" in infos[0].getMessage()


def test_decoder_counts_a_bad_crc_and_recovers_on_the_next_frame() -> None:
    frames = stream(4)
    corrupted = bytearray(frames[1])
    corrupted[HEADER_SIZE + 10] ^= 0x40
    decoder = StreamDecoder(MONO24)
    got = decoder.feed(frames[0] + bytes(corrupted) + frames[2] + frames[3])
    assert [f.seq for f in got] == [0, 2, 3]
    assert decoder.crc_errors == 1 and decoder.resyncs == 1
    assert decoder.skipped_bytes == len(frames[1])
    # the lost frame shows as a gap of exactly its length: the hub fills that much silence
    assert decoder.seq_gaps == 1 and decoder.position_gaps == 1 and decoder.gap_samples == 480


def test_decoder_never_raises_on_random_bytes() -> None:
    rng = random.Random(9)
    decoder = StreamDecoder(AudioFormat(48000, 16, 2))
    for _ in range(200):
        assert decoder.feed(rng.randbytes(rng.randint(0, 3000))) == []
    assert decoder.frames == 0 and decoder.resyncs == 1
    assert len(decoder._buffer) <= HEADER_SIZE + MAX_FRAMES * 2 * 2


def test_decoder_reports_position_jumps() -> None:
    a = encode_frame(0, 1000, samples(480), MONO24)
    b = encode_frame(1, 1000 + 480 + 9600, samples(480), MONO24)
    decoder = StreamDecoder(MONO24)
    got = decoder.feed(a + b)
    assert len(got) == 2 and decoder.position_gaps == 1 and decoder.gap_samples == 9600
    assert decoder.seq_gaps == 0


# ------------------------------------------------------------------------------ hello
def test_hello_round_trips_as_one_json_line() -> None:
    hello = Hello("MIC-1", "Boom ø", "c2c-hub", "netmic-1", AudioFormat(96000, 32, 2))
    line = encode_hello(hello)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["sample_rate"] == 96000
    assert decode_hello(line) == hello


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\xff\xfe\n", "not UTF-8"),
        (b"hello\n", "not JSON"),
        (b"[1]\n", "not a JSON object"),
        (b'{"proto": 2}\n', "unsupported protocol version 2"),
        (b'{"proto": 1, "serial": "a b"}\n', "not a valid serial"),
        (b'{"proto": 1, "serial": "A", "name": "n", "vendor": "v", "model": "m"}\n', "lacks"),
        (
            b'{"proto":1,"serial":"A","name":"n","vendor":"v","model":"m","sample_rate":"48000"}',
            "expected int",
        ),
        (
            b'{"proto":1,"serial":"A","name":"n","vendor":"v","model":"m","sample_rate":48000,'
            b'"bits":20,"channels":1}',
            "bits: unsupported 20",
        ),
        (b"{" + b" " * 2000 + b"}\n", "longer than 1024"),
    ],
)
def test_malformed_hello_says_why(line: bytes, reason: str) -> None:
    with pytest.raises(HelloError, match=reason):
        decode_hello(line)


def test_hello_must_agree_with_the_txt_record() -> None:
    txt = parse_txt(txt_props())
    check_hello(Hello("MIC-1", "Renamed", "c2c-hub", "netmic-1", MONO24), txt)  # name may differ
    with pytest.raises(HelloError) as exc:
        check_hello(Hello("MIC-2", "Boom", "c2c-hub", "netmic-1", AudioFormat(44100, 24, 1)), txt)
    assert "hello serial='MIC-2' but TXT serial='MIC-1'" in str(exc.value)
    assert "hello sample_rate=44100 but TXT rate=48000" in str(exc.value)


# ------------------------------------------------------------------------------ TXT
def test_txt_record_parses() -> None:
    props = txt_props()
    del props[b"name"]
    props[b"NAME"] = b"Upper-case key"
    props[b"Name"] = b"a repeated key: ignored"
    txt = parse_txt(props)
    assert (txt.serial, txt.proto, txt.audio) == ("MIC-1", 1, MONO24)
    assert txt.name == "Upper-case key" and txt.keys["vendor"] == "c2c-hub"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"serial": None}, "'serial' has no value"),
        ({"rate": b"48k"}, "'rate': not a decimal number"),
        ({"rate": b"-1"}, "'rate': not a decimal number"),
        ({"rate": b"12345"}, "sample_rate: unsupported 12345"),
        ({"ch": b"9"}, "channels: must be 1 to 8"),
        ({"serial": b"\xff\xfe"}, "'serial': value is not UTF-8"),
        ({"serial": b"has space"}, "'serial': not 1-128"),
        ({"proto": b"2"}, "unsupported protocol version 2"),
        ({"\xe9": b"x"}, "not ASCII"),
    ],
)
def test_bad_txt_record_says_why(changes: dict[str, bytes | None], reason: str) -> None:
    props = txt_props()
    for key, value in changes.items():
        props[key.encode("latin-1")] = value
    with pytest.raises(TxtError, match=reason):
        parse_txt(props)


def test_txt_wire_form_decodes_like_rfc_6763() -> None:
    rdata = b"\x0cserial=MIC-1\x0cserial=MIC-2\x00\x04=odd\x04flag\x06empty="
    assert decode_txt_rdata(rdata) == {b"serial": b"MIC-1", b"flag": None, b"empty": b""}
    with pytest.raises(TxtError, match="runs past the end"):
        decode_txt_rdata(b"\x0cserial=MIC")


def test_txt_record_missing_keys_are_named() -> None:
    props = txt_props()
    del props[b"serial"], props[b"bits"]
    with pytest.raises(TxtError, match="lacks 'serial', 'bits'"):
        parse_txt(props)
