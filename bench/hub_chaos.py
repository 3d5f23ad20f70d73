"""Chaos for the whole hub: ``c2c-hub run`` SIGKILLed 100 times and more, restarted each time.

The same run as ``tests/ui/test_hub_chaos.py`` (:mod:`tests.ui.hub_chaos`), longer: two
emulated AES67 microphones at 96 kHz and a button remote, the emulator behind a 40 Mbit/s link;
kills in turn mid-take (with a press burst), mid-burst, and just after a part of an unfinished
track is acknowledged. Reports the kills and what each landed on (a take being written, a burst
under way, parts of unfinished files acknowledged), presses acknowledged (durable in the press
log) against presses delivered to the emulator (sent exactly once; ``unconfirmed`` ones, in
flight at a kill, at most once), tracks verified byte-identical, duplicate assets, acknowledged
parts sent again (must be 0), protocol violations (must be 0) and the wall time.

Run: ``python -m bench.hub_chaos [--kills N] [--keep DIR]`` (prints JSON), or :func:`run`.
Exit status 1 when the run proved nothing or lost or duplicated anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tests.ui.hub_chaos import keep_or_temp, run_hub_chaos


def run(kills: int = 100, keep: Path | None = None) -> dict[str, Any]:
    with keep_or_temp(keep) as work:
        result = run_hub_chaos(work, kills=kills, settle_s=300 + kills * 2.0, progress=True)
    summary = result.summary()
    summary["ok"] = result.ok and result.kills >= kills
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None, help="keep the run's files here")
    args = parser.parse_args(argv)
    summary = run(args.kills, args.keep)
    print(json.dumps({"bench": "hub_chaos", **summary}))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
