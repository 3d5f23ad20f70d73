"""The async helpers every background component shares."""

from __future__ import annotations

import asyncio
import logging

import pytest

from c2c_hub.tasks import BackgroundTasks


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
