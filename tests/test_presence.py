"""Presence against the real emulator over wss: the hub joins its channel, keeps it alive with
heartbeats on its own clock, rejoins after every kind of loss, and shows pause and project only as
``/v2/devices/me`` confirms them.

The hub runs on a :class:`ManualClock`: heartbeats, reply timeouts, backoff waits and the ``/me``
poll fire only when a test advances it; the emulator's clock is moved through its control API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient
from c2c_hub.presence import (
    HeartbeatTimeout,
    Presence,
    PresenceConfig,
    PresenceState,
    socket_url,
)
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from tests.helpers import pair_tokens

EIGHT_HOURS = 8 * 3600
Paired = tuple[Session, FrameioClient, ManualClock]
Factory = Callable[..., Awaitable[Presence]]


# ----------------------------------------------------------------------------- helpers
async def eventually(check: Callable[[], bool], within: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not met in {within} s: {what or check}")
        await asyncio.sleep(0.01)


async def drive(
    clock: ManualClock, check: Callable[[], bool], step: float = 0.25, within: float = 15.0
) -> None:
    """Advance the hub's clock in small steps until ``check()`` holds (backoff is on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not met after driving the clock for {within} s: {check}")
        clock.advance(step)
        await asyncio.sleep(0.01)


async def settle(seconds: float = 0.15) -> None:
    """Let real time pass (for asserting that something does *not* happen)."""
    await asyncio.sleep(seconds)


def joined_sockets(emulator: EmulatorHandle) -> list[list[str]]:
    return [s["joined"] for s in emulator.state()["sockets"]]


def presence_tasks() -> list[str]:
    return sorted(
        t.get_name()
        for t in asyncio.all_tasks()
        if t.get_name().startswith("presence") and not t.done()
    )


@pytest.fixture
async def make_presence(paired_session: Paired) -> AsyncIterator[Factory]:
    """Build and start a Presence on the paired session; stopped (and checked) at teardown."""
    session, _, clock = paired_session
    made: list[Presence] = []

    async def factory(settings: FrameioSettings | None = None, **config: Any) -> Presence:
        presence = Presence(session, settings, clock=clock, config=PresenceConfig(**config))
        made.append(presence)
        await presence.start()
        return presence

    yield factory
    for presence in made:
        await presence.stop()
        assert presence.state is PresenceState.STOPPED
    assert presence_tasks() == []


async def joined(make_presence: Factory, **config: Any) -> Presence:
    presence = await make_presence(**config)
    await eventually(lambda: presence.state is PresenceState.JOINED, what="JOINED")
    return presence


# ----------------------------------------------------------------------------- the URL
def test_socket_url_is_wss_with_the_bearer_token_in_the_query(
    frameio_settings: FrameioSettings,
) -> None:
    url = socket_url(frameio_settings, "a+b/c")
    host = frameio_settings.api_base_url.removeprefix("https://")
    assert url == f"wss://{host}/devices/websocket?Authorization=Bearer%20a%2Bb%2Fc"


