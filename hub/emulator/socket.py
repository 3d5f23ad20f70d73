"""The device websocket (seed 001, ruling R1): Phoenix v1 JSON objects at /devices/websocket.

- The access token comes in the query: ``?Authorization=Bearer%20<token>``; an expired or invalid
  token is refused with HTTP 403 at the upgrade.
- The client joins ``devices:<project device id>`` with ``phx_join`` (payload ``""``) and gets
  ``phx_reply {"status":"ok","response":{}}``; joining another device's topic is refused.
- Heartbeats on topic ``phoenix`` are answered; a socket that sent no heartbeat for
  ``socket_idle_timeout`` seconds (60 by default, read on the emulator clock) is closed.
- ``status_updated`` with payload ``"paused"`` or ``"resumed"`` is pushed to joined sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.emulator.state import EmulatorState

CLOSE_NORMAL = 1000
CLOSE_IDLE = 1000


@dataclass(eq=False)
class Connection:
    websocket: WebSocket
    device_id: str
    loop: asyncio.AbstractEventLoop
    last_heartbeat: float
    joined: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)


class SocketHub:
    """Every open device socket; pushes events and drops sockets on request."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.connections: set[Connection] = set()
        self.dropped = 0
        state.subscribe(self._on_status)

    def _on_status(self, device_id: str, payload: str) -> None:
        for conn in list(self.connections):
            topic = f"devices:{device_id}"
            if conn.device_id == device_id and topic in conn.joined:
                message = {"topic": topic, "event": "status_updated", "payload": payload, "ref": None}
                conn.loop.call_soon_threadsafe(conn.outbox.put_nowait, message)

    def drop(self, device_id: str | None = None) -> int:
        """Close the sockets (of one device, or all) at once, as a network fault would."""
        count = 0
        for conn in list(self.connections):
            if device_id is None or conn.device_id == device_id:
                conn.loop.call_soon_threadsafe(conn.outbox.put_nowait, None)
                count += 1
        self.dropped += count
        return count

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"device_id": c.device_id, "joined": sorted(c.joined), "last_heartbeat": c.last_heartbeat}
            for c in list(self.connections)
        ]


def _token_from_query(websocket: WebSocket) -> str | None:
    value = websocket.query_params.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: SocketHub = websocket.app.state.sockets
    state = hub.state
    token = _token_from_query(websocket)
    device = state.access_token_device(token) if token else None
    if device is None:
        # HTTP 403 at the upgrade (the ASGI websocket denial response).
        await websocket.close(code=1008)
        return
    await websocket.accept()
    conn = Connection(
        websocket=websocket,
        device_id=device.id,
        loop=asyncio.get_running_loop(),
        last_heartbeat=state.clock.now(),
    )
    hub.connections.add(conn)
    reader = asyncio.create_task(_read(conn, state), name="emulator-socket-read")
    idle = asyncio.create_task(_idle_watch(conn, state), name="emulator-socket-idle")
    try:
        while True:
            message = await conn.outbox.get()
            if message is None:
                break
            await websocket.send_text(json.dumps(message))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.connections.discard(conn)
        for task in (reader, idle):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await websocket.close(code=CLOSE_NORMAL)


def _reply(topic: str, ref: Any, status: str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "topic": topic,
        "event": "phx_reply",
        "payload": {"status": status, "response": response},
        "ref": ref,
    }


async def _read(conn: Connection, state: EmulatorState) -> None:
    try:
        while True:
            raw = await conn.websocket.receive_text()
            try:
                message = json.loads(raw)
                topic, event = message["topic"], message["event"]
                ref = message.get("ref")
            except (json.JSONDecodeError, KeyError, TypeError):
                state.violation("WS", "/devices/websocket", f"not a Phoenix v1 message: {raw[:80]!r}")
                continue
            if topic == "phoenix" and event == "heartbeat":
                conn.last_heartbeat = state.clock.now()
                await conn.outbox.put(_reply("phoenix", ref, "ok", {}))
            elif event == "phx_join":
                if topic == f"devices:{conn.device_id}":
                    conn.joined.add(topic)
                    await conn.outbox.put(_reply(topic, ref, "ok", {}))
                else:
                    await conn.outbox.put(_reply(topic, ref, "error", {"reason": "unauthorized"}))
            elif event == "phx_leave":
                conn.joined.discard(topic)
                await conn.outbox.put(_reply(topic, ref, "ok", {}))
                await conn.outbox.put({"topic": topic, "event": "phx_close", "payload": {}, "ref": ref})
            else:
                await conn.outbox.put(_reply(topic, ref, "error", {"reason": "unmatched topic"}))
    except (WebSocketDisconnect, RuntimeError):
        await conn.outbox.put(None)


async def _idle_watch(conn: Connection, state: EmulatorState) -> None:
    while True:
        await asyncio.sleep(min(1.0, state.config.socket_idle_timeout / 4))
        if state.clock.now() - conn.last_heartbeat > state.config.socket_idle_timeout:
            await conn.outbox.put(None)
            return
