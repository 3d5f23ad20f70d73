"""The IPv6 side of ``test_netns.py``, run in a private network namespace (``unshare -n``): this
machine's loopback carries no IPv6 multicast, so a veth pair is made here, the interface the
operator names holds an IPv4 address (how the plugin names it) and an IPv6 one. An emulated
sender per case (IPv6 multicast on a site-local-scope group, IPv6 unicast), its SDP (``c=IN
IP6``) in a folder the aes67 source reads. Prints one JSON line with what it found."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from c2c_hub_plugins.aes67 import Aes67Source
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.sdp import parse_sdp
from c2c_hub_plugins.aes67.source import channel_serial
from c2c_hub_plugins.aes67.timeline import MediaTimeline
from tests.plugins.aes67.conftest import FakeSourceContext

IPV4, IPV6 = "10.98.0.1", "fd00:98::1"


def setup() -> None:
    for command in (
        "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
        "ip link set lo up",
        "ip link add v0 type veth peer name v1",
        f"ip addr add {IPV4}/24 dev v0",
        f"ip -6 addr add {IPV6}/64 dev v0 nodad",
        "ip link set v1 up",
        "ip link set v0 up multicast on",
    ):
        subprocess.run(command.split(), check=True, capture_output=True, text=True, timeout=30)


async def case(address: str, port: int, seconds: float) -> dict[str, object]:
    sender = EmulatedAes67Sender(
        name=f"IPv6 {address}", channels=2, address=address, port=port, interface=IPV4, sap=False
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "stream.sdp").write_text(sender.sdp)
        options = {"interface": IPV4, "sap": False, "ravenna": False, "sdp_folder": folder}
        ctx = FakeSourceContext(options=options)
        source = Aes67Source()
        task = asyncio.get_running_loop().create_task(source.run(ctx))
        sender.start()
        try:
            session = parse_sdp(sender.sdp)
            serials = [channel_serial(session, session.streams[0], c) for c in range(2)]
            with contextlib.suppress(AssertionError, TimeoutError):  # reported below
                await ctx.wait_for(
                    "audio",
                    lambda: all(ctx.frames(s) >= seconds * 48000 for s in serials),
                    within=30,
                )
            timeline = MediaTimeline(48000)
            assert sender.first_index is not None
            base = sender.first_index - timeline.position(sender.first_index)
            exact = []
            for channel, serial in enumerate(serials):
                if not ctx.frames(serial):
                    exact.append(False)
                    continue
                first, got = ctx.span(serial)
                expected = sender.expected(base + first, got.size)[:, channel].astype(np.int64)
                exact.append(bool(np.array_equal(got, expected)))
            streams = source.streams()
            refused = [str(c.args) for c in ctx.of_kind("refused")]
            report = ctx.last_report
            attached = sorted(ctx.attached()) == sorted(serials)
        finally:
            sender.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return {
        "sdp_c": [line for line in sender.sdp.splitlines() if line.startswith("c=")],
        "attached": attached,
        "exact": exact,
        "frames": [ctx.frames(s) for s in serials],
        "streams": [(s["address"], s["state"], s["malformed"]) for s in streams],
        "refused": refused,
        "report": report,
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    return {
        "multicast": await case(args.group, args.port, args.seconds),
        "unicast": await case(IPV6, args.port + 2, args.seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    setup()
    print(json.dumps(asyncio.run(run(args)), default=str), flush=True)


if __name__ == "__main__":
    main()
