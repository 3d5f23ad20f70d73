"""Real-time logging: every button press, durable, sent once, in order, with the right timecode.

A press (:class:`~c2c_hub.devices.Press`, from a remote's plugin through the device registry) is
written to ``<data_dir>/presses.sqlite3`` (WAL, ``synchronous=FULL``) *before anything else*,
with the hub's SMPTE timecode at the moment of the press (so a restart, or a changed timecode
offset, cannot change it).

Group commit: presses wait in memory for the one writer, which writes every press waiting in
one transaction (one fsync for many presses, up to :data:`MAX_BATCH`), so a burst of thousands
a second is durable. A press is acknowledged (:meth:`PressLog.record` returns,
:meth:`PressLog.submit`'s future resolves, the log line and the ``press`` event appear) only
once its transaction is committed: a kill at any moment loses no acknowledged press. A storage
error (a full disk, an I/O error) is retried with a capped backoff, shown in the status
(``presses.storage``) and logged; the presses waiting stay in memory, in order, until the disk
takes them. The writer and the sender are each supervised: an unexpected error is logged and
shown, and the loop starts again after a backoff.

Then one sender turns it into
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
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
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
from c2c_hub.timecode.timeline import HubTimecode

log = logging.getLogger(__name__)

DB_FILE = "presses.sqlite3"
STATES = ("pending", "sending", "sent", "unconfirmed", "failed")
MAX_BATCH = 2000
"""The most presses one transaction (one fsync) writes."""
STOP_DRAIN_S = 10.0
"""How long :meth:`PressLog.stop` waits for presses still to be written (a failing disk)."""

_INSERT = (
    "INSERT INTO presses (serial, input_index, input_name, device_name, pressed_at, "
    "timecode, rate_num, rate_den, ntsc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

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


@dataclass
class _Waiting:
    """A press on its way to the disk: the row to write, and who waits for it to be durable."""

    values: tuple[Any, ...]
    done: asyncio.Future[PressRecord]


class PressLog:
    """The durable log of presses and the one sender (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        session: Session,
        devices: DeviceRegistry,
        channels: ChannelLookup,
        timecode: TimecodeClock | HubTimecode,
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
        # Every use of the connection holds this lock: the writer's transaction spans several
        # calls, and nothing may read its rows (and send them) before they are committed.
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._waiting: list[_Waiting] = []
        self._queued = asyncio.Event()
        self._storage_retry = asyncio.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.recent: list[PressRecord] = []
        self.counts: dict[str, int] = dict.fromkeys(STATES, 0)
        self.recovered_unconfirmed = 0
        self.storage_error: str | None = None
        """The last storage error while presses wait to be written (None once written)."""
        self.storage_error_since: float | None = None
        self.storage_retries = 0
        self.sender_error: str | None = None
        self.batches = 0
        self.largest_batch = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = FULL")
            await db.executescript(_SCHEMA)
        except BaseException:
            # not ours yet, so stop() would not close it: its thread (not a daemon) would
            # keep the process from ending
            await db.close()
            raise
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
        self._writer = asyncio.create_task(
            self._supervised("press writer", self._write_loop), name="press-writer"
        )
        self._unsubscribe.append(self.devices.on_press(self._pressed))
        self._task = asyncio.create_task(
            self._supervised("press sender", self._run), name="press-sender"
        )

    async def stop(self) -> None:
        """Stop sending and writing; the database is closed however the rest ends (its
        connection's thread is not a daemon)."""
        try:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            await cancel_and_wait(self._task)
            self._task = None
            await self._drain()
            await cancel_and_wait(self._writer)
            self._writer = None
            for waiting in self._waiting:  # only when the disk refused them until the end
                waiting.done.cancel()
            self._waiting.clear()
        finally:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    async def _drain(self) -> None:
        """Let the writer write every press still waiting (bounded: the disk may be failing)."""
        if not self._waiting or self._writer is None or self._writer.done():
            return
        self._storage_retry.set()  # stopping: try the disk once more now
        pending = [w.done for w in self._waiting]
        _done, not_done = await asyncio.wait(pending, timeout=STOP_DRAIN_S)
        if not_done:
            log.error(
                "stopping with %d press(es) never written (never acknowledged): %s",
                len(not_done),
                self.storage_error or "the disk did not take them in time",
            )

    def poke(self) -> None:
        """Look again now (the network or a channel came back); try a failing disk again."""
        self._wake.set()
        self._storage_retry.set()

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

    async def _supervised(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop`` forever: an unexpected error is logged, shown, and the loop restarted."""
        failures = 0
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except (sqlite3.Error, OSError) as exc:
                failures += 1
                self.sender_error = f"{name}: {type(exc).__name__}: {exc}"
                log.error("%s: storage error (%s); restarting it (attempt %d)", name, exc, failures)
            except Exception as exc:
                failures += 1
                self.sender_error = f"{name}: {type(exc).__name__}: {exc}"
                log.exception("%s failed (restarting it)", name)
            else:
                return
            await sleep_or_wake(self.clock, backoff_delay(self._wait, failures), self._wake)

    # ------------------------------------------------------------------ recording a press
    def _pressed(self, press: Press) -> None:
        self.submit(press)

    def submit(self, press: Press) -> asyncio.Future[PressRecord]:
        """Queue ``press`` for the writer; the future resolves once it is durable.

        The timecode is taken now, from the press's own time. Nothing is dropped: while the
        disk refuses, presses wait here, in order (see :attr:`storage_error`).
        """
        attached = self.devices.get(press.serial)
        model_input = attached.model.input(press.input_index) if attached else None
        tc = self.timecode.timecode(at=press.at)
        body = to_frameio(tc)
        rate = body["rate"]
        num, den = rate["playback"]
        values = (
            press.serial,
            press.input_index,
            model_input.name if model_input else f"input {press.input_index}",
            attached.device.name if attached else press.serial,
            press.at,
            body["smpte_timecode"],
            num,
            den,
            rate["ntsc"],
        )
        done: asyncio.Future[PressRecord] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(values, done))
        self._queued.set()
        return done

    async def record(self, press: Press) -> PressRecord:
        """Write the press (durably) with its timecode, then wake the sender."""
        return await self.submit(press)

    async def _write_loop(self) -> None:
        """The one writer: every press waiting, in one transaction, then acknowledge them."""
        failures = 0
        while True:
            if not self._waiting:
                self._queued.clear()
                await self._queued.wait()
                continue
            batch = self._waiting[:MAX_BATCH]
            try:
                first = await self._commit([w.values for w in batch])
            except (sqlite3.Error, OSError) as exc:
                failures += 1
                self._storage_failed(exc, failures)
                self._storage_retry.clear()
                delay = backoff_delay(self._wait, failures)
                await sleep_or_wake(self.clock, delay, self._storage_retry)
                continue
            del self._waiting[: len(batch)]
            if failures:
                log.warning(
                    "presses are written again after %d failed attempt(s) (%s); %d were waiting",
                    failures,
                    self.storage_error,
                    len(batch),
                )
                failures = 0
                self.storage_error = None
                self.storage_error_since = None
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            records = [_new_record(first + i, w.values) for i, w in enumerate(batch)]
            try:
                async with self._lock:
                    await self._recount()
            except sqlite3.Error as exc:  # the presses are written: only the counts are stale
                log.warning("press counts not refreshed: %s", exc)
            for waiting, record in zip(batch, records, strict=True):
                self._remember(record)
                log.info(
                    "press: %s %s (input %d) at %s",
                    record.device_name,
                    record.input_name,
                    record.input_index,
                    record.timecode,
                )
                self._emit("press", record)
                if not waiting.done.done():
                    waiting.done.set_result(record)
            self._wake.set()

    async def _commit(self, rows: list[tuple[Any, ...]]) -> int:
        """Write ``rows`` in one transaction (one fsync); the id of the first."""
        async with self._lock:
            db = self._require()
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.executemany(_INSERT, rows)
                cur = await db.execute("SELECT last_insert_rowid()")
                row = await cur.fetchone()
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
        assert row is not None
        # One writer (the lock) and AUTOINCREMENT: the batch's ids are consecutive.
        return int(row[0]) - len(rows) + 1

    def _storage_failed(self, exc: BaseException, failures: int) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.storage_error is None:
            self.storage_error_since = self.clock.now()
        self.storage_error = reason
        self.storage_retries = failures
        log.error(
            "presses cannot be written (%s); %d press(es) wait in memory; trying again "
            "(attempt %d)",
            reason,
            len(self._waiting),
            failures,
        )

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the press log is not open")
        return self._db

    async def _execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement under the lock; its rowcount."""
        async with self._lock:
            cur = await self._require().execute(sql, tuple(params))
            return cur.rowcount

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            cur = await self._require().execute(sql, tuple(params))
            return list(await cur.fetchall())

    # ------------------------------------------------------------------ sending
    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                sent_any, failed = await self._send_ready()
                self.sender_error = None
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
        rows = await self._fetch(
            "SELECT * FROM presses WHERE id IN (SELECT MIN(id) FROM presses "
            "WHERE state = 'pending' GROUP BY serial) ORDER BY id"
        )
        return [_record(row) for row in rows]

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
        await self._execute(
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
        await self._execute(
            "UPDATE presses SET state = 'sent', sent_at = ?, offset_sent = ?, last_error = NULL "
            "WHERE id = ?",
            (done, body.offset, record.id),
        )
        await self._refresh(record.id, "sent")
        return "sent"

    async def _set(self, press_id: int, state: str, error: str | None) -> None:
        await self._execute(
            "UPDATE presses SET state = ?, last_error = ? WHERE id = ?", (state, error, press_id)
        )
        await self._refresh(press_id, state)

    async def _refresh(self, press_id: int, kind: str) -> None:
        async with self._lock:
            cur = await self._require().execute("SELECT * FROM presses WHERE id = ?", (press_id,))
            row = await cur.fetchone()
            await self._recount()
        if row is not None:
            record = _record(row)
            self._remember(record)
            self._emit(kind, record)

    async def resend(self, press_id: int) -> bool:
        """An operator's decision: send an unconfirmed or failed press again."""
        changed = await self._execute(
            "UPDATE presses SET state = 'pending' WHERE id = ? "
            "AND state IN ('unconfirmed', 'failed')",
            (press_id,),
        )
        if changed:
            await self._refresh(press_id, "pending")
            self._wake.set()
        return bool(changed)

    # ------------------------------------------------------------------ reading
    async def _reload(self) -> None:
        await self._recount()
        cur = await self._require().execute("SELECT * FROM presses ORDER BY id DESC LIMIT 20")
        self.recent = [_record(row) for row in reversed(list(await cur.fetchall()))]

    async def _recount(self) -> None:
        """Counts per state, from the table itself (one indexed query; never drifts).

        The caller holds the lock (or nothing else runs yet).
        """
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
        return [_record(row) for row in await self._fetch("SELECT * FROM presses ORDER BY id")]

    def snapshot(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "recent": [r.to_json() for r in self.recent],
            "storage": {
                "error": self.storage_error,
                "since": self.storage_error_since,
                "retries": self.storage_retries if self.storage_error else 0,
                "waiting": len(self._waiting),
            },
            "sender_error": self.sender_error,
        }


def _record(row: aiosqlite.Row) -> PressRecord:
    return PressRecord(**{key: row[key] for key in row.keys()})


def _new_record(press_id: int, values: tuple[Any, ...]) -> PressRecord:
    """The record of a press just written (the table's defaults for the rest)."""
    serial, index, input_name, device_name, at, timecode, num, den, ntsc = values
    return PressRecord(
        id=press_id,
        serial=serial,
        input_index=index,
        input_name=input_name,
        device_name=device_name,
        pressed_at=at,
        timecode=timecode,
        rate_num=num,
        rate_den=den,
        ntsc=ntsc,
        state="pending",
        attempts=0,
        last_error=None,
        sent_at=None,
        offset_sent=None,
    )


async def _rollback(db: aiosqlite.Connection) -> None:
    """Undo a failed transaction (SQLite may already have rolled it back itself)."""
    try:
        if db.in_transaction:
            await db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.warning("rolling back the press batch failed: %s", exc)
