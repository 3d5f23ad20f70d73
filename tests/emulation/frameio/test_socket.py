"""The emulator's device websocket (docs/rulings.md#websocket), driven by the `websockets` library.

Every test talks wss with the emulator's CA, exactly as a device would; the control API plays the
Frame.io web app (pause, resume, clock, socket drops).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.emulation.frameio.state import EmulatorConfig
from tests.helpers import pair_raw

EIGHT_HOURS = 8 * 3600


def socket_url(emulator: EmulatorHandle, query: str) -> str:
    return emulator.base_url.replace("https://", "wss://", 1) + "/devices/websocket" + query


def token_query(token: str) -> str:
    """``?Authorization=Bearer%20<token>``, as Frame.io's status guide spells it."""
    return "?Authorization=" + quote(f"Bearer {token}", safe="")


def tls(emulator: EmulatorHandle) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emulator.ca_file))


@asynccontextmanager
async def device_socket(
    emulator: EmulatorHandle, token: str, query_extra: str = ""
) -> AsyncIterator[ClientConnection]:
    url = socket_url(emulator, token_query(token) + query_extra)
    async with websockets.connect(url, ssl=tls(emulator), open_timeout=5) as ws:
        yield ws


async def send(ws: ClientConnection, topic: str, event: str, ref: str, payload: Any = "") -> None:
    await ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}))


async def recv(ws: ClientConnection, within: float = 15.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def join(ws: ClientConnection, device_id: str, ref: str = "channel_connect") -> None:
    await send(ws, f"devices:{device_id}", "phx_join", ref)
    assert await recv(ws) == ok_reply(f"devices:{device_id}", ref)


def ok_reply(topic: str, ref: str) -> dict[str, Any]:
    return {
        "event": "phx_reply",
        "payload": {"response": {}, "status": "ok"},
        "ref": ref,
        "topic": topic,
    }


async def closed_within(ws: ClientConnection, seconds: float) -> float:
    """Wait until the server closes ``ws``; return how long it took."""
    start = time.monotonic()
    async with asyncio.timeout(seconds):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    return time.monotonic() - start


async def refused_status(emulator: EmulatorHandle, query: str, **kwargs: Any) -> int:
    """The HTTP status of a refused upgrade (fails the test if the upgrade succeeds)."""
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            socket_url(emulator, query), ssl=tls(emulator), open_timeout=5, **kwargs
        ):
            pass
    status: int = refused.value.response.status_code
    return status


def socket_tasks(server: EmulatorServer) -> list[str]:
    """Names of the emulator's per-socket tasks, listed on the emulator's own loop."""
    loop = server._loop
    assert loop is not None

    async def names() -> list[str]:
        return sorted(
            t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("emulator-socket")
        )

    return asyncio.run_coroutine_threadsafe(names(), loop).result(5)


async def wait_no_sockets(emulator: EmulatorHandle, server: EmulatorServer) -> None:
    """The emulator forgets a closed socket and ends its tasks (a generous bound: a busy
    machine may take a while to run them)."""
    deadline = time.monotonic() + 15.0
    while emulator.state()["sockets"] or socket_tasks(server):
        assert time.monotonic() < deadline, (emulator.state()["sockets"], socket_tasks(server))
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- the upgrade


async def test_valid_token_upgrades_and_the_socket_is_listed(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        assert ws.response is not None and ws.response.status_code == 101
        await join(ws, device["device_id"])
        (listed,) = emulator.state()["sockets"]
        assert listed["device_id"] == device["device_id"]
        assert listed["joined"] == [f"devices:{device['device_id']}"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("?Authorization=Bearer%20not-a-token", id="unknown-token"),
        pytest.param("", id="no-query"),
        pytest.param("?Authorization=", id="empty"),
        pytest.param("?Authorization=Bearer%20", id="bearer-without-token"),
    ],
)
async def test_invalid_token_is_http_403_at_the_upgrade(
    emulator: EmulatorHandle, query: str
) -> None:
    assert await refused_status(emulator, query) == 403
    assert emulator.state()["sockets"] == []


