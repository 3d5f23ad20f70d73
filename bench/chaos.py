"""Chaos at scale: the uploader process SIGKILLed 100 times and more, restarted each time.

The same run as ``tests/uploader/test_chaos.py`` (:mod:`tests.uploader.chaos`), longer: 30 files
of 24 MiB (150 parts of 5 MiB) through a 100 Mbit/s, 10 ms RTT link, ``kills`` kills, most of
them right after a part was acknowledged. Reports the kills, how many landed with parts of
unfinished files acknowledged, the acknowledged parts sent again (must be 0), duplicate assets
(and those the queue did not report to the operator: must be 0),
files that did not arrive byte-identical (must be 0) and the emulator's protocol violations.

Run: ``python -m bench.chaos [--kills N] [--files N] [--mib N]`` (prints JSON), or :func:`run`.
Exit status 1 when the run proved nothing or lost or re-sent anything.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from tests.uploader.chaos import run_chaos


def run(kills: int = 100, files: int = 30, mib: int = 24) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        result = run_chaos(
            Path(tmp), sizes_mib=[mib] * files, kills=kills, time_limit_s=60 + kills * 10.0
        )
    summary = result.summary()
    summary["ok"] = (
        result.proved_something
        and result.kills >= kills
        and not result.resent
        and not result.problems
        and not result.unreported
        and not result.violations
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--mib", type=int, default=24, help="size of each file")
    args = parser.parse_args(argv)
    summary = run(args.kills, args.files, args.mib)
    print(json.dumps({"bench": "chaos", **summary}))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
