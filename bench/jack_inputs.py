"""The recorder's own inputs: 16 JACK inputs at 48 kHz/24-bit recorded for a take.

A private JACK server (dummy backend, 256-frame periods) and a player of 16 known signals (its
own process, so its cost is not the hub's) feed a real :class:`~c2c_hub.runtime.Hub` running the
``jack_inputs`` plugin with 16 inputs; the hub records one take of ``--seconds`` (60 by
default; ``--long``: 10 minutes) with its meters running. Not paired: the tracks queue for
upload but nothing is sent (the upload figures are the uploader's benchmark's), and the hub
talks to nothing but loopback.

The take runs twice, on a server started realtime (``jackd -R``: libjack gives every client's
process thread SCHED_FIFO) and on one started ``--no-realtime`` (``--realtime yes|no|both``,
both by default).

Reported for each: xruns during the take (the hub's JACK client saw them; aim 0), cycles the
ring had no room for, the CPU of the hub's process and of its capture process (the JACK
client's own, :mod:`c2c_hub_plugins.jack_inputs.capture`), each as a share of one core, the
scheduling the capture's process thread got, meter readings a second, every track's length
against the take's, and the machine's load meanwhile (a loaded machine makes xruns that are
not the hub's). To tell the two apart, a *reference* runs beside the hub: the same source
with the same 16 inputs in a process that does nothing else (``python -m bench.jack_inputs
reference``; its client is named ``reference``); the server's log says whose period was late,
the hub's, the reference's or the player's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

import c2c_hub_plugins.jack_inputs.plugin as jack_plugin
from c2c_hub import kit
from c2c_hub.device_models import DeviceModelRegistry, load_device_models, shipped_models_dir
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub_plugins.jack_inputs.emulated import DummyServer
from c2c_hub_plugins.jack_inputs.source import JackInputsSource

INPUTS = 16


class _Plugin:
    """The jack_inputs plugin's hooks, holding the source so its counters can be read."""

    def __init__(self, source: JackInputsSource) -> None:
        self.source = source

    @kit.hookimpl
    def register_device_models(self, register: Callable[[Path], None]) -> None:
        register(kit.package_models(jack_plugin.__file__))

    @kit.hookimpl
    def register_sources(self, register: Callable[[kit.DeviceSource], None]) -> None:
        register(self.source)


async def _take(server: str, inputs: int, seconds: float, root: Path) -> dict[str, Any]:
    options = {
        "server": server,
        "inputs": [
            {"name": f"in_{i + 1}", "connect": [f"tones:out_{i + 1}"]} for i in range(inputs)
        ],
    }
    settings = HubSettings(
        frameio=FrameioSettings(
            api_base_url="https://127.0.0.1:9",  # unpaired, and never anywhere but loopback
            client_id="bench-jack-inputs",
            client_secret=SecretStr("bench"),
        ),
        storage=StorageSettings(data_dir=root / "hub", key_file=root / "keys" / "key"),
        recorder=RecorderSettings(directory=root / "recordings", min_free_minutes=0),
        plugins=PluginSettings(allow=[], options={"jack_inputs": options}),
    )
    source = JackInputsSource()
    async with Hub(settings) as hub:
        hub.plugins.register_object(_Plugin(source), "jack_inputs")
        await hub.start(presence=False, status_file=False)
        deadline = time.monotonic() + 60
        serials = [f"jack-c2c-hub-in_{i + 1}" for i in range(inputs)]
        while not all(hub.devices.get(s) for s in serials):
            assert time.monotonic() < deadline, "the inputs did not attach"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # past the clients' activation
        before = source.snapshot() or {}
        capture_pid = before.get("capture_pid")
        updates = hub.meters.updates
        load = os.getloadavg()[0]
        take = await hub.recorder.start_take(scene="bench")
        # CPU while the take rolls (the take's start and stop are the recorder's figures)
        capture_cpu = _cpu_s(capture_pid)
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        capture_cpu = _cpu_s(capture_pid) - capture_cpu
        done = await hub.recorder.stop_take()
        after = source.snapshot() or {}
        meter_rate = (hub.meters.updates - updates) / wall
        load = max(load, os.getloadavg()[0])
    frames = [t.frames for t in done.tracks.values()]
    dropouts = sum(t.assembler.dropouts for t in done.tracks.values())
    return {
        "inputs": inputs,
        "sample_rate": take.sample_rate,
        "seconds": round(wall, 1),
        "xruns": after.get("xruns", 0) - before.get("xruns", 0),
        "ring_overruns": after.get("overruns", 0) - before.get("overruns", 0),
        "hub_cpu_pct_of_one_core": round(100 * cpu / wall, 1),
        "capture_cpu_pct_of_one_core": round(100 * capture_cpu / wall, 1),
        "capture_scheduling": after.get("scheduling"),
        "capture_restarts": after.get("captures", 1) - before.get("captures", 1),
        "meter_readings_per_s": round(meter_rate, 1),
        "tracks": len(frames),
        "tracks_of_take_length": sum(f == done.frames for f in frames),
        "dropouts": dropouts,
        "load_avg_1min": round(load, 2),
    }


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user and system, every thread) of process ``pid`` so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Discard:
    """A source context that takes the inputs and drops their audio (the reference)."""

    plugin = "jack_inputs"
    log = logging.getLogger("bench.jack_inputs.reference")

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        registry = DeviceModelRegistry.load(shipped_models_dir())
        registry.add(load_device_models(kit.package_models(jack_plugin.__file__)), origin="j")
        self.models = registry

    def attach(self, device: kit.SubDevice) -> None: ...
    def detach(self, serial: str, reason: str) -> None: ...
    def audio(self, serial: str, block: kit.AudioBlock) -> None: ...
    def press(self, serial: str, input_index: int, at: float | None = None) -> None: ...
    def report(self, healthy: bool, detail: str) -> None: ...


