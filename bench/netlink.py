"""A packet-level link emulator: two network namespaces joined by TUN devices and a forwarder.

The kernel here has no ``netem``, and a TCP proxy (:mod:`c2c_hub.emulation.linksim`) cannot make
packet loss that TCP sees: each side's TCP runs over loopback to the proxy. Here both ends run
real kernel TCP over one emulated path, so congestion control, slow start, loss recovery and
the RTT are what a cellular uplink would give them::

    namespace "client" (10.77.0.1, tun)  <-- forwarder -->  (10.77.0.2, tun) namespace "server"

The forwarder (a process of its own, ``python -m bench.netlink forward``) reads IP packets from
one TUN device and writes them to the other, per direction (``up`` = client to server):

- **rate**: a token bucket on IP bytes (headers included, as a real link counts them): a
  packet leaves the bottleneck ``bits / rate`` after the one before it;
- **queue**: drop-tail, ``queue_bytes`` waiting for the bottleneck at most;
- **delay**: one-way propagation delay added after the bottleneck;
- **loss**: each packet dropped at random with probability ``loss`` (before the queue).

Its settings change live and its counters are read from any namespace (a Unix datagram socket
and a shared memory file, both on the file system). :func:`check` measures a raw TCP flow across
it (goodput against the configured rate; the aim is >= 95 % at 0 loss: TCP/IP headers alone
take 3.5 % at a 1500-byte MTU).

Needs root (namespaces, TUN). Run: ``python -m bench.netlink`` (the raw TCP check at 50 and
200 Mbit/s, and CUBIC against BBR on the lossy link).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import fcntl
import json
import mmap
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CLIENT_IP, SERVER_IP = "10.77.0.1", "10.77.0.2"
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
STATS = struct.Struct("<8Q")  # up: bytes, packets, lost, queue drops; down: the same
MTU = 1500


@dataclass
class Direction:
    """One direction's settings."""

    rate_bps: float | None = None
    delay_s: float = 0.0
    loss: float = 0.0
    queue_bytes: int = 512 * 1024


