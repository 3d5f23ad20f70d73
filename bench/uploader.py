"""The uploader's benchmark (issue 5): ours against Frame.io's ``FrameioUploader``, same bytes.

Every uploader runs as its own process, so each one's peak RSS and CPU seconds are its own
(``os.wait4``); the emulator runs in another child process (:func:`bench.part_sink.
start_emulator`), and the link simulator (:mod:`c2c_hub.emulation.linksim`) on its own thread here.
Measured:

- **loopback** (an emulator with no link in front): a single raw streaming PUT of the file to
  the one URL of a ``parts=1`` asset (``http.client``, 1 MiB blocks: the ceiling for one
  stream), our uploader on a 100 MiB file and on the main file, and ``FrameioUploader``;
- **link**: the main file through the link simulator at 50 and 200 Mbit/s, 40 ms RTT (a second
  emulator advertising the link's address, so every API call and part URL goes through it):
  ours, then ``FrameioUploader``, each as a share of the link rate, and ours / theirs;
- **real-time**: an 8-track 48 kHz 24-bit WAV (1.152 MB/s) appended at real speed for 60 s
  and 10 min (60 s alone with ``--quick``; ``--realtime-s 60,600`` chooses) at 50 Mbit/s, 40 ms
  RTT, its header rewritten at stop: seconds from stop to the last part acknowledged (its 200
  stored: Frame.io has every byte; issue 20's figure), and to the file's ``done`` (after the
  parts sent while recording were read again); the tail's parts, their bytes and times.

Times per run: ``wall`` is launch to exit of the uploader's process (interpreter start, asset
create, every part, the emulator's whole-file SHA-256 on the last part); ``sending`` is ``wall``
less the same process's start-up and exit with nothing to do (timed just before: ours with an
empty queue, ``FrameioUploader``'s child with its imports only); ``link busy`` is the time the
link carried the upload (its byte counter, sampled every 10 ms).
Shares of the link rate use ``link busy``; every run's bytes are checked in the emulator
(complete, SHA-256 of the file), since ``FrameioUploader`` drops failed parts silently.

Our uploader: ``python -m c2c_hub.uploader --data-dir DIR [--concurrency N] FILE``, paired first
into
a fresh DIR through the hub's own pairing (the emulated user approves). Test files are random
bytes, generated once and kept in ``$TMPDIR/c2c-bench-files``.

The loopback trio (raw PUT, ours, ``FrameioUploader``) runs ``--rounds`` times interleaved
(3; 1 with ``--quick``), and the verdicts take each one's run of median CPU per GiB: CPU
seconds from ``wait4`` hold up under other load better than wall times, but not fully.

On the packet link's clean scenarios, raw TCP first carries the same bytes (one CUBIC flow,
four BBR flows; SYN to last ACK): the ceiling each uploader's share is read against
(``packet_*_share_of_ceiling``). Each run of ours reports its ``timeline`` (where the transfer
time went, :func:`bench.streams.timeline`). ``--only packet-parts``: Frame.io's part size against
5 MiB parts, on the lossy link with CUBIC and on the clean links.

Run: ``python -m bench.uploader [--size-mib N] [--quick] [--rounds N]
[--only startup,loopback,link,realtime,packet,packet-clean,packet-lossy,packet-parts]``.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import shutil
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bench.netlink import LinkHandle, PacketLink
from bench.netlink import available as packet_link_problem
from bench.part_sink import Emulator, pair, start_emulator
from bench.streams import raw_upload
from bench.streams import timeline as streams_timeline
from c2c_hub.emulation.linksim import LinkSimulator
from c2c_hub.settings import FrameioSettings, HubSettings, StorageSettings

MiB = 1024 * 1024
GiB = 1024 * MiB
SMALL_MIB = 100
RATES_BPS = (50e6, 200e6)
DELAY_S = 0.020  # one way: 40 ms RTT
REALTIME_RATE_BPS = 50e6
CHANNELS, SAMPLE_RATE, SAMPLE_BYTES = 8, 48_000, 3
REALTIME_BYTES_PER_S = CHANNELS * SAMPLE_RATE * SAMPLE_BYTES  # 1.152 MB/s
FILETYPE = "video/quicktime"
CLIENT_VERSION = "1.0.0"
FILES_DIR = Path(tempfile.gettempdir()) / "c2c-bench-files"


# ---------------------------------------------------------------------------- test files
def test_file(size: int) -> tuple[Path, str]:
    """A file of ``size`` random bytes (made once, then reused) and its SHA-256."""
    FILES_DIR.mkdir(parents=True, exist_ok=True)
    path = FILES_DIR / f"random-{size}.mov"
    digest_path = path.with_suffix(".sha256")
    if path.is_file() and path.stat().st_size == size and digest_path.is_file():
        return path, digest_path.read_text().strip()
    digest = hashlib.sha256()
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(16 * MiB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    partial.rename(path)
    digest_path.write_text(digest.hexdigest())
    return path, digest.hexdigest()


def alias(path: Path, directory: Path) -> Path:
    """The same bytes under a fresh name (a hard link: no copy, same page cache)."""
    target = directory / f"take-{uuid.uuid4().hex[:8]}{path.suffix}"
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)
    return target


# ---------------------------------------------------------------------------- a measured run
@dataclass
class Run:
    scenario: str  # loopback / link / realtime
    uploader: str  # ours / frameioclient / raw-put
    size: int
    rate_bps: float | None = None
    rtt_ms: float = 0.0
    wall_s: float = 0.0
    sending_s: float | None = None
    link_busy_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    verified: bool = False
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mib_s(self) -> float:
        seconds = self.link_busy_s or self.sending_s or self.wall_s
        return self.size / MiB / seconds if seconds else 0.0

    @property
    def link_share(self) -> float | None:
        if self.rate_bps is None or not self.link_busy_s:
            return None
        return self.size * 8 / self.link_busy_s / self.rate_bps

    @property
    def cpu_s_per_gib(self) -> float | None:
        return None if self.cpu_s is None or not self.size else self.cpu_s / (self.size / GiB)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            bench="uploader",
            mib_s=round(self.mib_s, 2),
            link_share=None if self.link_share is None else round(self.link_share, 4),
            cpu_s_per_gib=None if self.cpu_s_per_gib is None else round(self.cpu_s_per_gib, 2),
        )
        for key in ("wall_s", "sending_s", "link_busy_s", "cpu_s", "peak_rss_mb"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 3)
        return data


class Sampler:
    """The link's byte counter every 10 ms (a link simulator's, or the packet link's)."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.up: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.link is not None:
                self.up.append((time.perf_counter(), self.link.stats()["up_bytes"]))
            self._stop.wait(0.01)

    def __enter__(self) -> Sampler:
        if self.link is not None:
            self.up.append((time.perf_counter(), self.link.stats()["up_bytes"]))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.link is not None:
            self.up.append((time.perf_counter(), self.link.stats()["up_bytes"]))

    def link_busy(self) -> float | None:
        """From the last sample before the run's first byte crossed the link to the first
        sample after its last one (so it errs long, by up to 20 ms)."""
        if len(self.up) < 2:
            return None
        base, final = self.up[0][1], self.up[-1][1]
        if final == base:
            return None
        start = max(t for t, n in self.up if n == base)
        end = next(t for t, n in self.up if n == final)
        return end - start


