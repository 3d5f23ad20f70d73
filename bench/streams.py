"""Part streams on the packet link: the controller driving real kernel TCP flows (issue 20).

The uploader's stream controller (:class:`c2c_hub.uploader.streams.StreamController`) decides
how many flows send at once. Here it drives bulk TCP flows (no TLS, no emulator, so nothing but
the decision and the link moves the figure) across the packet link (:mod:`bench.netlink`), the
flows' congestion control set per socket, for ``--seconds`` per run, deciding every 2 s epoch as
the uploader does:

- ``tcp_info``: what the hub does where the kernel tells (each flow's ``TCP_INFO`` read every
  0.1 s, :class:`c2c_hub.uploader.tcpinfo.LinkMeter`);
- ``throughput``: what it did before (and does without ``TCP_INFO``): a hill-climb on the rate.

Links: lossy (50 Mbit/s, 80 ms RTT, 0.5 % loss each way) and clean (50 and 200 Mbit/s, 40 ms
RTT), all CUBIC. Printed per run: the streams over time (one per epoch), the link's rate each
epoch (IP bytes, as the link counts them), its mean over the run's second half as a share of
the configured rate, and where the streams settled. ``--record DIR`` also writes every flow's
raw ``TCP_INFO`` of the ``tcp_info`` runs (the controller's unit tests replay such recordings:
``tests/uploader/data/tcpinfo-*.json``).

Needs root. Run: ``python -m bench.streams [--seconds 60] [--record DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.netlink import SERVER_IP, LinkHandle, PacketLink
from bench.netlink import available as packet_link_problem
from c2c_hub.uploader.streams import StreamController
from c2c_hub.uploader.tcpinfo import ASK, TCP_INFO, USED, LinkMeter

SIOCOUTQ = 0x5411
MiB = 1024 * 1024
EPOCH_S = 2.0
SAMPLE_S = 0.1
RECORD_EVERY = 5  # every 5th reading (0.5 s) is recorded
LINKS = (  # name, rate, one-way delay, loss each way
    ("lossy", 50e6, 0.040, 0.005),
    ("clean-50", 50e6, 0.020, 0.0),
    ("clean-200", 200e6, 0.020, 0.0),
)


# ------------------------------------------------------------------ server side
def sink(port: int) -> None:
    """(child, server namespace) Accept any number of connections and read them to EOF."""

    def drain(conn: socket.socket) -> None:
        buf = bytearray(1 << 20)
        with conn, contextlib.suppress(OSError):
            while conn.recv_into(buf):
                pass

    with socket.create_server((SERVER_IP, port), backlog=64) as server:
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=drain, args=(conn,), daemon=True).start()


# ------------------------------------------------------------------ client side
class Flow:
    """One bulk TCP flow, sending from its own thread until stopped."""

    def __init__(self, port: int, algorithm: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode())
        self.sock.connect((SERVER_IP, port))
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block = os.urandom(1 << 20)
        with contextlib.suppress(OSError):
            while not self.stopped.is_set():
                self.sock.sendall(block)

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        self.sock.close()


def flows(
    port: int, seconds: float, algorithm: str, mode: str, record: Path | None
) -> dict[str, Any]:
    """(child, client namespace) The controller driving flows for ``seconds``."""
    link = LinkHandle.from_env()
    assert link is not None
    controller = StreamController(start=4, minimum=4, maximum=16)
    meter = LinkMeter()
    running = [Flow(port, algorithm) for _ in range(controller.limit)]
    index = {id(f.sock): n for n, f in enumerate(running)}
    recorded: list[list[Any]] = []
    epochs: list[dict[str, Any]] = []
    started = time.monotonic()
    epoch_at, epoch_bytes = started, link.stats()["up_bytes"]
    readings = 0
    try:
        while (now := time.monotonic()) - started < seconds:
            socks = [f.sock for f in running]
            if mode == "tcp_info":
                meter.sample(socks)
                readings += 1
                if record is not None and readings % RECORD_EVERY == 0:
                    for sock in socks:
                        with contextlib.suppress(OSError):
                            raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO or 11, ASK)
                            row = [round(now - started, 3), index[id(sock)], raw[:USED].hex()]
                            recorded.append(row)
            if now - epoch_at >= EPOCH_S:
                up = link.stats()["up_bytes"]
                rate = (up - epoch_bytes) * 8 / (now - epoch_at)
                signal = meter.epoch() if mode == "tcp_info" else None
                decision = controller.observe(rate, True, signal)
                epochs.append(
                    {
                        "t": round(now - started, 1),
                        "streams": len(running),
                        "mbit": round(rate / 1e6, 2),
                        "next": decision.limit,
                        "why": decision.why,
                        "signal": None if signal is None else signal.to_json(),
                    }
                )
                if record is not None and mode == "tcp_info":
                    recorded.append([round(now - started, 3), "epoch", decision.limit])
                while len(running) < decision.limit:
                    flow = Flow(port, algorithm)
                    index[id(flow.sock)] = len(index)
                    running.append(flow)
                while len(running) > decision.limit:
                    running.pop().stop()
                epoch_at, epoch_bytes = now, up
            time.sleep(SAMPLE_S)
    finally:
        for flow in running:
            flow.stop()
    if record is not None and mode == "tcp_info":
        record.write_text(json.dumps({"algorithm": algorithm, "readings": recorded}))
    return {"epochs": epochs}


def _unacked(sock: socket.socket) -> int:
    """Bytes sent but not yet acknowledged (``SIOCOUTQ``)."""
    value: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0" * 4))[0]
    return value


def ceiling_flows(port: int, size: int, count: int, algorithm: str) -> dict[str, Any]:
    """(child, client namespace) ``count`` flows carry ``size`` bytes between them, each on a
    fresh connection (handshake and slow start included, as an upload's): seconds from the
    first connect to the last byte acknowledged."""
    share = size // count
    ends: list[float] = []
    started = time.monotonic()

    def one() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode())
            sock.connect((SERVER_IP, port))
            block = os.urandom(1 << 20)
            left = share
            while left > 0:
                left -= sock.send(memoryview(block)[: min(left, len(block))])
            while _unacked(sock):
                time.sleep(0.001)
            ends.append(time.monotonic())

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": max(ends) - started, "bytes": share * count}


def timeline(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Where an uploader run's transfer time went, from its events (``python -m
    c2c_hub.uploader``'s JSON lines): asset created -> first PUT started (``to_first_put_s``);
    the part PUTs with every stream busy; the drain, from the last moment the most parts were
    in flight to the last acknowledged (``drain_s``, the last parts' tail with fewer streams);
    -> the file done (``after_last_ack_s``). ``idle_stream_share``: of the stream-seconds
    before the drain, the share no PUT was in flight (the gaps between a part's answer and the
    next part)."""
    created = [e["at"] for e in lines if e.get("type") == "asset" and "at" in e]
    done = [e["at"] for e in lines if e.get("type") == "file" and e.get("state") == "done"]
    parts = [(e["at"] - e["seconds"], e["at"]) for e in lines if e.get("type") == "part_acked"]
    if not created or not done or not parts:
        return None
    changes = sorted([(start, 1) for start, _ in parts] + [(end, -1) for _, end in parts])
    in_flight = peak = 0
    for _, step in changes:
        in_flight += step
        peak = max(peak, in_flight)
    # the last moment the peak was in flight, and the stream-seconds used before it
    in_flight, last_full, used, at = 0, changes[0][0], 0.0, changes[0][0]
    used_until_full = 0.0
    for when, step in changes:
        used += in_flight * (when - at)
        at = when
        if in_flight == peak and step < 0:
            last_full = when
            used_until_full = used
        in_flight += step
    first_put = min(start for start, _ in parts)
    last_ack = max(end for _, end in parts)
    span = max(1e-9, last_full - first_put)
    return {
        "to_first_put_s": round(first_put - created[0], 3),
        "all_streams_s": round(span, 3),
        "drain_s": round(last_ack - last_full, 3),
        "after_last_ack_s": round(done[-1] - last_ack, 3),
        "streams_peak": peak,
        "parts": len(parts),
        "idle_stream_share": round(1 - used_until_full / (peak * span), 4),
    }


# ------------------------------------------------------------------ the runs
def _run_one(link: LinkHandle, seconds: float, mode: str, record: Path | None) -> dict[str, Any]:
    args = [str(seconds), "cubic", mode, str(record) if record else "-"]
    return _client(link, "flows", args, seconds + 120)


def _client(link: LinkHandle, what: str, args: list[str], timeout: float) -> dict[str, Any]:
    """A sink in the server namespace, ``python -m bench.streams WHAT PORT ARGS...`` in the
    client's; its last line (JSON)."""
    port = random.randrange(20000, 60000)
    server = subprocess.Popen(
        link.in_server([sys.executable, "-m", "bench.streams", "sink", str(port)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        command = [sys.executable, "-m", "bench.streams", what, str(port), *args]
        out = subprocess.run(
            link.in_client(command),
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
            env=os.environ | link.to_env(),
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def summarise(name: str, rate: float, mode: str, epochs: list[dict[str, Any]]) -> dict[str, Any]:
    second_half = epochs[len(epochs) // 2 :]
    mean = sum(e["mbit"] for e in second_half) / max(1, len(second_half))
    return {
        "bench": "streams",
        "link": name,
        "controller": mode,
        "streams_over_time": [e["streams"] for e in epochs],
        "mbit_over_time": [round(e["mbit"], 1) for e in epochs],
        "streams_last": epochs[-1]["next"] if epochs else None,
        "streams_max": max((e["streams"] for e in epochs), default=None),
        "second_half_mbit": round(mean, 2),
        "second_half_share": round(mean * 1e6 / rate, 4),
        "last_why": epochs[-1]["why"] if epochs else None,
    }


def run(seconds: float = 60.0, record: Path | None = None) -> list[dict[str, Any]]:
    """Both controllers on every link (see the module doc); needs root."""
    problem = packet_link_problem()
    if problem:
        return [{"bench": "streams", "skipped": problem}]
    load = os.getloadavg()[0]
    out = []
    with PacketLink() as link:
        for name, rate, delay, loss in LINKS:
            link.configure(rate, delay, loss)
            for mode in ("tcp_info", "throughput"):
                target = record / f"tcpinfo-{name}.json" if record and mode == "tcp_info" else None
                result = _run_one(link, seconds, mode, target)
                item = summarise(name, rate, mode, result["epochs"])
                if mode == "tcp_info" and loss:  # aim: climbs where flows are loss-bound
                    item["aim"] = "climbs to >= 8 streams"
                    item["meets_aim"] = (item["streams_last"] or 0) >= 8
                elif mode == "tcp_info":  # aim: holds where 4 fill the link
                    item["aim"] = "holds at 4 streams"
                    item["meets_aim"] = item["streams_max"] == 4
                item["load_avg_1m_before"] = round(load, 2)
                load = os.getloadavg()[0]
                out.append(item)
                print(json.dumps(item), flush=True)
    return out


CEILING = ((1, "cubic"), (1, "bbr"), (4, "cubic"), (4, "bbr"))


def raw_upload(link: LinkHandle, size: int, count: int, algorithm: str, rate: float) -> float:
    """Seconds raw TCP takes to carry ``size`` bytes over ``count`` fresh flows (SYN to the
    last ACK), on the link as it is configured now."""
    args = [str(size), str(count), algorithm]
    result = _client(link, "ceiling", args, size * 8 / rate * 5 + 120)
    return float(result["seconds"])


def ceiling(link: LinkHandle, size_mib: int = 256) -> list[dict[str, Any]]:
    """What raw TCP carries on the clean links: ``size_mib`` MiB from the first SYN to the last
    ACK, over 1 and 4 fresh connections, CUBIC and BBR (the hub's ceiling: no TLS, no HTTP, no
    requests between parts)."""
    out = []
    for name, rate, delay, loss in LINKS[1:]:
        link.configure(rate, delay, loss)
        for count, algorithm in CEILING:
            load = os.getloadavg()[0]
            size = size_mib * MiB // count * count
            seconds = raw_upload(link, size, count, algorithm, rate)
            share = size * 8 / seconds / rate
            item = {
                "bench": "streams-ceiling",
                "link": name,
                "flows": count,
                "algorithm": algorithm,
                "mib": size_mib,
                "seconds": round(seconds, 3),
                "share": round(share, 4),
                "load_avg_1m": round(load, 2),
            }
            out.append(item)
            print(json.dumps(item), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sink"]:
        sink(int(argv[1]))
        return 0
    if argv[:1] == ["ceiling"]:
        result = ceiling_flows(int(argv[1]), int(argv[2]), int(argv[3]), argv[4])
        print(json.dumps(result), flush=True)
        return 0
    if argv[:1] == ["flows"]:
        record = None if argv[5] == "-" else Path(argv[5])
        result = flows(int(argv[1]), float(argv[2]), argv[3], argv[4], record)
        print(json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="per run")
    parser.add_argument("--record", type=Path, default=None, help="write TCP_INFO recordings")
    parser.add_argument(
        "--only", default="controller,ceiling", help="controller (streams over time), ceiling"
    )
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",")}
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
    if "controller" in only:
        run(args.seconds, args.record)
    if "ceiling" in only:
        problem = packet_link_problem()
        if problem:
            print(json.dumps({"bench": "streams-ceiling", "skipped": problem}))
        else:
            with PacketLink() as link:
                ceiling(link)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
