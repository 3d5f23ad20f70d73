"""The upload queue at scale: 10,000 files queued, and the status of such a queue.

- **enqueue**: ``Uploader.enqueue_many`` of 10,000 small files in batches of 1,000 (as the
  control API's ``POST /uploads`` does), files/s (aim >= 5,000); then 1,000 more one
  ``enqueue`` at a time (one commit each), for comparison;
- **status**: ``Uploader.snapshot()`` of the 11,000-file queue (what the status, the terminal
  view and the web page read), median and worst of 50 (aim <= 20 ms); one page of
  ``GET /uploads?limit=500`` (``files_page``) and the whole list (``files()``) beside it.

The uploader runs unpaired (nothing is sent; files wait "needs pairing") in manual mode, on
an emulator's settings that are never called. Run: ``python -m bench.queue_scale [--files N]``.
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

from pydantic import SecretStr

from c2c_hub.settings import FrameioSettings, HubSettings, PluginSettings, StorageSettings

BATCH = 1_000


async def _run(files: int, single: int) -> dict[str, Any]:
    from c2c_hub.runtime import Hub

    with tempfile.TemporaryDirectory(prefix="c2c-bench-queue-") as tmp:
        work = Path(tmp)
        media = work / "media"
        media.mkdir()
        paths = []
        for index in range(files + single):
            path = media / f"clip-{index:05}.mov"
            path.write_bytes(b"x")
            paths.append(str(path))
        settings = HubSettings(
            frameio=FrameioSettings(
                api_base_url="https://127.0.0.1:9", client_secret=SecretStr("unused")
            ),
            storage=StorageSettings(data_dir=work / "hub"),
            plugins=PluginSettings(allow=[]),
        )
        async with Hub(settings) as hub:
            uploader = hub.uploader
            await uploader.start()
            try:
                await uploader.set_mode("manual")
                started = time.perf_counter()
                for at in range(0, files, BATCH):
                    await uploader.enqueue_many(paths[at : min(files, at + BATCH)])
                batched_s = time.perf_counter() - started
                started = time.perf_counter()
                for path in paths[files:]:
                    await uploader.enqueue(path)
                single_s = time.perf_counter() - started
                snapshots = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    uploader.snapshot()
                    snapshots.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                page, _ = uploader.files_page(after=0, limit=500)
                page_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                everything = uploader.files()
                whole_s = time.perf_counter() - t0
                assert uploader.file_count() == files + single
                snapshot_bytes = len(json.dumps(uploader.snapshot(), default=str))
            finally:
                await uploader.stop()
    snapshot_ms = statistics.median(snapshots) * 1000
    return {
        "files": files,
        "enqueue_batched_files_per_s": round(files / batched_s),
        "enqueue_batched_meets_5000": files / batched_s >= 5000,
        "enqueue_one_by_one_files_per_s": round(single / single_s) if single else None,
        "snapshot_ms_median": round(snapshot_ms, 2),
        "snapshot_ms_worst": round(max(snapshots) * 1000, 2),
        "snapshot_meets_20ms": snapshot_ms <= 20,
        "snapshot_bytes": snapshot_bytes,
        "page_500_ms": round(page_s * 1000, 2),
        "page_500_bytes": len(json.dumps(page)),
        "whole_list_ms": round(whole_s * 1000, 2),
        "whole_list_bytes": len(json.dumps(everything)),
    }


def run(files: int = 10_000, single: int = 1_000) -> dict[str, Any]:
    return asyncio.run(_run(files, single))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_scale", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=1_000)
    args = parser.parse_args(argv)
    print(json.dumps({"bench": "queue_scale", **run(args.files, args.single)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
