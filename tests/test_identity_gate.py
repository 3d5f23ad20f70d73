"""``GET /v2/devices/me`` through the session's gate, counted at the emulator: one in flight, one a
minute (on the injected clock), except once right after news, and news coalesced."""

from __future__ import annotations

import asyncio

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient
from c2c_hub.session import Session
from c2c_hub.status import pairing_status
from tests.test_channels import until

Paired = tuple[Session, FrameioClient, ManualClock]
ME = "/v2/devices/me"


def me_calls(emulator: EmulatorHandle) -> int:
    return len(emulator.requests(ME))


async def test_plain_asks_within_the_minute_get_the_last_answer(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, clock = paired_session
    before = me_calls(emulator)  # pairing asked once
    answers = await asyncio.gather(*(session.refresh_identity() for _ in range(5)))
    assert me_calls(emulator) == before
    assert all(a is session.identity for a in answers)
    assert session.identity_gate.spared == 5
    shown = pairing_status(session)["identity_calls"]  # in `c2c-hub status --json`
    assert shown["spared"] == 5 and shown["calls"] == session.identity_gate.calls
    clock.advance(59)
    await session.refresh_identity()
    assert me_calls(emulator) == before


async def test_after_the_minute_a_burst_of_plain_asks_makes_one_call(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, clock = paired_session
    before = me_calls(emulator)
    clock.advance(60)
    answers = await asyncio.gather(*(session.refresh_identity() for _ in range(5)))
    assert me_calls(emulator) == before + 1
    assert len({id(a) for a in answers}) == 1
    await session.refresh_identity()
    assert me_calls(emulator) == before + 1  # the next minute has begun


async def test_news_is_answered_at_once_and_a_burst_of_it_shares_one_call(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, clock = paired_session
    before = me_calls(emulator)
    reasons = ["status_updated", "conflict", "token_refresh", "reconnect"]
    await asyncio.gather(*(session.refresh_identity(r) for r in reasons))
    assert me_calls(emulator) == before + 1  # within the minute, once, for all four
    await session.refresh_identity("conflict")  # later news: once more
    assert me_calls(emulator) == before + 2
    await session.refresh_identity()  # but a plain ask still waits for the minute
    assert me_calls(emulator) == before + 2
    assert clock.now() < session.identity_gate.due_at()


async def test_news_during_a_call_gets_one_more_call_after_it_shared(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, _ = paired_session
    before = me_calls(emulator)
    emulator.fault("api", "stall", seconds=2, path_prefix=ME)
    calls = session.identity_gate.calls
    first = asyncio.create_task(session.refresh_identity("status_updated"))
    await until(lambda: session.identity_gate.calls == calls + 1)  # in flight, held 2 s
    # Three pieces of news and two plain asks while it is in flight.
    later = [session.refresh_identity(r) for r in ("status_updated", "conflict", "reconnect")]
    plain = [session.refresh_identity() for _ in range(2)]
    await asyncio.gather(first, *later, *plain)
    assert me_calls(emulator) == before + 2


async def test_an_unknown_reason_is_refused(paired_session: Paired) -> None:
    session, _, _ = paired_session
    with pytest.raises(ValueError, match="unknown reason"):
        await session.refresh_identity("because")


async def test_news_arriving_a_little_apart_is_coalesced_not_one_call_each(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    """Five 409s a create apart (Frame.io paces asset creates at 5 a second)."""
    session, _, _ = paired_session
    before = me_calls(emulator)
    asks = []
    for _ in range(5):
        asks.append(asyncio.create_task(session.refresh_identity("conflict")))
        await asyncio.sleep(0.2)
    await asyncio.gather(*asks)
    assert me_calls(emulator) - before <= 2


def test_news_asked_the_instant_a_call_lands_makes_a_call_and_never_spins() -> None:
    """Found by the soak: a call had just landed (its future done, its done callback not run
    yet) when the channel manager asked with news ("reconnect"). The gate awaited the landed
    call, which does not yield to the event loop, saw it did not cover the news, and went round
    again, for ever: the hub's loop spun at 100 % CPU and answered nothing, SIGTERM included."""
    from c2c_hub.clock import SystemClock
    from c2c_hub.identity_gate import IdentityGate

    answers: list[object] = []

    async def scenario() -> None:
        release = asyncio.Event()
        calls = 0

        async def fetch() -> object:
            nonlocal calls
            calls += 1
            await release.wait()
            return f"answer {calls}"

        gate = IdentityGate(fetch, lambda: None, SystemClock())  # type: ignore[arg-type]
        first = asyncio.create_task(gate.ask())
        for _ in range(3):
            await asyncio.sleep(0)  # the call is in flight, waiting on the release

        async def news_when_released() -> object:
            await release.wait()  # woken right after the call: runs before its callback
            return await gate.ask("reconnect")

        second = asyncio.create_task(news_when_released())
        await asyncio.sleep(0)
        release.set()
        answers.extend(await asyncio.gather(first, second))

    import threading

    worker = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the gate spun without yielding to the event loop"
    assert answers == ["answer 1", "answer 2"]  # the news got a call of its own
