"""The whole recorder at once (issue 16's figure): 16 local inputs + 8 network microphones +
the mix + the poly file + proxies, 48 kHz/24-bit, one take, uploaded for real.

The rig, each part in a process of its own so that its cost is not the hub's:

- a private JACK server (``jackd -d dummy``, 48 kHz, 256-frame periods:
  :class:`~c2c_hub_plugins.jack_inputs.emulated.DummyServer`) and a player of 16 known signals
  (``python -m c2c_hub_plugins.jack_inputs.emulated``);
- 8 emulated AES67 network microphones (one single-channel stream each, RTP L24 unicast on
  loopback, 1 ms packets, announced by SAP as ``make demo``'s are), all in one sender process
  (``python -m bench.recorder senders``: :mod:`bench.aes67`'s cheap senders, pre-built payloads
  behind real headers); discovery on a SAP group and a RAVENNA subtype of the run's own, so
  nothing else on the machine lends it (or takes from it) a stream;
- the Frame.io emulator (strict, HTTPS with its own CA) in a child process
  (:func:`bench.part_sink.start_emulator`), reached over loopback, unshaped.

The hub is a real :class:`~c2c_hub.runtime.Hub` in a process of its own (``python -m
bench.recorder hub``, the rig's plan on its stdin), with its ``jack_inputs`` (16 inputs) and
``aes67`` plugins loaded by their entry points, paired through the device-code flow, the mix
on (stereo), the poly file on, proxies as the defaults say (the mix's, 128 kbit/s MP3;
``--iso-proxies``: every ISO's too). It records one take of ``--seconds`` (60 with
``--quick``, 10 minutes by default or with ``--long``), uploading while it rolls; then every
file is awaited acknowledged and compared, SHA-256, with the emulator's copy, and the figures
are said (one JSON line) before the hub closes. A hub that has not closed a minute later has
its threads' stacks dumped (faulthandler, SIGUSR1, on stderr) and is killed: the figures
stand, and ``hub_exit_hung`` says so.

Reported, each beside its aim, as a human summary and one JSON line:

- xruns during the take as the hub counts them (its status: the ``jack_inputs`` plugin's
  health), and the server's own log for the whole run: xruns, and the periods each JACK
  client did not finish in time (``client = NAME was not finished``), so a late period is
  seen to be the hub's or the player's;
- the CPU of the hub's process tree during the take as a share of one core: the hub's process
  and every process it started (a capture subprocess, an encoder), read from ``/proc`` at the
  take's start and end, plus children reaped meanwhile; and until ``stop_take()`` returned,
  per second of take (its whole cost); how far its writer was behind at the stop; peak RSS
  (the hub's high-water mark, and its children's);
- every track's length against the take's, dropouts; AES67 packets lost or late;
- every file (16 + 8 ISOs, the mix, its proxy (and with ``--iso-proxies`` every ISO's), the
  poly file) acknowledged and byte-identical
  at the emulator, and the time from stop to the last acknowledged;
- the load average (1 min) before and after, and the cores: on a shared machine, xruns and CPU
  shares are the machine's as much as the hub's.

``python -m bench.recorder [--quick | --long | --seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import hashlib
import json
import os
import random
import re
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.aes67 import _CheapSender
from bench.common import bench_settings
from bench.part_sink import Emulator, start_emulator
from bench.proctree import ProcessesCpu, TreeCpu, memory_bytes
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.plugin_models import plugin_device_models
from c2c_hub.pairing import PairingStep, PairingUpdate
from c2c_hub.runtime import Hub
from c2c_hub.settings import HubSettings, PluginSettings, RecorderSettings, StorageSettings
from c2c_hub_plugins.aes67.emulated import free_udp_port
from c2c_hub_plugins.jack_inputs.emulated import DummyServer

INPUTS = 16
MICS = 8
CLIENT = "c2c-hub"  # the hub's JACK client name (the plugin's default)
PLAYER = "tones"
AIM_XRUNS = 0
AIM_CPU_PCT = 50.0
HUB_EXIT_S = 60.0  # how long the hub may take to close once it has said its figures
LATE = re.compile(rb"client = (\S+) was not finished")


# ------------------------------------------------------------------ the microphones' process
def _senders(args: argparse.Namespace) -> None:
    """Child process: ``args.mics`` single-channel senders (unicast to loopback, each on a port
    of its own, announced on ``args.sap_group``); one JSON line of their serials once sending;
    at the end of stdin, one JSON line of the packets sent."""
    senders = [
        _CheapSender(
            name=f"Mic {n + 1}",
            channels=1,
            labels=[f"Mic {n + 1}"],
            address="127.0.0.1",
            port=free_udp_port(),
            interface="127.0.0.1",
            ptime_ms=args.ptime_ms,
            sap_group=args.sap_group,
            sap_interval=1.0,
            session_id=args.session_base + n,
        )
        for n in range(args.mics)
    ]
    for sender in senders:
        sender.start()
    print(json.dumps({"serials": [s.serials[0] for s in senders]}), flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    for sender in senders:
        sender.stop()
    print(json.dumps({"sent": sum(s.packets_sent for s in senders)}), flush=True)


@dataclass
class _Child:
    """A process of the rig (not the hub's): started, its first line read, stopped (its
    stdin closed; what it says then is not read)."""

    name: str
    process: subprocess.Popen[str]
    first: str = ""

    @classmethod
    def start(cls, name: str, command: list[str]) -> _Child:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        child = cls(name, process, process.stdout.readline())
        if not child.first.strip():
            child.stop()
            raise RuntimeError(f"the {name} process did not start ({process.returncode})")
        return child

    def stop(self) -> None:
        process = self.process
        if process.poll() is None:
            try:
                process.communicate(timeout=20)  # closes its stdin: its cue to end
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ------------------------------------------------------------------ the hub
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _private_aes67() -> dict[str, Any]:
    """AES67 discovery of the run's own: a SAP group, a RAVENNA subtype."""
    rng = random.SystemRandom()
    return {
        "interface": "127.0.0.1",
        "sap_groups": [f"239.255.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"],
        "ravenna_service": f"_ravbench{secrets.token_hex(2)}._sub._rtsp._tcp.local.",
    }


