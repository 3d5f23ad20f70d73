"""The link keeper: a drop told apart from the keeper's own close, a close that never hangs, and
the grace before a device is detached (on a clock the test moves)."""

from __future__ import annotations

import asyncio

from c2c_hub import kit
from c2c_hub.clock import ManualClock


class Link:
    """A link whose disconnect reports the drop, as bleak's does; or never ends, if told."""

    def __init__(self, keeper: kit.LinkKeeper[Link], *, hangs: bool = False) -> None:
        self.keeper = keeper
        self.hangs = hangs
        self.disconnects = 0

    async def disconnect(self) -> None:
        self.disconnects += 1
        self.keeper.on_disconnect()  # the radio tells of the end, whoever ended it
        if self.hangs:
            await asyncio.Event().wait()


def grace_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "test-link grace" and not t.done()]


async def test_a_drop_is_lost_and_the_keepers_own_close_is_not() -> None:
    drops: list[str] = []
    keeper: kit.LinkKeeper[Link] = kit.LinkKeeper(
        clock=ManualClock(), name="test-link grace", on_drop=lambda: drops.append("drop")
    )
    keeper.opening()
    link = Link(keeper)
    keeper.open(link)
    await keeper.close()
    assert link.disconnects == 1 and not keeper.lost.is_set() and drops == []
    assert keeper.link is None
    await keeper.close()  # nothing left to close
    assert link.disconnects == 1

    keeper.opening()  # the next attempt: a drop is this link's again
    keeper.open(Link(keeper))
    keeper.on_disconnect()
    assert keeper.lost.is_set() and drops == ["drop"]
    keeper.opening()
    assert not keeper.lost.is_set()


async def test_a_link_that_never_disconnects_does_not_hold_the_close() -> None:
    keeper: kit.LinkKeeper[Link] = kit.LinkKeeper(
        clock=ManualClock(), name="test-link grace", close_timeout_s=0.05
    )
    link = Link(keeper, hangs=True)
    keeper.open(link)
    await keeper.close()  # returns (after its timeout), raises nothing
    assert link.disconnects == 1 and keeper.link is None


async def test_the_grace_ends_in_expired_unless_it_is_cancelled() -> None:
    clock = ManualClock()
    keeper: kit.LinkKeeper[Link] = kit.LinkKeeper(clock=clock, name="test-link grace")
    expired: list[float] = []
    keeper.start_grace(5.0, lambda: expired.append(clock.now()))
    start = clock.now()
    await asyncio.sleep(0)
    clock.advance(2.0)
    keeper.start_grace(5.0, lambda: expired.append(-1.0))  # a second drop: the first grace goes on
    assert keeper.in_grace
    [grace] = grace_tasks()
    await asyncio.sleep(0)
    clock.advance(3.0)
    await grace
    assert expired == [start + 5.0] and not keeper.in_grace

    keeper.start_grace(5.0, lambda: expired.append(-2.0))
    await asyncio.sleep(0)
    keeper.cancel_grace()  # it is back
    assert not keeper.in_grace
    clock.advance(10.0)
    for _ in range(3):
        await asyncio.sleep(0)
    assert expired == [start + 5.0]
    assert grace_tasks() == []


async def test_finish_cancels_the_grace_closes_the_link_and_leaves_no_task() -> None:
    keeper: kit.LinkKeeper[Link] = kit.LinkKeeper(clock=ManualClock(), name="test-link grace")
    link = Link(keeper)
    keeper.open(link)
    keeper.start_grace(5.0, lambda: None)
    assert grace_tasks()
    await keeper.finish()
    assert link.disconnects == 1 and not keeper.in_grace
    assert grace_tasks() == []
