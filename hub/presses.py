"""Real-time logging: every button press, durable, sent once, in order, with the right timecode.

A press (:class:`~c2c_hub.devices.Press`, from a remote's plugin through the device registry) is
written to ``<data_dir>/presses.sqlite3`` (WAL, ``synchronous=FULL``) *before anything else*,
with the hub's SMPTE timecode at the moment of the press (so a restart, or a changed timecode
offset, cannot change it). Then one sender turns it into
``POST /v2/devices/channels/{channel_id}/inputs/{index}/trigger`` with:

- ``start``: the press's timecode and rate (Frame.io lines the event up with the right frame);
- ``offset``: whole seconds since the press, computed when it is *sent*, so it stays true when a
  press waited out a network loss or a power cut.

Order: a remote's presses go in the order they were pressed (only its oldest unsent press may
go); remotes do not hold each other up. A press waits while its remote has no channel (the
channel id is looked up at send time: ids change on every reconnect).

Failures (see ``docs/realtime-logging.md``):

- nothing reached Frame.io (connection refused or reset before sending, DNS, TLS, connect
  timeout), or Frame.io answered 5xx / 429 / 404 (channel gone): send again after a capped
  jittered backoff, cut short when the network or the channel comes back;
- 401: one refresh (``Session.call``), then as above;
- 422 (the model declares no such input, the channel is not logging-capable): ``failed``,
  with the reason; never sent again;
- **ambiguous** (the request went out and no answer came back: a read timeout, a reset after
  sending, a power cut while a send was in flight): ``unconfirmed``. It is *not* sent again on
  its own, because Frame.io's trigger has no idempotency key and a second send could log the
  event twice. The operator sees it and may send it again (``resend``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock
from c2c_hub.devices import DeviceRegistry, Press
from c2c_hub.frameio import (
    AuthError,
    FrameioError,
    NotFoundError,
    RateLimited,
    ServerError,
    TransportError,
    TransportTimeout,
    UnprocessableError,
)
from c2c_hub.frameio.models import LogTrigger, Rate, SmpteTime
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake
from c2c_hub.timecode import TimecodeClock, to_frameio

log = logging.getLogger(__name__)

DB_FILE = "presses.sqlite3"
STATES = ("pending", "sending", "sent", "unconfirmed", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS presses (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    serial       TEXT    NOT NULL,
    input_index  INTEGER NOT NULL,
    input_name   TEXT    NOT NULL,
    device_name  TEXT    NOT NULL,
    pressed_at   REAL    NOT NULL,
    timecode     TEXT    NOT NULL,
    rate_num     INTEGER NOT NULL,
    rate_den     INTEGER NOT NULL,
    ntsc         TEXT,
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      REAL,
    offset_sent  INTEGER
);
CREATE INDEX IF NOT EXISTS presses_state ON presses (state, id);
"""


class ChannelLookup(Protocol):
    """What the sender needs of the channel manager."""

    def channel_id_of(self, serial: str) -> str | None: ...


@dataclass
class PressRecord:
    id: int
    serial: str
    input_index: int
    input_name: str
    device_name: str
    pressed_at: float
    timecode: str
    rate_num: int
    rate_den: int
    ntsc: str | None
    state: str
    attempts: int
    last_error: str | None
    sent_at: float | None
    offset_sent: int | None

    def to_json(self) -> dict[str, Any]:
        latency = None if self.sent_at is None else round(self.sent_at - self.pressed_at, 4)
        return {
            "id": self.id,
            "serial": self.serial,
            "device": self.device_name,
            "input_index": self.input_index,
            "input": self.input_name,
            "pressed_at": self.pressed_at,
            "timecode": self.timecode,
            "rate": f"{self.rate_num}/{self.rate_den}",
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "sent_at": self.sent_at,
            "offset": self.offset_sent,
            "latency_s": latency,
        }

    def trigger(self, now: float) -> LogTrigger:
        return LogTrigger(
            action_type="single_press",
            offset=max(0, int(now - self.pressed_at)),
            start=SmpteTime(
                smpte_timecode=self.timecode,
                rate=Rate(playback=(self.rate_num, self.rate_den), ntsc=self.ntsc),
            ),
        )