def available() -> str | None:
    """Why this machine cannot run the emulator, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN devices)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    if shutil.which("ip") is None:
        return "no ip (iproute2)"
    return None


# ------------------------------------------------------------------------- the forwarder
def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class _Lane:
    def __init__(self, out: int, index: int) -> None:
        self.out = out
        self.index = index  # into the counters
        self.cfg = Direction()
        self.free_at = 0.0
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.bytes = self.packets = self.lost = self.dropped = 0

    def arrive(self, packet: bytes, now: float, rng: random.Random) -> None:
        cfg = self.cfg
        if cfg.loss and rng.random() < cfg.loss:
            self.lost += 1
            return
        size = len(packet)
        if cfg.rate_bps:
            waiting = max(0.0, self.free_at - now) * cfg.rate_bps / 8
            if waiting + size > cfg.queue_bytes:
                self.dropped += 1
                return
            self.free_at = max(now, self.free_at) + size * 8 / cfg.rate_bps
            leaves = self.free_at
        else:
            leaves = now
        self.queue.append((leaves + cfg.delay_s, packet))

    def deliver(self, now: float) -> None:
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, packet = queue.popleft()
            try:
                os.write(self.out, packet)
            except BlockingIOError:
                self.dropped += 1
                continue
            except OSError:
                continue
            self.bytes += len(packet)
            self.packets += 1


def forward(ns_client: str, ns_server: str, control: Path, stats: Path, seed: int) -> None:
    """(child) Create the TUN devices in both namespaces and forward until told to stop."""
    _setns(f"/var/run/netns/{ns_client}")
    fd_client = _open_tun("c2ctun0")
    _setns(f"/var/run/netns/{ns_server}")
    fd_server = _open_tun("c2ctun0")
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ctl.bind(str(control))
    ctl.setblocking(False)
    with stats.open("r+b") as fh:
        shared = mmap.mmap(fh.fileno(), STATS.size)
    up, down = _Lane(fd_server, 0), _Lane(fd_client, 4)
    lanes = {fd_client: up, fd_server: down}
    rng = random.Random(seed)
    print("ready", flush=True)
    poller = select.epoll()
    for fd in (fd_client, fd_server, ctl.fileno()):
        poller.register(fd, select.EPOLLIN)
    last_stats = 0.0
    while True:
        now = time.monotonic()
        due = [lane.queue[0][0] for lane in (up, down) if lane.queue]
        timeout = max(0.0, min(due) - now) if due else 0.05
        events = poller.poll(timeout)
        now = time.monotonic()
        for fd, _ in events:
            if fd == ctl.fileno():
                with contextlib.suppress(BlockingIOError):
                    message = json.loads(ctl.recv(65536))
                    if message.get("stop"):
                        return
                    for name, lane in (("up", up), ("down", down)):
                        if name in message:
                            lane.cfg = Direction(**message[name])
                continue
            lane = lanes[fd]
            for _ in range(256):
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                lane.arrive(packet, now, rng)
        now = time.monotonic()
        up.deliver(now)
        down.deliver(now)
        if now - last_stats > 0.002:
            last_stats = now
            STATS.pack_into(
                shared,
                0,
                up.bytes,
                up.packets,
                up.lost,
                up.dropped,
                down.bytes,
                down.packets,
                down.lost,
                down.dropped,
            )


# ------------------------------------------------------------------------- handles
@dataclass(frozen=True)
class LinkHandle:
    """Drives a running link from any namespace (paths on the file system)."""

    ns_client: str
    ns_server: str
    control: str
    stats_file: str

    @classmethod
    def from_env(cls) -> LinkHandle | None:
        raw = os.environ.get("C2C_BENCH_NETLINK")
        return cls(**json.loads(raw)) if raw else None

    def to_env(self) -> dict[str, str]:
        return {"C2C_BENCH_NETLINK": json.dumps(asdict(self))}

    @property
    def server_ip(self) -> str:
        return SERVER_IP

    def configure(
        self,
        rate_bps: float | None,
        delay_s: float,
        loss: float = 0.0,
        queue_bytes: int | None = None,
    ) -> None:
        """Both directions alike: ``delay_s`` one way (RTT = 2x), ``loss`` each way."""
        if queue_bytes is None:  # one 80 ms worth of the link (a BDP at 80 ms RTT), >= 64 KiB
            queue_bytes = max(64 * 1024, int((rate_bps or 0) * 0.08 / 8))
        lane = asdict(Direction(rate_bps, delay_s, loss, queue_bytes))
        self._send({"up": lane, "down": lane})

    def _send(self, message: dict[str, Any]) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(json.dumps(message).encode(), self.control)
        time.sleep(0.05)  # applied by the forwarder's next turn

    def stats(self) -> dict[str, int]:
        with open(self.stats_file, "rb") as fh:
            values = STATS.unpack(fh.read(STATS.size))
        keys = ("bytes", "packets", "lost", "dropped")
        out = {f"up_{k}": v for k, v in zip(keys, values[:4], strict=True)}
        out |= {f"down_{k}": v for k, v in zip(keys, values[4:], strict=True)}
        return out

    def in_client(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns_client, *command]

    def in_server(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns_server, *command]


class PacketLink:
    """Owns the namespaces, the TUN devices and the forwarder (root namespace, root)."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns_client, self.ns_server = f"c2cb-{tag}-c", f"c2cb-{tag}-s"
        self.dir = Path(tempfile.mkdtemp(prefix="c2c-netlink-"))
        self.control = self.dir / "control.sock"
        self.stats_file = self.dir / "stats"
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LinkHandle:
        problem = available()
        if problem:
            raise RuntimeError(problem)
        for ns in (self.ns_client, self.ns_server):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            self.stats_file.write_bytes(bytes(STATS.size))
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.netlink",
                    "forward",
                    self.ns_client,
                    self.ns_server,
                    str(self.control),
                    str(self.stats_file),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.process.stdout is not None
            if self.process.stdout.readline().strip() != "ready":
                raise RuntimeError("the forwarder did not start")
            for ns, mine, peer in (
                (self.ns_client, CLIENT_IP, SERVER_IP),
                (self.ns_server, SERVER_IP, CLIENT_IP),
            ):
                for args in (
                    ["link", "set", "lo", "up"],
                    ["addr", "add", mine, "peer", peer, "dev", "c2ctun0"],
                    ["link", "set", "c2ctun0", "mtu", str(MTU), "txqueuelen", "10000", "up"],
                ):
                    subprocess.run(["ip", "-n", ns, *args], check=True)
        except BaseException:
            self.close()
            raise
        return self.handle

    @property
    def handle(self) -> LinkHandle:
        return LinkHandle(self.ns_client, self.ns_server, str(self.control), str(self.stats_file))

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.handle._send({"stop": True})
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        for ns in (self.ns_client, self.ns_server):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------- a raw TCP flow
def _sink(port: int) -> None:
    """(child, server side) Accept one connection, read to EOF, print the bytes."""
    with socket.create_server((SERVER_IP, port)) as server:
        print("ready", flush=True)
        conn, _ = server.accept()
        total = 0
        buf = bytearray(1 << 20)
        with conn:
            while n := conn.recv_into(buf):
                total += n
        print(total, flush=True)