def _source_detail(hub: Hub, plugin: str) -> str:
    for entry in hub.plugins.snapshot():
        if entry.get("name") == plugin:
            for source in entry.get("sources", []):
                reported = source.get("reported") or {}
                return str(reported.get("detail", ""))
    return ""


def _count(detail: str, word: str) -> int | None:
    found = re.search(rf"(\d+) {word}\b", detail)
    return int(found.group(1)) if found else None


async def _until(what: str, check: Callable[[], Any], within: float) -> Any:
    deadline = time.monotonic() + within
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.1)
    return value


@dataclass
class Rig:
    """What the hub is run against (see the module docstring)."""

    server: DummyServer
    emulator: Emulator
    mic_serials: list[str]
    aes67: dict[str, Any]
    #: the rig's processes by role (jackd, player, microphones, emulator, reference)
    processes: dict[str, subprocess.Popen[Any]]
    inputs: int = INPUTS
    #: the heroes that get a proxy (``recorder.proxy.files``; the hub's default: the mix's)
    proxy_files: list[str] = field(default_factory=lambda: ["mix"])

    def plan(self, seconds: float, root: Path) -> dict[str, Any]:
        """What the hub's process needs to know of the rig, as JSON."""
        return {
            "server": self.server.name,
            "emulator": self.emulator.info,
            "mic_serials": self.mic_serials,
            "aes67": self.aes67,
            "pids": {name: p.pid for name, p in self.processes.items()},
            "inputs": self.inputs,
            "seconds": seconds,
            "root": str(root),
            "proxy_files": self.proxy_files,
        }


@dataclass
class HubSide:
    """The rig as the hub's process sees it (:meth:`Rig.plan`)."""

    server: str
    emulator: Any  # .info and .handle, as bench_settings() and the pairing use them
    mic_serials: list[str]
    aes67: dict[str, Any]
    pids: dict[str, int]
    inputs: int
    proxy_files: list[str]

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> HubSide:
        info = plan["emulator"]
        handle = EmulatorHandle(
            info["base_url"], info["control_url"], Path(info["ca_file"]), info["client_secret"]
        )
        emulator = SimpleNamespace(info=info, handle=handle)
        return cls(
            plan["server"],
            emulator,
            plan["mic_serials"],
            plan["aes67"],
            plan["pids"],
            plan["inputs"],
            plan["proxy_files"],
        )