@dataclass
class Process:
    returncode: int
    wall_s: float
    link_busy_s: float | None
    cpu_s: float
    peak_rss_mb: float
    lines: list[dict[str, Any]]
    stderr: str
    started_at: float = 0.0  # time.time() at launch (the uploader's event clock)


def wait_quiet(link: Any, quiet_s: float = 0.5, within_s: float = 10.0) -> None:
    """Until nothing has crossed the link for ``quiet_s``: the last packets of an earlier run
    (its connections' FIN and ACKs, sent as its process exits) are not the next run's, and
    would start its busy time early (measured: ~0.45 s early, the next process's start-up)."""
    if link is None:
        return
    deadline = time.monotonic() + within_s
    seen, since = link.stats()["up_bytes"], time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.02)
        now = link.stats()["up_bytes"]
        if now != seen:
            seen, since = now, time.monotonic()


def run_process(command: list[str], env: dict[str, str], link: Any, timeout: float) -> Process:
    """Run ``command`` to its end; its JSON stdout lines, its own rusage, the link's view."""
    wait_quiet(link)
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        started_at = time.time()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
        )
        lines: list[dict[str, Any]] = []

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if isinstance(item, dict):
                        lines.append(item)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        with Sampler(link) as sampler:
            _, status, usage = os.wait4(process.pid, 0)
            ended = time.perf_counter()
        killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        reader.join(10)
        errors.seek(0)
        stderr = errors.read()
    return Process(
        returncode=process.returncode,
        wall_s=ended - started,
        link_busy_s=sampler.link_busy(),
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        lines=lines,
        stderr=stderr,
        started_at=started_at,
    )


# ---------------------------------------------------------------------------- the emulator side
class Site:
    """One emulator (and, for the link scenarios, the link simulator in front of it)."""

    def __init__(self, link: LinkSimulator | None, packet: LinkHandle | None = None) -> None:
        self.link: Any = link or packet
        if packet is not None:  # the emulator in the server namespace, at its end of the link
            self.emulator: Emulator = start_emulator(host=packet.server_ip, wrap=packet.in_server)
        else:
            self.emulator = start_emulator(advertise=link.address if link else None)
        self.info = self.emulator.info
        if link is not None:
            direct = urlsplit(self.info["direct_url"])
            assert direct.hostname is not None and direct.port is not None
            link.set_target(direct.hostname, direct.port)
        self.context = ssl.create_default_context(cafile=self.info["ca_file"])
        self.http = httpx.Client(base_url=self.info["base_url"], verify=self.context, timeout=60)
        self.token = pair(self.emulator, self.http)  # the device FrameioUploader's assets use

    def settle(self, quiet_s: float = 0.3, within_s: float = 15.0) -> None:
        """Until the emulator's process has used no CPU for ``quiet_s`` (Linux ``/proc``; else
        at once). A loopback run shares the two cores with the emulator, which may still be
        busy with the run before (freeing a gigabyte of parts): measured, the run after the
        raw PUT spent 0.1-0.2 s more CPU in its part threads than the same run later."""
        stat = Path(f"/proc/{self.emulator.process.pid}/stat")

        def ticks() -> int:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])

        try:
            deadline = time.monotonic() + within_s
            seen, since = ticks(), time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
                time.sleep(0.05)
                now = ticks()
                if now != seen:
                    seen, since = now, time.monotonic()
        except (OSError, ValueError, IndexError):
            return

    def close(self) -> None:
        self.http.close()
        self.emulator.close()

    def asset_ids(self) -> set[str]:
        return {a["id"] for a in self.emulator.handle.assets()}

    def create_asset(self, name: str, size: int, parts: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "filetype": FILETYPE, "filesize": size, "offset": 0}
        if parts is not None:
            body["parts"] = parts
        headers = {"Authorization": f"Bearer {self.token}", "x-client-version": CLIENT_VERSION}
        for _ in range(40):
            response = self.http.post("/v2/devices/assets", json=body, headers=headers)
            if response.status_code != 429:
                break
            time.sleep(0.25)
        response.raise_for_status()
        asset: dict[str, Any] = response.json()
        return asset

    def verify(self, asset_ids: set[str], sha256: str) -> tuple[bool, str]:
        """Every asset complete with the file's SHA-256 (and at least one)."""
        if not asset_ids:
            return False, "no asset was created"
        problems = []
        for asset_id in sorted(asset_ids):
            asset = self.emulator.handle.asset(asset_id)
            if not asset["complete"]:
                missing = [p["number"] for p in asset["parts"] if not p["stored"]]
                problems.append(f"{asset_id[:8]} incomplete, parts missing: {missing[:10]}")
            elif asset["sha256"] != sha256:
                problems.append(f"{asset_id[:8]} SHA-256 differs")
        if len(asset_ids) > 1:
            problems.append(f"{len(asset_ids)} assets for one file")
        return not problems, "; ".join(problems)

    def hub_settings(self, data_dir: Path) -> HubSettings:
        return HubSettings(
            frameio=FrameioSettings(
                api_base_url=self.info["base_url"],
                client_id=f"bench-{uuid.uuid4()}",
                client_secret=SecretStr(self.info["client_secret"]),
                ca_file=Path(self.info["ca_file"]),
                firmware_version=CLIENT_VERSION,
            ),
            storage=StorageSettings(data_dir=data_dir),
        )

    def pair_hub(self, data_dir: Path) -> HubSettings:
        """Pair a fresh hub data directory through the hub's own pairing."""
        settings = self.hub_settings(data_dir)
        asyncio.run(_pair_hub(settings, self.emulator))
        return settings


async def _pair_hub(settings: HubSettings, emulator: Emulator) -> None:
    from c2c_hub.pairing import PairingStep, PairingUpdate
    from c2c_hub.runtime import Hub

    async with Hub(settings) as hub:
        await hub.session.start()
        pairing = hub.pairing()

        def approve(update: PairingUpdate) -> None:
            if update.step is PairingStep.SHOW_CODE and update.user_code:
                emulator.handle.approve(update.user_code)

        pairing.subscribe(approve)
        await asyncio.wait_for(pairing.run(), 60)


