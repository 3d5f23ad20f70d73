"""SDP as real AES67, RAVENNA and Dante devices write it, and what is refused (by line)."""

from __future__ import annotations

import pytest

from c2c_hub_plugins.aes67.sdp import Origin, SdpError, parse_sdp, write_sdp

# Shapes of what real gear writes (samples written for these tests, after the vendors' docs).
DANTE = """v=0
o=- 1311738121 1311738121 IN IP4 192.168.1.20
s=AVIO-Bluetooth : 2
c=IN IP4 239.69.161.58/32
t=0 0
a=keywds:Dante
m=audio 5004 RTP/AVP 97
i=2 channels: Left, Right
a=recvonly
a=rtpmap:97 L24/48000/2
a=ptime:1
a=ts-refclk:ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0
a=mediaclk:direct=4129307476
"""

RAVENNA = """v=0\r
o=- 1423986 1423986 IN IP4 10.0.0.40\r
s=Anubis_610120_8\r
c=IN IP4 239.1.10.40/15\r
t=0 0\r
a=clock-domain:PTPv2 0\r
m=audio 5004 RTP/AVP 98\r
c=IN IP4 239.1.10.41/15\r
a=rtpmap:98 L24/96000/8\r
a=framecount:12\r
a=source-filter: incl IN IP4 239.1.10.41 10.0.0.40\r
a=sendonly\r
a=ptime:0.125\r
a=mediaclk:direct=0 rate=96000\r
a=ts-refclk:ptp=IEEE1588-2008:00-0B-72-FF-FE-00-AB-CD:0\r
"""

ST2110 = """v=0
o=- 1443716955 1443716955 IN IP4 172.16.5.10
s=ST2110-30 64ch
t=0 0
m=audio 50020 RTP/AVP 100
c=IN IP4 232.105.10.1/64
a=source-filter: incl IN IP4 232.105.10.1 172.16.5.10
a=rtpmap:100 L24/48000/64
a=ptime:0.125
a=ts-refclk:ptp=IEEE1588-2008:traceable
a=mediaclk:direct=0
"""

UNICAST_L16 = """v=0
o=mixer 42 7 IN IP4 10.1.1.5
s=Console direct outs
c=IN IP4 10.1.1.9
t=0 0
m=audio 6000 RTP/AVP 11
a=ptime:4
"""


def test_dante_in_aes67_mode() -> None:
    session = parse_sdp(DANTE)
    assert session.origin == Origin("-", "1311738121", "1311738121", "192.168.1.20")
    assert session.name == "AVIO-Bluetooth : 2"
    (m,) = session.streams
    assert (m.address, m.ttl, m.port, m.multicast) == ("239.69.161.58", 32, 5004, True)
    assert (m.encoding, m.sample_rate, m.channels, m.payload_type) == ("L24", 48000, 2, 97)
    assert m.ptime_ms == 1.0 and m.frames_per_packet == 48
    assert m.labels == ("Left", "Right")
    assert m.mediaclk_offset == 4129307476
    assert m.refclock is not None and m.refclock.grandmaster == "00-1D-C1-FF-FE-12-34-56"
    assert m.refclock.domain == 0 and m.refclock.ptp_version == "IEEE1588-2008"
    assert m.direction == "recvonly"


def test_ravenna_media_level_connection_framecount_and_source_filter() -> None:
    (m,) = parse_sdp(RAVENNA).streams
    assert (m.address, m.ttl) == ("239.1.10.41", 15)  # the media-level c= wins
    assert (m.sample_rate, m.channels, m.bits) == (96000, 8, 24)
    assert m.framecount == 12 and m.frames_per_packet == 12 and m.ptime_ms == 0.125
    assert m.source_filter is not None and m.source_filter.mode == "incl"
    assert m.source_filter.sources == ("10.0.0.40",)
    assert m.source_filter.allows("10.0.0.40") and not m.source_filter.allows("10.0.0.66")
    assert m.mediaclk_offset == 0 and m.direction == "sendonly"
    assert parse_sdp(RAVENNA).attribute("clock-domain") == "PTPv2 0"


def test_st2110_64_channels_traceable_clock() -> None:
    (m,) = parse_sdp(ST2110).streams
    assert m.channels == 64 and m.frames_per_packet == 6
    assert m.refclock is not None and m.refclock.traceable and m.refclock.grandmaster is None


def test_static_payload_type_unicast_l16() -> None:
    (m,) = parse_sdp(UNICAST_L16).streams
    assert (m.encoding, m.sample_rate, m.channels) == ("L16", 44100, 1)
    assert m.address == "10.1.1.9" and m.ttl is None and not m.multicast
    assert m.ptime_ms == 4.0 and m.mediaclk_offset == 0 and m.refclock is None
    assert parse_sdp(UNICAST_L16).origin.identity == "mixer 42 10.1.1.5"


def test_the_identity_survives_a_new_version() -> None:
    again = DANTE.replace("1311738121 1311738121", "1311738121 1311738999")
    assert parse_sdp(again).identity == parse_sdp(DANTE).identity


