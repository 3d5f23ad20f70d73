"""Throughput of the emulator's S3-style part sink on loopback over HTTPS.

The emulator runs in a child process (``python -m bench.part_sink serve``), so the load
generator here does not share its GIL or event loop; on a 2-core machine that is the truer
number. The load generator is kept cheap: one pre-made random block reused as every part's body,
PUT over keep-alive connections by stdlib ``http.client`` in threads (4 concurrent, and
sequentially); its blocking TLS ``sendall`` encrypts without the GIL and costs about 0.35 CPU-s
per 512 MiB against about 0.9 for ``httpx.AsyncClient`` (``--client httpx`` to compare).

The sink verifies the signature, streams each body to disk and hashes it with SHA-256, and on the
last part hashes the assembled asset, so a run's time includes all of that. Every run also
reports the CPU seconds the emulator process and the load generator spent, and the latency of
``GET /v2/devices/me`` probed every 20 ms meanwhile (a stalled event loop, or a call waiting for
the emulator's state lock, shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from c2c_hub.emulation.frameio.handle import EmulatorHandle

MiB = 1024 * 1024
CLIENT_VERSION = "1.0.0"


# ------------------------------------------------------------------------ the emulator process
def serve(advertise: str | None = None, host: str = "127.0.0.1") -> None:
    """Child process: run an emulator, print its coordinates, stop when stdin closes.

    ``advertise`` (``host:port``): where clients reach it, e.g. a link simulator in front of it;
    part URLs and ``base_url`` then name that address, ``direct_url`` the emulator's own socket.
    ``host``: the address it listens on (its certificate names it too).
    """
    from c2c_hub.emulation.frameio.server import EmulatorServer
    from c2c_hub.emulation.frameio.state import EmulatorConfig

    with tempfile.TemporaryDirectory(prefix="c2c-bench-") as tmp:
        config = EmulatorConfig(strict=True, device_code_interval=0.05)
        with EmulatorServer(Path(tmp), config=config, advertise=advertise, host=host) as server:
            info = {
                "base_url": server.base_url,
                "direct_url": server.direct_url,
                "control_url": server.control_url,
                "ca_file": str(server.ca_file),
                "client_secret": config.client_secret,
                "pid": os.getpid(),
            }
            print(json.dumps(info), flush=True)
            sys.stdin.read()  # until the parent closes the pipe


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    handle: EmulatorHandle
    info: dict[str, Any]

    def close(self) -> None:
        self.handle.close()
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_emulator(
    advertise: str | None = None,
    host: str | None = None,
    wrap: Callable[[list[str]], list[str]] = lambda command: command,
) -> Emulator:
    """An emulator in a child process (``advertise``, ``host``: see :func:`serve`; ``wrap``
    the command, e.g. to run it in another network namespace)."""
    command = [sys.executable, "-m", "bench.part_sink", "serve"]
    if advertise is not None:
        command += ["--advertise", advertise]
    if host is not None:
        command += ["--host", host]
    command = wrap(command)
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError(f"the emulator process exited ({process.returncode})")
    info = json.loads(line)
    handle = EmulatorHandle(
        info["base_url"], info["control_url"], Path(info["ca_file"]), info["client_secret"]
    )
    return Emulator(process, handle, info)


# ------------------------------------------------------------------------- the load generator
def _form(**fields: str) -> dict[str, tuple[None, str]]:
    return {key: (None, value) for key, value in fields.items()}


def pair(emulator: Emulator, http: httpx.Client) -> str:
    """Pair a device through the device-code flow; return its access token."""
    secret = emulator.handle.client_secret
    headers = {"x-client-version": CLIENT_VERSION}
    code = http.post(
        "/v2/auth/device/code",
        files=_form(client_id="bench", client_secret=secret, scope="asset_create offline"),
        headers=headers,
    )
    code.raise_for_status()
    emulator.handle.approve(code.json()["user_code"])
    for _ in range(100):
        time.sleep(0.06)
        token = http.post(
            "/v2/auth/token",
            files=_form(
                grant_type="urn:ietf:params:oauth:grant-type:device_code",
                client_id="bench",
                client_secret=secret,
                device_code=code.json()["device_code"],
            ),
            headers=headers,
        )
        if token.status_code == 200:
            return str(token.json()["access_token"])
    raise RuntimeError(f"pairing failed: {token.text}")


def create_asset(
    http: httpx.Client, token: str, total: int, part_size: int
) -> tuple[str, list[str]]:
    body = {
        "name": "bench.mov",
        "filetype": "video/quicktime",
        "filesize": total,
        "parts": total // part_size,
    }
    headers = {"Authorization": f"Bearer {token}", "x-client-version": CLIENT_VERSION}
    for _ in range(20):
        response = http.post("/v2/devices/assets", json=body, headers=headers)
        if response.status_code != 429:
            break
        time.sleep(0.25)  # 5 asset creates per second per device
    response.raise_for_status()
    return str(response.json()["id"]), list(response.json()["upload_urls"])


HEADERS = {"Content-Type": "video/quicktime", "x-amz-acl": "private"}


def put_threads(urls: list[str], block: bytes, concurrency: int, context: ssl.SSLContext) -> float:
    """PUT ``block`` to every URL from ``concurrency`` threads; return the elapsed seconds."""
    first = urlsplit(urls[0])
    assert first.hostname is not None
    connections = [
        http.client.HTTPSConnection(first.hostname, first.port, context=context, timeout=120)
        for _ in range(concurrency)
    ]
    for connection in connections:  # TLS handshakes outside the timed region
        connection.request("GET", "/health")
        connection.getresponse().read()
    pending = list(reversed(urls))
    lock = threading.Lock()
    errors: list[str] = []

    def worker(connection: http.client.HTTPSConnection) -> None:
        while True:
            with lock:
                if not pending or errors:
                    return
                url = urlsplit(pending.pop())
            connection.request("PUT", f"{url.path}?{url.query}", body=block, headers=HEADERS)
            response = connection.getresponse()
            text = response.read()
            if response.status != 200:
                errors.append(f"PUT answered {response.status}: {text[:200]!r}")

    threads = [threading.Thread(target=worker, args=(c,)) for c in connections]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    if errors:
        raise RuntimeError(errors[0])
    return elapsed


def put_httpx(urls: list[str], block: bytes, concurrency: int, context: ssl.SSLContext) -> float:
    """The same with ``httpx.AsyncClient`` (costlier for the load generator)."""
    return asyncio.run(_put_httpx(urls, block, concurrency, context))


async def _put_httpx(
    urls: list[str], block: bytes, concurrency: int, context: ssl.SSLContext
) -> float:
    headers = HEADERS
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async with httpx.AsyncClient(verify=context, limits=limits, timeout=120) as client:
        # Warm the connections (TLS handshakes) outside the timed region.
        base = urls[0].split("/s3/")[0]
        await asyncio.gather(*(client.get(f"{base}/health") for _ in range(concurrency)))

        async def worker() -> None:
            while not queue.empty():
                url = queue.get_nowait()
                response = await client.put(url, content=block, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"PUT answered {response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Probe:
    """``GET /v2/devices/me`` every 20 ms while parts upload: does the sink stall the API?"""

    def __init__(self, base_url: str, context: ssl.SSLContext, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "x-client-version": CLIENT_VERSION}
        self._client = httpx.Client(base_url=base_url, verify=context, timeout=30, headers=headers)
        self._client.get("/v2/devices/me").raise_for_status()
        self._stop = threading.Event()
        self.latencies_ms: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            started = time.perf_counter()
            self._client.get("/v2/devices/me")
            self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


@dataclass
class Result:
    mode: str
    concurrency: int
    runs_mib_s: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    client_cpu_s: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs_mib_s)

    @property
    def best(self) -> float:
        return max(self.runs_mib_s)


CLIENTS: dict[str, Callable[[list[str], bytes, int, ssl.SSLContext], float]] = {
    "threads": put_threads,
    "httpx": put_httpx,
}


def run(
    total_mib: int, part_mib: int, repeat: int, concurrency: int, client: str = "threads"
) -> dict[str, Any]:
    total, part_size = total_mib * MiB, part_mib * MiB
    if total % part_size:
        raise SystemExit("total must be a multiple of the part size")
    block = os.urandom(part_size)
    emulator = start_emulator()
    try:
        context = ssl.create_default_context(cafile=emulator.info["ca_file"])
        with httpx.Client(base_url=emulator.info["base_url"], verify=context, timeout=60) as http:
            token = pair(emulator, http)
            results = []
            put = CLIENTS[client]
            pid = emulator.process.pid
            for mode, workers in (("concurrent", concurrency), ("sequential", 1)):
                result = Result(mode, workers)
                for _ in range(repeat):
                    asset_id, urls = create_asset(http, token, total, part_size)
                    with Probe(emulator.info["base_url"], context, token) as probe:
                        server_cpu, client_cpu = _process_cpu(pid), time.process_time()
                        elapsed = put(urls, block, workers, context)
                        result.server_cpu_s.append(_process_cpu(pid) - server_cpu)
                        result.client_cpu_s.append(time.process_time() - client_cpu)
                    result.api_ms.extend(probe.latencies_ms)
                    asset = emulator.handle.asset(asset_id)
                    if not asset["complete"]:
                        raise RuntimeError("the asset did not complete")
                    result.runs_mib_s.append(total_mib / elapsed)
                results.append(result)
    finally:
        emulator.close()
    return {
        "bench": "part_sink",
        "total_mib": total_mib,
        "part_mib": part_mib,
        "repeat": repeat,
        "client": client,
        "cpus": os.cpu_count(),
        "results": {
            r.mode: {
                "concurrency": r.concurrency,
                "median_mib_s": round(r.median, 1),
                "best_mib_s": round(r.best, 1),
                "runs_mib_s": [round(x, 1) for x in r.runs_mib_s],
                "server_cpu_s": [round(x, 2) for x in r.server_cpu_s],
                "client_cpu_s": [round(x, 2) for x in r.client_cpu_s],
                "api_latency_ms": {
                    "median": round(statistics.median(r.api_ms or [0.0]), 1),
                    "max": round(max(r.api_ms or [0.0]), 1),
                },
            }
            for r in results
        },
    }


def report(summary: dict[str, Any], target: float) -> None:
    print(
        f"part sink over HTTPS on loopback: {summary['total_mib']} MiB in "
        f"{summary['part_mib']} MiB parts, SHA-256 on, {summary['repeat']} runs, "
        f"{summary['cpus']} CPUs, load generator: {summary['client']}"
    )
    print(
        f"{'mode':<12}{'PUTs':>5}{'median MiB/s':>14}{'best MiB/s':>12}"
        f"{'emulator CPU-s':>16}{'client CPU-s':>14}{'API ms med/max':>16}   runs MiB/s"
    )
    for mode, r in summary["results"].items():
        runs = ", ".join(f"{x:.0f}" for x in r["runs_mib_s"])
        server = statistics.median(r["server_cpu_s"])
        client = statistics.median(r["client_cpu_s"])
        api = f"{r['api_latency_ms']['median']:.1f}/{r['api_latency_ms']['max']:.0f}"
        print(
            f"{mode:<12}{r['concurrency']:>5}{r['median_mib_s']:>14.1f}{r['best_mib_s']:>12.1f}"
            f"{server:>16.2f}{client:>14.2f}{api:>16}   {runs}"
        )
    concurrent = summary["results"]["concurrent"]["median_mib_s"]
    verdict = "meets" if concurrent >= target else "MISSES"
    print(f"target {target:.0f} MiB/s (4 concurrent, median): {verdict}")
    print(json.dumps(summary | {"target_mib_s": target, "meets_target": concurrent >= target}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve_parser = sub.add_parser("serve", help="(internal) run the emulator for a benchmark")
    serve_parser.add_argument("--advertise", default=None, help="host:port clients use")
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--total-mib", type=int, default=512)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--target", type=float, default=250.0, help="MiB/s")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="threads")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.advertise, args.host)
        return 0
    summary = run(args.total_mib, args.part_mib, args.repeat, args.concurrency, args.client)
    report(summary, args.target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