def _source(port: int, seconds: float, algorithm: str, skip_s: float) -> None:
    """(child, client side) Send for ``seconds``; print the goodput (bytes acknowledged)
    after the first ``skip_s`` (slow start), from the send queue's unacknowledged bytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode())
    sock.connect((SERVER_IP, port))
    block = os.urandom(1 << 20)

    def acked() -> int:
        outq: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), 0x5411, b"\0" * 4))[0]
        return sent - outq  # SIOCOUTQ: bytes not yet acknowledged

    sent = 0
    started = time.monotonic()
    base, base_at = 0, started
    while (now := time.monotonic()) - started < seconds:
        if skip_s and base_at == started and now - started >= skip_s:
            base, base_at = acked(), now
        sent += sock.send(block)
    result = {"bytes": acked() - base, "seconds": time.monotonic() - base_at}
    print(json.dumps(result), flush=True)
    sock.close()


def tcp_flow(
    link: LinkHandle, seconds: float = 10.0, algorithm: str = "bbr", skip_s: float = 0.0
) -> float:
    """A raw TCP flow client -> server for ``seconds``: its goodput in bit/s."""
    port = random.randrange(20000, 60000)
    sink = subprocess.Popen(
        link.in_server([sys.executable, "-m", "bench.netlink", "sink", str(port)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        sink.stdout.readline()
        out = subprocess.run(
            link.in_client(
                [
                    sys.executable,
                    "-m",
                    "bench.netlink",
                    "source",
                    str(port),
                    str(seconds),
                    algorithm,
                    str(skip_s),
                ]
            ),
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
        result = json.loads(out.stdout)
        return float(result["bytes"] * 8 / result["seconds"])
    finally:
        sink.wait(timeout=30)


@contextlib.contextmanager
def running() -> Iterator[LinkHandle]:
    with PacketLink() as handle:
        yield handle


def check(
    link: LinkHandle, rates: tuple[float, ...] = (50e6, 200e6), seconds: float = 10.0
) -> list[dict[str, Any]]:
    """Raw TCP goodput against the configured rate at 0 loss, 40 ms RTT (aim >= 95 %), once
    past slow start (the first 3 s are not counted)."""
    out = []
    for rate in rates:
        link.configure(rate, 0.020)
        before = link.stats()
        goodput = tcp_flow(link, seconds, skip_s=3.0)  # after slow start
        after = link.stats()
        out.append(
            {
                "bench": "netlink-check",
                "rate_mbit": rate / 1e6,
                "rtt_ms": 40,
                "goodput_mbit": round(goodput / 1e6, 2),
                "share": round(goodput / rate, 4),
                "meets_95": goodput / rate >= 0.95,
                "queue_drops": after["up_dropped"] - before["up_dropped"],
            }
        )
    return out


def lossy(link: LinkHandle, seconds: float = 20.0) -> list[dict[str, Any]]:
    """One raw TCP flow on the lossy link (50 Mbit/s, 80 ms RTT, 0.5 % loss): CUBIC, BBR."""
    link.configure(50e6, 0.040, 0.005)
    out = []
    for algorithm in ("cubic", "bbr"):
        goodput = tcp_flow(link, seconds, algorithm, skip_s=3.0)
        out.append(
            {
                "bench": "netlink-lossy-flow",
                "algorithm": algorithm,
                "goodput_mbit": round(goodput / 1e6, 2),
            }
        )
    return out


def run(seconds: float = 10.0) -> list[dict[str, Any]]:
    """The raw TCP check (aim >= 95 %), then one CUBIC and one BBR flow on the lossy link."""
    problem = available()
    if problem:
        return [{"bench": "netlink", "skipped": problem}]
    with running() as link:
        return check(link, seconds=seconds) + lossy(link, seconds * 2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["forward"]:
        forward(argv[1], argv[2], Path(argv[3]), Path(argv[4]), seed=20)
        return 0
    if argv[:1] == ["sink"]:
        _sink(int(argv[1]))
        return 0
    if argv[:1] == ["source"]:
        _source(int(argv[1]), float(argv[2]), argv[3], float(argv[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.netlink", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    for item in run(args.seconds):
        print(json.dumps(item), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
