"""The status's ``process`` field: what an operator (and the soak) watches for a leak."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from c2c_hub.process_stats import process_stats
from tests.helpers import python_child

CHILD = """
import asyncio, json, os, sys, threading, time
from c2c_hub.process_stats import process_stats

async def main():
    before = process_stats()
    files = [open(os.path.join(sys.argv[1], f"f{i}"), "w") for i in range(5)]
    release = asyncio.Event()
    tasks = [asyncio.create_task(release.wait()) for _ in range(7)]
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    await asyncio.sleep(0)
    during = process_stats()
    stop.set()
    thread.join()
    release.set()
    await asyncio.gather(*tasks)
    for f in files:
        f.close()
    after = process_stats()
    # join() returns before the OS thread has quite gone (/proc lists it a moment longer, seen
    # on a loaded machine): the count must come back, within a bound no machine reaches
    deadline = time.monotonic() + 60
    while after["threads"] != before["threads"] and time.monotonic() < deadline:
        time.sleep(0.01)
        after = process_stats()
    print(json.dumps({"pid": os.getpid(), "before": before, "during": during, "after": after}))

asyncio.run(main())
"""


def test_counts_follow_what_the_process_holds(tmp_path: Path) -> None:
    # In a process of its own: a test worker's fds and threads come and go with other tests.
    seen = python_child(CHILD, str(tmp_path))
    before, during, after = seen["before"], seen["during"], seen["after"]
    assert before["pid"] == seen["pid"]
    assert before["rss_bytes"] > 1_000_000  # a Python process holds megabytes
    assert during["fds"] == before["fds"] + 5
    assert during["tasks"] == before["tasks"] + 7
    assert during["threads"] == before["threads"] + 1
    assert (after["fds"], after["tasks"], after["threads"]) == (
        before["fds"],
        before["tasks"],
        before["threads"],
    )


def test_outside_a_loop_tasks_are_unknown_not_an_error() -> None:
    assert process_stats()["tasks"] is None


if sys.platform != "linux":
    pytestmark = pytest.mark.skip("reads /proc")
