"""The device websocket (docs/rulings.md#websocket): Phoenix v1 JSON objects at /devices/websocket.

- The access token comes in the query: ``?Authorization=Bearer%20<token>``; an expired or invalid
  token is refused with HTTP 403 at the upgrade (no websocket is opened).
- The client joins ``devices:<project device id>`` with ``phx_join`` (payload ``""``) and gets
  ``phx_reply {"status":"ok","response":{}}``; joining another device's topic is refused with
  ``{"status":"error","response":{"reason":"unauthorized"}}``.
- Heartbeats on topic ``phoenix`` are answered; a socket that sent no heartbeat for
  ``socket_idle_timeout`` seconds (60 by default, measured on the emulator clock, so advancing the
  clock idles a socket out within :data:`IDLE_POLL` seconds) is closed with code 1000, as
  Phoenix's transport (cowboy's idle timeout) does.
- ``status_updated`` with payload ``"paused"`` or ``"resumed"`` is pushed to joined sockets.
- The control API's ``sockets/drop`` cuts sockets off without a close frame, as a network fault
  would (the client sees 1006, abnormal closure).

Each connection runs three pieces: the endpoint coroutine (the only writer, draining an outbox),
a reader task and an idle watch. Whichever piece ends first ends the connection, and the endpoint
cancels and awaits the other two before it returns, so no task outlives its socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from c2c_hub.emulation.frameio.state import EmulatorState

log = logging.getLogger(__name__)

PATH = "/devices/websocket"
CLOSE_NORMAL = 1000  # also what cowboy sends when Phoenix's transport times out
CLOSE_IDLE = 1000
CLOSE_UNSUPPORTED = 1003
CLOSE_INTERNAL = 1011
IDLE_POLL = 0.25  # seconds of wall time between two looks at the emulator clock


@dataclass(frozen=True)
class Close:
    """An outbox item that ends the connection.

    ``code=None`` drops the connection without a close frame, as a network fault would.
    """

    code: int | None = CLOSE_NORMAL
    reason: str = ""


Outgoing = dict[str, Any] | Close


@dataclass(eq=False)
class Connection:
    websocket: WebSocket
    device_id: str
    loop: asyncio.AbstractEventLoop
    connected_at: float
    last_heartbeat: float
    joined: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)

    @property
    def topic(self) -> str:
        return f"devices:{self.device_id}"

    def post(self, item: Outgoing) -> None:
        """Queue an item from any thread; a no-op once the emulator's loop has closed."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, item)


