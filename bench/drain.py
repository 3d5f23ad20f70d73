"""Clean shaped links: where a basic upload's time goes against raw TCP (issue 20, the drain).

On the packet link (:mod:`bench.netlink`: real kernel TCP at both ends, the emulator in the
server namespace), at 50 and 200 Mbit/s with 40 ms RTT and no loss, the same file is carried:

- by **raw TCP** (no TLS, no HTTP): one CUBIC flow, and four BBR flows each carrying a quarter
  (what the hub's defaults run), SYN to the last ACK (:func:`bench.streams.raw_upload`);
- by **one raw streaming PUT** over TLS (``http.client``, 1 MiB blocks, BBR set on its socket
  as the hub sets it) to a ``parts=1`` asset: connect to the 200;
- by **the hub** (``python -m c2c_hub.uploader``), once per part plan: Frame.io's 16 MiB
  parts, the hub's own plan (:func:`c2c_hub.uploader.basic.part_count`), the same with CUBIC
  on its sockets (what BBR's ``ProbeRTT`` costs on a clean link), or counts (``--parts``).

For each run of the hub a **timeline** from its events and the link's byte counter (sampled
every 10 ms on the same clock as the events): per ``--bin-s`` (0.5 s) bin, the Mbit/s that
crossed the link (IP bytes) and the part PUTs in flight; and the **phases**, each with the
link time it lost (its length less the time its IP bytes take at the configured rate):

- ``start``: the process started → the asset created (interpreter start-up, the identity
  check, ``/v2/devices/me``, the create; ``link_before_asset_s``: the part of it on the link);
- ``first_put``: asset created → the first PUT started;
- ``full``: the first PUT → the last moment the most PUTs were in flight (slow start, the gaps
  between a part's answer and the next part on a stream);
- ``drain``: → the last part acknowledged (fewer streams than the link needs);
- ``done``: → the file ``done``.

Shares are of the configured rate (IP bytes, so one TCP flow tops out at ~96.5 %: TCP/IP
headers of 1500-byte packets) and of the **ceiling**, the better raw TCP run of the same rate
in the same run. Needs root (namespaces, TUN). Run: ``python -m bench.drain [--size-mib 256]
[--rates 50,200] [--parts frameio,plan,plan-cubic,32]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.netlink import LinkHandle, PacketLink
from bench.netlink import available as packet_link_problem
from bench.streams import raw_upload
from bench.uploader import FILETYPE, MiB, Run, Site, _site, run_ours, test_file, wait_quiet
from c2c_hub.uploader.basic import FRAMEIO_PART

DELAY_S = 0.020  # one way: 40 ms RTT
RAW = ((1, "cubic"), (4, "bbr"))


class LinkClock:
    """The link's upstream byte counter every 10 ms, stamped with ``time.time()`` (the
    uploader's event clock)."""

    def __init__(self, link: LinkHandle) -> None:
        self.link = link
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.link.stats()["up_bytes"]))
            self._stop.wait(0.01)

    def __enter__(self) -> LinkClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def bytes_between(self, start: float, end: float) -> int:
        """IP bytes that crossed the link between two instants (nearest samples)."""
        return self._at(end) - self._at(start)

    def _at(self, when: float) -> int:
        best = 0
        for at, count in self.samples:
            if at > when:
                break
            best = count
        return best


def phases(
    lines: list[dict[str, Any]], clock: LinkClock, rate: float, started: float
) -> dict[str, Any]:
    """The run's phases (see the module doc), each with its seconds, Mbit/s and lost link time."""
    created = next(e["at"] for e in lines if e.get("type") == "asset")
    done = next(e["at"] for e in lines if e.get("type") == "file" and e.get("state") == "done")
    puts = sorted((e["at"] - e["seconds"], e["at"]) for e in lines if e.get("type") == "part_acked")
    changes = sorted([(s, 1) for s, _ in puts] + [(e, -1) for _, e in puts])
    in_flight = peak = 0
    for _, step in changes:
        in_flight += step
        peak = max(peak, in_flight)
    in_flight, last_full = 0, changes[0][0]
    for when, step in changes:
        if in_flight == peak and step < 0:
            last_full = when
        in_flight += step
    first_put, last_ack = puts[0][0], max(e for _, e in puts)
    marks = [
        ("start", started, created),
        ("first_put", created, first_put),
        ("full", first_put, last_full),
        ("drain", last_full, last_ack),
        ("done", last_ack, done),
    ]
    out: dict[str, Any] = {"streams_peak": peak, "parts": len(puts)}
    lost_total = 0.0
    for name, start, end in marks:
        seconds = max(0.0, end - start)
        carried = clock.bytes_between(start, end)
        lost = seconds - carried * 8 / rate
        lost_total += lost
        out[name] = {
            "s": round(seconds, 3),
            "mbit": round(carried * 8 / seconds / 1e6, 1) if seconds > 0 else None,
            "lost_s": round(lost, 3),
        }
    out["lost_s"] = round(lost_total, 3)
    return out


