"""Presses made durable per second: the press log's group commit (many presses per fsync).

A press log opened the way the hub opens it (WAL, ``synchronous=FULL``, on the temporary
directory's disk, or ``--dir``), one remote attached, no channel (nothing is sent: this times
the disk path alone). Two runs:

- **flat out**: ``count`` presses through the device registry as fast as a plugin can deliver
  them; timed from the first press to the last acknowledgement (the write is durable);
- **paced**: ``rate`` presses a second for ``seconds``; the delay from each press to its
  acknowledgement (median, p99, worst) and how far behind the writer fell at most.

Each run reports presses/s durable, transactions (fsyncs) and the largest batch.

Run: ``python -m bench.presses [--count N] [--rate N] [--seconds S] [--dir D]`` (prints JSON),
or :func:`run`.
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

from c2c_hub.clock import SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry, Press
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.presses import DB_FILE, PressLog, PressRecord
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.subdevices import SubDevice
from c2c_hub.timecode import FrameRate, TimecodeClock
from c2c_hub.tokens import TokenStore

REMOTE_MODEL = "d4e6f8a0-2c4e-4a6b-9d1f-3e5a7c9e1f24"


class _NoChannel:
    def channel_id_of(self, serial: str) -> str | None:
        return None


async def _with_log(directory: Path, body: Any) -> dict[str, Any]:
    settings = FrameioSettings()
    async with make_http_client(settings) as http:
        session = Session(
            FrameioClient.from_settings(settings, http), TokenStore(directory), settings
        )
        registry = DeviceRegistry(DeviceModelRegistry.load(shipped_models_dir()), time.time)
        registry.attach("bench", SubDevice("BR-1", REMOTE_MODEL, "Remote"))
        timecode = TimecodeClock(SystemClock(), FrameRate.parse("25"))
        presses = PressLog(
            directory / DB_FILE, session, registry, _NoChannel(), timecode, clock=SystemClock()
        )
        await presses.start()
        try:
            result: dict[str, Any] = await body(presses)
        finally:
            await presses.stop()
        result["transactions"] = presses.batches
        result["largest_batch"] = presses.largest_batch
        return result


async def _flat_out(presses: PressLog, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    futures = []
    for n in range(count):
        futures.append(presses.submit(Press("BR-1", n % 3, time.time())))
        if n % 100 == 99:
            await asyncio.sleep(0)  # a plugin's thread hands presses over in bursts
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    return {"presses": count, "seconds": round(elapsed, 3), "durable_per_s": round(count / elapsed)}


async def _paced(presses: PressLog, rate: int, seconds: float) -> dict[str, Any]:
    delays: list[float] = []
    behind = 0

    def acked(pressed: float) -> Any:
        def done(future: asyncio.Future[PressRecord]) -> None:
            delays.append(time.perf_counter() - pressed)

        return done

    futures = []
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        while n < (time.perf_counter() - started) * rate:
            future = presses.submit(Press("BR-1", n % 3, time.time()))
            future.add_done_callback(acked(time.perf_counter()))
            futures.append(future)
            n += 1
        behind = max(behind, n - len(delays))
        await asyncio.sleep(0.001)
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    ordered = sorted(delays)
    return {
        "rate": rate,
        "presses": n,
        "offered_per_s": round(n / seconds),
        "durable_per_s": round(n / elapsed),
        "ack_median_ms": round(statistics.median(ordered) * 1000, 2),
        "ack_p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
        "ack_max_ms": round(ordered[-1] * 1000, 2),
        "most_behind": behind,
    }


async def _measure(count: int, rate: int, seconds: float, base: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-presses-", dir=base) as tmp:
        flat = await _with_log(Path(tmp) / "flat", lambda p: _flat_out(p, count))
        paced = await _with_log(Path(tmp) / "paced", lambda p: _paced(p, rate, seconds))
    return {"flat_out": flat, "paced": paced}


def run(
    count: int = 20_000, rate: int = 5_000, seconds: float = 3.0, base: Path | None = None
) -> dict[str, Any]:
    return asyncio.run(_measure(count, rate, seconds, base))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--dir", type=Path, default=None, help="where the press log goes")
    args = parser.parse_args(argv)
    print(json.dumps({"bench": "presses", **run(args.count, args.rate, args.seconds, args.dir)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
