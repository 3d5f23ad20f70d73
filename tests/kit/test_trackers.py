"""The tracker pool: one task per device, claims by serial, restarts with backoff, health once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from c2c_hub import kit
from c2c_hub.emulation.testing import FakeSourceContext

FAST = kit.RestartPolicy(initial=0.05, max=0.2, jitter=0.0, reset_after=60.0)


class Follower:
    """A tracker that follows until cancelled, or raises when told to."""

    def __init__(self, key: str, crashes: int = 0) -> None:
        self.key = key
        self.crashes = crashes
        self.running = asyncio.Event()
        self.retirements: list[str] = []

    async def run(self) -> None:
        self.running.set()
        if self.crashes:
            raise RuntimeError(f"bug in {self.key}")
        await asyncio.Event().wait()

    def retired(self, reason: str) -> None:
        self.retirements.append(reason)


def pool_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("test-pool ")]


async def test_one_task_per_key_however_often_it_is_discovered() -> None:
    ctx = FakeSourceContext()
    pool: kit.TrackerPool[str, Follower] = kit.TrackerPool(ctx, name="test-pool")
    made: list[Follower] = []

    def make() -> Follower:
        made.append(Follower("svc-1"))
        return made[-1]

    first = pool.start("svc-1", make)
    again = pool.start("svc-1", make)
    assert first is again and len(made) == 1 and len(pool) == 1 and "svc-1" in pool
    await first.running.wait()
    assert [t.get_name() for t in pool_tasks()] == ["test-pool svc-1"]
    await pool.close()
    assert pool_tasks() == []
    with pytest.raises(RuntimeError, match="closed"):
        pool.start("svc-2", make)


async def test_a_serial_is_claimed_by_one_key_at_a_time() -> None:
    pool: kit.TrackerPool[str, Follower] = kit.TrackerPool(FakeSourceContext(), name="test-pool")
    a = pool.start("addr-a", lambda: Follower("addr-a"))
    pool.start("addr-b", lambda: Follower("addr-b"))
    assert pool.claim("SN-1", "addr-a") is None
    assert pool.claim("SN-1", "addr-a") is None  # again: still ours
    assert pool.claim("SN-1", "addr-b") == "addr-a"  # refused: who holds it
    assert pool.holder("SN-1") is a and pool.holds("SN-1", "addr-a")
    assert not pool.release("SN-1", "addr-b")
    assert pool.take("SN-1", "addr-b") == "addr-a"  # taken over (a remote that moved)
    assert pool.holds("SN-1", "addr-b")
    assert pool.release("SN-1", "addr-b") and pool.holder("SN-1") is None
    await pool.close()


async def test_a_crashed_tracker_is_retired_released_and_made_again_after_a_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = FakeSourceContext()
    changes: list[int] = []
    pool: kit.TrackerPool[str, Follower] = kit.TrackerPool(
        ctx, name="test-pool", restarts=FAST, on_change=lambda: changes.append(len(pool))
    )
    made: list[Follower] = []

    def make() -> Follower:
        made.append(Follower("svc-1", crashes=1 if len(made) < 3 else 0))
        return made[-1]

    with caplog.at_level(logging.ERROR, logger=ctx.log.name):
        pool.start("svc-1", make)
        pool.claim("SN-1", "svc-1")
        await ctx.wait_for("a fourth tracker, running", lambda: len(made) == 4, within=30)
        await made[-1].running.wait()
    assert [f.retirements for f in made[:3]] == [["internal error: RuntimeError: bug in svc-1"]] * 3
    assert made[-1].retirements == [] and pool.get("svc-1") is made[-1]
    assert pool.holder("SN-1") is None  # the crashed one's claim went with it
    delays = [r.getMessage() for r in caplog.records if "tracker failed" in r.getMessage()]
    assert delays == [
        "svc-1: tracker failed (RuntimeError: bug in svc-1); restarting it in 0.1 s",
        "svc-1: tracker failed (RuntimeError: bug in svc-1); restarting it in 0.1 s",
        "svc-1: tracker failed (RuntimeError: bug in svc-1); restarting it in 0.2 s",
    ]
    assert caplog.records[0].exc_info is not None  # the traceback, once per streak
    assert caplog.records[1].exc_info is None
    assert changes  # the source heard of each change (to report its health)
    await pool.close()
    assert pool_tasks() == []


async def test_retiring_cancels_the_task_and_a_pending_restart() -> None:
    ctx = FakeSourceContext()
    pool: kit.TrackerPool[str, Follower] = kit.TrackerPool(
        ctx, name="test-pool", restarts=kit.RestartPolicy(initial=30, jitter=0)
    )
    live = pool.start("svc-1", lambda: Follower("svc-1"))
    crashing = pool.start("svc-2", lambda: Follower("svc-2", crashes=1))
    await live.running.wait()
    await ctx.wait_for("svc-2 crashed", lambda: crashing.retirements, within=30)
    assert pool.retire("svc-1", "left (goodbye)") is live
    assert live.retirements == ["left (goodbye)"] and "svc-1" not in pool
    assert pool.retire("svc-2", "left") is crashing  # during its 30 s backoff
    assert pool.retire("svc-3", "never known") is None
    await asyncio.sleep(0)
    assert pool_tasks() == [] and len(pool) == 0
    await pool.close()


async def test_health_is_reported_only_when_it_changes() -> None:
    ctx = FakeSourceContext()
    pool: kit.TrackerPool[str, Follower] = kit.TrackerPool(ctx, name="test-pool")
    for healthy, detail in [(True, "1 mic"), (True, "1 mic"), (True, "2 mics"), (False, "2 mics")]:
        pool.report(healthy, detail)
    pool.report(False, "2 mics")
    assert [c.args for c in ctx.of_kind("report")] == [
        (True, "1 mic"),
        (True, "2 mics"),
        (False, "2 mics"),
    ]
    await pool.close()
