"""Token expiry → refreshed session: how long a call takes when Frame.io says the token expired.

The emulator (a child process) is advanced 8 h + 1 s; the hub does not know. The next call
answers 401, the session refreshes (spending the single-use refresh token, storing the new pair
encrypted and fsynced), asks ``/v2/devices/me`` again, and retries the call. Timed end to end,
``rounds`` times. Also timed: a planned silent refresh (what happens every 6 h).

Run: ``python -m bench.session [--rounds N]`` (prints JSON), or call :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import bench_settings, paired_session
from bench.part_sink import start_emulator
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.settings import FrameioSettings

EXPIRY = 8 * 3600 + 1


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _measure(settings: FrameioSettings, emulator: Any, rounds: int) -> dict[str, Any]:
    async with make_http_client(settings) as http:
        client = FrameioClient.from_settings(settings, http)
        with tempfile.TemporaryDirectory(prefix="c2c-bench-session-") as tmp:
            session = await paired_session(client, settings, emulator, Path(tmp))
            expired: list[float] = []
            planned: list[float] = []
            for _ in range(rounds):
                await asyncio.to_thread(emulator.handle.advance, EXPIRY)
                before = session.refreshes
                started = time.perf_counter()
                await session.call(client.me)
                expired.append(time.perf_counter() - started)
                if session.refreshes != before + 1:
                    raise RuntimeError("expected exactly one refresh per expiry")
                started = time.perf_counter()
                await session.refresh()
                planned.append(time.perf_counter() - started)
    return {
        "rounds": rounds,
        "expiry_to_refreshed_call": _summary(expired),
        "planned_refresh": _summary(planned),
    }


def run(rounds: int = 20) -> dict[str, Any]:
    emulator = start_emulator()
    try:
        return asyncio.run(_measure(bench_settings(emulator), emulator, rounds))
    finally:
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