async def test_token_without_bearer_scheme_is_403(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    assert await refused_status(emulator, "?Authorization=" + device["access_token"]) == 403


async def test_token_in_a_header_instead_of_the_query_is_403_and_recorded(
    emulator: EmulatorHandle,
) -> None:
    device = pair_raw(emulator)
    header = {"Authorization": f"Bearer {device['access_token']}"}
    assert await refused_status(emulator, "", additional_headers=header) == 403
    assert any("query" in v["reason"] for v in emulator.violations())


async def test_refresh_token_is_not_an_access_token_403(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    assert await refused_status(emulator, token_query(device["refresh_token"])) == 403


async def test_expired_token_is_http_403_at_the_upgrade(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    emulator.advance(EIGHT_HOURS - 60)
    async with device_socket(emulator, device["access_token"]) as ws:  # still valid
        await join(ws, device["device_id"])
    emulator.advance(61)
    assert await refused_status(emulator, token_query(device["access_token"])) == 403


async def test_phoenix_v2_serializer_is_refused_403(emulator: EmulatorHandle) -> None:
    """The device socket speaks Phoenix v1 objects; a client asking for vsn 2 is refused."""
    device = pair_raw(emulator)
    assert await refused_status(emulator, token_query(device["access_token"]) + "&vsn=2.0.0") == 403
    assert any("vsn" in v["reason"] for v in emulator.violations())
    async with device_socket(emulator, device["access_token"], "&vsn=1.0.0") as ws:
        await join(ws, device["device_id"])


# --------------------------------------------------------------------------- join, heartbeat


async def test_join_own_device_topic_replies_as_seed_001(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    topic = f"devices:{device['device_id']}"
    async with device_socket(emulator, device["access_token"]) as ws:
        await ws.send(
            '{"topic":"' + topic + '", "event":"phx_join", "payload":"", "ref":"channel_connect"}'
        )
        assert await recv(ws) == {
            "event": "phx_reply",
            "payload": {"response": {}, "status": "ok"},
            "ref": "channel_connect",
            "topic": topic,
        }


async def test_join_of_another_devices_topic_is_refused(emulator: EmulatorHandle) -> None:
    mine, theirs = pair_raw(emulator), pair_raw(emulator)
    other_topic = f"devices:{theirs['device_id']}"
    async with device_socket(emulator, mine["access_token"]) as ws:
        await send(ws, other_topic, "phx_join", "sneak")
        assert await recv(ws) == {
            "topic": other_topic,
            "event": "phx_reply",
            "payload": {"status": "error", "response": {"reason": "unauthorized"}},
            "ref": "sneak",
        }
        # ... and it does not hear the other device's events.
        emulator.pause(theirs["device_id"])
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")
        assert emulator.state()["sockets"][0]["joined"] == []


async def test_heartbeat_is_answered_as_seed_001(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        for _ in range(3):
            await ws.send(
                '{"topic":"phoenix", "event":"heartbeat", "payload":"", "ref":"heartbeat"}'
            )
            assert await recv(ws) == {
                "event": "phx_reply",
                "payload": {"response": {}, "status": "ok"},
                "ref": "heartbeat",
                "topic": "phoenix",
            }


async def test_leave_replies_then_closes_the_channel(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    topic = f"devices:{device['device_id']}"
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        await send(ws, topic, "phx_leave", "bye", {})
        assert await recv(ws) == ok_reply(topic, "bye")
        assert (await recv(ws))["event"] == "phx_close"
        emulator.pause(device["device_id"])  # left: no push any more
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")


async def test_a_message_that_is_not_phoenix_v1_is_recorded_and_the_socket_survives(
    emulator: EmulatorHandle,
) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        await ws.send('["1","1","phoenix","heartbeat",{}]')  # a Phoenix v2 array frame
        await ws.send(b"\x00binary")
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")
    reasons = [v["reason"] for v in emulator.violations()]
    assert any("not a Phoenix v1 message" in r for r in reasons), reasons
    assert any("binary frame" in r for r in reasons), reasons


# --------------------------------------------------------------------------- idle timeout


async def test_socket_without_heartbeat_is_closed_after_the_idle_timeout(
    emulator: EmulatorHandle, emulator_server: EmulatorServer
) -> None:
    emulator.configure(socket_idle_timeout=0.5)
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])  # joining is not a heartbeat
        took = await closed_within(ws, 15.0)  # not the default 60 s; a busy machine is slow
        assert took > 0.3
        assert ws.close_code == 1000  # as Phoenix's transport (cowboy's idle timeout) closes
    await wait_no_sockets(emulator, emulator_server)


async def test_heartbeats_keep_the_socket_open_past_the_idle_timeout(
    emulator: EmulatorHandle,
) -> None:
    device = pair_raw(emulator)  # default idle timeout: 60 s of the emulator's clock
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        for n in range(8):  # 6 minutes of heartbeats every 45 s (the clock advanced, so a
            emulator.advance(45)  # busy machine's slow steps do not count)
            await send(ws, "phoenix", "heartbeat", f"hb{n}")
            assert await recv(ws) == ok_reply("phoenix", f"hb{n}")
        emulator.advance(61)
        await closed_within(ws, 15.0)  # then silence: closed


async def test_advancing_the_emulator_clock_idles_a_socket_out_without_waiting_for_it(
    emulator: EmulatorHandle, emulator_server: EmulatorServer
) -> None:
    device = pair_raw(emulator)  # default idle timeout: 60 s
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")
        emulator.advance(59)  # not yet
        await asyncio.sleep(0.6)
        await send(ws, "phoenix", "heartbeat", "hb2")
        assert await recv(ws) == ok_reply("phoenix", "hb2")
        emulator.advance(61)
        await closed_within(ws, 15.0)  # an idle watch polls; it never waits the real 60 s
    await wait_no_sockets(emulator, emulator_server)


# --------------------------------------------------------------------------- pushed events


async def test_status_updated_is_pushed_on_pause_and_resume(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    topic = f"devices:{device['device_id']}"
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        emulator.pause(device["device_id"])
        paused = await recv(ws)
        assert paused["topic"] == topic
        assert (paused["event"], paused["payload"]) == ("status_updated", "paused")
        emulator.resume(device["device_id"])
        resumed = await recv(ws)
        assert (resumed["topic"], resumed["event"], resumed["payload"]) == (
            topic,
            "status_updated",
            "resumed",
        )


async def test_status_updated_needs_a_join(emulator: EmulatorHandle) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        emulator.pause(device["device_id"])
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")  # nothing was pushed before it


async def test_a_channel_pause_pushes_nothing_on_the_device_topic(
    emulator: EmulatorHandle,
) -> None:
    """Seed 001 documents device status only; channel pause windows stay silent."""
    device = pair_raw(emulator)
    (primary,) = next(d for d in emulator.devices() if d["id"] == device["device_id"])["channels"]
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        emulator.pause(device["device_id"], channel_id=primary["id"])
        await send(ws, "phoenix", "heartbeat", "hb")
        assert await recv(ws) == ok_reply("phoenix", "hb")


# --------------------------------------------------------------------------- drops, cleanup


async def test_control_drop_cuts_the_socket_off_like_a_network_fault(
    emulator: EmulatorHandle, emulator_server: EmulatorServer
) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        assert emulator.drop_sockets() == 1
        await closed_within(ws, 15.0)
        assert ws.protocol.close_rcvd is None  # no close frame: the client sees 1006
        assert ws.close_code == 1006
    await wait_no_sockets(emulator, emulator_server)
    assert emulator.state()["sockets_dropped"] == 1


async def test_drop_of_one_device_leaves_the_others(emulator: EmulatorHandle) -> None:
    first, second = pair_raw(emulator), pair_raw(emulator)
    async with (
        device_socket(emulator, first["access_token"]) as ws1,
        device_socket(emulator, second["access_token"]) as ws2,
    ):
        assert emulator.drop_sockets(first["device_id"]) == 1
        await closed_within(ws1, 15.0)
        await send(ws2, "phoenix", "heartbeat", "hb")
        assert await recv(ws2) == ok_reply("phoenix", "hb")
        assert [s["device_id"] for s in emulator.state()["sockets"]] == [second["device_id"]]


async def test_a_client_close_ends_the_sockets_tasks(
    emulator: EmulatorHandle, emulator_server: EmulatorServer
) -> None:
    device = pair_raw(emulator)
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        assert socket_tasks(emulator_server) == ["emulator-socket-idle", "emulator-socket-read"]
    await wait_no_sockets(emulator, emulator_server)


class LogWatch(logging.Handler):
    """Warnings and errors from uvicorn, asyncio and the emulator, whatever thread logs them.

    Attach after the server under watch has started: uvicorn's config re-applies its logging
    setup (dropping foreign handlers from its loggers) when a server is built.
    """

    NAMES = ("uvicorn", "uvicorn.error", "asyncio", "hub")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")

    def attach(self) -> None:
        for name in self.NAMES:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in self.NAMES:
            logging.getLogger(name).removeHandler(self)


@pytest.fixture
def log_watch() -> Iterator[LogWatch]:
    watch = LogWatch()
    try:
        yield watch
    finally:
        watch.detach()


async def test_server_stop_closes_sockets_and_leaves_nothing_running(
    tmp_path: Path, log_watch: LogWatch
) -> None:
    config = EmulatorConfig(strict=True, device_code_interval=0.05)
    server = await asyncio.to_thread(EmulatorServer(tmp_path, config=config).start)
    log_watch.attach()
    handle = EmulatorHandle(
        server.base_url, server.control_url, server.ca_file, config.client_secret
    )
    try:
        device = await asyncio.to_thread(pair_raw, handle)
        async with device_socket(handle, device["access_token"]) as ws:
            await join(ws, device["device_id"])
            loop = server._loop
            # An idle keep-alive TLS connection whose peer never reads (a pooled httpx client)
            # holds uvicorn's shutdown until the join timeout: close it first.
            handle.close()
            start = time.monotonic()
            await asyncio.to_thread(server.stop)
            assert time.monotonic() - start < 3
            await closed_within(ws, 15.0)
            assert ws.close_code == 1012  # uvicorn's "service restart" on shutdown
        assert loop is not None and loop.is_closed()
        assert server._thread is None
    finally:
        handle.close()
        server.stop()
    assert log_watch.messages == []


async def test_refusals_drops_and_idle_closes_log_nothing(
    emulator: EmulatorHandle, log_watch: LogWatch
) -> None:
    log_watch.attach()
    emulator.configure(socket_idle_timeout=0.3)
    device = pair_raw(emulator)
    assert await refused_status(emulator, "?Authorization=Bearer%20nope") == 403
    async with device_socket(emulator, device["access_token"]) as ws:
        await join(ws, device["device_id"])
        emulator.drop_sockets()
        await closed_within(ws, 15.0)
    async with device_socket(emulator, device["access_token"]) as ws:
        await closed_within(ws, 15.0)
    await asyncio.sleep(0.1)
    assert log_watch.messages == []