def test_what_the_emulated_sender_writes_parses_back() -> None:
    text = write_sdp(
        origin=Origin("-", "77", "1", "127.0.0.1"),
        name="Emulated",
        address="239.69.1.1",
        port=5004,
        encoding="L16",
        sample_rate=44100,
        channels=16,
        ptime_ms=0.25,
        mediaclk_offset=12345,
        grandmaster="00-11-22-FF-FE-33-44-55",
        labels=tuple(f"In {n}" for n in range(1, 17)),
        source="127.0.0.1",
    )
    (m,) = parse_sdp(text).streams
    assert (m.encoding, m.sample_rate, m.channels, m.ptime_ms) == ("L16", 44100, 16, 0.25)
    assert m.mediaclk_offset == 12345 and m.label(15) == "In 16"
    assert m.source_filter is not None and m.source_filter.sources == ("127.0.0.1",)


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("L24/48000/2", "L24/48000/0"), 10, "channel count '0': expected 1..64"),
        (("L24/48000/2", "L24/48000/65"), 10, "channel count '65': expected 1..64"),
        (("L24/48000/2", "L32/48000/2"), 10, "encoding 'L32': only L16 and L24"),
        (("L24/48000/2", "opus/48000/2"), 10, "encoding 'opus'"),
        (("L24/48000/2", "L24/32000/2"), 10, "sample rate '32000'"),
        (("rtpmap:97", "rtpmap:96"), 10, "describes payload type 96, but m= carries 97"),
        (("RTP/AVP 97", "RTP/AVP 200"), 7, "payload type '200': expected 0..127"),
        (("RTP/AVP 97", "RTP/AVP 97 98"), 7, "expected one payload type"),
        (("m=audio 5004", "m=video 5004"), 7, "only audio streams"),
        (("m=audio 5004", "m=audio 99999"), 7, "port '99999'"),
        (("239.69.161.58/32", "239.69.161.58"), 4, "a multicast address needs a TTL"),
        (("239.69.161.58/32", "239.69.161.300/32"), 4, "is not an IPv4 address"),
        (("IN IP4 239.69", "IN IP6 239.69"), 4, "'239.69.161.58' is not an IPv6 address"),
        (("IN IP4 239.69.161.58/32", "IN IP6 ff15::1/2"), 4, "several multicast addresses"),
        (("IN IP4 239.69.161.58/32", "IN IP6 fd00::1/32"), 4, "a /suffix in one IP6 c= line"),
        (("IN IP4 239.69.161.58/32", "IN IP6 ::"), 4, ":: is not a destination"),
        (("IN IP4 239.69", "IN IPX 239.69"), 4, "address type IPX: expected IP4 or IP6"),
        (("a=ptime:1", "a=ptime:abc"), 11, "ptime 'abc' is not a number"),
        (("a=ptime:1", "a=ptime:500"), 11, "ptime 500 ms"),
        (("direct=4129307476", "direct=99999999999"), 13, "media clock offset"),
        (("direct=4129307476", "indirect=4"), 13, "expected a=mediaclk:direct"),
        (("00-1D-C1-FF-FE-12-34-56:0", "zz:0"), 12, "grandmaster id 'zz'"),
        (("-FE-12-34-56:0", "-FE-12-34-56:300"), 12, "PTP domain '300'"),
        (("o=- 1311738121", "o=- notanumber"), 2, "sess-id and sess-version must be numbers"),
        (("t=0 0", "t 0 0"), 5, "not an SDP line"),
    ],
)
def test_bad_input_is_refused_naming_the_line(
    change: tuple[str, str], line: int, message: str
) -> None:
    with pytest.raises(SdpError) as caught:
        parse_sdp(DANTE.replace(*change))
    assert caught.value.line_no == line
    assert f"line {line} " in str(caught.value)
    assert message in str(caught.value)


def test_ipv6_multicast_and_unicast_streams_are_read() -> None:
    """``c=IN IP6``: a multicast group (no TTL in IPv6, RFC 4566 5.7; ``/1`` is one address)
    or a unicast address, and an IPv6 source filter."""
    multicast = parse_sdp(DANTE.replace("IN IP4 239.69.161.58/32", "IN IP6 FF15::4:2/1")).streams[0]
    assert (multicast.address, multicast.ttl, multicast.multicast) == ("ff15::4:2", None, True)
    assert multicast.endpoint == f"[ff15::4:2]:{multicast.port}"
    unicast = parse_sdp(DANTE.replace("IN IP4 239.69.161.58/32", "IN IP6 fd00:98::1")).streams[0]
    assert (unicast.address, unicast.multicast) == ("fd00:98::1", False)
    text = write_sdp(
        origin=Origin("-", "1", "1", "10.0.0.1"),
        name="v6",
        address="ff15::4:2",
        port=5004,
        encoding="L24",
        sample_rate=48000,
        channels=2,
        source="fd00:98::2",
    )
    assert "c=IN IP6 ff15::4:2\r\n" in text and "IN IP6 ff15::4:2 fd00:98::2" in text
    stream = parse_sdp(text).streams[0]
    assert stream.source_filter is not None and stream.source_filter.allows("fd00:98::2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty: no v=0 line"),
        ("v=1\no=- 1 1 IN IP4 1.2.3.4\n", "unsupported SDP version"),
        ("s=x\nv=0\n", "must start with v=0"),
        ("v=0\ns=x\nm=audio 5004 RTP/AVP 96\n", "no origin"),
        ("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=x\n", "no media"),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=x\nm=audio 5004 RTP/AVP 96\na=rtpmap:96 L24/48000/2\n",
            "no connection (c=) line",
        ),
        (
            "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=x\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 96\n",
            "payload type 96 has no a=rtpmap",
        ),
        (b"v=0\no=\xff\n", "not UTF-8"),
        ("v=0\n" + "a=x\n" * 20000, "too long"),
    ],
)
def test_incomplete_descriptions_are_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(SdpError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_sdp(text)
