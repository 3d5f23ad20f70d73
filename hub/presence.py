"""The hub's presence on Frame.io: the device websocket, its heartbeats, pause and project.

What it does (``docs/presence.md`` explains it at length; docs/rulings.md#websocket):

- Holds ``wss://<api host>/devices/websocket?Authorization=Bearer%20<access token>`` open and
  joined to ``devices:<project device id>``; that is what shows the device *online* in Frame.io.
- Sends a Phoenix heartbeat every ``heartbeat_interval`` (15 s) on the injected clock. A heartbeat
  whose reply does not come within ``heartbeat_timeout`` (10 s) raises :class:`HeartbeatTimeout`:
  the socket is dead, it is torn down and a new one is opened.
- Reconnects with capped, jittered exponential backoff (``tenacity.wait_exponential_jitter``).
  :meth:`Presence.network_changed` and a new access token (``Session.on_change``) cut the
  backoff short; :meth:`Presence.network_changed` also replaces a joined socket at once (it may be
  bound to the network that just went away). :meth:`Presence.frameio_back` (``/health`` well
  again) only cuts a backoff short: a flapping ``/health`` never drops a joined socket.
- A 403 at the upgrade (expired or revoked token) refreshes the token once, then reconnects at
  once; :class:`~c2c_hub.session.NeedsPairing` parks presence in ``NEEDS_PAIRING`` until the session
  changes.
- ``status_updated`` events ("paused" / "resumed") are only a hint: the ``paused`` flag moves
  when ``GET /v2/devices/me`` confirms it. Events may be lost or reordered, so ``/me`` is also
  polled once a minute, and asked once at a rejoin after a loss (through the session's
  IdentityGate), which catches a missed event and a project rename (keyed by ``project_id``).
- While the socket is not joined, ``POST /v2/devices/heartbeat`` keeps the device online (the REST
  heartbeat: at most once a minute, at least every five minutes).

The errors, each ending a socket on the one path that reconnects::

    PresenceError             the socket was lost; what the hub saw
    ├── ReplyTimeout          a request on the socket got no reply in time: the socket is dead
    │   ├── HeartbeatTimeout  ... a heartbeat
    │   └── JoinTimeout       ... the channel join
    ├── JoinRefused           the server answered the join with an error
    ├── ChannelClosed         the server closed or crashed the channel (phx_close / phx_error)
    └── SocketClosed          the server or the network closed the socket (code, reason)

Transport errors (``OSError``, websockets' handshake errors, ``TimeoutError``) and an HTTP
status at the upgrade (``websockets.exceptions.InvalidStatus``) take the same path; only a 403
adds a token refresh before it.

State transitions happen in one method, :meth:`Presence._transition`, checked against one table.
Only the supervisor task calls it (and :meth:`Presence.stop`, after the supervisor is gone), and
it never awaits, so on one event loop no two transitions interleave: the "one lock" of
aioesphomeapi's reconnect logic is the single supervisor task here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from tenacity import wait_exponential_jitter
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock
from c2c_hub.errors import HubError
from c2c_hub.frameio import FrameioError, ProjectDevice, make_ssl_context, require_https
from c2c_hub.frameio.redaction import redact
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import PairingState

log = logging.getLogger(__name__)

SOCKET_PATH = "/devices/websocket"
Listener = Callable[["Presence"], None]


class PresenceState(StrEnum):
    STOPPED = "stopped"  # not started, or stopped
    CONNECTING = "connecting"  # opening the socket and joining the channel
    JOINED = "joined"  # the channel is joined: Frame.io shows the device online
    BACKOFF = "backoff"  # waiting before the next attempt
    NEEDS_PAIRING = "needs_pairing"  # no usable credentials; waits for the session to change


_S = PresenceState
_TRANSITIONS: dict[PresenceState, frozenset[PresenceState]] = {
    _S.STOPPED: frozenset({_S.CONNECTING, _S.BACKOFF, _S.NEEDS_PAIRING}),
    _S.CONNECTING: frozenset({_S.JOINED, _S.BACKOFF, _S.NEEDS_PAIRING, _S.STOPPED}),
    _S.JOINED: frozenset({_S.CONNECTING, _S.BACKOFF, _S.NEEDS_PAIRING, _S.STOPPED}),
    _S.BACKOFF: frozenset({_S.CONNECTING, _S.NEEDS_PAIRING, _S.STOPPED}),
    _S.NEEDS_PAIRING: frozenset({_S.CONNECTING, _S.BACKOFF, _S.STOPPED}),
}


# ---------------------------------------------------------------------------------- errors
class PresenceError(HubError):
    """The socket was lost; the message says what the hub saw (never a token)."""


class ReplyTimeout(PresenceError):
    """A request on the socket got no reply within its timeout: the socket is dead."""


class HeartbeatTimeout(ReplyTimeout):
    """No reply to a Phoenix heartbeat within ``heartbeat_timeout``."""


class JoinTimeout(ReplyTimeout):
    """No reply to ``phx_join`` within ``join_timeout``."""


class JoinRefused(PresenceError):
    """The server answered ``phx_join`` with ``status: error``."""


class ChannelClosed(PresenceError):
    """The server closed (``phx_close``) or crashed (``phx_error``) the device channel."""


class SocketClosed(PresenceError):
    """The server or the network closed the socket."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        shown = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"socket closed ({shown}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PresenceConfig:
    """Timings, in seconds of the injected clock (``open_timeout``/``close_timeout``: wall)."""

    heartbeat_interval: float = 15.0  # Frame.io: every 15 s; the server gives up after 60 s
    heartbeat_timeout: float = 10.0  # no reply by then: the socket is dead
    join_timeout: float = 10.0
    open_timeout: float = 10.0  # TCP + TLS + HTTP upgrade (websockets' own timer)
    close_timeout: float = 2.0  # waiting for the server's close frame when we close
    me_poll_interval: float = 60.0  # Frame.io: poll /v2/devices/me no more than once a minute
    rest_heartbeat_interval: float = 60.0  # at most once a minute, at least every 5 min
    backoff_initial: float = 0.25  # first retry after 0.25 s + jitter, doubling ...
    backoff_max: float = 60.0  # ... up to a minute
    backoff_jitter: float = 0.5  # uniform(0, jitter) added to every wait

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")


# ---------------------------------------------------------------------------------- helpers
_TOKEN_IN_TEXT = re.compile(r"(Authorization=)[^\s&'\"]+", re.IGNORECASE)


def _describe(exc: BaseException, token: str | None = None) -> str:
    """``Type: message`` with the access token scrubbed (a URL in a message carries it)."""
    text = redact(str(exc), [token] if token else [])
    text = _TOKEN_IN_TEXT.sub(r"\1[redacted]", text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def socket_url(settings: FrameioSettings, token: str) -> str:
    """``wss://<api host>/devices/websocket?Authorization=Bearer%20<token>``.

    See docs/rulings.md#websocket.
    """
    base = require_https(settings.api_base_url, what="API base URL")
    origin = str(base.copy_with(scheme="wss", query=None, fragment=None)).rstrip("/")
    return f"{origin}{SOCKET_PATH}?Authorization={quote(f'Bearer {token}', safe='')}"


def _closed(exc: ConnectionClosed) -> SocketClosed:
    """What websockets saw at the close, as the error that ends the socket."""
    frame = exc.rcvd
    return SocketClosed(frame.code if frame else None, frame.reason if frame else "")


class _Socket:
    """One open websocket: its refs and the replies it waits for."""

    def __init__(self, ws: ClientConnection, topic: str) -> None:
        self.ws = ws
        self.topic = topic
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ref = 0

    def next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    def fail_pending(self, exc: PresenceError) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning if nobody waits
        self.pending.clear()


# ---------------------------------------------------------------------------------- presence
class Presence:
    """The device websocket and everything that keeps the hub's status on Frame.io true."""

    def __init__(
        self,
        session: Session,
        settings: FrameioSettings | None = None,
        *,
        clock: Clock | None = None,
        config: PresenceConfig | None = None,
    ) -> None:
        self.session = session
        self.settings = settings or session.settings
        self.clock: Clock = clock or session.clock
        self.config = config or PresenceConfig()
        # The backoff policy is data: replace it to change how long failures wait.
        self.backoff = wait_exponential_jitter(
            multiplier=self.config.backoff_initial,
            max=self.config.backoff_max,
            jitter=self.config.backoff_jitter,
        )
        self._state = PresenceState.STOPPED
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._ssl: ssl.SSLContext | None = None
        # wake-ups: _kick cuts a backoff (or a NEEDS_PAIRING wait) short; _force also ends a
        # joined socket; _confirm asks the identity poller for /v2/devices/me now.
        self._kick = asyncio.Event()
        self._force = asyncio.Event()
        self._confirm = asyncio.Event()
        self._confirm_reason: str | None = None
        self._kick_reason: str | None = None
        self._seen_token: str | None = None
        self._seen_identity: ProjectDevice | None = None
        # what the socket did
        self.topic: str | None = None
        self.connected_since: float | None = None
        self.unjoined_since: float | None = None
        self.lost_at: float | None = None
        self.joins = 0
        self.failures = 0  # consecutive failed attempts (decides the backoff)
        self.next_attempt_at: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.heartbeats_sent = 0
        self.heartbeat_replies = 0
        self.last_heartbeat_reply_at: float | None = None
        self.last_heartbeat_rtt: float | None = None
        self.events = 0
        self.last_event: str | None = None
        self.outages: deque[float] = deque(maxlen=50)  # loss -> rejoin, seconds of the clock
        # what /v2/devices/me said
        self.paused: bool | None = None
        self.paused_confirmed_at: float | None = None
        self.project_id: str | None = None
        self.project_name: str | None = None
        self.device_id: str | None = None
        self.last_me_at: float | None = None
        self.me_calls = 0
        self.last_me_error: str | None = None
        # the REST fallback
        self.rest_heartbeats = 0
        self.last_rest_heartbeat_at: float | None = None
        self.last_rest_error: str | None = None

    # ------------------------------------------------------------------ public surface
    @property
    def state(self) -> PresenceState:
        return self._state

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @property
    def reconnects(self) -> int:
        """How many times the channel was joined again after having been joined."""
        return max(0, self.joins - 1)

    @property
    def last_outage(self) -> float | None:
        """Seconds from the last socket loss to the rejoin that ended it."""
        return self.outages[-1] if self.outages else None

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Hear of every change of state, pause or project; returns an unsubscribe callable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def network_changed(self) -> None:
        """The connectivity monitor saw the network change: reconnect now, skip any backoff."""
        self._wake("network changed", force=True)

    def frameio_back(self) -> None:
        """Frame.io answers again: a waiting reconnect goes now. A joined socket stays: its
        heartbeats say it works, whatever ``/health`` said meanwhile."""
        self._wake("Frame.io is reachable again", force=False)

    def snapshot(self) -> dict[str, Any]:
        """Everything status output shows about presence (JSON-ready; never a token)."""
        return {
            "state": self._state.value,
            "topic": self.topic,
            "connected_since": self.connected_since,
            "unjoined_since": self.unjoined_since,
            "joins": self.joins,
            "reconnects": self.reconnects,
            "consecutive_failures": self.failures,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "heartbeats_sent": self.heartbeats_sent,
            "heartbeat_replies": self.heartbeat_replies,
            "last_heartbeat_reply_at": self.last_heartbeat_reply_at,
            "last_heartbeat_rtt_s": self.last_heartbeat_rtt,
            "last_outage_s": self.last_outage,
            "events": self.events,
            "last_event": self.last_event,
            "paused": self.paused,
            "paused_confirmed_at": self.paused_confirmed_at,
            "project": {"id": self.project_id, "name": self.project_name},
            "last_me_at": self.last_me_at,
            "last_me_error": self.last_me_error,
            "rest_heartbeats": self.rest_heartbeats,
            "last_rest_heartbeat_at": self.last_rest_heartbeat_at,
            "last_rest_error": self.last_rest_error,
        }

    async def start(self) -> None:
        """Start holding the socket, polling ``/me`` and the REST fallback. Idempotent."""
        if self._tasks:
            return
        self._ssl = make_ssl_context(self.settings)  # verification always on
        self._unsubscribe = self.session.on_change(self._on_session)
        creds = self.session.credentials
        self._seen_token = creds.access_token if creds is not None else None
        if self.session.identity is not None:
            self._apply_identity(self.session.identity)
        self.unjoined_since = self.clock.now()
        self._spawn(self._supervise(), "presence-supervisor")
        self._spawn(self._poll_identity(), "presence-identity-poll")
        self._spawn(self._rest_fallback(), "presence-rest-heartbeat")

    async def stop(self) -> None:
        """Close the socket and end every task this component started."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        if self._state is not PresenceState.STOPPED:
            self._transition(PresenceState.STOPPED)

    # ------------------------------------------------------------------ state, in one place
    def _transition(self, new: PresenceState, *, error: str | None = None) -> None:
        """The only place the state moves; every move is checked against the table."""
        now = self.clock.now()
        if error is not None:
            self.last_error = error
            self.last_error_at = now
        old = self._state
        if new is old:
            return
        if new not in _TRANSITIONS[old]:
            raise RuntimeError(f"presence: no transition from {old} to {new}")
        self._state = new
        if new is PresenceState.JOINED:
            self.joins += 1
            self.failures = 0
            self.connected_since = now
            self.unjoined_since = None
            self.next_attempt_at = None
            if self.lost_at is not None:
                self.outages.append(now - self.lost_at)
                self.lost_at = None
                # Pushes sent while the socket was down are lost: read the status once now.
                self._ask_identity("reconnect")
        elif old is PresenceState.JOINED:
            self.connected_since = None
            self.unjoined_since = now
            if new is not PresenceState.STOPPED:
                self.lost_at = now
        if new is not PresenceState.BACKOFF:
            self.next_attempt_at = None
        log.info("presence: %s -> %s%s", old.value, new.value, f" ({error})" if error else "")
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:
                log.exception("presence listener failed")

    def _ask_identity(self, reason: str) -> None:
        """News: the identity poller asks ``/v2/devices/me`` now (coalesced with other news)."""
        self._confirm_reason = self._confirm_reason or reason
        self._confirm.set()

    def _wake(self, reason: str, *, force: bool) -> None:
        self._kick_reason = reason
        self._kick.set()
        if force:
            self._force.set()

    def _on_session(self, session: Session) -> None:
        """Session listener: a new token cuts the backoff short; unpairing ends the socket."""
        creds = session.credentials
        token = creds.access_token if creds is not None else None
        if session.state in (PairingState.UNPAIRED, PairingState.NEEDS_PAIRING):
            if self._state is not PresenceState.NEEDS_PAIRING:
                self._wake("the session needs pairing", force=True)
        elif token != self._seen_token:
            self._wake("the access token changed", force=False)
        self._seen_token = token
        if session.state is PairingState.UNPAIRED and self.device_id is not None:
            self.paused = self.project_id = self.project_name = self.device_id = None
            self._seen_identity = None
            self._notify()
        identity = session.identity
        if identity is not None and identity is not self._seen_identity:
            self._apply_identity(identity)

    # ------------------------------------------------------------------ tasks
    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, PresenceError):
                log.error("presence task %s failed", task.get_name(), exc_info=exc)

    @staticmethod
    async def _first(*waits: tuple[str, Coroutine[Any, Any, Any]]) -> set[str]:
        """Run the named coroutines until one ends; cancel and await the others.

        Returns the names of those that ended (they only wait: none returns a value).
        """
        tasks = {asyncio.create_task(coro, name=f"presence-{name}"): name for name, coro in waits}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return {tasks[task] for task in done}

    # ------------------------------------------------------------------ the supervisor
    def _backoff_delay(self) -> float:
        return backoff_delay(self.backoff, self.failures)

    def _failed(self, error: str, *, lost: bool = False) -> float:
        """Count a failure (a lost socket restarts the count); return the wait before retrying."""
        self.failures = 1 if lost else self.failures + 1
        self.last_error = error
        self.last_error_at = self.clock.now()
        if lost:
            log.warning("presence: socket lost: %s", error)
        else:
            log.warning("presence: attempt %d failed: %s", self.failures, error)
        return self._backoff_delay()

    async def _supervise(self) -> None:
        """Connect, hold, and reconnect: the one task that moves the state."""
        delay = 0.0
        refreshed_for_403 = False  # a 403 refreshes once per attempt after a backoff wait
        while True:
            if delay > 0:
                refreshed_for_403 = False
                self._transition(PresenceState.BACKOFF)
                self.next_attempt_at = self.clock.now() + delay
                woken = await self._first(
                    ("backoff", self.clock.sleep(delay)), ("kick", self._kick.wait())
                )
                if "kick" in woken:
                    log.info("presence: backoff cut short (%s)", self._kick_reason)
            self._kick.clear()
            self._force.clear()
            delay = 0.0
            token: str | None = None
            try:
                token = await self.session.token()
                identity = self.session.identity
                if identity is None:
                    identity = await self.session.refresh_identity()
                self._transition(PresenceState.CONNECTING)
                await self._hold(token, identity.id)
                # _hold returns only when told to reconnect (network change, new identity)
                log.info("presence: reconnecting now (%s)", self._kick_reason)
                self._transition(PresenceState.CONNECTING)
                refreshed_for_403 = False
            except NeedsPairing as exc:
                self._transition(PresenceState.NEEDS_PAIRING, error=str(exc))
                await self._kick.wait()  # the session changed: look again
                self.failures = 0
                refreshed_for_403 = False
            except InvalidStatus as exc:
                status = exc.response.status_code
                error = f"HTTP {status} at the websocket upgrade"
                if status == 403 and token is not None and not refreshed_for_403:
                    refreshed_for_403 = True
                    self.last_error, self.last_error_at = error, self.clock.now()
                    log.warning("presence: %s; refreshing the access token", error)
                    try:
                        await self.session.refresh(failed_token=token)
                    except NeedsPairing as needs:
                        self._transition(PresenceState.NEEDS_PAIRING, error=str(needs))
                        await self._kick.wait()
                    except FrameioError as refresh_exc:
                        delay = self._failed(f"{error}; refresh failed: {_describe(refresh_exc)}")
                    continue  # with the new token, at once
                delay = self._failed(error)
            except FrameioError as exc:
                delay = self._failed(_describe(exc, token))
            except (PresenceError, OSError, WebSocketException, TimeoutError) as exc:
                lost = self._state is PresenceState.JOINED
                if lost:
                    refreshed_for_403 = False
                delay = self._failed(_describe(exc, token), lost=lost)
            except Exception as exc:  # a bug must not end presence: log it, back off, retry
                log.exception("presence: unexpected error")
                delay = self._failed(_describe(exc, token))

    async def _hold(self, token: str, device_id: str) -> None:
        """Open, join and hold one socket; return on a forced reconnect, raise when lost."""
        topic = f"devices:{device_id}"
        ws = await connect(
            socket_url(self.settings, token),
            ssl=self._ssl,
            proxy=None,  # direct to Frame.io: never a proxy from the environment
            ping_interval=None,  # Phoenix heartbeats do liveness
            open_timeout=self.config.open_timeout,
            close_timeout=self.config.close_timeout,
            additional_headers={"x-client-version": self.settings.firmware_version},
        )
        sock = _Socket(ws, topic)
        dead = False
        helpers: list[asyncio.Task[Any]] = []
        try:
            reader = self._spawn(self._read(sock), "presence-socket-read")
            helpers.append(reader)
            reply = await self._request(sock, topic, "phx_join", self.config.join_timeout)
            if reply.get("status") != "ok":
                response = reply.get("response")
                reason = response.get("reason") if isinstance(response, dict) else None
                raise JoinRefused(f"join of {topic} refused ({reason or reply.get('status')})")
            self.topic = topic
            self._transition(PresenceState.JOINED)
            heart = self._spawn(self._heartbeat(sock), "presence-socket-heartbeat")
            force = self._spawn(self._force.wait(), "presence-socket-force")
            helpers += [heart, force]
            done, _ = await asyncio.wait(helpers, return_when=asyncio.FIRST_COMPLETED)
            for task in (heart, reader):
                if task in done:
                    task.result()  # raises what ended the socket
            if reader in done or heart in done:
                raise SocketClosed(ws.close_code, ws.close_reason or "")
        except ReplyTimeout:
            dead = True
            raise
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            sock.fail_pending(SocketClosed(None, "closed by the hub"))
            if dead:
                ws.transport.abort()  # no closing handshake on a socket that does not answer
            else:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def _request(
        self, sock: _Socket, topic: str, event: str, within: float
    ) -> dict[str, Any]:
        """Send one Phoenix message and wait ``within`` clock seconds for its reply payload."""
        ref = sock.next_ref()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        sock.pending[ref] = future
        timer: asyncio.Future[Any] = asyncio.create_task(
            self.clock.sleep(within), name="presence-reply-timer"
        )
        try:
            message = {"topic": topic, "event": event, "payload": "", "ref": ref}
            try:
                await sock.ws.send(json.dumps(message))
            except ConnectionClosed as exc:
                raise _closed(exc) from None
            await asyncio.wait({future, timer}, return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                kind = HeartbeatTimeout if event == "heartbeat" else JoinTimeout
                raise kind(f"no reply to {event} within {within:g} s: the socket is dead")
            return future.result()
        finally:
            sock.pending.pop(ref, None)
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _read(self, sock: _Socket) -> None:
        """Read until the socket ends; always ends by raising what ended it."""
        error: PresenceError
        try:
            while True:
                raw = await sock.ws.recv()
                if isinstance(raw, str):
                    self._on_message(sock, raw)
        except ConnectionClosed as exc:
            error = _closed(exc)
        except PresenceError as exc:
            error = exc
        sock.fail_pending(error)
        raise error

    def _on_message(self, sock: _Socket, raw: str) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            log.debug("presence: ignoring a frame that is not JSON")
            return
        if not isinstance(message, dict):
            return
        event, topic, ref = message.get("event"), message.get("topic"), message.get("ref")
        payload = message.get("payload")
        if event == "phx_reply" and isinstance(ref, str) and ref in sock.pending:
            future = sock.pending.pop(ref)
            if not future.done():
                future.set_result(payload if isinstance(payload, dict) else {})
        elif topic == sock.topic and event == "status_updated":
            # A hint only: /v2/devices/me decides (events may be lost or reordered).
            self.events += 1
            self.last_event = str(payload)
            log.info("presence: status_updated %r; confirming with /v2/devices/me", payload)
            self._ask_identity("status_updated")
        elif topic == sock.topic and event in ("phx_close", "phx_error"):
            raise ChannelClosed(f"the server sent {event} for {topic}")

    async def _heartbeat(self, sock: _Socket) -> None:
        """A heartbeat every interval; a missing reply raises HeartbeatTimeout."""
        while True:
            await self.clock.sleep(self.config.heartbeat_interval)
            self.heartbeats_sent += 1
            started = time.monotonic()
            reply = await self._request(sock, "phoenix", "heartbeat", self.config.heartbeat_timeout)
            self.heartbeat_replies += 1
            self.last_heartbeat_rtt = time.monotonic() - started
            self.last_heartbeat_reply_at = self.clock.now()
            if reply.get("status") != "ok":
                log.warning("presence: heartbeat answered %r", reply.get("status"))

    # ------------------------------------------------------------------ /v2/devices/me
    def _apply_identity(self, device: ProjectDevice) -> None:
        """Take pause and project from a /v2/devices/me answer (the only thing that moves them)."""
        now = self.clock.now()
        self._seen_identity = device
        self.last_me_at = now
        changed = False
        project_id = device.project_id or device.project.id
        if project_id != self.project_id:
            self.project_id, self.project_name, changed = project_id, device.project.name, True
        elif device.project.name != self.project_name:
            log.info("presence: project %s renamed to %r", project_id, device.project.name)
            self.project_name, changed = device.project.name, True
        if device.paused != self.paused:
            log.info("presence: paused=%s (confirmed by /v2/devices/me)", device.paused)
            self.paused, changed = device.paused, True
        self.paused_confirmed_at = now
        if self.device_id is not None and device.id != self.device_id:
            self._wake("the project device changed", force=True)
        self.device_id = device.id
        if changed:
            self._notify()

    async def _poll_identity(self) -> None:
        """``/v2/devices/me`` at once when news asks (a ``status_updated`` push, a rejoin after
        a loss), else when the session's gate next allows a plain call (once a minute)."""
        while True:
            if not self._confirm.is_set():
                wait = self.session.identity_gate.due_at() - self.clock.now()
                if wait > 0:
                    await self._first(
                        ("poll-wait", self.clock.sleep(wait)), ("confirm", self._confirm.wait())
                    )
                    continue  # look again: another part may have asked meanwhile
            reason = self._confirm_reason if self._confirm.is_set() else None
            self._confirm.clear()
            self._confirm_reason = None
            self.me_calls += 1
            try:
                # refresh_identity asks through the session's gate and keeps the session's copy
                # (and the stored project) current; its listeners call _apply_identity.
                device = await self.session.refresh_identity(reason)
            except NeedsPairing:
                await self._first(
                    ("poll-wait", self.clock.sleep(self.config.me_poll_interval)),
                    ("confirm", self._confirm.wait()),
                )
                continue
            except FrameioError as exc:
                self.last_me_error = _describe(exc)
                log.warning("presence: /v2/devices/me failed: %s", self.last_me_error)
                continue
            self.last_me_error = None
            if device is not self._seen_identity:  # the session listener may have taken it
                self._apply_identity(device)

    # ---------------------------------------------- REST fallback (docs/rulings.md#rest-heartbeat)
    async def _rest_fallback(self) -> None:
        """``POST /v2/devices/heartbeat`` every interval while the socket is not joined."""
        interval = self.config.rest_heartbeat_interval
        while True:
            await self.clock.sleep(interval / 4)
            if self._state not in (PresenceState.CONNECTING, PresenceState.BACKOFF):
                continue
            now = self.clock.now()
            if self.unjoined_since is None or now - self.unjoined_since < interval:
                continue
            last = self.last_rest_heartbeat_at
            if last is not None and now - last < interval:
                continue
            self.last_rest_heartbeat_at = now
            try:
                await self.session.call(self.session.client.heartbeat)
            except NeedsPairing:
                continue
            except FrameioError as exc:
                self.last_rest_error = _describe(exc)
                log.warning("presence: REST heartbeat failed: %s", self.last_rest_error)
                continue
            self.rest_heartbeats += 1
            self.last_rest_error = None
