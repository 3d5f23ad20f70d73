"""Small async helpers every background component uses the same way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from c2c_hub.clock import Clock


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has really ended."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; True if it was set.

    Never ``asyncio.wait_for(event.wait(), ...)``: on Python 3.11 it swallows a cancel that
    lands just as the event is set, so a loop built on it runs on and whoever stops it waits
    forever. ``asyncio.timeout`` passes that cancel through.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def sleep_or_wake(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Sleep ``seconds`` on ``clock`` unless ``event`` is set first; True if it woke us."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()
    return event.is_set()


class BackgroundTasks:
    """Named background tasks, kept in a set until done; a failure is logged, never lost.

    ``spawn(coro, name)`` starts one; ``await stop()`` cancels every one still running and waits
    until each has really ended.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancel every running task; returns them (to wait for)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def stop(self) -> None:
        for task in self.cancel():
            await cancel_and_wait(task)
        self._tasks.clear()
