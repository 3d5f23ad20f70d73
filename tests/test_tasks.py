"""The async helpers every background component shares."""

from __future__ import annotations

import asyncio
import logging

import pytest

from c2c_hub.tasks import BackgroundTasks, wait_event


async def test_background_tasks_log_a_failure_and_stop_cancels_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = BackgroundTasks(logging.getLogger("c2c_hub.test"))
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def broken() -> None:
        raise RuntimeError("the disk is full")

    running = tasks.spawn(forever(), "forever")
    with caplog.at_level(logging.ERROR, logger="c2c_hub.test"):
        failed = tasks.spawn(broken(), "broken")
        await asyncio.wait({failed})
    assert "task broken failed" in caplog.text and "the disk is full" in caplog.text
    await started.wait()
    await tasks.stop()
    assert running.cancelled()
    assert tasks.cancel() == []  # nothing is left running


async def test_a_cancel_landing_as_the_event_is_set_still_ends_the_loop() -> None:
    """The race that hung a network test's teardown: ``asyncio.wait_for`` on 3.11 returns the
    event's result and drops the cancel when both land in one turn of the loop."""
    event = asyncio.Event()

    async def watch() -> None:
        while True:
            await wait_event(event, 30)
            event.clear()

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)  # waiting on the event
    event.set()
    await asyncio.sleep(0)  # the event is set; the watcher is woken, not yet run
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=30)
    assert done and task.cancelled()  # wait_for: still running, 30 s later


async def test_wait_event_says_whether_the_event_or_the_time_came_first() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 30) is True
