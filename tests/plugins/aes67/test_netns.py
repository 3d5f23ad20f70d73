"""Multicast inside network namespaces the test creates, never on a real interface: the hub
joins the SDP's group source-specifically (``a=source-filter``) on the interface the operator
names, and a second sender on the same group and port, from another host, is not mixed in.

Two namespaces joined by a veth pair: the hub's (10.99.<n>.1, its own emulated sender beside
it) and a foreign host's (10.99.<n>.2) sending to the same group. A plain any-source socket in
the hub's namespace proves the foreign packets do arrive there; the hub's stream holds only
its sender's samples, exactly. Skipped, with the reason, where ``ip netns`` is not permitted.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import REPO

IP = shutil.which("ip")


def ip(*args: str) -> None:
    assert IP is not None
    subprocess.run([IP, *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class Net:
    hub: str  # namespace names
    other: str
    hub_address: str
    other_address: str


@pytest.fixture
def net() -> Iterator[Net]:
    if IP is None:
        pytest.skip("the ip command (iproute2) is missing")
    token = secrets.token_hex(3)
    n = random.randrange(1, 250)
    found = Net(f"c2c-hub-{token}", f"c2c-other-{token}", f"10.99.{n}.1", f"10.99.{n}.2")
    try:
        ip("netns", "add", found.hub)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"ip netns is not permitted here: {exc.stderr.strip()}")
    try:
        ip("netns", "add", found.other)
        ip("-n", found.hub, "link", "set", "lo", "up")
        ip("-n", found.other, "link", "set", "lo", "up")
        ip("-n", found.hub, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", found.hub, "link", "set", "v1", "netns", found.other)
        for ns, dev, address in (
            (found.hub, "v0", found.hub_address),
            (found.other, "v1", found.other_address),
        ):
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield found
    finally:
        for ns in (found.hub, found.other):
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=30)


def test_ssm_on_the_named_interface_takes_only_the_sdps_source(net: Net) -> None:
    rng = random.SystemRandom()
    group = f"239.{rng.randrange(70, 250)}.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"
    port = rng.randrange(20000, 60000, 2)
    foreign = subprocess.Popen(
        [IP, "netns", "exec", net.other, sys.executable, "-m", "c2c_hub_plugins.aes67.emulated",
         "--no-sap", "--channels", "2", "--signal", "pattern", "--address", group,
         "--port", str(port), "--interface", net.other_address, "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        child = subprocess.run(
            [IP, "netns", "exec", net.hub, sys.executable, "-m",
             "tests.plugins.aes67.netns_child", "--group", group, "--port", str(port),
             "--sap-group", f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}",
             "--interface", net.hub_address],
            cwd=REPO, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        foreign.terminate()
        foreign.wait(timeout=30)
    assert child.returncode == 0, child.stderr[-3000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    assert found["source_filter"]
    # the foreign sender's packets reach the namespace (an any-source socket sees them) ...
    assert net.other_address in found["plain_socket_saw"], found
    # ... but the hub joined source-specifically: only its SDP's source, every sample in place
    assert found["attached"] == sorted(found["serials"])
    assert found["exact"] == [True, True], found
    assert found["ssrc_changes"] == 0 and found["malformed"] == 0


def test_ipv6_multicast_and_unicast_streams_are_received_exactly() -> None:
    """``c=IN IP6`` streams, in a private network namespace (``unshare -n``, gone with its
    process): this machine's loopback carries no IPv6 multicast (a send to ``ff02::``/``ff15::``
    on ``lo`` is never delivered), a veth interface does. The source joins the group with
    ``IPV6_JOIN_GROUP`` on the interface the operator names (by its IPv4 address) and places
    every sample exactly; an IPv6 unicast stream likewise."""
    unshare = shutil.which("unshare")
    if unshare is None or IP is None:
        pytest.skip("unshare (util-linux) or ip (iproute2) is missing")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n is not permitted here: {probe.stderr.strip()}")
    rng = random.SystemRandom()
    group = f"ff15::{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}"
    port = rng.randrange(20000, 60000, 4)
    child = subprocess.run(
        [unshare, "-n", sys.executable, "-m", "tests.plugins.aes67.netns6_child",
         "--group", group, "--port", str(port)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    multicast, unicast = found["multicast"], found["unicast"]
    assert multicast["sdp_c"] == [f"c=IN IP6 {group}"]
    for case in (multicast, unicast):
        assert case["refused"] == [] and case["attached"], case
        assert case["exact"] == [True, True], case
        assert min(case["frames"]) >= 48000, case
        ((address, state, malformed),) = case["streams"]
        assert address.startswith("[") and state == "streaming" and malformed == 0, case