def _settings(rig: HubSide, root: Path) -> HubSettings:
    jack = {
        "server": rig.server,
        "client_name": CLIENT,
        "inputs": [
            {"name": f"in_{i + 1}", "connect": [f"{PLAYER}:out_{i + 1}"]} for i in range(rig.inputs)
        ],
    }
    return HubSettings(
        frameio=bench_settings(rig.emulator),
        storage=StorageSettings(data_dir=root / "hub", key_file=root / "keys" / "key"),
        recorder=RecorderSettings.model_validate(
            {
                "directory": root / "recordings",
                "min_free_minutes": 0,
                "poly": True,
                "proxy": {"files": rig.proxy_files},
            }
        ),
        plugins=PluginSettings(
            allow=["jack_inputs", "aes67"], options={"jack_inputs": jack, "aes67": rig.aes67}
        ),
    )


async def _pair(hub: Hub, rig: HubSide) -> None:
    pairing = hub.pairing()
    loop = asyncio.get_running_loop()

    def approve(update: PairingUpdate) -> None:
        if update.step is PairingStep.SHOW_CODE and update.user_code:
            loop.run_in_executor(None, rig.emulator.handle.approve, update.user_code)

    pairing.subscribe(approve)
    await pairing.run()


async def take(
    rig: HubSide, seconds: float, root: Path, emit: Callable[[dict[str, Any]], None]
) -> None:
    """Start a paired hub on ``rig``, record one take of ``seconds``, await every file
    acknowledged; ``emit`` the figures (see the module docstring) before the hub closes, so
    that a hub whose close hangs has said them."""
    settings = _settings(rig, root)
    for _, model in plugin_device_models(settings.plugins, settings.device_models.directory):
        assert model.source is not None
        rig.emulator.handle.declare_device_model(model.source.read_text(encoding="utf-8"))
    inputs = [f"jack-{CLIENT}-in_{i + 1}" for i in range(rig.inputs)]
    cpu = TreeCpu()  # this process is the hub's; the rig's are not its children
    rig_cpu = ProcessesCpu(rig.pids)
    async with Hub(settings) as hub:
        await hub.start(status_file=False)
        await _pair(hub, rig)
        await _until("the inputs attached", lambda: all(hub.devices.get(s) for s in inputs), 60)
        await _until(
            "the microphones' channels connected",
            lambda: set(rig.mic_serials) <= set(hub.channels.available()),
            60,
        )
        await asyncio.sleep(2.0)  # past the clients' activation and the first health report
        xruns_before = _count(_source_detail(hub, "jack_inputs"), "xruns")
        load_before = os.getloadavg()[0]
        cpu.mark()
        rig_cpu.mark()
        started = await hub.recorder.start_take(scene="bench")
        await asyncio.sleep(seconds)
        used = cpu.read()  # while it rolled
        rss_at_stop = memory_bytes(os.getpid(), "VmRSS")
        # how far the writer (files, the mix, the proxies) is behind real time, at the stop
        rolled = used["wall_s"] * started.sample_rate
        behind = sorted(
            (rolled - t.assembler.frames_written) / started.sample_rate
            for t in started.tracks.values()
        ) or [0.0]
        rig_used = rig_cpu.read()
        load_after = os.getloadavg()[0]
        stop_called = time.monotonic()
        done = await hub.recorder.stop_take()
        stop_s = time.monotonic() - stop_called
        # and until stop_take() returned: work the hub could not keep up with while rolling
        # (a writer behind real time) is done then, so this is the take's whole cost
        through_stop = cpu.read()
        await asyncio.sleep(1.5)  # the plugin's health is reported once a second
        jack_detail = _source_detail(hub, "jack_inputs")
        aes67_detail = _source_detail(hub, "aes67")
        xruns_after = _count(jack_detail, "xruns")
        assert done.derived is not None
        await done.derived.wait()  # the poly file, written after the stop
        files = [(t.path, t.file_id) for t in done.tracks.values()]
        files += [(d.path, d.file_id) for d in done.derived.files]
        if done.derived.poly_file is not None:
            files.append((done.derived.poly_file.path, done.derived.poly_file.file_id))
        ids = [i for _, i in files if i is not None]

        def all_done() -> bool:
            return all(hub.uploader.file(i)["state"] == "done" for i in ids)

        with contextlib.suppress(TimeoutError):
            await _until("every file acknowledged", all_done, 120 + seconds)
        acked_at = time.monotonic()
        records = {i: hub.uploader.file(i) for i in ids}
        assets = {a["id"]: a for a in rig.emulator.handle.assets()}
        identical = 0
        for path, file_id in files:
            record = records.get(file_id) if file_id is not None else None
            asset = assets.get((record or {}).get("asset_id") or "")
            if asset and asset.get("complete") and asset.get("sha256") == _sha256(path):
                identical += 1
        rss = memory_bytes(os.getpid()) + sum(memory_bytes(p) for p in used["children"])
        frames = [t.frames for t in done.tracks.values()]
        wall = used["wall_s"]
        take_s = (done.frames or 0) / started.sample_rate
        local = set(inputs)
        dropouts = {"jack": [0, 0], "aes67": [0, 0]}
        for track in done.tracks.values():
            counts = dropouts["jack" if track.serial in local else "aes67"]
            counts[0] += track.assembler.dropouts
            counts[1] += track.assembler.dropout_samples
        emit(
            {
                "inputs": rig.inputs,
                "mics": len(rig.mic_serials),
                "sample_rate": started.sample_rate,
                "seconds": round(take_s, 1),
                "cpu_window_s": round(wall, 1),
                "xruns": (
                    None
                    if xruns_after is None or xruns_before is None
                    else xruns_after - xruns_before
                ),
                "ring_overruns": _count(jack_detail, "overruns"),
                "aim_xruns": AIM_XRUNS,
                "hub_cpu_pct_of_one_core": round(used["pct"], 1),
                "hub_cpu_own_pct": round(100 * used["own_s"] / wall, 1),
                "hub_cpu_children_pct": round(100 * used["children_s"] / wall, 1),
                "hub_cpu_through_stop_pct_of_take": round(
                    100 * (through_stop["own_s"] + through_stop["children_s"]) / (take_s or 1.0), 1
                ),
                "hub_children": len(used["children"]),
                "aim_hub_cpu_pct": AIM_CPU_PCT,
                "peak_rss_mib": round(rss / 2**20, 1),
                "rss_at_stop_mib": round(rss_at_stop / 2**20, 1),
                "rig_cpu_pct_of_one_core": rig_used,
                "tracks": len(frames),
                "tracks_of_take_length": sum(f == done.frames for f in frames),
                "take_frames": done.frames,
                "dropouts_jack": dropouts["jack"][0],
                "dropout_samples_jack": dropouts["jack"][1],
                "dropouts_aes67": dropouts["aes67"][0],
                "dropout_samples_aes67": dropouts["aes67"][1],
                "aes67_lost": _count(aes67_detail, "lost") or 0,
                "aes67_late": _count(aes67_detail, "late") or 0,
                "aes67_flood": _count(aes67_detail, "flood") or 0,
                "files": len(files),
                "files_acknowledged": sum(r["state"] == "done" for r in records.values()),
                "files_identical": identical,
                "writer_behind_at_stop_s": round(behind[-1], 1),  # the track furthest behind
                "writer_behind_at_stop_median_s": round(behind[len(behind) // 2], 1),
                "stop_take_s": round(stop_s, 2),
                "stop_phases_s": {k: round(v, 3) for k, v in done.stop_phases.items()},
                "stop_to_all_acked_s": round(acked_at - stop_called, 1),
                "jack_detail": jack_detail,
                "aes67_detail": aes67_detail,
                "load_avg_1min": round(max(load_before, load_after), 2),
                "cores": os.cpu_count(),
            }
        )


# ------------------------------------------------------------------ the rig
@contextlib.contextmanager
def rig(
    inputs: int = INPUTS,
    mics: int = MICS,
    *,
    ptime_ms: float = 1.0,
    reference: bool = True,
    server_prefix: str = "c2c-bench-rec",
) -> Iterator[Rig]:
    """The JACK server, the player, the microphones, the emulator and (``reference``) a
    reference JACK client, stopped on the way out (the server's log read then:
    :attr:`DummyServer.log`)."""
    processes: dict[str, subprocess.Popen[Any]] = {}
    with contextlib.ExitStack() as stack:  # each part stopped, even if another's stop fails
        server = DummyServer.started(server_prefix)
        stack.callback(server.stop)
        assert server.process is not None
        processes["jackd"] = server.process
        aes67 = _private_aes67()
        player = [sys.executable, "-m", "c2c_hub_plugins.jack_inputs.emulated"]
        player += ["--server", server.name, "--name", PLAYER, "--outputs", str(inputs)]
        senders = [sys.executable, "-m", "bench.recorder", "senders", f"--mics={mics}"]
        senders += [f"--sap-group={aes67['sap_groups'][0]}", f"--ptime-ms={ptime_ms}"]
        senders += [f"--session-base={random.randrange(1, 1 << 30)}"]
        for name, command in (("player", player), ("microphones", senders)):
            child = _Child.start(name, command)
            stack.callback(child.stop)
            processes[name] = child.process
        mic_serials = json.loads(child.first)["serials"]  # the microphones' first line
        emulator = start_emulator()
        stack.callback(emulator.close)
        processes["emulator"] = emulator.process
        if reference:
            command = [sys.executable, "-m", "bench.jack_inputs", "reference"]
            command += ["--server", server.name, "--inputs", str(inputs), "--seconds", "86400"]
            processes["reference"] = subprocess.Popen(command)
            stack.callback(_end, processes["reference"])
        yield Rig(server, emulator, mic_serials, aes67, processes, inputs)


def _end(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _hub_process(plan: dict[str, Any], within: float, exit_within: float) -> dict[str, Any]:
    """Run the hub in a process of its own (``python -m bench.recorder hub``) on ``plan``; its
    figures, and how its exit went: a hub that has not exited ``exit_within`` seconds after
    saying its figures dumps its threads' stacks (SIGUSR1, to stderr) and is killed."""
    command = [sys.executable, "-m", "bench.recorder", "hub"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(plan) + "\n")
    process.stdin.close()
    result: dict[str, Any] | None = None
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while result is None and time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                continue
            line = process.stdout.readline()
            if not line:
                break  # it exited without its figures
            if line.startswith('{"result"'):
                result = json.loads(line)["result"]
    said = time.monotonic()
    hung = False
    try:
        process.wait(exit_within if result is not None else 5)
    except subprocess.TimeoutExpired:
        hung = True
        process.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack, to stderr
        time.sleep(2)
        process.kill()
        process.wait()
    if result is None:
        raise RuntimeError(f"the hub's process ended without its figures ({process.returncode})")
    result["hub_exit_s"] = None if hung else round(time.monotonic() - said, 1)
    result["hub_exit_hung"] = hung
    return result


def _hub_main() -> None:
    """The hub's process: the plan on stdin, one line ``{"result": ...}`` on stdout."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    plan = json.loads(sys.stdin.readline())
    side = HubSide.from_plan(plan)

    def emit(result: dict[str, Any]) -> None:
        print(json.dumps({"result": result}), flush=True)

    try:
        asyncio.run(take(side, plan["seconds"], Path(plan["root"]), emit))
    finally:
        side.emulator.handle.close()


def run(
    seconds: float = 600.0,
    inputs: int = INPUTS,
    mics: int = MICS,
    *,
    reference: bool = True,
    root: Path | None = None,
    server_prefix: str = "c2c-bench-rec",
    exit_within: float = HUB_EXIT_S,
    iso_proxies: bool = False,
) -> dict[str, Any]:
    """The rig, one take of ``seconds`` by a hub in a process of its own (its files in
    ``root``, else a temporary folder) and the figures, with the server's log read after it
    stopped."""
    with (
        rig(inputs, mics, reference=reference, server_prefix=server_prefix) as parts,
        tempfile.TemporaryDirectory(prefix="c2c-bench-rec-") as tmp,
    ):
        parts.proxy_files = ["mix", "iso"] if iso_proxies else ["mix"]
        plan = parts.plan(seconds, root or Path(tmp))
        result = _hub_process(plan, within=2 * seconds + 600, exit_within=exit_within)
    log = parts.server.log
    late = Counter(name.decode(errors="replace") for name in LATE.findall(log))
    result["server_xruns_logged"] = parts.server.xruns()  # the whole run, activation too
    result["server_late_by_client"] = dict(late)
    result["ok"] = (
        result["tracks"] == inputs + mics
        and result["tracks_of_take_length"] == result["tracks"]
        and result["files_identical"] == result["files"]
        and not result["hub_exit_hung"]
    )
    return result


def _phases(spent: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds} s" for name, seconds in spent.items()) or "phases unknown"


def summary(result: dict[str, Any]) -> list[str]:
    """The human lines: each figure beside its aim."""
    r = result

    def mark(good: bool) -> str:
        return "ok" if good else "OVER"

    xruns = r["xruns"]
    return [
        f"  take {r['seconds']:g} s at {r['sample_rate']} Hz: {r['inputs']} JACK inputs + "
        f"{r['mics']} AES67 microphones, mix, poly, proxies",
        f"  xruns (hub)            {xruns!s:>8}   aim {AIM_XRUNS}"
        f"   {mark(xruns == 0) if xruns is not None else '?'}",
        f"  server: xruns logged {r['server_xruns_logged']}, late periods by client "
        f"{r['server_late_by_client'] or '{}'}",
        f"  hub CPU (process tree) {r['hub_cpu_pct_of_one_core']:>7.1f} % of one core   aim <= "
        f"{AIM_CPU_PCT:g} %   {mark(r['hub_cpu_pct_of_one_core'] <= AIM_CPU_PCT)}"
        f"   (own {r['hub_cpu_own_pct']} %, children {r['hub_cpu_children_pct']} %)",
        f"  hub CPU until stop_take() returned, per second of take "
        f"{r['hub_cpu_through_stop_pct_of_take']} % of one core",
        f"  peak RSS               {r['peak_rss_mib']:>8} MiB ({r['rss_at_stop_mib']} MiB at stop)",
        f"  the rig's CPU (% of one core, not the hub's): {r['rig_cpu_pct_of_one_core']}",
        f"  tracks of take length  {r['tracks_of_take_length']:>5}/{r['tracks']}   "
        f"dropouts: JACK {r['dropouts_jack']} ({r['dropout_samples_jack']} samples), AES67 "
        f"{r['dropouts_aes67']} ({r['dropout_samples_aes67']} samples); AES67 packets lost "
        f"{r['aes67_lost']}, late {r['aes67_late']}, flood {r['aes67_flood']}",
        f"  files acknowledged     {r['files_acknowledged']:>5}/{r['files']}, byte-identical "
        f"{r['files_identical']}/{r['files']}",
        f"  at the stop: the writer {r['writer_behind_at_stop_s']} s behind (median track "
        f"{r['writer_behind_at_stop_median_s']} s); stop_take() "
        f"{r['stop_take_s']} s ({_phases(r['stop_phases_s'])}); "
        f"stop -> all acknowledged {r['stop_to_all_acked_s']} s",
        f"  the hub closed in {r['hub_exit_s']} s"
        if not r["hub_exit_hung"]
        else "  the hub did NOT close: killed (its threads' stacks on stderr)",
        f"  load average (1 min)   {r['load_avg_1min']:>8} on {r['cores']} cores",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recorder", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["take", "senders", "hub"], default="take")
    parser.add_argument("--seconds", type=float, default=None, help="the take (600)")
    parser.add_argument("--quick", action="store_true", help="a 60 s take")
    parser.add_argument(
        "--iso-proxies", action="store_true", help="a proxy of every ISO too (not the default)"
    )
    parser.add_argument("--long", action="store_true", help="a 10-minute take (the default)")
    parser.add_argument("--inputs", type=int, default=INPUTS)
    parser.add_argument("--mics", type=int, default=MICS)
    parser.add_argument(
        "--no-reference", action="store_true", help="no reference JACK client beside the hub"
    )
    # (senders) the child process's own
    parser.add_argument("--sap-group", default=None)
    parser.add_argument("--ptime-ms", type=float, default=1.0)
    parser.add_argument("--session-base", type=int, default=1)
    args = parser.parse_args(argv)
    if args.mode == "senders":
        _senders(args)
        return 0
    if args.mode == "hub":
        _hub_main()
        return 0
    seconds = args.seconds or (60.0 if args.quick and not args.long else 600.0)
    print(
        f"recorder: {args.inputs} JACK inputs + {args.mics} AES67 microphones + mix + poly + "
        f"proxies ({'mix and ISOs' if args.iso_proxies else 'mix'}), 48 kHz/24-bit, "
        f"a {seconds:g} s take, uploaded over loopback"
    )
    result = run(
        seconds,
        args.inputs,
        args.mics,
        reference=not args.no_reference,
        iso_proxies=args.iso_proxies,
    )
    print("\n".join(summary(result)))
    print(json.dumps({"bench": "recorder", **result}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