# ----------------------------------------------------------------------------- joining
async def test_joins_the_device_channel_and_shows_joined(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, _ = paired_session
    assert session.identity is not None
    presence = await joined(make_presence)
    topic = f"devices:{session.identity.id}"
    assert joined_sockets(emulator) == [[topic]]
    snap = presence.snapshot()
    assert snap["state"] == "joined"
    assert snap["topic"] == topic
    assert snap["connected_since"] == presence.clock.now()
    assert snap["reconnects"] == 0
    assert snap["paused"] is False
    assert snap["project"] == {
        "id": session.identity.project_id,
        "name": session.identity.project.name,
    }
    assert emulator.violations() == []


async def test_stop_closes_the_socket_and_leaves_no_task(
    make_presence: Factory, emulator: EmulatorHandle
) -> None:
    presence = await joined(make_presence)
    seen: list[PresenceState] = []
    presence.on_change(lambda p: seen.append(p.state))
    await presence.stop()
    assert presence.state is PresenceState.STOPPED
    assert seen == [PresenceState.STOPPED]
    assert presence_tasks() == []
    await eventually(lambda: emulator.state()["sockets"] == [], what="emulator forgot the socket")


# ----------------------------------------------------------------------------- heartbeats
async def test_heartbeats_go_out_every_interval_of_the_hub_clock(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    _, _, clock = paired_session
    presence = await joined(make_presence)
    clock.advance(14.9)
    await settle()
    assert presence.heartbeats_sent == 0
    before = emulator.state()["sockets"][0]["last_heartbeat"]
    for n in range(1, 5):
        clock.advance(15.0 if n > 1 else 0.1)
        await eventually(lambda want=n: presence.heartbeat_replies == want, what=f"reply {n}")
    assert presence.heartbeats_sent == 4
    assert presence.last_heartbeat_reply_at == clock.now()
    assert presence.last_heartbeat_rtt is not None and 0 < presence.last_heartbeat_rtt < 1
    assert emulator.state()["sockets"][0]["last_heartbeat"] > before
    assert presence.joins == 1  # the same socket all along


async def test_emulator_closes_a_silent_socket_and_the_hub_rejoins(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    _, _, clock = paired_session
    presence = await joined(make_presence)
    emulator.configure(socket_idle_timeout=5)
    emulator.advance(6)  # the hub's clock stands still: no heartbeat went out
    await eventually(lambda: presence.state is not PresenceState.JOINED, what="socket lost")
    assert "1000" in (presence.last_error or "")
    await drive(clock, lambda: presence.state is PresenceState.JOINED)
    assert presence.reconnects == 1
    assert len(joined_sockets(emulator)) == 1


async def test_a_heartbeat_without_reply_is_a_dead_socket_and_the_hub_reconnects(
    make_presence: Factory,
    paired_session: Paired,
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
) -> None:
    """A path that goes silent (no FIN, no RST: a NAT that forgot us) is found by the heartbeat."""
    _, _, clock = paired_session
    async with Blackhole(emulator.base_url) as relay:
        via_relay = frameio_settings.model_copy(update={"api_base_url": relay.url})
        presence = await make_presence(via_relay)
        await eventually(lambda: presence.state is PresenceState.JOINED)
        errors: list[str | None] = []
        presence.on_change(lambda p: errors.append(p.last_error))
        relay.freeze()
        clock.advance(15)
        await eventually(lambda: presence.heartbeats_sent == 1)
        await settle()
        assert presence.state is PresenceState.JOINED  # 10 s of grace for the reply
        clock.advance(9.9)
        await settle()
        assert presence.state is PresenceState.JOINED
        clock.advance(0.1)
        await eventually(lambda: presence.state is not PresenceState.JOINED)
        assert errors[0] is not None and errors[0].startswith(HeartbeatTimeout.__name__)
        await drive(clock, lambda: presence.state is PresenceState.JOINED)
        assert presence.reconnects == 1
        assert relay.connections == 2


# ----------------------------------------------------------------------------- losses
async def test_a_dropped_socket_is_rejoined_after_a_short_jittered_wait(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    _, _, clock = paired_session
    presence = await joined(make_presence)
    lost_at = clock.now()
    assert emulator.drop_sockets() == 1
    await eventually(lambda: presence.state is PresenceState.BACKOFF, what="BACKOFF")
    assert presence.next_attempt_at is not None
    wait = presence.next_attempt_at - lost_at
    assert 0.25 <= wait <= 0.75  # first retry: 0.25 s + uniform(0, 0.5)
    clock.advance(wait - 0.01)
    await settle()
    assert presence.state is PresenceState.BACKOFF
    clock.advance(0.01)
    await eventually(lambda: presence.state is PresenceState.JOINED, what="rejoined")
    assert presence.reconnects == 1
    assert presence.last_outage == pytest.approx(wait)
    assert presence.snapshot()["last_outage_s"] == presence.last_outage
    assert len(joined_sockets(emulator)) == 1


async def test_network_change_replaces_a_joined_socket_at_once(
    make_presence: Factory, emulator: EmulatorHandle
) -> None:
    presence = await joined(make_presence)
    presence.network_changed()
    await eventually(lambda: presence.joins == 2, what="second join")  # the clock stood still
    assert presence.state is PresenceState.JOINED
    await eventually(lambda: len(emulator.state()["sockets"]) == 1, what="old socket closed")


async def failing_in_backoff(
    make_presence: Factory, relay: Blackhole, settings: FrameioSettings
) -> Presence:
    """A presence whose sockets cannot get through (REST still can), waiting in BACKOFF."""
    relay.refuse = True
    presence = await make_presence(
        settings.model_copy(update={"api_base_url": relay.url}), backoff_initial=30.0
    )
    await eventually(
        lambda: presence.state is PresenceState.BACKOFF and presence.failures >= 1,
        what="backing off",
    )
    assert presence.joins == 0
    relay.refuse = False
    return presence


async def test_network_change_cuts_the_backoff_short(
    make_presence: Factory, emulator: EmulatorHandle, frameio_settings: FrameioSettings
) -> None:
    async with Blackhole(emulator.base_url) as relay:
        presence = await failing_in_backoff(make_presence, relay, frameio_settings)
        presence.network_changed()
        await eventually(lambda: presence.state is PresenceState.JOINED, what="joined at once")


async def test_a_token_refresh_cuts_the_backoff_short(
    make_presence: Factory,
    paired_session: Paired,
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
) -> None:
    session, _, _ = paired_session
    async with Blackhole(emulator.base_url) as relay:
        presence = await failing_in_backoff(make_presence, relay, frameio_settings)
        await session.refresh()
        await eventually(lambda: presence.state is PresenceState.JOINED, what="joined at once")


async def test_a_403_at_the_upgrade_refreshes_the_token_once_and_rejoins(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    """The emulator's clock passes 8 h: the socket idles out, the old token is refused."""
    session, _, clock = paired_session
    old_token = await session.token()
    presence = await joined(make_presence)
    emulator.advance(EIGHT_HOURS + 1)
    await eventually(lambda: presence.state is not PresenceState.JOINED, what="socket lost")
    await drive(clock, lambda: presence.state is PresenceState.JOINED)
    assert session.refreshes == 1
    assert presence.last_error == "HTTP 403 at the websocket upgrade"
    assert presence.reconnects == 1
    new_token = await session.token()
    assert new_token != old_token
    shown = json.dumps(presence.snapshot())
    assert old_token not in shown and new_token not in shown


async def test_after_eight_hours_on_both_clocks_one_refresh_and_a_rejoin(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    """The hub knows its token is past due: it refreshes before reconnecting, and gets no 403."""
    session, _, clock = paired_session
    presence = await joined(make_presence)
    emulator.advance(EIGHT_HOURS + 1)  # the emulator idles the socket out ...
    await eventually(lambda: presence.state is PresenceState.BACKOFF, what="socket lost")
    clock.advance(EIGHT_HOURS + 1)  # ... and the hub's 8 h pass while it waits to retry
    await eventually(lambda: presence.state is PresenceState.JOINED, what="rejoined")
    assert session.refreshes == 1
    assert presence.reconnects == 1
    assert "403" not in (presence.last_error or "")


async def test_needs_pairing_stops_trying_until_the_session_changes(
    make_presence: Factory,
    paired_session: Paired,
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
) -> None:
    session, client, clock = paired_session
    presence = await joined(make_presence)
    await session.unpair()
    await eventually(lambda: presence.state is PresenceState.NEEDS_PAIRING)
    await eventually(lambda: emulator.state()["sockets"] == [], what="socket closed")
    failures = presence.failures
    for _ in range(10):
        clock.advance(60)
        await asyncio.sleep(0.01)
    assert presence.state is PresenceState.NEEDS_PAIRING
    assert presence.failures == failures
    assert presence.rest_heartbeats == 0
    assert emulator.state()["sockets"] == []
    assert presence.snapshot()["project"] == {"id": None, "name": None}
    assert presence.paused is None
    await session.adopt(await pair_tokens(client, frameio_settings, emulator))
    await eventually(lambda: presence.state is PresenceState.JOINED, what="joined again")
    assert presence.project_id is not None and presence.paused is False


# ----------------------------------------------------------------------------- pause, project
async def test_pause_and_resume_events_move_paused_once_me_confirms(
    make_presence: Factory, emulator: EmulatorHandle
) -> None:
    presence = await joined(make_presence)
    calls = presence.me_calls
    emulator.pause()
    await eventually(lambda: presence.paused is True, what="paused")
    assert presence.events == 1 and presence.last_event == "paused"
    assert presence.me_calls == calls + 1
    emulator.resume()
    await eventually(lambda: presence.paused is False, what="resumed")
    assert presence.events == 2 and presence.me_calls == calls + 2


async def test_an_event_alone_does_not_move_paused(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    """When /v2/devices/me cannot confirm, the flag stays; the next poll confirms."""
    _, _, clock = paired_session
    presence = await joined(make_presence)
    emulator.fault("api", status=503, path_prefix="/v2/devices/me")
    emulator.pause()
    await eventually(lambda: presence.last_me_error is not None, what="confirmation failed")
    assert presence.events == 1
    assert presence.paused is False
    clock.advance(60)
    await eventually(lambda: presence.paused is True, what="paused by the poll")


async def test_a_pause_whose_event_was_lost_is_caught_at_the_rejoin_with_one_me_call(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    """Pushes sent while the socket was down are lost: the rejoin reads /me once, at once
    (within the minute), instead of leaving the pause unseen until the next poll."""
    session, _, clock = paired_session
    presence = await joined(make_presence)
    assert presence.last_me_at is not None
    poll_due = presence.last_me_at + 60
    calls = session.identity_gate.calls
    emulator.drop_sockets()
    await eventually(lambda: presence.state is PresenceState.BACKOFF, what="socket lost")
    emulator.pause()  # no socket: the event is lost
    await drive(clock, lambda: presence.state is PresenceState.JOINED)
    assert clock.now() < poll_due  # the minute has not passed ...
    await eventually(lambda: presence.paused is True, what="caught at the rejoin")
    assert presence.events == 0  # ... and no push told it
    assert session.identity_gate.calls == calls + 1
    assert session.identity_gate.reasons["reconnect"] == 1
    await settle()
    assert session.identity_gate.calls == calls + 1  # once, not once per listener


async def test_a_project_rename_is_seen_by_the_poll_and_keyed_by_id(
    make_presence: Factory, paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, _, clock = paired_session
    presence = await joined(make_presence)
    project_id = presence.project_id
    names: list[str | None] = []
    presence.on_change(lambda p: names.append(p.project_name))
    emulator.rename_project("Renamed Feature")
    clock.advance(60)
    await eventually(lambda: presence.project_name == "Renamed Feature", what="renamed")
    assert presence.project_id == project_id
    assert names == ["Renamed Feature"]
    assert presence.snapshot()["project"] == {"id": project_id, "name": "Renamed Feature"}
    assert session.credentials is not None
    assert session.credentials.project_name == "Renamed Feature"  # kept for the next start


# ----------------------------------------------------------------------------- REST fallback
async def test_rest_heartbeat_once_a_minute_only_while_the_socket_is_not_joined(
    make_presence: Factory,
    paired_session: Paired,
    emulator: EmulatorHandle,
    frameio_settings: FrameioSettings,
) -> None:
    """The socket is blocked on the way (REST is not): the REST heartbeat keeps it online."""
    _, _, clock = paired_session
    async with Blackhole(emulator.base_url) as relay:
        relay.refuse = True
        via_relay = frameio_settings.model_copy(update={"api_base_url": relay.url})
        presence = await make_presence(via_relay, backoff_max=10.0)
        for minute in range(1, 4):
            for _ in range(4):
                clock.advance(15)
                await asyncio.sleep(0.02)
            await eventually(lambda m=minute: presence.rest_heartbeats == m, what=f"{minute}")
        assert presence.joins == 0 and presence.failures >= 3
        assert len(emulator.state()["heartbeats"]) == 3
        # The network changes while the hub waits out a backoff, not while an attempt is on its
        # way: an attempt that began before the change and gets through after it is joined and
        # then reconnected at once (its socket may be on the old network), which is a second
        # join this test does not count on. On a loaded machine the attempt the last advance
        # woke may still be on its way here; the hub's clock stands still, so the backoff lasts.
        await eventually(lambda: presence.state is PresenceState.BACKOFF, what="backoff")
        relay.refuse = False
        presence.network_changed()
        await eventually(lambda: presence.state is PresenceState.JOINED)
        for _ in range(20):  # five minutes joined: none
            asleep = clock.sleepers
            clock.advance(15)
            # Each heartbeat's reply lands before the clock moves on (a loaded machine is slow
            # in real time; the hub's deadline is in clock time): every task the advance woke
            # is asleep on the clock again (the heartbeat sent), and every heartbeat answered.
            await eventually(
                lambda n=asleep: (
                    clock.sleepers >= n and presence.heartbeat_replies >= presence.heartbeats_sent
                ),
                what="heartbeat reply",
            )
        assert presence.rest_heartbeats == 3
        assert presence.state is PresenceState.JOINED
        assert presence.joins == 1


# ----------------------------------------------------------------------------- a silent relay
class Blackhole:
    """A TCP relay in front of the emulator whose open connections can go silent.

    ``freeze()`` makes every open connection swallow what is sent either way, without closing
    it: what a NAT that forgot the mapping does. New connections relay normally, unless
    ``refuse`` is set: then they are closed at once (a network that blocks the websocket).
    """

    def __init__(self, upstream_url: str) -> None:
        host, _, port = upstream_url.removeprefix("https://").partition(":")
        self.upstream = (host, int(port))
        self.connections = 0
        self.refuse = False
        self._frozen: list[list[bool]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Blackhole:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def freeze(self) -> None:
        for flag in self._frozen:
            flag[0] = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [writer, up_writer]
        frozen = [False]
        self._frozen.append(frozen)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, frozen), name="blackhole-pipe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, frozen: list[bool]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if not frozen[0]:
                    dst.write(data)
                    await dst.drain()
        dst.close()