def bins(
    lines: list[dict[str, Any]], clock: LinkClock, start: float, end: float, width: float
) -> list[list[float]]:
    """``[t, Mbit/s, PUTs in flight (mean)]`` per ``width`` seconds from ``start``."""
    puts = [(e["at"] - e["seconds"], e["at"]) for e in lines if e.get("type") == "part_acked"]
    out = []
    at = start
    while at < end:
        stop = min(end, at + width)
        span = stop - at
        mbit = clock.bytes_between(at, stop) * 8 / span / 1e6
        busy = sum(max(0.0, min(stop, e) - max(at, s)) for s, e in puts) / span
        out.append([round(at - start, 2), round(mbit, 1), round(busy, 2)])
        at = stop
    return out


def raw_put(
    site: Site, link: LinkHandle, source: Path, sha: str, rate: float, algorithm: str
) -> Run:
    """One streaming PUT of the whole file over TLS, connect to the 200 (the asset created
    first, outside the timing)."""
    size = source.stat().st_size
    result = Run("packet", f"raw-put-{algorithm}", size, rate, 2000 * DELAY_S)
    asset = site.create_asset(source.name, size, parts=1)
    url = urlsplit(asset["upload_urls"][0])
    assert url.hostname is not None and url.port is not None
    wait_quiet(link)
    headers = {"Content-Type": FILETYPE, "x-amz-acl": "private", "Content-Length": str(size)}
    started = time.perf_counter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode())
    sock.connect((url.hostname, url.port))
    connection = http.client.HTTPSConnection(
        url.hostname, url.port, context=site.context, timeout=600, blocksize=MiB
    )
    connection.sock = site.context.wrap_socket(sock, server_hostname=url.hostname)
    with source.open("rb") as body:
        connection.request("PUT", f"{url.path}?{url.query}", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    result.wall_s = result.link_busy_s = time.perf_counter() - started
    connection.close()
    result.verified, problems = site.verify({asset["id"]}, sha)
    result.detail = problems if response.status == 200 else f"{response.status}: {answer[:200]!r}"
    return result


def hub(
    site: Site,
    link: LinkHandle,
    source: Path,
    sha: str,
    work: Path,
    rate: float,
    parts: str,
    bin_s: float,
) -> Run:
    """The hub with a part plan: ``frameio`` (16 MiB parts: Frame.io's own count for a file of
    whole 16 MiB), ``plan`` (the hub's, :func:`c2c_hub.uploader.basic.part_count`), or a count;
    ``-cubic`` after it: CUBIC on the hub's sockets instead of its default (BBR)."""
    size = source.stat().st_size
    env: dict[str, str] = {}
    plan, _, algorithm = parts.partition("-")
    if algorithm:
        env["C2C_HUB_UPLOADS__CONGESTION_CONTROL"] = algorithm
    part_size = None
    if plan == "frameio":
        part_size = FRAMEIO_PART
    elif plan != "plan":
        part_size = size // int(plan)
    with LinkClock(link) as clock:
        run = run_ours(
            site,
            "packet",
            source,
            sha,
            work,
            None,
            rate,
            label=f"ours-{parts}",
            rtt_ms=2000 * DELAY_S,
            part_size=part_size,
            env_changes=env,
            keep_lines=True,
        )
    lines = run.extra.pop("lines", None) or []
    started = run.extra.pop("started_at", 0.0)
    if lines:
        with contextlib.suppress(StopIteration, IndexError):
            run.extra["phases"] = found = phases(lines, clock, rate, started)
            if run.link_busy_s:  # the link's time before the asset was created (the hub's own)
                after = sum(found[k]["s"] for k in ("first_put", "full", "drain", "done"))
                found["link_before_asset_s"] = round(run.link_busy_s - after, 3)
            done = max(e["at"] for e in lines if "at" in e)
            run.extra["bins"] = bins(lines, clock, started, done + bin_s, bin_s)
    return run


def inside(size_mib: int, rates: list[float], plans: list[str], bin_s: float) -> int:
    """(child, client namespace) Every run, one JSON line each."""
    handle = LinkHandle.from_env()
    assert handle is not None, "run through main()"
    source, sha = test_file(size_mib * MiB)
    size = source.stat().st_size
    with tempfile.TemporaryDirectory(prefix="c2c-bench-drain-") as tmp, _site(None, handle) as site:
        for rate in rates:
            handle.configure(rate, DELAY_S)
            for count, algorithm in RAW:
                wait_quiet(handle)
                item = Run("packet", f"raw-tcp-{count}-{algorithm}", size, rate, 2000 * DELAY_S)
                item.link_busy_s = item.wall_s = raw_upload(handle, size, count, algorithm, rate)
                item.verified = True
                _emit(item)
            _emit(raw_put(site, handle, source, sha, rate, "bbr"))
            for plan in plans:
                _emit(hub(site, handle, source, sha, Path(tmp), rate, plan, bin_s))
    return 0


def _emit(item: Run) -> None:
    data = asdict(item)
    data["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps({"drain_run": data}), flush=True)


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per rate: each run's share of the rate and of the ceiling (the better raw TCP run)."""
    out = []
    for rate in sorted({r["rate_bps"] for r in runs if r.get("rate_bps")}):
        same = [r for r in runs if r.get("rate_bps") == rate and r.get("link_busy_s")]

        def share(r: dict[str, Any], rate: float = rate) -> float:
            return float(r["size"] * 8 / r["link_busy_s"] / rate)

        raws = [share(r) for r in same if r["uploader"].startswith("raw-tcp")]
        ceiling = max(raws) if raws else None
        for r in same:
            s = share(r)
            item = {
                "bench": "drain",
                "rate_mbit": rate / 1e6,
                "run": r["uploader"],
                "seconds": round(r["link_busy_s"], 3),
                "share_of_rate": round(s, 4),
                "share_of_ceiling": round(s / ceiling, 4) if ceiling else None,
                "verified": r.get("verified"),
                "load_avg_1m": r.get("load_avg_1m"),
            }
            if "phases" in r.get("extra", {}):
                item["phases"] = r["extra"]["phases"]
            if r.get("detail"):
                item["detail"] = r["detail"][:300]
            out.append(item)
    return out


def run(
    size_mib: int = 256,
    rates: tuple[float, ...] = (50e6, 200e6),
    plans: tuple[str, ...] = ("frameio", "plan", "plan-cubic"),
    bin_s: float = 0.5,
    out: Path | None = None,
) -> list[dict[str, Any]]:
    problem = packet_link_problem()
    if problem is not None:
        return [{"bench": "drain", "skipped": problem}]
    runs: list[dict[str, Any]] = []
    with PacketLink() as handle:
        command = handle.in_client(
            [
                sys.executable,
                "-m",
                "bench.drain",
                "inside",
                str(size_mib),
                ",".join(str(r) for r in rates),
                ",".join(plans),
                str(bin_s),
            ]
        )
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=os.environ | handle.to_env()
        )
        assert process.stdout is not None
        for line in process.stdout:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                item = json.loads(line)["drain_run"]
                runs.append(item)
                print(
                    json.dumps({k: item[k] for k in ("uploader", "rate_bps", "link_busy_s")}),
                    file=sys.stderr,
                    flush=True,
                )
        process.wait()
    if out is not None:
        out.write_text(json.dumps(runs, indent=1))
    return summary(runs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inside"]:
        return inside(
            int(argv[1]), [float(r) for r in argv[2].split(",")], argv[3].split(","), float(argv[4])
        )
    parser = argparse.ArgumentParser(prog="python -m bench.drain", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rates", default="50,200", help="Mbit/s, comma-separated")
    parser.add_argument(
        "--parts",
        default="frameio,plan,plan-cubic",
        help="frameio (16 MiB parts), plan (the hub's), or counts; -cubic: CUBIC on its sockets",
    )
    parser.add_argument("--bin-s", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None, help="write every run (with timelines)")
    args = parser.parse_args(argv)
    mbits = tuple(float(r) * 1e6 for r in args.rates.split(","))
    for item in run(args.size_mib, mbits, tuple(args.parts.split(",")), args.bin_s, args.out):
        print(json.dumps(item), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