def uploader_env(settings: HubSettings) -> dict[str, str]:
    frameio = settings.frameio
    return os.environ | {
        "C2C_HUB_FRAMEIO__API_BASE_URL": frameio.api_base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(frameio.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": frameio.client_secret.get_secret_value(),
        "C2C_HUB_FRAMEIO__CLIENT_ID": frameio.client_id,
        "C2C_HUB_FRAMEIO__FIRMWARE_VERSION": frameio.firmware_version,
        "C2C_HUB_STORAGE__DATA_DIR": str(settings.storage.data_dir),
    }


def ours_available() -> bool:
    return importlib.util.find_spec("c2c_hub.uploader.__main__") is not None


# ---------------------------------------------------------------------------- the uploaders
def _timeout(size: int, rate_bps: float | None) -> float:
    return 600 + (size * 8 / rate_bps * 3 if rate_bps else size / (5 * MiB))


def run_ours(
    site: Site,
    scenario: str,
    source: Path,
    sha256: str,
    work: Path,
    concurrency: int | None,
    rate_bps: float | None = None,
    *,
    label: str = "ours",
    rtt_ms: float | None = None,
    env_changes: dict[str, str] | None = None,
    part_size: int | None = None,
    keep_lines: bool = False,
) -> Run:
    size = source.stat().st_size
    rtt = rtt_ms if rtt_ms is not None else (2000 * DELAY_S if rate_bps else 0.0)
    result = Run(scenario, label, size, rate_bps, rtt)
    if not ours_available():
        result.detail = "skipped: python -m c2c_hub.uploader is not there yet"
        return result
    data_dir = work / f"hub-{uuid.uuid4().hex[:8]}"
    settings = site.pair_hub(data_dir)
    path = alias(source, work)
    command = [sys.executable, "-m", "c2c_hub.uploader", "--data-dir", str(data_dir)]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    if part_size is not None:
        command += ["--part-size", str(part_size)]
    env = uploader_env(settings) | (env_changes or {})
    startup = run_process(command, env, None, 120)  # an empty queue: start-up and exit only
    before = site.asset_ids()
    try:
        process = run_process([*command, str(path)], env, site.link, _timeout(size, rate_bps))
    finally:
        path.unlink(missing_ok=True)
    _fill(result, process, startup)
    result.verified, problems = site.verify(site.asset_ids() - before, sha256)
    result.detail = _detail(process, problems)

    def times(kind: str, state: str | None = None) -> list[float]:
        return [
            e["at"]
            for e in process.lines
            if e.get("type") == kind and "at" in e and (state is None or e.get("state") == state)
        ]

    done = times("file", "done")
    # Two spans, each to the file done, each as a share of the link:
    # - "transfer", from the asset's create answered: the transfer alone, comparable with
    #   FrameioUploader's run (its asset is created before its process starts);
    # - "from_queued", from the file queued: what a file costs a hub already running (its
    #   asset's create, the handshakes and slow start included; not the process's own start,
    #   which a resident hub pays once).
    for key, begun in (("transfer", times("asset")), ("from_queued", times("file", "queued"))):
        if begun and done and rate_bps:
            span = done[-1] - begun[0]
            result.extra[f"{key}_s"] = round(span, 3)
            result.extra[f"{key}_share"] = round(size * 8 / span / rate_bps, 4)
    result.extra["timeline"] = streams_timeline(process.lines)
    if keep_lines:  # for a finer timeline (bench.drain): every event, and the launch time
        result.extra["lines"] = process.lines
        result.extra["started_at"] = process.started_at
    if process.lines:
        summary = process.lines[-1]
        uploads = summary.get("snapshot", {})
        result.extra["part_streams"] = uploads.get("part_streams")
        cc = uploads.get("congestion_control") or {}
        result.extra["congestion_control"] = cc.get("algorithm")
        if cc.get("switched"):  # started on CUBIC, moved to BBR on random loss: when and why
            result.extra["congestion_switch"] = cc.get("reason")
    return result


STARTUP_ROUNDS = 5


def byte_compile(baseline: Path | None = None) -> None:
    """The hub's modules (and ``baseline``'s) byte-compiled, as ``pip install`` leaves them: a
    checkout run with ``PYTHONDONTWRITEBYTECODE`` would compile ~50 modules in every run, and
    a baseline compiled while ours is not would compare unlike start-ups."""
    for package in ("c2c_hub", "c2c_hub.device_models_data"):
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)
    if baseline is not None:
        compileall.compile_dir(baseline, quiet=1)