async def _reference(server: str, inputs: int, seconds: float) -> None:
    options = {
        "server": server,
        "client_name": "reference",
        "inputs": [
            {"name": f"in_{i + 1}", "connect": [f"tones:out_{i + 1}"]} for i in range(inputs)
        ],
    }
    task = asyncio.create_task(JackInputsSource().run(_Discard(options)))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def run(inputs: int = INPUTS, seconds: float = 60.0, realtime: str = "both") -> dict[str, Any]:
    """The take on a realtime server, a non-realtime one, or both (``realtime``: yes, no,
    both); with both, the figures of each under ``realtime`` and ``not_realtime``."""
    if realtime != "both":
        return run_one(inputs, seconds, realtime=realtime == "yes")
    result: dict[str, Any] = {}
    for key, mode in (("realtime", True), ("not_realtime", False)):
        result[key] = run_one(inputs, seconds, realtime=mode)
    result["ok"] = all(result[key]["ok"] for key in ("realtime", "not_realtime"))
    return result


def run_one(inputs: int = INPUTS, seconds: float = 60.0, *, realtime: bool) -> dict[str, Any]:
    server = DummyServer.started("c2c-bench-jack", realtime=realtime)
    if server.realtime != realtime:
        server.stop()
        raise RuntimeError(f"jackd would not start with realtime={realtime}")
    player = subprocess.Popen(
        [
            *(sys.executable, "-m", "c2c_hub_plugins.jack_inputs.emulated"),
            *("--server", server.name, "--name", "tones", "--outputs", str(inputs)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    reference: subprocess.Popen[bytes] | None = None
    try:
        assert player.stdout is not None and player.stdout.readline().split()
        reference = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.jack_inputs", "reference"),
                *("--server", server.name, "--inputs", str(inputs)),
                *("--seconds", str(2 * seconds + 600)),  # till stopped: the take, however late
            ]
        )
        with tempfile.TemporaryDirectory(prefix="c2c-bench-jack-") as root:
            result = asyncio.run(_take(server.name, inputs, seconds, Path(root)))
    finally:
        if reference is not None:
            reference.terminate()
            reference.wait(20)
        if player.stdin is not None:
            player.stdin.close()
        try:
            player.wait(20)
        except subprocess.TimeoutExpired:
            player.kill()
            player.wait()
        server.stop()
    result["server_realtime"] = server.realtime
    result["server_xruns_logged"] = server.xruns()  # the whole run, every client, activation too
    # whose cycle was late, as the server logs it ("client = c2c-hub was not finished")
    result["server_late_hub"] = server.log.count(b"client = c2c-hub was not finished")
    result["server_late_player"] = server.log.count(b"client = tones was not finished")
    result["server_late_reference"] = server.log.count(b"client = reference was not finished")
    result["ok"] = result["tracks_of_take_length"] == inputs
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jack_inputs")
    parser.add_argument("mode", nargs="?", choices=["take", "reference"], default="take")
    parser.add_argument("--inputs", type=int, default=INPUTS)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long", action="store_true", help="a 10-minute take")
    parser.add_argument("--realtime", choices=["yes", "no", "both"], default="both")
    parser.add_argument("--server", default=None, help="(reference) the server to join")
    args = parser.parse_args(argv)
    if args.mode == "reference":
        asyncio.run(_reference(args.server, args.inputs, args.seconds))
        return 0
    seconds = 600.0 if args.long else args.seconds
    print(f"jack inputs: {args.inputs} JACK inputs at 48 kHz/24-bit, a {seconds:g} s take")
    result = run(args.inputs, seconds, args.realtime)
    print(json.dumps({"bench": "jack_inputs", **result}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