def _ambiguous(exc: BaseException) -> bool:
    """True when the request may have reached Frame.io although no answer came back."""
    text = str(exc)
    if isinstance(exc, TransportTimeout):
        return "ConnectTimeout" not in text and "PoolTimeout" not in text
    if isinstance(exc, TransportError):
        return not any(k in text for k in ("ConnectError", "ConnectTimeout", "PoolTimeout"))
    return False


class PressLog:
    """The durable log of presses and the one sender (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        session: Session,
        devices: DeviceRegistry,
        channels: ChannelLookup,
        timecode: TimecodeClock,
        *,
        clock: Clock,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.path = path
        self.session = session
        self.devices = devices
        self.channels = channels
        self.timecode = timecode
        self.clock = clock
        self._wait = wait_exponential_jitter(
            multiplier=0.2, max=backoff_max_s, exp_base=2, jitter=0.2
        )
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.recent: list[PressRecord] = []
        self.counts: dict[str, int] = dict.fromkeys(STATES, 0)
        self.recovered_unconfirmed = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        await db.executescript(_SCHEMA)
        self._db = db
        # A send in flight when the power went: it may or may not have reached Frame.io.
        cur = await db.execute(
            "UPDATE presses SET state = 'unconfirmed', last_error = ? WHERE state = 'sending'",
            ("the hub stopped while this press was being sent; it may not have arrived",),
        )
        self.recovered_unconfirmed = cur.rowcount
        if cur.rowcount:
            log.warning("%d press(es) were being sent at a power cut: unconfirmed", cur.rowcount)
        await self._reload()
        self._unsubscribe.append(self.devices.on_press(self._pressed))
        self._task = asyncio.create_task(self._run(), name="press-sender")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for task in list(self._writes):
            await asyncio.wait({task})  # a press being written is never dropped
        await cancel_and_wait(self._task)
        self._task = None
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    def poke(self) -> None:
        """Look again now (the network or a channel came back)."""
        self._wake.set()

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, kind: str, record: PressRecord) -> None:
        event = {"type": kind, "press": record.to_json()}
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a press listener failed")

    # ------------------------------------------------------------------ recording a press
    def _pressed(self, press: Press) -> None:
        task = asyncio.get_running_loop().create_task(self.record(press), name="press-record")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def record(self, press: Press) -> PressRecord:
        """Write the press (durably) with its timecode, then wake the sender."""
        attached = self.devices.get(press.serial)
        model_input = attached.model.input(press.input_index) if attached else None
        tc = self.timecode.timecode(at=press.at)
        body = to_frameio(tc)
        rate = body["rate"]
        num, den = rate["playback"]
        async with self._lock:
            db = self._require()
            cur = await db.execute(
                "INSERT INTO presses (serial, input_index, input_name, device_name, pressed_at, "
                "timecode, rate_num, rate_den, ntsc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING *",
                (
                    press.serial,
                    press.input_index,
                    model_input.name if model_input else f"input {press.input_index}",
                    attached.device.name if attached else press.serial,
                    press.at,
                    body["smpte_timecode"],
                    num,
                    den,
                    rate["ntsc"],
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        record = _record(row)
        self._remember(record)
        await self._recount()
        log.info(
            "press: %s %s (input %d) at %s",
            record.device_name,
            record.input_name,
            record.input_index,
            record.timecode,
        )
        self._emit("press", record)
        self._wake.set()
        return record

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the press log is not open")
        return self._db

    # ------------------------------------------------------------------ sending
    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                sent_any, failed = await self._send_ready()
            except NeedsPairing as exc:
                log.info("presses wait for pairing: %s", exc.reason)
                await self._wake.wait()
                continue
            if failed:
                failures += 1
                delay = backoff_delay(self._wait, failures)
                await sleep_or_wake(self.clock, delay, self._wake)
                continue
            failures = 0
            if not sent_any:
                # Nothing ready (all sent, or waiting for a channel): wait for news, and look
                # again now and then (a channel may come back without telling us).
                await sleep_or_wake(self.clock, 1.0, self._wake)

    async def _ready(self) -> list[PressRecord]:
        """The oldest pending press of each remote."""
        db = self._require()
        cur = await db.execute(
            "SELECT * FROM presses WHERE id IN (SELECT MIN(id) FROM presses "
            "WHERE state = 'pending' GROUP BY serial) ORDER BY id"
        )
        return [_record(row) for row in await cur.fetchall()]

    async def _send_ready(self) -> tuple[bool, bool]:
        sent_any = False
        for record in await self._ready():
            channel_id = self.channels.channel_id_of(record.serial)
            if channel_id is None:
                continue  # no channel yet: this remote's presses wait, in order
            outcome = await self._send(record, channel_id)
            if outcome == "retry":
                return sent_any, True
            sent_any = True
        return sent_any, False

    async def _send(self, record: PressRecord, channel_id: str) -> str:
        db = self._require()
        await db.execute(
            "UPDATE presses SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
            (record.id,),
        )
        client = self.session.client
        now = self.clock.now()
        body = record.trigger(now)
        try:
            await self.session.call(
                lambda token: client.trigger_input(token, channel_id, record.input_index, body)
            )
        except NeedsPairing:
            await self._set(record.id, "pending", "waiting for pairing")
            raise
        except UnprocessableError as exc:
            await self._set(record.id, "failed", f"Frame.io refused it: {exc}")
            log.error("press %d refused by Frame.io: %s", record.id, exc)
            return "failed"
        except (ServerError, RateLimited, NotFoundError, AuthError) as exc:
            await self._set(record.id, "pending", str(exc))
            log.warning("press %d not sent (%s); trying again", record.id, exc)
            return "retry"
        except (TransportError, TransportTimeout) as exc:
            if _ambiguous(exc):
                await self._set(
                    record.id,
                    "unconfirmed",
                    f"sent, but no answer came back ({exc}); not sent again on its own, "
                    "so that it cannot be logged twice",
                )
                log.warning("press %d unconfirmed: %s", record.id, exc)
                return "unconfirmed"
            await self._set(record.id, "pending", str(exc))
            return "retry"
        except FrameioError as exc:
            await self._set(record.id, "failed", str(exc))
            log.error("press %d failed: %s", record.id, exc)
            return "failed"
        done = self.clock.now()
        await db.execute(
            "UPDATE presses SET state = 'sent', sent_at = ?, offset_sent = ?, last_error = NULL "
            "WHERE id = ?",
            (done, body.offset, record.id),
        )
        await self._refresh(record.id, "sent")
        return "sent"

    async def _set(self, press_id: int, state: str, error: str | None) -> None:
        await self._require().execute(
            "UPDATE presses SET state = ?, last_error = ? WHERE id = ?", (state, error, press_id)
        )
        await self._refresh(press_id, state)

    async def _refresh(self, press_id: int, kind: str) -> None:
        cur = await self._require().execute("SELECT * FROM presses WHERE id = ?", (press_id,))
        row = await cur.fetchone()
        if row is not None:
            record = _record(row)
            self._remember(record)
            await self._recount()
            self._emit(kind, record)

    async def resend(self, press_id: int) -> bool:
        """An operator's decision: send an unconfirmed or failed press again."""
        cur = await self._require().execute(
            "UPDATE presses SET state = 'pending' WHERE id = ? "
            "AND state IN ('unconfirmed', 'failed')",
            (press_id,),
        )
        if cur.rowcount:
            await self._refresh(press_id, "pending")
            self._wake.set()
        return bool(cur.rowcount)

    # ------------------------------------------------------------------ reading
    async def _reload(self) -> None:
        await self._recount()
        cur = await self._require().execute("SELECT * FROM presses ORDER BY id DESC LIMIT 20")
        self.recent = [_record(row) for row in reversed(list(await cur.fetchall()))]

    async def _recount(self) -> None:
        """Counts per state, from the table itself (one indexed query; never drifts)."""
        cur = await self._require().execute("SELECT state, COUNT(*) FROM presses GROUP BY state")
        self.counts = dict.fromkeys(STATES, 0) | {row[0]: row[1] for row in await cur.fetchall()}

    def _remember(self, record: PressRecord) -> None:
        """Keep the last 20 presses, as they are now, for status and the live views."""
        for i, known in enumerate(self.recent):
            if known.id == record.id:
                self.recent[i] = record
                return
        self.recent = [*self.recent, record][-20:]

    async def presses(self) -> list[PressRecord]:
        cur = await self._require().execute("SELECT * FROM presses ORDER BY id")
        return [_record(row) for row in await cur.fetchall()]

    def snapshot(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "recent": [r.to_json() for r in self.recent],
        }


def _record(row: aiosqlite.Row) -> PressRecord:
    return PressRecord(**{key: row[key] for key in row.keys()})