def startup(site: Site, work: Path, rounds: int = STARTUP_ROUNDS) -> Run:
    """CPU of ``python -m c2c_hub.uploader`` with nothing to do (a paired directory, an empty
    queue): interpreter, imports, settings, credentials, the queue opened and closed. The
    median of ``rounds`` runs (the machine is shared), the least beside it.

    The hub's modules are byte-compiled first, as ``pip install`` leaves them (a checkout run
    with ``PYTHONDONTWRITEBYTECODE`` would otherwise compile ~50 modules in every run)."""
    result = Run("startup", "ours", 0)
    byte_compile()
    data_dir = work / f"hub-start-{uuid.uuid4().hex[:8]}"
    settings = site.pair_hub(data_dir)
    command = [sys.executable, "-m", "c2c_hub.uploader", "--data-dir", str(data_dir)]
    runs = [run_process(command, uploader_env(settings), None, 120) for _ in range(rounds)]
    cpus = sorted(p.cpu_s for p in runs)
    result.cpu_s = cpus[len(cpus) // 2]
    result.wall_s = sorted(p.wall_s for p in runs)[len(runs) // 2]
    result.peak_rss_mb = max(p.peak_rss_mb for p in runs)
    result.verified = all(p.returncode == 0 for p in runs)
    result.extra.update(startup_cpu_s=round(result.cpu_s, 3), startup_cpu_min_s=round(cpus[0], 3))
    failed = [p for p in runs if p.returncode != 0]
    result.detail = _detail(failed[0], "") if failed else ""
    return result


def run_theirs(
    site: Site,
    scenario: str,
    source: Path,
    sha256: str,
    work: Path,
    rate_bps: float | None = None,
    *,
    congestion: str | None = None,
    rtt_ms: float | None = None,
) -> Run:
    size = source.stat().st_size
    rtt = rtt_ms if rtt_ms is not None else (2000 * DELAY_S if rate_bps else 0.0)
    label = "frameioclient" + (f"-{congestion}" if congestion else "")
    result = Run(scenario, label, size, rate_bps, rtt)
    asset = site.create_asset(source.name, size)
    asset_file = work / f"asset-{asset['id']}.json"
    asset_file.write_text(json.dumps(asset))
    env = os.environ | {"REQUESTS_CA_BUNDLE": site.info["ca_file"]}
    if congestion:
        env["C2C_BENCH_CC"] = congestion
    command = [sys.executable, "-m", "bench.uploader", "frameioclient"]
    startup = run_process([*command, "-"], env, None, 120)  # imports only
    process = run_process(
        [*command, str(asset_file), str(source)], env, site.link, _timeout(size, rate_bps)
    )
    _fill(result, process, startup)
    result.verified, problems = site.verify({asset["id"]}, sha256)
    result.detail = _detail(process, problems)
    result.extra["parts"] = len(asset["upload_urls"])
    return result


def _fill(result: Run, process: Process, startup: Process) -> None:
    result.wall_s = process.wall_s
    result.sending_s = process.wall_s - startup.wall_s
    result.extra["startup_s"] = round(startup.wall_s, 3)
    result.extra["startup_cpu_s"] = round(startup.cpu_s, 3)
    result.link_busy_s = process.link_busy_s
    result.cpu_s = process.cpu_s
    result.peak_rss_mb = process.peak_rss_mb


def _detail(process: Process, problems: str) -> str:
    notes = [problems] if problems else []
    if process.returncode != 0:
        tail = process.stderr.strip().splitlines()[-3:]
        notes.append(f"exit {process.returncode}: {' | '.join(tail)}")
    return "; ".join(notes)


def set_requests_congestion(algorithm: str) -> None:
    """Every connection ``requests`` opens from now on runs ``algorithm`` (``TCP_CONGESTION``).

    Through the adapters' pool managers (``socket_options``), as requests documents; urllib3's
    ``default_socket_options`` cannot be changed after import (a default argument)."""
    import socket

    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection

    options = [
        *HTTPConnection.default_socket_options,
        (socket.IPPROTO_TCP, socket.TCP_CONGESTION, algorithm.encode()),
    ]
    original = HTTPAdapter.init_poolmanager

    def init_poolmanager(self: HTTPAdapter, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("socket_options", options)
        original(self, *args, **kwargs)

    HTTPAdapter.init_poolmanager = init_poolmanager  # type: ignore[method-assign]


def frameioclient_child(asset_file: Path, path: Path) -> int:
    """(child) Frame.io's uploader, as its users run it: 5 threads, part errors printed only.

    ``C2C_BENCH_CC``: every socket it opens set to that congestion control (as on a system
    whose default it is; urllib3's default socket options, which requests uses)."""
    from frameioclient.lib.upload import FrameioUploader

    congestion = os.environ.get("C2C_BENCH_CC")
    if congestion:
        set_requests_congestion(congestion)
    asset = json.loads(asset_file.read_text())
    with path.open("rb") as file:
        FrameioUploader(asset, file).upload()
    return 0


def raw_put(site: Site, source: Path, sha256: str) -> Run:
    """One streaming PUT of the whole file to a ``parts=1`` asset: the single-stream ceiling."""
    size = source.stat().st_size
    result = Run("loopback", "raw-put", size)
    asset = site.create_asset(source.name, size, parts=1)
    url = urlsplit(asset["upload_urls"][0])
    assert url.hostname is not None
    connection = http.client.HTTPSConnection(
        url.hostname, url.port, context=site.context, timeout=600, blocksize=MiB
    )
    connection.connect()  # the handshake outside the timed region
    headers = {"Content-Type": FILETYPE, "x-amz-acl": "private", "Content-Length": str(size)}
    cpu = time.process_time()
    started = time.perf_counter()
    with source.open("rb") as body:
        connection.request("PUT", f"{url.path}?{url.query}", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    result.wall_s = result.sending_s = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu
    connection.close()
    result.verified, problems = site.verify({asset["id"]}, sha256)
    result.detail = problems if response.status == 200 else f"{response.status}: {answer[:200]!r}"
    return result


# ---------------------------------------------------------------------------- real time
def wav_header(data_size: int) -> bytes:
    """A canonical 44-byte PCM WAV header (8 ch, 48 kHz, 24-bit) for ``data_size`` bytes."""
    block = CHANNELS * SAMPLE_BYTES
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, CHANNELS, SAMPLE_RATE, SAMPLE_RATE * block, block, 24)
        + b"data"
        + struct.pack("<I", data_size)
    )


class Recorder:
    """Appends audio to a WAV at real speed (10 blocks a second), rewrites the header at stop."""

    TICK = 0.1

    def __init__(self, path: Path, seconds: float) -> None:
        self.path, self.seconds = path, seconds
        self.block = os.urandom(int(REALTIME_BYTES_PER_S * self.TICK) // 24 * 24)
        self.written = 0
        self.digest = ""

    def open(self) -> None:
        with self.path.open("wb") as out:
            out.write(wav_header(0xFFFFFFFF - 36))  # the size is unknown while recording

    async def record(self, grew: Callable[[], None]) -> None:
        """Append for ``seconds`` at 1.152 MB/s, calling ``grew`` after every block."""
        with self.path.open("r+b") as out:
            out.seek(0, os.SEEK_END)
            started = time.monotonic()
            for index in range(1, round(self.seconds / self.TICK) + 1):
                out.write(self.block)
                out.flush()
                self.written += len(self.block)
                grew()
                await asyncio.sleep(max(0.0, started + index * self.TICK - time.monotonic()))
            out.seek(0)
            out.write(wav_header(self.written))  # rewritten when recording stops
            out.flush()
            os.fsync(out.fileno())

    def hash(self) -> None:
        """The take's SHA-256, once measured (a thread: it must not hold up the uploader)."""
        digest = hashlib.sha256()
        with self.path.open("rb") as source:
            while chunk := source.read(4 * MiB):
                digest.update(chunk)
        self.digest = digest.hexdigest()


def realtime(site: Site, work: Path, seconds: float, concurrency: int | None) -> Run:
    blocks = round(seconds / Recorder.TICK)
    size = 44 + blocks * (int(REALTIME_BYTES_PER_S * Recorder.TICK) // 24 * 24)
    result = Run("realtime", "ours", size, REALTIME_RATE_BPS, 2000 * DELAY_S)
    if importlib.util.find_spec("c2c_hub.uploader.realtime") is None:
        result.detail = "skipped: hub.uploader.realtime (begin_recording) is not there yet"
        return result
    assert site.link is not None
    site.link.set_rate(REALTIME_RATE_BPS)
    site.link.set_delay(DELAY_S)
    data_dir = work / f"hub-rt-{uuid.uuid4().hex[:8]}"
    settings = site.pair_hub(data_dir)
    before = site.asset_ids()
    recorder = Recorder(work / f"take-{uuid.uuid4().hex[:8]}.wav", seconds)
    cpu = time.process_time()
    measured = asyncio.run(_realtime(settings, recorder, concurrency))
    result.cpu_s = time.process_time() - cpu  # the whole bench process: recorder included
    result.extra.update(measured)
    result.wall_s = measured.get("total_s", 0.0)
    result.size = 44 + recorder.written
    result.verified, problems = site.verify(site.asset_ids() - before, recorder.digest)
    result.detail = "; ".join(x for x in (problems, measured.get("error", "")) if x)
    recorder.path.unlink(missing_ok=True)
    return result


async def _realtime(
    settings: HubSettings, recorder: Recorder, concurrency: int | None
) -> dict[str, Any]:
    """Drive ``c2c_hub.uploader.Uploader`` in this process while the take records."""
    from c2c_hub.runtime import Hub
    from c2c_hub.uploader import UploadConfig, Uploader
    from c2c_hub.uploader.queue import QUEUE_FILE

    started = time.perf_counter()
    config = UploadConfig() if concurrency is None else UploadConfig(max_in_flight=concurrency)
    acked: list[tuple[float, dict[str, Any]]] = []  # (when, the part_acked event)
    try:
        async with Hub(settings) as hub:
            await hub.session.start()
            queue = hub.data_dir / QUEUE_FILE
            uploader = Uploader(queue, hub.session, hub.http, config=config)
            uploader.on_event(
                lambda event: (
                    acked.append((time.perf_counter(), event))
                    if event["type"] == "part_acked"
                    else None
                )
            )
            await uploader.start()
            try:
                recorder.open()
                file_id = await uploader.begin_recording(recorder.path, filetype="audio/wav")
                await recorder.record(lambda: uploader.recording_grew(file_id))
                stopped = time.perf_counter()
                load = os.getloadavg()
                await uploader.end_recording(file_id)
                async with asyncio.timeout(900):
                    record = await uploader.wait_for(file_id)
                done = time.perf_counter()
            finally:
                await uploader.stop()
        await asyncio.to_thread(recorder.hash)
    except Exception as exc:  # the engine is young: report, do not sink the whole run
        return {"error": f"{type(exc).__name__}: {exc}", "total_s": time.perf_counter() - started}
    # The tail: every part acknowledged after the stop (and one still in flight at it).
    tail = [
        {"part": e["part"], "bytes": e["part_size"], "acked_s": round(t - stopped, 3)}
        for t, e in acked
        if t >= stopped and e.get("file_id") == file_id
    ]
    last = max((t for t, e in acked if e.get("file_id") == file_id), default=done)
    return {
        "recorded_s": recorder.seconds,
        "state": str(record.state),
        # stop to the last part's 200 stored (Frame.io has every byte): issue 20's figure
        "stop_to_acknowledged_s": round(last - stopped, 3),
        # to the file's "done" (after every part sent while recording was read again)
        "stop_to_done_s": round(done - stopped, 3),
        "tail": tail,
        "tail_bytes": sum(item["bytes"] for item in tail),
        "load_average": [round(x, 2) for x in load],
        "total_s": time.perf_counter() - started,
    }


# ---------------------------------------------------------------------------- the packet link
TCP_PAYLOAD = 1448 / 1500  # what TCP carries of 1500-byte IP packets (timestamps on)
LOSSY = (50e6, 0.040, 0.005)  # 50 Mbit/s, 40 ms each way (80 ms RTT), 0.5 % loss each way
PACKET_CLEAN = ((50e6, 0.020), (200e6, 0.020))  # 40 ms RTT, no loss
PACKET_MIB = 256
CUBIC = {"C2C_HUB_UPLOADS__CONGESTION_CONTROL": "cubic"}


def packet_inside(
    size_mib: int, lossy: bool = True, parts: bool = False, clean: bool = True
) -> int:
    """(child, in the client namespace) Ours and ``FrameioUploader`` across the packet link.

    The emulator runs in the server namespace; every API call and part crosses the link.
    ``FrameioUploader`` runs with CUBIC set on its sockets (most systems' default); ours with
    its defaults (BBR per socket here), then ours with CUBIC (adaptive part streams alone).
    """
    handle = LinkHandle.from_env()
    assert handle is not None, "run through packet_runs()"
    source, sha = test_file(size_mib * MiB)
    size = source.stat().st_size

    def emit(fn: Callable[[], Run], scenario: str, uploader: str) -> None:
        try:
            item = fn()
        except Exception as exc:
            item = Run(scenario, uploader, size, detail=f"error: {type(exc).__name__}: {exc}")
        print(json.dumps({"packet_run": asdict(item)}), flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="c2c-bench-packet-") as tmp,
        _site(None, handle) as site,
    ):
        work = Path(tmp)
        rate, delay, loss = LOSSY
        handle.configure(rate, delay, loss)
        rtt = 2000 * delay
        args = (site, "lossy", source, sha, work)
        if parts:  # with CUBIC, where each part rides one loss-bound flow
            for label, part_size in (
                ("ours-cubic-16mib-parts", None),
                ("ours-cubic-5mib-parts", 5 * MiB),
            ):
                emit(
                    partial(
                        run_ours,
                        *args,
                        None,
                        rate,
                        label=label,
                        rtt_ms=rtt,
                        env_changes=CUBIC,
                        part_size=part_size,
                    ),
                    "lossy",
                    label,
                )
        if lossy:
            emit(partial(run_ours, *args, None, rate, rtt_ms=rtt), "lossy", "ours")
            emit(
                partial(run_theirs, *args, rate, congestion="cubic", rtt_ms=rtt),
                "lossy",
                "frameioclient-cubic",
            )
            emit(
                partial(
                    run_ours, *args, None, rate, label="ours-cubic", rtt_ms=rtt, env_changes=CUBIC
                ),
                "lossy",
                "ours-cubic",
            )
        for rate, delay in PACKET_CLEAN if clean else ():
            handle.configure(rate, delay)
            args = (site, "packet", source, sha, work)
            rtt = 2000 * delay
            for count, algorithm in RAW_CEILING:  # the same bytes over raw TCP: the ceiling
                label = f"raw-tcp-{count}-{algorithm}"
                emit(
                    partial(raw_tcp, handle, size, count, algorithm, rate, rtt, label),
                    "packet",
                    label,
                )
            if parts:  # the same file in Frame.io's 16 MiB parts and in 5 MiB parts
                for label, part_size in (("ours-16mib-parts", None), ("ours-5mib-parts", 5 * MiB)):
                    emit(
                        partial(
                            run_ours,
                            *args,
                            None,
                            rate,
                            label=label,
                            rtt_ms=rtt,
                            part_size=part_size,
                        ),
                        "packet",
                        label,
                    )
                continue
            emit(partial(run_ours, *args, None, rate, rtt_ms=rtt), "packet", "ours")
            emit(
                partial(run_theirs, *args, rate, congestion="cubic", rtt_ms=rtt),
                "packet",
                "frameioclient-cubic",
            )
            emit(  # the same congestion control as theirs: what BBR costs on a clean link
                partial(
                    run_ours, *args, None, rate, label="ours-cubic", rtt_ms=rtt, env_changes=CUBIC
                ),
                "packet",
                "ours-cubic",
            )
    return 0


RAW_CEILING = ((1, "cubic"), (4, "bbr"))  # what the SDK's and the hub's defaults run


def raw_tcp(
    handle: LinkHandle, size: int, count: int, algorithm: str, rate: float, rtt: float, label: str
) -> Run:
    """``size`` bytes over ``count`` fresh raw TCP flows, SYN to last ACK (no TLS, no HTTP, no
    requests between parts): what an upload of these bytes can take at best."""
    wait_quiet(handle)
    result = Run("packet", label, size, rate, rtt)
    result.link_busy_s = result.wall_s = raw_upload(handle, size, count, algorithm, rate)
    result.verified = True  # every byte acknowledged by the receiving kernel
    return result


def packet_runs(
    size_mib: int,
    emit: Callable[[Run], None],
    lossy: bool = True,
    parts: bool = False,
    clean: bool = True,
) -> list[Run]:
    """The packet-link scenarios, run by a child in the client namespace (needs root)."""
    problem = packet_link_problem()
    if problem is not None:
        item = Run("lossy", "ours", size_mib * MiB, detail=f"skipped: {problem}")
        emit(item)
        return [item]
    runs: list[Run] = []
    with PacketLink() as handle:
        command = handle.in_client(
            [
                sys.executable,
                "-m",
                "bench.uploader",
                "packet-inside",
                str(size_mib),
                str(int(lossy)),
                str(int(parts)),
                str(int(clean)),
            ]
        )
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=os.environ | handle.to_env()
        )
        assert process.stdout is not None
        for line in process.stdout:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                item = Run(**json.loads(line)["packet_run"])
                runs.append(item)
                emit(item)
        process.wait()
    return runs


# ---------------------------------------------------------------------------- the whole run
@contextlib.contextmanager
def _site(link: LinkSimulator | None, packet: LinkHandle | None = None) -> Iterator[Site]:
    site = Site(link, packet)
    try:
        yield site
    finally:
        site.close()


def run(
    size_mib: int,
    realtime_s: tuple[float, ...],
    concurrency: int | None = None,
    only: frozenset[str] = frozenset({"startup", "loopback", "link", "realtime", "packet"}),
    emit: Callable[[Run], None] = lambda run: None,
    rounds: int = 1,
    baseline: Path | None = None,
) -> list[Run]:
    main_file, main_sha = test_file(size_mib * MiB)
    small_file, small_sha = test_file(SMALL_MIB * MiB)
    runs: list[Run] = []

    def record(
        fn: Callable[[], Run],
        scenario: str,
        uploader: str,
        size: int,
        round_: int | None = None,
        site: Site | None = None,
    ) -> None:
        """One measurement; an exception is reported as a failed run, the others go on."""
        if site is not None:
            site.settle()
        try:
            item = fn()
        except Exception as exc:
            item = Run(scenario, uploader, size, detail=f"error: {type(exc).__name__}: {exc}")
        if round_ is not None:
            item.extra["round"] = round_
        runs.append(item)
        emit(item)

    big = size_mib * MiB
    if only & {"startup", "loopback"}:
        byte_compile(baseline)
    with tempfile.TemporaryDirectory(prefix="c2c-bench-uploader-") as tmp:
        work = Path(tmp)
        if "startup" in only:
            with _site(None) as site:
                record(partial(startup, site, work), "startup", "ours", 0)
        if "loopback" in only:
            with _site(None) as site:
                # Interleaved rounds: the machine's load moves between minutes, so the three
                # CPU figures of a round are taken side by side; the verdicts use each one's
                # median over the rounds.
                for round_ in range(rounds):
                    record(
                        partial(raw_put, site, main_file, main_sha),
                        "loopback",
                        "raw-put",
                        big,
                        round_,
                        site,
                    )
                    sources = ((main_file, main_sha),)
                    if round_ == 0:  # the small file: peak RSS (flat from 100 MiB up)
                        sources = ((small_file, small_sha), *sources)

                    def ours(round_: int = round_, sources: Any = sources) -> None:
                        for source, digest in sources:
                            record(
                                partial(
                                    run_ours, site, "loopback", source, digest, work, concurrency
                                ),
                                "loopback",
                                "ours",
                                source.stat().st_size,
                                round_,
                                site,
                            )

                    def before(round_: int = round_) -> None:
                        """The same bytes through another copy of the hub (--baseline)."""
                        record(
                            partial(
                                run_ours,
                                site,
                                "loopback",
                                main_file,
                                main_sha,
                                work,
                                concurrency,
                                label="ours-baseline",
                                env_changes={"PYTHONPATH": str(baseline)},
                            ),
                            "loopback",
                            "ours-baseline",
                            big,
                            round_,
                            site,
                        )

                    # Which runs right after the raw PUT alternates: measured, that run spent
                    # 0.1-0.2 s more CPU in its part threads (the emulator is settled first now,
                    # but the rest of the machine is not).
                    order = [ours] if baseline is None else [ours, before]
                    for step in order if round_ % 2 == 0 else order[::-1]:
                        step()
                    record(
                        partial(run_theirs, site, "loopback", main_file, main_sha, work),
                        "loopback",
                        "frameioclient",
                        big,
                        round_,
                        site,
                    )
        if only & {"link", "realtime"}:
            link = LinkSimulator().start_thread()
            try:
                with _site(link) as site:
                    for rate in RATES_BPS if "link" in only else ():
                        link.set_rate(rate)
                        link.set_delay(DELAY_S)
                        record(
                            partial(
                                run_ours, site, "link", main_file, main_sha, work, concurrency, rate
                            ),
                            "link",
                            "ours",
                            big,
                        )
                        record(
                            partial(run_theirs, site, "link", main_file, main_sha, work, rate),
                            "link",
                            "frameioclient",
                            big,
                        )
                        link.set_rate(None)
                        link.set_delay(0.0)
                    for seconds in realtime_s if "realtime" in only else ():
                        record(
                            partial(realtime, site, work, seconds, concurrency),
                            "realtime",
                            "ours",
                            0,
                        )
            finally:
                link.stop_thread()
    if only & {"packet", "packet-clean"}:  # packet-clean: the clean links alone
        runs += packet_runs(min(size_mib, PACKET_MIB), emit, lossy="packet" in only)
    if "packet-lossy" in only:  # the lossy link alone
        runs += packet_runs(min(size_mib, PACKET_MIB), emit, lossy=True, clean=False)
    if "packet-parts" in only:  # Frame.io's part size against 5 MiB parts: lossy CUBIC, clean
        runs += packet_runs(min(size_mib, PACKET_MIB), emit, lossy=False, parts=True)
    return runs


# ---------------------------------------------------------------------------- the report
def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def row(item: Run) -> str:
    link = f"{item.rate_bps / 1e6:.0f} Mbit/{item.rtt_ms:.0f} ms" if item.rate_bps else "loopback"
    share = None if item.link_share is None else item.link_share * 100
    ok = "ok" if item.verified else ("skip" if item.detail.startswith("skipped") else "FAIL")
    tail = ""
    if item.scenario == "realtime" and "stop_to_acknowledged_s" in item.extra:
        extra = item.extra
        tail = (
            f"  {extra['recorded_s']:.0f} s take: stop -> last part acknowledged "
            f"{extra['stop_to_acknowledged_s']:.2f} s (aim 1.5), -> done "
            f"{extra['stop_to_done_s']:.2f} s, {extra['tail_bytes'] / MiB:.1f} MiB in parts "
            f"acked after stop, load {extra['load_average'][0]:.1f}"
        )
    return (
        f"{item.scenario:<9}{item.uploader:<14}{item.size / MiB:>7.0f}{link:>16}"
        f"{item.wall_s:>8.1f}{_fmt(item.sending_s, '.1f'):>8}{_fmt(item.link_busy_s, '.1f'):>8}"
        f"{item.mib_s:>8.1f}{_fmt(share, '.1f'):>7}{_fmt(item.cpu_s_per_gib, '.2f'):>10}"
        f"{_fmt(item.peak_rss_mb, '.0f'):>7}  {ok}"
        + (f"  ({item.detail})" if item.detail else "")
        + tail
    )


HEADER = (
    f"{'scenario':<9}{'uploader':<14}{'MiB':>7}{'link':>16}{'wall s':>8}{'send s':>8}"
    f"{'busy s':>8}{'MiB/s':>8}{'% link':>7}{'CPU s/GiB':>10}{'RSS MB':>7}  bytes"
)


def _excluding_startup(item: Run) -> float | None:
    """CPU seconds per GiB less the same process's start-up with nothing to do."""
    if item.cpu_s is None:
        return None
    return (item.cpu_s - (item.extra.get("startup_cpu_s") or 0.0)) / (item.size / GiB)


def _round_ratios(runs: list[Run]) -> dict[str, Any]:
    """The CPU ratios within each interleaved loopback round, and their medians: figures taken
    side by side, seconds apart, move less with the machine's load than the medians of each
    uploader taken apart."""
    rounds: dict[int, dict[str, Run]] = {}
    for item in runs:
        if item.scenario == "loopback" and item.wall_s and item.cpu_s and "round" in item.extra:
            if item.uploader == "ours" and item.size != max(
                r.size for r in runs if r.scenario == "loopback" and r.uploader == "ours"
            ):
                continue
            rounds.setdefault(int(item.extra["round"]), {})[item.uploader] = item
    ratios: dict[str, list[float]] = {}

    def add(key: str, value: float | None) -> None:
        if value is not None:
            ratios.setdefault(key, []).append(value)

    for found in rounds.values():
        raw, theirs = found.get("raw-put"), found.get("frameioclient")
        for label, key in (("ours", ""), ("ours-baseline", "baseline_")):
            run = found.get(label)
            if run is None:
                continue
            sending = _excluding_startup(run)
            if raw is not None and raw.cpu_s_per_gib and sending is not None:
                add(f"{key}cpu_excluding_startup_over_raw_put", sending / raw.cpu_s_per_gib)
            if theirs is not None and theirs.cpu_s_per_gib and run.cpu_s_per_gib:
                add(f"{key}cpu_over_frameioclient", run.cpu_s_per_gib / theirs.cpu_s_per_gib)
        ours, before = found.get("ours"), found.get("ours-baseline")
        if ours is not None and before is not None:
            add("cpu_excluding_startup_ours_over_baseline", _ratio(ours, before))
    return {
        f"rounds_median_{key}": round(statistics.median(values), 3)
        for key, values in ratios.items()
    } | {f"rounds_{key}": [round(v, 3) for v in values] for key, values in ratios.items()}


def _ratio(ours: Run, before: Run) -> float | None:
    a, b = _excluding_startup(ours), _excluding_startup(before)
    return a / b if a is not None and b else None


def verdicts(runs: list[Run]) -> dict[str, Any]:
    """The issue's aims, from the runs that happened."""

    def find(
        scenario: str, uploader: str, size: int | None = None, rate: float | None = None
    ) -> Run | None:
        """The run, or of several rounds the one of median CPU per GiB."""
        found = [
            item
            for item in runs
            if (item.scenario, item.uploader) == (scenario, uploader)
            and item.wall_s
            and (size is None or item.size == size)
            and (rate is None or item.rate_bps == rate)
        ]
        if len(found) > 1 and all(item.cpu_s is not None for item in found):
            found.sort(key=lambda item: item.cpu_s or 0.0)
            return found[len(found) // 2]
        return found[0] if found else None

    out: dict[str, Any] = {"bench": "uploader-summary"}
    for rate in RATES_BPS:
        ours, theirs = find("link", "ours", rate=rate), find("link", "frameioclient", rate=rate)
        key = f"{rate / 1e6:.0f}mbit"
        if ours is not None and ours.link_share is not None:
            out[f"ours_share_{key}"] = round(ours.link_share, 4)
            out[f"ours_share_{key}_meets_95"] = ours.link_share >= 0.95
        if theirs is not None and theirs.link_share is not None:
            out[f"frameioclient_share_{key}"] = round(theirs.link_share, 4)
        if ours is not None and theirs is not None and ours.link_busy_s and theirs.link_busy_s:
            ratio = theirs.link_busy_s / ours.link_busy_s
            out[f"ours_over_frameioclient_{key}"] = round(ratio, 2)
            out[f"ours_over_frameioclient_{key}_meets_1_5"] = ratio >= 1.5
    raw = find("loopback", "raw-put")
    largest = max(
        (r.size for r in runs if r.scenario == "loopback" and r.uploader == "ours" and r.wall_s),
        default=None,
    )
    big = None if largest is None else find("loopback", "ours", size=largest)
    small = find("loopback", "ours", size=SMALL_MIB * MiB)
    if raw is not None and big is not None:
        out["loopback_ours_over_raw_put"] = round(big.mib_s / raw.mib_s, 3)
        out["loopback_ours_over_raw_put_wall"] = round(big.size / big.wall_s / MiB / raw.mib_s, 3)
    if big is not None and small is not None and big.peak_rss_mb and small.peak_rss_mb:
        out["peak_rss_mb"] = {"small": round(small.peak_rss_mb), "large": round(big.peak_rss_mb)}
        out["peak_rss_meets_150"] = max(big.peak_rss_mb, small.peak_rss_mb) < 150
        out["peak_rss_meets_100"] = max(big.peak_rss_mb, small.peak_rss_mb) <= 100
        out["peak_rss_flat"] = big.peak_rss_mb <= small.peak_rss_mb * 1.2 + 10
        out["cpu_s_per_gib"] = big.cpu_s_per_gib and round(big.cpu_s_per_gib, 2)
    started = find("startup", "ours") or big
    if started is not None and started.extra.get("startup_cpu_s") is not None:
        out["startup_cpu_s"] = started.extra["startup_cpu_s"]
        out["startup_cpu_meets_0_4"] = started.extra["startup_cpu_s"] <= 0.4
    if raw is not None and big is not None and big.cpu_s and raw.cpu_s_per_gib:
        own_start = big.extra.get("startup_cpu_s") or 0.0
        sending = (big.cpu_s - own_start) / (big.size / GiB)
        out["cpu_s_per_gib_excluding_startup"] = round(sending, 2)
        out["raw_put_cpu_s_per_gib"] = round(raw.cpu_s_per_gib, 2)
        out["cpu_excluding_startup_over_raw_put"] = round(sending / raw.cpu_s_per_gib, 2)
        out["cpu_excluding_startup_over_raw_put_meets_1_2"] = sending / raw.cpu_s_per_gib <= 1.2
    before = find("loopback", "ours-baseline")
    if raw is not None and before is not None and before.cpu_s and raw.cpu_s_per_gib:
        own_start = before.extra.get("startup_cpu_s") or 0.0
        sending = (before.cpu_s - own_start) / (before.size / GiB)
        out["baseline_cpu_s_per_gib"] = before.cpu_s_per_gib and round(before.cpu_s_per_gib, 2)
        out["baseline_cpu_s_per_gib_excluding_startup"] = round(sending, 2)
        out["baseline_cpu_excluding_startup_over_raw_put"] = round(sending / raw.cpu_s_per_gib, 2)
    out.update(_round_ratios(runs))
    theirs_loop = find("loopback", "frameioclient")
    if big is not None and theirs_loop is not None and big.cpu_s_per_gib:
        if theirs_loop.cpu_s_per_gib:
            ratio = big.cpu_s_per_gib / theirs_loop.cpu_s_per_gib
            out["cpu_ours_over_frameioclient"] = round(ratio, 2)
            out["cpu_ours_over_frameioclient_meets_1_0"] = ratio <= 1.0
    lossy_ours = find("lossy", "ours")
    lossy_theirs = find("lossy", "frameioclient-cubic")
    if lossy_ours is not None and lossy_ours.link_share is not None:
        out["lossy_ours_share"] = round(lossy_ours.link_share, 4)
        out["lossy_ours_share_meets_85"] = lossy_ours.link_share >= 0.85
        out["lossy_ours_transfer_share"] = lossy_ours.extra.get("transfer_share")
        if lossy_theirs is not None and lossy_theirs.link_busy_s and lossy_ours.link_busy_s:
            ratio = lossy_theirs.link_busy_s / lossy_ours.link_busy_s
            out["lossy_ours_over_frameioclient_cubic"] = round(ratio, 2)
            out["lossy_ours_over_frameioclient_cubic_meets_3"] = ratio >= 3
    lossy_cubic = find("lossy", "ours-cubic")
    if lossy_cubic is not None and lossy_cubic.link_share is not None:
        out["lossy_ours_cubic_share"] = round(lossy_cubic.link_share, 4)
        out["lossy_ours_cubic_streams"] = (lossy_cubic.extra.get("part_streams") or {}).get("limit")
    for rate, _ in PACKET_CLEAN:
        clean = find("packet", "ours", rate=rate)
        if clean is not None and clean.link_share is not None:
            key = f"packet_{rate / 1e6:.0f}mbit"
            # of what TCP can carry over 1500-byte packets (the raw flow's ceiling)
            out[f"{key}_ours_share_of_tcp"] = round(clean.link_share / TCP_PAYLOAD, 4)
            out[f"{key}_ours_share_of_tcp_meets_99"] = clean.link_share / TCP_PAYLOAD >= 0.99
            transfer = clean.extra.get("transfer_share")
            if transfer is not None:
                out[f"{key}_ours_transfer_share_of_tcp"] = round(transfer / TCP_PAYLOAD, 4)
            cubic = find("packet", "ours-cubic", rate=rate)
            if cubic is not None and cubic.link_share is not None:
                out[f"{key}_ours_cubic_share_of_tcp"] = round(cubic.link_share / TCP_PAYLOAD, 4)
                cubic_transfer = cubic.extra.get("transfer_share")
                if cubic_transfer is not None:
                    out[f"{key}_ours_cubic_transfer_share_of_tcp"] = round(
                        cubic_transfer / TCP_PAYLOAD, 4
                    )
            theirs = find("packet", "frameioclient-cubic", rate=rate)
            if theirs is not None and theirs.link_share is not None:
                out[f"{key}_frameioclient_share_of_tcp"] = round(theirs.link_share / TCP_PAYLOAD, 4)
            # of what raw TCP carried of the same bytes on the same link in this run
            raws = [find("packet", f"raw-tcp-{n}-{cc}", rate=rate) for n, cc in RAW_CEILING]
            shares = [r.link_share for r in raws if r is not None and r.link_share]
            if shares:
                best = max(shares)
                out[f"{key}_raw_tcp_share"] = round(best, 4)
                out[f"{key}_ours_share_of_ceiling"] = round(clean.link_share / best, 4)
                out[f"{key}_ours_share_of_ceiling_meets_99"] = clean.link_share / best >= 0.99
                if transfer is not None:
                    out[f"{key}_ours_transfer_share_of_ceiling"] = round(transfer / best, 4)
                queued_share = clean.extra.get("from_queued_share")
                if queued_share is not None:
                    out[f"{key}_ours_from_queued_share_of_ceiling"] = round(queued_share / best, 4)
                    out[f"{key}_ours_from_queued_share_of_ceiling_meets_99"] = (
                        queued_share / best >= 0.99
                    )
                if cubic is not None and cubic.link_share is not None:
                    out[f"{key}_ours_cubic_share_of_ceiling"] = round(cubic.link_share / best, 4)
                if theirs is not None and theirs.link_share is not None:
                    share = theirs.link_share / best
                    out[f"{key}_frameioclient_share_of_ceiling"] = round(share, 4)
    for rt in (r for r in runs if r.scenario == "realtime" and r.uploader == "ours"):
        if "stop_to_acknowledged_s" in rt.extra:
            key = f"realtime_{rt.extra['recorded_s']:.0f}s"
            out[f"{key}_stop_to_acknowledged_s"] = rt.extra["stop_to_acknowledged_s"]
            out[f"{key}_stop_to_acknowledged_meets_1_5"] = rt.extra["stop_to_acknowledged_s"] <= 1.5
            out[f"{key}_stop_to_done_s"] = rt.extra.get("stop_to_done_s")
            out[f"{key}_tail_bytes"] = rt.extra.get("tail_bytes")
            out[f"{key}_load_average"] = rt.extra.get("load_average")
    out["all_bytes_verified"] = all(r.verified for r in runs if not r.detail.startswith("skipped"))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["packet-inside"]:
        return packet_inside(
            int(argv[1]),
            lossy=argv[2:3] != ["0"],
            parts=argv[3:4] == ["1"],
            clean=argv[4:5] != ["0"],
        )
    if argv[:1] == ["frameioclient"]:
        if argv[1:] == ["-"]:  # start-up only, for the timing of the same process doing nothing
            from frameioclient.lib.upload import FrameioUploader  # noqa: F401

            return 0
        return frameioclient_child(Path(argv[1]), Path(argv[2]))
    parser = argparse.ArgumentParser(prog="python -m bench.uploader", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=None, help="main file (2048; quick 256)")
    parser.add_argument(
        "--realtime-s",
        default=None,
        help="real-time takes' lengths in seconds, comma-separated (60,600; quick 60)",
    )
    parser.add_argument("--quick", action="store_true", help="256 MiB and a 60 s take")
    parser.add_argument("--concurrency", type=int, default=None, help="passed to ours")
    parser.add_argument(
        "--only", default="startup,loopback,link,realtime,packet", help="comma-separated"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="loopback CPU rounds, interleaved, medians in the verdicts (3; quick 1)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a directory holding another copy of the hub's package (c2c_hub), e.g. `git "
        "archive` of an earlier commit: run as ours-baseline in every loopback round, so "
        "before and after are measured side by side",
    )
    args = parser.parse_args(argv)
    size_mib = args.size_mib or (256 if args.quick else 2048)
    if args.realtime_s:
        realtime_s = tuple(float(x) for x in args.realtime_s.split(",") if x.strip())
    else:
        realtime_s = (60.0,) if args.quick else (60.0, 600.0)
    only = frozenset(x.strip() for x in args.only.split(",") if x.strip())
    takes = ", ".join(f"{x:.0f}" for x in realtime_s)
    print(
        f"uploader: {size_mib} MiB file, links {', '.join(f'{r / 1e6:.0f}' for r in RATES_BPS)}"
        f" Mbit/s at {2000 * DELAY_S:.0f} ms RTT, real-time takes {takes} s, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    print(HEADER, flush=True)
    runs = run(
        size_mib,
        realtime_s,
        args.concurrency,
        only,
        emit=lambda item: print(row(item), flush=True),
        rounds=args.rounds or (1 if args.quick else 3),
        baseline=args.baseline,
    )
    for item in runs:
        print(json.dumps(item.to_json()))
    summary = verdicts(runs)
    print(json.dumps(summary))
    return 0 if summary["all_bytes_verified"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
