"""SAP (RFC 2974): packets, deletions, time-outs, refusals with reasons; and on the wire."""

from __future__ import annotations

import socket
import struct
import time
import zlib

import pytest

from c2c_hub_plugins.aes67.sap import (
    SapAnnouncer,
    SapDirectory,
    SapError,
    build_sap,
    open_sap_socket,
    parse_sap,
)

SDP = "v=0\r\no=- 42 1 IN IP4 10.0.0.5\r\ns=Stage box\r\n"
SDP_V2 = SDP.replace("42 1", "42 2").replace("Stage box", "Stage box B")


def test_an_announcement_round_trips() -> None:
    packet = parse_sap(build_sap(SDP, "10.0.0.5", msg_id_hash=0x1234))
    assert (packet.origin, packet.msg_id_hash, packet.deletion) == ("10.0.0.5", 0x1234, False)
    assert packet.payload_type == "application/sdp" and packet.sdp == SDP


def test_ipv6_origin_auth_data_and_no_payload_type() -> None:
    head = struct.pack("!BBH", 0x20 | 0x10, 1, 7) + socket.inet_pton(socket.AF_INET6, "fe80::1")
    packet = parse_sap(head + b"AUTH" + SDP.encode())  # one word of authentication data
    assert packet.origin == "fe80::1" and packet.sdp == SDP


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x20\x00", "shorter than a SAP header"),
        (b"\x40\x00\x00\x01" + bytes(4) + SDP.encode(), "SAP version 2"),
        (b"\x21\x00\x00\x01" + bytes(4) + zlib.compress(SDP.encode()), "compressed"),
        (b"\x22\x00\x00\x01" + bytes(4) + b"\x99" * 40, "encrypted"),
        (b"\x20\x00\x00\x01" + bytes(4) + b"text/plain\0hello", "payload type 'text/plain'"),
        (b"\x20\x00\x00\x01" + bytes(4) + b"garbage without a type", "no payload type"),
        (b"\x20\x05\x00\x01" + bytes(4) + b"v=0", "cut short"),
    ],
)
def test_unusable_packets_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SapError, match=reason):
        parse_sap(data)


def test_the_directory_follows_announcements_changes_and_deletions() -> None:
    directory = SapDirectory(timeout_s=60)
    first = parse_sap(build_sap(SDP, "10.0.0.5"))
    assert [e.kind for e in directory.feed(first, now=0)] == ["new"]
    assert directory.feed(first, now=30) == []  # a repetition
    # a modified session comes with a new hash: it replaces the old one (told first, so a
    # receiver keeps running what both describe)
    changed = parse_sap(build_sap(SDP_V2, "10.0.0.5"))
    assert [e.kind for e in directory.feed(changed, now=31)] == ["new", "deleted"]
    assert len(directory) == 1
    # a deletion may carry only the origin line
    deletion = parse_sap(
        build_sap("v=0\r\no=- 42 2 IN IP4 10.0.0.5\r\n", "10.0.0.5", deletion=True)
    )
    events = directory.feed(deletion, now=32)
    assert [e.kind for e in events] == ["deleted"] and events[0].sdp == SDP_V2
    assert len(directory) == 0


def test_an_announcement_not_repeated_in_time_expires() -> None:
    directory = SapDirectory(timeout_s=5)
    packet = parse_sap(build_sap(SDP, "10.0.0.5"))
    directory.feed(packet, now=0)
    directory.feed(packet, now=0.2)  # announced five times a second: the time-out rules
    assert directory.expire(now=5.1) == []
    assert [e.kind for e in directory.expire(now=5.3)] == ["expired"]
    # a slow announcer (every 30 s) gets ten intervals, more than the time-out
    directory.feed(packet, now=10)
    directory.feed(packet, now=40)
    assert directory.expire(now=339) == []
    assert [e.kind for e in directory.expire(now=341)] == ["expired"]


def test_announcer_and_listener_on_loopback_multicast() -> None:
    group = f"239.255.{int(time.time()) % 250}.{(time.time_ns() // 1000) % 250 + 1}"
    listener = open_sap_socket("127.0.0.1", [group])
    listener.setblocking(True)
    listener.settimeout(5)
    announcer = SapAnnouncer(SDP, origin="127.0.0.1", interface="127.0.0.1", group=group)
    announcer.start()
    try:
        packet = parse_sap(listener.recv(65536))
        assert packet.sdp == SDP and not packet.deletion
    finally:
        announcer.stop(delete=True)
    packets = []
    while True:
        packet = parse_sap(listener.recv(65536))
        packets.append(packet)
        if packet.deletion:
            break
    listener.close()
    assert packets[-1].deletion and packets[-1].sdp == SDP


def test_a_listener_hears_only_the_groups_it_joined() -> None:
    """Linux would hand a socket on port 9875 every group any socket there joined."""
    base = f"239.255.{(time.time_ns() // 1000) % 250 + 1}"
    ours = open_sap_socket("127.0.0.1", [f"{base}.1"])
    theirs = open_sap_socket("127.0.0.1", [f"{base}.2"])
    ours.setblocking(True)
    ours.settimeout(1.0)
    theirs.setblocking(True)
    theirs.settimeout(5)
    announcer = SapAnnouncer(SDP, origin="127.0.0.1", interface="127.0.0.1", group=f"{base}.2")
    announcer.start()
    try:
        assert parse_sap(theirs.recv(65536)).sdp == SDP
        with pytest.raises(TimeoutError):
            ours.recv(65536)
    finally:
        announcer.stop(delete=False)
        ours.close()
        theirs.close()
