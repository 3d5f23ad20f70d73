"""What ``make demo`` costs, with the recorder's own inputs and without: ``c2c-hub demo --json``
run as a fresh process, alternately with its two local inputs (a private JACK server and a
player) and with ``--no-local-inputs``, so both see the same machine.

For each: the wall time (what a person waits), the CPU time of the demo and everything it ran
(jackd and the player included), the demo's own phases, and for the local inputs the share of
their samples that were exactly the player's signal (1.0 but for periods a busy machine lost).
The aim (issue 16): the local inputs add at most 3 s to a demo of about 23 s, and every demo is
OK. ``python -m bench.demo [--rounds N] [--seconds S]`` prints a table and one JSON line each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

AIM_EXTRA_S = 3.0


def _command() -> list[str]:
    beside = Path(sys.executable).parent / "c2c-hub"
    found = str(beside) if beside.is_file() else shutil.which("c2c-hub")
    return [found] if found else [sys.executable, "-m", "c2c_hub.ui.cli"]


def _once(seconds: float, local_inputs: bool) -> dict[str, Any]:
    argv = [*_command(), "demo", "--json", "--seconds", str(seconds)]
    if not local_inputs:
        argv.append("--no-local-inputs")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError:
        summary = {"ok": False, "error": result.stderr[-2000:]}
    marks = summary.get("timings_s") or {}
    shares = [t["signal_check"]["share"] for t in summary.get("tracks", []) if "signal_check" in t]
    ok = result.returncode == 0 and bool(summary.get("ok"))
    return {
        "ok": ok,
        "error": None if ok else (summary.get("error") or result.stderr[-1000:]),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "demo_s": marks.get("end"),
        "to_take_s": marks.get("take_starting"),
        "stop_to_uploaded_s": (
            round(marks["uploaded"] - marks["take_stopping"], 2)
            if "uploaded" in marks and "take_stopping" in marks
            else None
        ),
        "local_tracks": len(shares),
        "signal_share_min": min(shares) if shares else None,
    }


def run(rounds: int = 3, seconds: float = 20.0) -> dict[str, Any]:
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
    for _ in range(rounds):
        runs["with"].append(_once(seconds, local_inputs=True))
        runs["without"].append(_once(seconds, local_inputs=False))
    load_after = os.getloadavg()

    def median(variant: str, key: str) -> float | None:
        values = [r[key] for r in runs[variant] if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    extra = None
    wall_with, wall_without = median("with", "wall_s"), median("without", "wall_s")
    if wall_with is not None and wall_without is not None:
        extra = round(wall_with - wall_without, 2)
    shares = [r["signal_share_min"] for r in runs["with"] if r["signal_share_min"] is not None]
    return {
        "ok": all(r["ok"] for variant in runs.values() for r in variant),
        "rounds": rounds,
        "take_s": seconds,
        "wall_s_with_local_inputs": wall_with,
        "wall_s_without": wall_without,
        "extra_wall_s": extra,
        "aim_extra_wall_s": AIM_EXTRA_S,
        "cpu_s_with_local_inputs": median("with", "cpu_s"),
        "cpu_s_without": median("without", "cpu_s"),
        "to_take_s_with": median("with", "to_take_s"),
        "to_take_s_without": median("without", "to_take_s"),
        "signal_share_min": min(shares) if shares else None,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "cores": os.cpu_count(),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="demos of each kind (3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="each demo's take (20)")
    args = parser.parse_args(argv)
    outcome = run(args.rounds, args.seconds)
    print(
        f"demo ({args.seconds:g} s take, median of {args.rounds}): "
        f"{outcome['wall_s_with_local_inputs']} s with local inputs, "
        f"{outcome['wall_s_without']} s without (extra {outcome['extra_wall_s']} s, "
        f"aim <= {AIM_EXTRA_S:g} s); CPU {outcome['cpu_s_with_local_inputs']} s / "
        f"{outcome['cpu_s_without']} s; local inputs' samples exactly the player's: "
        f">= {outcome['signal_share_min']}; load {outcome['load_avg_before']} -> "
        f"{outcome['load_avg_after']} on {outcome['cores']} cores"
    )
    print(json.dumps({"bench": "demo", **outcome}))
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
