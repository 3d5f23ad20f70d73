"""The status's ``process`` field: what an operator (and the soak) watches for a leak."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from c2c_hub.process_stats import process_stats


async def test_counts_follow_what_the_process_holds(tmp_path: Path) -> None:
    before = process_stats()
    assert before["pid"] == os.getpid()
    assert before["rss_bytes"] > 1_000_000  # a Python process holds megabytes
    files = [(tmp_path / f"f{i}").open("w") for i in range(5)]
    release = asyncio.Event()
    tasks = [asyncio.create_task(release.wait()) for _ in range(7)]
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        await asyncio.sleep(0)
        during = process_stats()
        assert during["fds"] >= before["fds"] + 5
        assert during["tasks"] == before["tasks"] + 7
        assert during["threads"] >= before["threads"] + 1
    finally:
        stop.set()
        thread.join()
        release.set()
        await asyncio.gather(*tasks)
        for f in files:
            f.close()
    after = process_stats()
    assert after["fds"] == before["fds"]
    assert after["tasks"] == before["tasks"]


def test_outside_a_loop_tasks_are_unknown_not_an_error() -> None:
    assert process_stats()["tasks"] is None


if sys.platform != "linux":
    pytestmark = pytest.mark.skip("reads /proc")
