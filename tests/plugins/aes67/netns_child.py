"""The receiving side of ``test_netns.py``, run inside the test's network namespace
(``ip netns exec``): an emulated sender whose SDP names its source (``a=source-filter``), the
aes67 source on the interface the operator names, and a plain any-source socket on the same
group that shows whether a foreign sender's packets reach this namespace at all. Prints one
JSON line with what it found."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time

import numpy as np

from c2c_hub_plugins.aes67 import Aes67Source
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.sdp import parse_sdp
from c2c_hub_plugins.aes67.source import channel_serial
from c2c_hub_plugins.aes67.timeline import MediaTimeline
from tests.plugins.aes67.conftest import FakeSourceContext


def any_source_socket(group: str, port: int, interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setblocking(False)
    return sock


def senders_seen(sock: socket.socket) -> set[str]:
    seen = set()
    while True:
        try:
            _, (address, _) = sock.recvfrom(9000)
        except BlockingIOError:
            return seen
        seen.add(address)


async def run(args: argparse.Namespace) -> dict[str, object]:
    sender = EmulatedAes67Sender(
        name="SSM stream",
        channels=2,
        address=args.group,
        port=args.port,
        interface=args.interface,
        sap_group=args.sap_group,
        sap_interval=0.5,
        source_filter=True,
    )
    plain = any_source_socket(args.group, args.port, args.interface)
    options = {"interface": args.interface, "sap_groups": [args.sap_group], "ravenna": False}
    ctx = FakeSourceContext(options=options)
    source = Aes67Source()
    task = asyncio.get_running_loop().create_task(source.run(ctx))
    sender.start()
    seen: set[str] = set()
    try:
        session = parse_sdp(sender.sdp)
        serials = [channel_serial(session, session.streams[0], c) for c in range(2)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            all(ctx.frames(s) >= args.seconds * 48000 for s in serials)
        ):
            seen |= senders_seen(plain)
            await asyncio.sleep(0.05)
        seen |= senders_seen(plain)
        timeline = MediaTimeline(48000)
        assert sender.first_index is not None
        base = sender.first_index - timeline.position(sender.first_index)
        exact = []
        for channel, serial in enumerate(serials):
            first, got = ctx.span(serial)
            expected = sender.expected(base + first, got.size)[:, channel].astype(np.int64)
            exact.append(bool(np.array_equal(got, expected)) and got.size > 0)
        (stream,) = source.streams()
        attached = sorted(ctx.attached())
    finally:
        sender.stop()
        plain.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {
        "attached": attached,
        "serials": serials,
        "exact": exact,
        "frames": [ctx.frames(s) for s in serials],
        "plain_socket_saw": sorted(seen),
        "ssrc_changes": stream["ssrc_changes"],
        "malformed": stream["malformed"],
        "source_filter": "a=source-filter: incl" in sender.sdp,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sap-group", required=True)
    parser.add_argument("--interface", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
