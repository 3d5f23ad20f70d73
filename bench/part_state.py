"""A part's state in the upload queue (issue 20): what ``sending`` and ``acked`` cost per part.

Every part of an upload is marked ``sending`` before its PUT and ``acked`` (with the file's
``bytes_acked``, durably: ``synchronous = FULL``) after it, through the queue's one aiosqlite
connection, whose thread runs every statement. Each trip to that thread wakes both threads,
and the event loop's share is CPU the uploader spends beside the bytes. Measured on a real
queue in a private temp dir, ``--parts`` parts a round, ``--rounds`` rounds, medians:

- **trips** to the connection's thread per part (counted at aiosqlite's own entry point);
- **event-loop CPU** per part (``time.thread_time`` of the loop's thread) and **process CPU**
  per part (both threads, the kernel's fsync work included), and the wall time;
- the **reference**, measured in the same run: one plain durable ``UPDATE`` of the part per
  part through aiosqlite's public ``execute`` (one trip, one fsync): the floor of a commit.

Run: ``python -m bench.part_state [--parts N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from c2c_hub.uploader.queue import NewPart, UploadQueue

PART = 16 * 1024 * 1024  # Frame.io's basic part (ceil(size / 16 MiB) URLs)
URL = "https://uploads.example/parts/p?" + "X-Amz-Signature=" + "f" * 640  # a signed URL's size


@contextmanager
def _counting_trips() -> Iterator[list[int]]:
    """Count calls queued to aiosqlite's connection thread (its ``_execute``) meanwhile."""
    count = [0]
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def _measure(parts: int, step: Callable[[int], Awaitable[None]]) -> dict[str, float]:
    with _counting_trips() as trips:
        loop_cpu, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
        for number in range(1, parts + 1):
            await step(number)
        loop_cpu = time.thread_time() - loop_cpu
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    return {
        "trips_per_part": trips[0] / parts,
        "loop_cpu_us_per_part": loop_cpu / parts * 1e6,
        "cpu_us_per_part": cpu / parts * 1e6,
        "wall_us_per_part": wall / parts * 1e6,
    }


async def _round(folder: Path, parts: int) -> tuple[dict[str, float], dict[str, float]]:
    queue = UploadQueue(folder / "queue.sqlite3")
    await queue.open(time.time())
    try:
        record = await queue.add(
            path=str(folder / "take.wav"),
            name="take.wav",
            filetype="audio/wav",
            channel=0,
            size=parts * PART,
            mtime_ns=1,
            inode=1,
            capture_time=time.time(),
            now=time.time(),
        )
        await queue.claim(time.time(), manual=False)
        plan = [
            NewPart(n, (n - 1) * PART, PART, URL, time.time() + 3600)
            for n in range(1, 2 * parts + 1)
        ]
        await queue.asset_created(record.id, "asset", plan, time.time())
        file_id = record.id

        async def part_state(number: int) -> None:
            await queue.part_sending(file_id, number)
            await queue.part_acked(file_id, number, time.time(), "ab" * 32)

        async def reference(number: int) -> None:
            await queue.db.execute(
                "UPDATE parts SET state = 'acked' WHERE file_id = ? AND number = ?",
                (file_id, parts + number),
            )

        ours = await _measure(parts, part_state)
        floor = await _measure(parts, reference)
        return ours, floor
    finally:
        await queue.close()


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(row[key] for row in rows), 1) for key in rows[0]}


def run(parts: int = 64, rounds: int = 5) -> dict[str, Any]:
    ours, floor = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="c2c-bench-part-state-") as tmp:
            a, b = asyncio.run(_round(Path(tmp), parts))
        ours.append(a)
        floor.append(b)
    mine, ref = _median(ours), _median(floor)
    return {
        "parts": parts,
        "rounds": rounds,
        "part_state": mine,
        "reference_one_durable_statement": ref,
        "loop_cpu_over_reference": round(
            mine["loop_cpu_us_per_part"] / ref["loop_cpu_us_per_part"], 2
        ),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.part_state", description=__doc__)
    parser.add_argument("--parts", type=int, default=64, help="parts a round (64: 1 GiB)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, medians reported")
    args = parser.parse_args(argv)
    print(json.dumps({"bench": "part_state", **run(args.parts, args.rounds)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
