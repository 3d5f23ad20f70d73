"""How fast ``c2c-hub`` starts: ``--version``, ``--help`` and a command's ``--help``, each run as
a fresh process (the installed script), median and worst of N runs, beside an empty Python.

The aim (issue 21): ``--version`` and ``--help`` well under 0.3 s. ``python -m bench.cli_start
[--runs N]`` prints a table and one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

AIM_S = 0.3


def _script() -> list[str]:
    beside = Path(sys.executable).parent / "c2c-hub"
    found = str(beside) if beside.is_file() else shutil.which("c2c-hub")
    return [found] if found else [sys.executable, "-m", "c2c_hub.ui.cli"]


def _time(argv: list[str], runs: int) -> dict[str, float]:
    """Wall time (what a person waits; a loaded machine inflates it) and CPU time (what the
    command itself costs) of ``runs`` fresh processes."""
    seconds, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {
        "median_s": round(statistics.median(seconds), 4),
        "worst_s": round(max(seconds), 4),
        "best_s": round(min(seconds), 4),
        "cpu_median_s": round(statistics.median(cpu), 4),
    }


def run(runs: int = 20) -> list[dict[str, object]]:
    script = _script()
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "c2c-hub --version": [*script, "--version"],
        "c2c-hub --help": [*script, "--help"],
        "c2c-hub queue --help": [*script, "queue", "--help"],
    }
    results = []
    for name, argv in cases.items():
        figures = _time(argv, runs)
        results.append(
            {"bench": "cli_start", "case": name, "runs": runs, "aim_s": AIM_S, **figures}
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each case (20)")
    args = parser.parse_args(argv)
    results = run(args.runs)
    print(f"{'case':<26} {'median':>8} {'worst':>8} {'best':>8} {'cpu':>8}   aim < {AIM_S} s")
    for r in results:
        print(
            f"{r['case']:<26} {r['median_s']:>8.3f} {r['worst_s']:>8.3f} {r['best_s']:>8.3f}"
            f" {r['cpu_median_s']:>8.3f}"
        )
    for r in results:
        print(json.dumps(r))
    slow = [r for r in results if r["case"] != "python -c pass (floor)" and r["median_s"] >= AIM_S]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
