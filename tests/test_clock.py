"""The injected clocks: a sleep counts from the moment it is asked for.

The hub hands sleeps to new tasks (``asyncio.wait`` over a sleep and an event). Such a task first
runs a loop turn later, and a test may advance its :class:`ManualClock` in that turn. The sleep
must still wake at the deadline it was asked for. Before this was so, the advance was lost and the
sleeper waited a whole interval more. That is how presence's minute poll once missed the minute
a test gave it.
"""

from __future__ import annotations

import asyncio
import time

from c2c_hub.clock import ManualClock, SystemClock


async def test_a_manual_sleep_wakes_when_the_clock_passed_its_deadline_before_it_ran() -> None:
    clock = ManualClock(start=1000.0)
    sleeper = asyncio.create_task(clock.sleep(60))  # asked for now, runs a loop turn later
    clock.advance(60)  # the test's advance lands in between
    await asyncio.wait_for(sleeper, timeout=30)
    assert clock.now() == 1060.0


async def test_a_manual_sleep_asked_for_later_waits_from_then() -> None:
    clock = ManualClock(start=0.0)
    clock.advance(10)
    sleeper = asyncio.create_task(clock.sleep(60))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    clock.advance(59)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await asyncio.wait_for(sleeper, timeout=30)
    assert clock.sleepers == 0


async def test_a_cancelled_manual_sleep_is_not_counted() -> None:
    clock = ManualClock(start=0.0)
    sleeper = asyncio.create_task(clock.sleep(60))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)
    assert clock.sleepers == 0


async def test_a_system_sleep_counts_from_the_call_too() -> None:
    """Three seconds asked for, then the loop held for three: the sleep is already over."""
    clock = SystemClock()
    asked = clock.sleep(3.0)
    time.sleep(3.0)  # noqa: ASYNC251 - holds the loop: the coroutine has not started yet
    started = time.monotonic()
    await asyncio.wait_for(asked, timeout=30)
    assert time.monotonic() - started < 2.0, "the sleep started counting when it first ran"
