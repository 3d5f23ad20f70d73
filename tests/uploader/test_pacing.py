"""Asset creates paced as Frame.io counts them: on arrival, at most 5 in any second."""

from __future__ import annotations

import asyncio

from c2c_hub.clock import ManualClock
from c2c_hub.uploader.transfer import Pacer


async def _run(clock: ManualClock, delays: list[float]) -> list[float]:
    """Paced calls, each ``delay`` seconds on its way to the server (answered on arrival);
    the server's clock reading at each arrival."""
    pacer = Pacer(clock, rate=5, per=1.0)
    arrivals: list[float] = []

    async def call(delay: float) -> None:
        async with pacer.slot():
            await clock.sleep(delay)
            arrivals.append(clock.now())

    tasks = [asyncio.create_task(call(delay)) for delay in delays]
    while not all(task.done() for task in tasks):
        for _ in range(5):
            await asyncio.sleep(0)
        clock.advance(0.01)
    await asyncio.gather(*tasks)
    return sorted(arrivals)


def _most_in_one_second(arrivals: list[float]) -> int:
    return max(sum(1 for b in arrivals if a <= b < a + 1.0 - 1e-9) for a in arrivals)


async def test_creates_delayed_on_the_way_never_bunch_up_at_the_server() -> None:
    # Five creates held up on the way (a busy machine, a slow network), then five quick ones:
    # counted from their starts, the sixth would arrive 0.15 s after the fifth.
    clock = ManualClock(start=1000.0)
    arrivals = await _run(clock, [0.9] * 5 + [0.0] * 5)
    assert len(arrivals) == 10
    assert _most_in_one_second(arrivals) == 5


async def test_quick_creates_go_five_at_once_then_five_a_second() -> None:
    clock = ManualClock(start=1000.0)
    arrivals = await _run(clock, [0.0] * 12)
    assert arrivals[:5] == [1000.0] * 5  # no wait for the first five
    assert _most_in_one_second(arrivals) == 5
    assert arrivals[-1] - arrivals[0] < 2.5  # and no more than the window's wait after them