class SocketHub:
    """Every open device socket; pushes events and drops sockets on request."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.connections: set[Connection] = set()
        self.dropped = 0
        state.subscribe(self._on_status)

    def _on_status(self, device_id: str, payload: str) -> None:
        for conn in list(self.connections):
            if conn.device_id == device_id and conn.topic in conn.joined:
                conn.post(
                    {
                        "topic": conn.topic,
                        "event": "status_updated",
                        "payload": payload,
                        "ref": None,
                    }
                )

    def drop(self, device_id: str | None = None) -> int:
        """Cut the sockets (of one device, or all) off at once, as a network fault would."""
        count = 0
        for conn in list(self.connections):
            if device_id is None or conn.device_id == device_id:
                conn.post(Close(code=None))
                count += 1
        self.dropped += count
        return count

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "device_id": c.device_id,
                "joined": sorted(c.joined),
                "connected_at": c.connected_at,
                "last_heartbeat": c.last_heartbeat,
            }
            for c in list(self.connections)
        ]


def _token_from_query(websocket: WebSocket) -> str | None:
    value = websocket.query_params.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _protocol_refused(websocket: WebSocket, state: EmulatorState) -> bool:
    """Record what the upgrade gets wrong besides the token; True when it must be refused."""
    if "authorization" in websocket.headers and "Authorization" not in websocket.query_params:
        state.violation(
            "WS",
            PATH,
            "the access token belongs in the query, not a header (see the websocket ruling)",
        )
    vsn = websocket.query_params.get("vsn")
    if vsn is not None and not vsn.startswith("1."):
        # Frame.io speaks the Phoenix v1 JSON-object protocol only; Phoenix refuses a
        # serializer version it does not serve, at the upgrade.
        state.violation(
            "WS", PATH, f"unsupported Phoenix serializer vsn={vsn!r} (the hub speaks 1.0.0)"
        )
        return True
    return False


async def _deny(websocket: WebSocket) -> None:
    """HTTP 403 at the upgrade: the ASGI spec turns a close before accept into a 403.

    (Not the denial-response extension: uvicorn's sans-io websocket logs an error after it.)
    """
    await websocket.close(code=1008)


async def websocket_endpoint(websocket: WebSocket) -> None:
    hub: SocketHub = websocket.app.state.sockets
    state = hub.state
    token = _token_from_query(websocket)
    device = state.access_token_device(token) if token else None
    if _protocol_refused(websocket, state) or device is None:
        await _deny(websocket)
        return
    await websocket.accept()
    now = state.clock.now()
    conn = Connection(
        websocket=websocket,
        device_id=device.id,
        loop=asyncio.get_running_loop(),
        connected_at=now,
        last_heartbeat=now,
    )
    hub.connections.add(conn)
    helpers = [
        asyncio.create_task(_read(conn, state), name="emulator-socket-read"),
        asyncio.create_task(_idle_watch(conn, state), name="emulator-socket-idle"),
    ]
    for task in helpers:
        task.add_done_callback(lambda t: _helper_done(conn, t))
    ending = Close(code=None)
    try:
        while True:
            item = await conn.outbox.get()
            if isinstance(item, Close):
                ending = item
                break
            await websocket.send_text(json.dumps(item))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the peer went away (or uvicorn is shutting down): nothing more to send
    finally:
        hub.connections.discard(conn)
        for task in helpers:
            task.cancel()
        # Wait for both to end (a helper's crash is already logged by its done callback).
        await asyncio.gather(*helpers, return_exceptions=True)
    if ending.code is not None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(code=ending.code, reason=ending.reason)
    # Returning without a close frame makes uvicorn close the transport: an abrupt drop.


def _helper_done(conn: Connection, task: asyncio.Task[None]) -> None:
    """A helper that ends (peer gone, idle, crash) ends the connection."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("emulator socket task %s failed", task.get_name(), exc_info=exc)
        conn.outbox.put_nowait(Close(CLOSE_INTERNAL, "internal error"))
    else:
        conn.outbox.put_nowait(Close(code=None))  # harmless if a Close is already queued


def _reply(topic: Any, ref: Any, status: str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "topic": topic,
        "event": "phx_reply",
        "payload": {"status": status, "response": response},
        "ref": ref,
    }


def _parse(raw: str) -> tuple[str, str, Any] | None:
    """(topic, event, ref) of a Phoenix v1 message, or None if it is not one."""
    try:
        message = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(message, dict) or "payload" not in message:
        return None
    topic, event = message.get("topic"), message.get("event")
    if not isinstance(topic, str) or not isinstance(event, str):
        return None
    return topic, event, message.get("ref")


def _handle(conn: Connection, state: EmulatorState, topic: str, event: str, ref: Any) -> None:
    put = conn.outbox.put_nowait
    if topic == "phoenix" and event == "heartbeat":
        conn.last_heartbeat = state.clock.now()
        put(_reply("phoenix", ref, "ok", {}))
    elif event == "phx_join":
        if topic == conn.topic:
            conn.joined.add(topic)
            put(_reply(topic, ref, "ok", {}))
        else:
            put(_reply(topic, ref, "error", {"reason": "unauthorized"}))
    elif topic not in conn.joined:
        put(_reply(topic, ref, "error", {"reason": "unmatched topic"}))
    elif event == "phx_leave":
        conn.joined.discard(topic)
        put(_reply(topic, ref, "ok", {}))
        put({"topic": topic, "event": "phx_close", "payload": {}, "ref": ref})
    else:
        put(_reply(topic, ref, "error", {"reason": f"unhandled event {event}"}))


async def _read(conn: Connection, state: EmulatorState) -> None:
    """Read frames until the peer goes away."""
    while True:
        message = await conn.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            state.violation("WS", PATH, "binary frame: the device socket speaks JSON text")
            continue
        parsed = _parse(text)
        if parsed is None:
            state.violation("WS", PATH, f"not a Phoenix v1 message: {text[:80]!r}")
            continue
        _handle(conn, state, *parsed)


async def _idle_watch(conn: Connection, state: EmulatorState) -> None:
    """Close the socket once no heartbeat came for ``socket_idle_timeout`` emulator seconds."""
    while True:
        left = conn.last_heartbeat + state.config.socket_idle_timeout - state.clock.now()
        if left <= 0:
            conn.outbox.put_nowait(Close(CLOSE_IDLE, "heartbeat timeout"))
            return
        await asyncio.sleep(min(left, IDLE_POLL))
