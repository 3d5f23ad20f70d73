"""The durable upload queue: one SQLite database, one writer, states a person can read.

Layout (``<data_dir>/queue.sqlite3``, WAL, ``synchronous=FULL`` so a commit survives a power cut):

- ``files``: one row per file, with the capture time persisted at enqueue (``offset`` stays
  true across power cycles), the file's identity when it was queued (size, mtime, inode), its
  state and the reason for it, priorities, the Frame.io asset once created, and ``info`` (JSON:
  counters such as assets re-created, create calls whose answer was lost).
- ``parts``: one row per part of an asset: where it sits in the file, its upload URL and when
  that URL expires, and ``pending`` → ``sending`` → ``acked``.
- ``settings``: the mode (auto/manual), parallel uploads, priorities per file type (JSON).

Rules (litequeue / persist-queue style):

- The intent is written before the act (``part_sending`` before a PUT, ``begin_create`` before
  an asset create) and the result before anyone is told (``part_acked`` before a progress
  event). A claim is one ``UPDATE … RETURNING`` inside ``BEGIN IMMEDIATE``.
- On open, whatever was in flight is given back: ``uploading`` files become ``queued``,
  ``sending`` parts become ``pending`` (they were never acknowledged, so sending them again is
  right), and an asset create whose answer never got stored is counted (a possible duplicate
  asset in Frame.io; nothing here can tell).
- ``acked`` parts are never sent again. The queue never touches the media files themselves.

Every method runs on the one aiosqlite connection (its own thread), so the event loop never
blocks on disk. :attr:`UploadQueue.files` mirrors every row of ``files`` after each commit, so
status snapshots are cheap and synchronous.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import aiosqlite

from c2c_hub.errors import HubError

#: The queue's database file in the hub's data directory.
QUEUE_FILE = "queue.sqlite3"

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    path          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    filetype      TEXT    NOT NULL,
    channel       INTEGER NOT NULL DEFAULT 0,
    device        TEXT,
    size          INTEGER,
    mtime_ns      INTEGER,
    inode         INTEGER,
    capture_time  REAL    NOT NULL,
    enqueued_at   REAL    NOT NULL,
    state         TEXT    NOT NULL,
    reason        TEXT,
    priority      INTEGER NOT NULL DEFAULT 0,
    type_priority INTEGER NOT NULL DEFAULT 0,
    realtime      INTEGER NOT NULL DEFAULT 0,
    released      INTEGER NOT NULL DEFAULT 0,
    asset_id      TEXT,
    create_pending INTEGER NOT NULL DEFAULT 0,
    bytes_acked   INTEGER NOT NULL DEFAULT 0,
    updated_at    REAL    NOT NULL,
    finished_at   REAL,
    info          TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE INDEX IF NOT EXISTS files_identity ON files (path, size, mtime_ns);
CREATE TABLE IF NOT EXISTS parts (
    file_id        INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    offset         INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    is_final       INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL DEFAULT 'pending',
    url            TEXT,
    url_expires_at REAL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    sha256         TEXT,
    acked_at       REAL,
    PRIMARY KEY (file_id, number)
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class FileState(StrEnum):
    """What a person sees for each file."""

    RECORDING = "recording"  # still being written; parts go up as data arrives (real-time)
    QUEUED = "queued"  # waiting its turn (or, in manual mode, for a start)
    UPLOADING = "uploading"  # being sent now
    DONE = "done"  # every byte acknowledged by Frame.io
    FAILED = "failed"  # gave up; ``reason`` says why; "retry" puts it back
    SKIPPED_PAUSED = "skipped_paused"  # captured while the device was paused (409)
    CANCELLED = "cancelled"  # a person cancelled it
    CORRUPT = "corrupt"  # unreadable, truncated, or changed after it was queued


FINAL_STATES = frozenset(
    {
        FileState.DONE,
        FileState.FAILED,
        FileState.SKIPPED_PAUSED,
        FileState.CANCELLED,
        FileState.CORRUPT,
    }
)
ACTIVE_STATES = frozenset({FileState.RECORDING, FileState.QUEUED, FileState.UPLOADING})


class PartState(StrEnum):
    PENDING = "pending"  # planned (maybe with a URL), not being sent
    SENDING = "sending"  # a PUT is (or was, before a crash) in flight
    ACKED = "acked"  # S3 answered 200: never sent again


@dataclass
class FileRecord:
    id: int
    path: str
    name: str
    filetype: str
    channel: int
    device: str | None  # a sub-device's serial: its channel is looked up at asset create
    size: int | None
    mtime_ns: int | None
    inode: int | None
    capture_time: float
    enqueued_at: float
    state: FileState
    reason: str | None
    priority: int
    type_priority: int
    realtime: bool
    released: bool
    asset_id: str | None
    create_pending: bool
    bytes_acked: int
    updated_at: float
    finished_at: float | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_priority(self) -> int:
        return self.priority + self.type_priority

    @property
    def kind(self) -> str | None:
        """A recorder's kind of file (``proxy``, ``mix``, ``iso``, ``poly``), if it said."""
        kind = self.info.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "name": self.name,
            "filetype": self.filetype,
            "channel": self.channel,
            "device": self.device,
            "size": self.size,
            "capture_time": self.capture_time,
            "enqueued_at": self.enqueued_at,
            "state": self.state.value,
            "reason": self.reason,
            "priority": self.priority,
            "type_priority": self.type_priority,
            "kind": self.kind,
            "realtime": self.realtime,
            "asset_id": self.asset_id,
            "bytes_acked": self.bytes_acked,
            "finished_at": self.finished_at,
            "info": self.info,
        }


@dataclass
class PartRecord:
    file_id: int
    number: int
    offset: int
    size: int
    is_final: bool
    state: PartState
    url: str | None
    url_expires_at: float | None
    attempts: int
    sha256: str | None
    acked_at: float | None

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class NewPart:
    """A part to record (with its URL when it already has one)."""

    number: int
    offset: int
    size: int
    url: str | None = None
    url_expires_at: float | None = None
    is_final: bool = False


_FILE_COLUMNS = [f.name for f in fields(FileRecord)]
_BOOL_FILE_COLUMNS = {"realtime", "released", "create_pending"}


def _file(row: aiosqlite.Row) -> FileRecord:
    values: dict[str, Any] = {name: row[name] for name in _FILE_COLUMNS}
    values["state"] = FileState(values["state"])
    for name in _BOOL_FILE_COLUMNS:
        values[name] = bool(values[name])
    values["info"] = json.loads(values["info"] or "{}")
    return FileRecord(**values)


def _part(row: aiosqlite.Row) -> PartRecord:
    return PartRecord(
        file_id=row["file_id"],
        number=row["number"],
        offset=row["offset"],
        size=row["size"],
        is_final=bool(row["is_final"]),
        state=PartState(row["state"]),
        url=row["url"],
        url_expires_at=row["url_expires_at"],
        attempts=row["attempts"],
        sha256=row["sha256"],
        acked_at=row["acked_at"],
    )


KINDS = ("proxy", "mix", "iso", "poly")
"""What a recorder's file is (``info["kind"]``): priorities by type may name it as ``kind:mix``."""


def type_keys(name: str, filetype: str, kind: str | None = None) -> list[str]:
    """The keys a per-type priority may be set under, most specific first.

    ``"kind:mix"`` (a recorder's file kind, if any), ``"audio/wav"``, ``"audio/*"``, ``".wav"``
    for ``S1_T001_00_Mix.WAV`` of type ``audio/wav``.
    """
    keys = [f"kind:{kind}"] if kind else []
    keys.append(filetype.lower())
    if "/" in filetype:
        keys.append(filetype.split("/", 1)[0].lower() + "/*")
    suffix = Path(name).suffix.lower()
    if suffix:
        keys.append(suffix)
    return keys


def normalize_type_key(key: str) -> str:
    """``"WAV"``, ``"wav"`` and ``".wav"`` all mean the extension; MIME types stay as given;
    ``"kind:proxy"`` names a recorder's kind of file (:data:`KINDS`)."""
    key = key.strip().lower()
    if not key:
        raise ValueError("a file type key must not be empty")
    if key.startswith("kind:"):
        if key[5:] not in KINDS:
            raise ValueError(f"{key!r}: the kinds are {', '.join('kind:' + k for k in KINDS)}")
        return key
    if "/" in key or key.startswith("."):
        return key
    return "." + key


P = ParamSpec("P")
R = TypeVar("R")


def _locked(
    fn: Callable[Concatenate[UploadQueue, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[UploadQueue, P], Coroutine[Any, Any, R]]:
    """One statement or transaction at a time on the one connection, never cut short.

    Coroutines share the connection, so each operation holds the lock; and it runs shielded, so
    a caller cancelled mid-transaction (a cancelled upload, ``stop()``) cannot leave a
    transaction open: the operation completes (or rolls back) on its own.
    """

    async def wrapper(self: UploadQueue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def run() -> R:
            async with self._lock:
                return await fn(self, *args, **kwargs)

        return await asyncio.shield(run())

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


async def _migrate(db: aiosqlite.Connection) -> None:
    """Bring a queue written by an older version up to :data:`SCHEMA_VERSION` (in place)."""
    cur = await db.execute("PRAGMA table_info(files)")
    columns = {row[1] for row in await cur.fetchall()}
    if "device" not in columns:  # version 1 -> 2: files routed to a sub-device's channel
        await db.execute("ALTER TABLE files ADD COLUMN device TEXT")


Identity = tuple[str, int | None, int | None]  # path, size, mtime_ns


class FileIndex(dict[int, FileRecord]):
    """The in-memory mirror of ``files``, by id, that also keeps what the status needs without
    walking every record: the file with an identity (path, size, mtime) in O(1), an enqueue of
    10,000 files must not scan 10,000 records each time; the ids in each state; and the bytes
    the active files still have to send. Every write to the mirror goes through
    ``[]=``/``pop``, which keep them."""

    def __init__(self, records: Iterable[FileRecord] = ()) -> None:
        super().__init__()
        self._by_identity: dict[Identity, int] = {}
        self.by_state: dict[FileState, set[int]] = {state: set() for state in FileState}
        self.active_remaining = 0  # sum of size - bytes_acked over the active files
        for record in records:
            self[record.id] = record

    @staticmethod
    def _remaining(record: FileRecord) -> int:
        if record.state not in ACTIVE_STATES or record.size is None:
            return 0
        return max(0, record.size - record.bytes_acked)

    def __setitem__(self, file_id: int, record: FileRecord) -> None:
        old = super().get(file_id)
        if old is not None:
            self._forget(old)
        super().__setitem__(file_id, record)
        self._by_identity[(record.path, record.size, record.mtime_ns)] = file_id
        self.by_state[record.state].add(file_id)
        self.active_remaining += self._remaining(record)

    def _forget(self, record: FileRecord) -> None:
        key = (record.path, record.size, record.mtime_ns)
        if self._by_identity.get(key) == record.id:
            del self._by_identity[key]
        self.by_state[record.state].discard(record.id)
        self.active_remaining -= self._remaining(record)

    def pop(self, file_id: int, *default: Any) -> Any:
        record = super().pop(file_id, *default)
        if isinstance(record, FileRecord):
            self._forget(record)
        return record

    def __delitem__(self, file_id: int) -> None:
        self.pop(file_id)

    def find(self, path: str, size: int | None, mtime_ns: int | None) -> FileRecord | None:
        file_id = self._by_identity.get((path, size, mtime_ns))
        return None if file_id is None else self[file_id]

    def in_states(self, *states: FileState) -> list[FileRecord]:
        """The records in any of ``states``, by id."""
        ids: set[int] = set().union(*(self.by_state[state] for state in states))
        return [self[i] for i in sorted(ids)]


@dataclass(frozen=True)
class NewFile:
    """A file to add (:meth:`UploadQueue.add_many`)."""

    path: str
    name: str
    filetype: str
    channel: int
    size: int | None
    mtime_ns: int | None
    inode: int | None
    capture_time: float
    device: str | None = None
    state: FileState = FileState.QUEUED
    priority: int = 0
    realtime: bool = False
    released: bool = False
    reason: str | None = None


class QueueClosed(HubError, RuntimeError):
    """The queue is not open."""


log = logging.getLogger(__name__)

#: Why a create may have left a duplicate asset on Frame.io (``info.possible_duplicates[].why``).
LOST_AT_RESTART = "stopped before the answer was stored"
LOST_ANSWER = "no usable answer"


def _note_possible_duplicate(info: dict[str, Any], at: float, why: str) -> None:
    info.setdefault("possible_duplicates", []).append({"at": at, "why": why})


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _column_value(key: str, value: Any) -> Any:
    """``value`` as the ``files`` column ``key`` stores it (``info`` as JSON, booleans as ints)."""
    if key not in _FILE_COLUMNS or key == "id":
        raise ValueError(f"unknown file column {key!r}")
    if key == "info":
        return json.dumps(value)
    if isinstance(value, FileState):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


class UploadQueue:
    """The queue's database and its in-memory mirror. Open once; one connection writes."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self.files = FileIndex()
        self.settings: dict[str, Any] = {}
        #: What the last :meth:`open` gave back: files requeued, parts returned, lost creates.
        self.recovered: dict[str, int] = {}
        self._duplicates: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise QueueClosed("the upload queue is not open")
        return self._db

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self, now: float) -> None:
        """Open (creating if needed) and give back whatever a crash left in flight."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only: the queue names the media and the assets. SQLite gives its -wal and -shm
        # files the database file's permissions, so creating it 0600 covers all three.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.executescript(_SCHEMA)
            await _migrate(db)
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            await db.close()
            raise
        self._db = db
        self.recovered = await self._recover(now)
        await self._load()

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    @_locked
    async def give_back(self, now: float) -> dict[str, int]:
        """Return whatever is in flight to the queue (on open after a crash, and on stop)."""
        return await self._recover(now)

    async def _recover(self, now: float) -> dict[str, int]:
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            cur = await db.execute(
                "UPDATE parts SET state = 'pending' WHERE state = 'sending' RETURNING file_id"
            )
            parts = len(list(await cur.fetchall()))
            cur = await db.execute(
                "UPDATE files SET state = 'queued', updated_at = ? WHERE state = 'uploading' "
                "RETURNING id",
                (now,),
            )
            files = len(list(await cur.fetchall()))
            # A create whose answer was never stored: Frame.io may hold an asset we do not know,
            # and devices can neither look it up nor delete it (c2c-api.md section 1, "write
            # but don't read"), so it is recorded for the operator instead.
            cur = await db.execute(
                "SELECT id, name, updated_at, info FROM files WHERE create_pending = 1"
            )
            lost = 0
            for row in await cur.fetchall():
                info = json.loads(row["info"] or "{}")
                info["lost_creates"] = int(info.get("lost_creates", 0)) + 1
                at = float(info.pop("create_intent_at", row["updated_at"]))
                _note_possible_duplicate(info, at, LOST_AT_RESTART)
                log.warning(
                    "%s: the hub stopped after asking Frame.io to create its asset (%s) and "
                    "before storing the answer; Frame.io may hold an incomplete duplicate "
                    "named %s: devices cannot list or delete assets, so delete it in the "
                    "project if one never completes",
                    row["name"],
                    _utc(at),
                    row["name"],
                )
                lost += 1
                await db.execute(
                    "UPDATE files SET create_pending = 0, info = ? WHERE id = ?",
                    (json.dumps(info), row["id"]),
                )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return {"files_requeued": files, "parts_returned": parts, "lost_creates": lost}

    async def _load(self) -> None:
        cur = await self.db.execute("SELECT * FROM files ORDER BY id")
        self.files = FileIndex(_file(row) for row in await cur.fetchall())
        cur = await self.db.execute("SELECT key, value FROM settings")
        self.settings = {row["key"]: json.loads(row["value"]) for row in await cur.fetchall()}
        self._index_duplicates()

    async def _refresh(self, file_id: int) -> FileRecord:
        cur = await self.db.execute("SELECT * FROM files WHERE id = ?", (file_id,))
        row = await cur.fetchone()
        if row is None:
            self.files.pop(file_id, None)
            raise KeyError(file_id)
        record = _file(row)
        self.files[file_id] = record
        return record

    async def _in_thread(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(connection)`` on the connection's own thread: several statements, one hop.

        aiosqlite's public calls take one statement (or one fetch) per trip to its thread, and
        each trip wakes both threads; a part's state used to take ten. This is its ``_execute``
        (the queue of work its thread runs; aiosqlite is pinned in ``constraints.txt``), the
        one place the queue goes below aiosqlite's public API. ``fn`` must not block on the
        event loop, and leaves no transaction open.
        """
        db = self.db
        execute = cast(Callable[..., Coroutine[Any, Any, R]], db._execute)
        return await execute(fn, db._conn)

    async def _in_transaction(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(connection)`` inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` if it
        raises), all of it in one hop to the connection's thread (:meth:`_in_thread`)."""

        def transaction(conn: sqlite3.Connection) -> R:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return result

        return await self._in_thread(transaction)

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, default: Any) -> Any:
        return self.settings.get(key, default)

    @_locked
    async def set_setting(self, key: str, value: Any) -> None:
        await self._set_setting(key, value)

    async def _set_setting(self, key: str, value: Any) -> None:
        await self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
        self.settings[key] = value

    def type_priority_for(self, name: str, filetype: str, kind: str | None = None) -> int:
        table: dict[str, int] = self.setting("type_priorities", {})
        for key in type_keys(name, filetype, kind):
            if key in table:
                return int(table[key])
        return 0

    @_locked
    async def set_type_priority(self, key: str, priority: int, now: float) -> None:
        """Priority for every file of a type (``".wav"``, ``"audio/wav"``, ``"audio/*"``)."""
        table = dict(self.setting("type_priorities", {}))
        table[normalize_type_key(key)] = int(priority)
        await self._set_setting("type_priorities", table)
        for record in list(self.files.values()):
            wanted = self.type_priority_for(record.name, record.filetype, record.kind)
            if wanted != record.type_priority:
                await self.db.execute(
                    "UPDATE files SET type_priority = ?, updated_at = ? WHERE id = ?",
                    (wanted, now, record.id),
                )
                self.files[record.id] = replace(record, type_priority=wanted)

    # ------------------------------------------------------------------ files
    async def find(self, path: str, size: int | None, mtime_ns: int | None) -> FileRecord | None:
        """A file already queued with this path and identity (for idempotent enqueue)."""
        return self.files.find(path, size, mtime_ns)

    @_locked
    async def add_many(self, files: Sequence[NewFile], now: float) -> list[FileRecord]:
        """Add ``files`` in one transaction (one commit, one fsync); their records, in order."""
        if not files:
            return []
        db = self.db
        rows = [
            (
                f.path,
                f.name,
                f.filetype,
                f.channel,
                f.device,
                f.size,
                f.mtime_ns,
                f.inode,
                f.capture_time,
                now,
                f.state.value,
                f.reason,
                f.priority,
                self.type_priority_for(f.name, f.filetype),
                int(f.realtime),
                int(f.released),
                now,
            )
            for f in files
        ]
        await db.execute("BEGIN IMMEDIATE")
        try:
            cur = await db.execute("SELECT COALESCE(MAX(id), 0) FROM files")
            row = await cur.fetchone()
            assert row is not None
            last = int(row[0])
            await db.executemany(
                "INSERT INTO files (path, name, filetype, channel, device, size, mtime_ns, "
                "inode, capture_time, enqueued_at, state, reason, priority, type_priority, "
                "realtime, released, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            cur = await db.execute("SELECT * FROM files WHERE id > ? ORDER BY id", (last,))
            added = [_file(r) for r in await cur.fetchall()]
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        for record in added:
            self.files[record.id] = record
        return added

    @_locked
    async def add(
        self,
        *,
        path: str,
        name: str,
        filetype: str,
        channel: int,
        size: int | None,
        mtime_ns: int | None,
        inode: int | None,
        capture_time: float,
        now: float,
        device: str | None = None,
        state: FileState = FileState.QUEUED,
        priority: int = 0,
        realtime: bool = False,
        released: bool = False,
        reason: str | None = None,
        kind: str | None = None,
    ) -> FileRecord:
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
        cur = await self.db.execute(
            "INSERT INTO files (path, name, filetype, channel, device, size, mtime_ns, inode, "
            "capture_time, enqueued_at, state, reason, priority, type_priority, realtime, "
            "released, updated_at, info) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (
                path,
                name,
                filetype,
                channel,
                device,
                size,
                mtime_ns,
                inode,
                capture_time,
                now,
                state.value,
                reason,
                priority,
                self.type_priority_for(name, filetype, kind),
                int(realtime),
                int(released),
                now,
                json.dumps({"kind": kind} if kind else {}),
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        return await self._refresh(int(row[0]))

    @_locked
    async def claim(
        self,
        now: float,
        *,
        manual: bool,
        devices: Iterable[str] | None = None,
    ) -> FileRecord | None:
        """Move the most urgent queued file to ``uploading`` and return it (one transaction).

        With ``devices``, a file routed to a sub-device is only claimed when its serial is among
        them (its channel is connected, or it has been gone too long to wait for); the others
        wait, queued.
        """
        db = self.db
        ready = json.dumps(sorted(devices)) if devices is not None else None
        await db.execute("BEGIN IMMEDIATE")
        try:
            cur = await db.execute(
                "UPDATE files SET state = 'uploading', reason = NULL, updated_at = ? "
                "WHERE id = (SELECT id FROM files WHERE state = 'queued' AND (? = 0 OR released) "
                "AND (device IS NULL OR ? IS NULL OR device IN (SELECT value FROM json_each(?))) "
                "ORDER BY priority + type_priority DESC, id ASC LIMIT 1) RETURNING *",
                (now, int(manual), ready, ready),
            )
            row = await cur.fetchone()
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        if row is None:
            return None
        record = _file(row)
        self.files[record.id] = record
        return record

    @_locked
    async def set_state(
        self,
        file_id: int,
        state: FileState,
        now: float,
        reason: str | None = None,
        /,
        *,
        only_from: Iterable[FileState] | None = None,
        **changes: Any,
    ) -> FileRecord | None:
        """Set a file's state (and reason); with ``only_from``, only from those states.

        ``changes`` are plain columns set in the same commit (as :meth:`update`), e.g. a
        recording's size at its end: one fsync, not two.
        Returns the updated record, or None when ``only_from`` did not match.
        """
        finished = now if state in FINAL_STATES else None
        sql = "UPDATE files SET state = ?, reason = ?, updated_at = ?, finished_at = ?"
        args: list[Any] = [state.value, reason, now, finished]
        for key, value in changes.items():
            if key in ("state", "reason", "updated_at", "finished_at"):
                raise ValueError(f"{key} is set by set_state itself")
            sql += f", {key} = ?"
            args.append(_column_value(key, value))
        sql += " WHERE id = ?"
        args.append(file_id)
        if only_from is not None:
            allowed = [s.value for s in only_from]
            sql += f" AND state IN ({', '.join('?' for _ in allowed)})"
            args.extend(allowed)
        cur = await self.db.execute(sql + " RETURNING id", args)
        if await cur.fetchone() is None:
            return None
        return await self._refresh(file_id)

    @_locked
    async def update(self, file_id: int, /, **changes: Any) -> FileRecord:
        """Set plain columns of a file (``info`` is a dict, booleans are stored as ints)."""
        return await self._update(file_id, **changes)

    async def _update(self, file_id: int, /, **changes: Any) -> FileRecord:
        if not changes:
            return self.files[file_id]
        columns = []
        args: list[Any] = []
        for key, value in changes.items():
            columns.append(f"{key} = ?")
            args.append(_column_value(key, value))
        args.append(file_id)
        await self.db.execute(f"UPDATE files SET {', '.join(columns)} WHERE id = ?", args)
        return await self._refresh(file_id)

    @_locked
    async def bump_info(self, file_id: int, key: str, by: int = 1) -> FileRecord:
        info = dict(self.files[file_id].info)
        info[key] = int(info.get(key, 0)) + by
        return await self._update(file_id, info=info)

    # ------------------------------------------------------------------ assets
    @_locked
    async def begin_create(self, file_id: int, now: float) -> None:
        """Intent: an asset create is about to be sent for this file (and when it was sent)."""
        info = dict(self.files[file_id].info)
        info["create_intent_at"] = now
        await self._update(file_id, create_pending=True, info=info, updated_at=now)

    @_locked
    async def create_answer_lost(self, file_id: int) -> FileRecord:
        """The create may have reached Frame.io but its answer did not reach us."""
        record = self.files[file_id]
        info = dict(record.info)
        info["lost_creates"] = int(info.get("lost_creates", 0)) + 1
        at = float(info.get("create_intent_at", record.updated_at))
        _note_possible_duplicate(info, at, LOST_ANSWER)
        self._duplicates.append({"id": file_id, "name": record.name, "at": at, "why": LOST_ANSWER})
        log.warning(
            "%s: no usable answer to its asset create (%s); Frame.io may hold an incomplete "
            "duplicate named %s: devices cannot list or delete assets, so delete it in the "
            "project if one never completes",
            record.name,
            _utc(at),
            record.name,
        )
        return await self._update(file_id, info=info)

    def possible_duplicates(self, limit: int = 20) -> list[dict[str, Any]]:
        """Creates that may have left an incomplete asset on Frame.io, newest last."""
        return self._duplicates[-limit:]

    def _index_duplicates(self) -> None:
        # Kept in memory (built once at open) so that a snapshot never walks every record.
        found = [
            {"id": r.id, "name": r.name, "at": at["at"], "why": at["why"]}
            for r in self.files.values()
            for at in r.info.get("possible_duplicates", [])
        ]
        self._duplicates = sorted(found, key=lambda d: float(d["at"]))

    @_locked
    async def create_failed(self, file_id: int, now: float) -> None:
        """The create got a definite answer that was not an asset (nothing was created)."""
        info = dict(self.files[file_id].info)
        info.pop("create_intent_at", None)
        await self._update(file_id, create_pending=False, info=info, updated_at=now)

    @_locked
    async def asset_created(
        self,
        file_id: int,
        asset_id: str,
        parts: Sequence[NewPart],
        now: float,
    ) -> FileRecord:
        """Store a new asset and its planned parts (replacing any earlier asset's parts)."""
        db = self.db
        record = self.files[file_id]
        info = dict(record.info)
        info["assets_created"] = int(info.get("assets_created", 0)) + 1
        info.pop("create_intent_at", None)
        if record.asset_id is not None and record.asset_id != asset_id:
            info.setdefault("abandoned_assets", []).append(record.asset_id)
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
            await self._insert_parts(file_id, parts)
            await db.execute(
                "UPDATE files SET asset_id = ?, create_pending = 0, bytes_acked = 0, info = ?, "
                "updated_at = ? WHERE id = ?",
                (asset_id, json.dumps(info), now, file_id),
            )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return await self._refresh(file_id)

    async def _insert_parts(self, file_id: int, parts: Sequence[NewPart]) -> None:
        await self.db.executemany(
            "INSERT INTO parts (file_id, number, offset, size, is_final, url, url_expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_id, number) DO UPDATE SET "
            "offset = excluded.offset, size = excluded.size, is_final = excluded.is_final, "
            "url = excluded.url, url_expires_at = excluded.url_expires_at",
            [
                (file_id, p.number, p.offset, p.size, int(p.is_final), p.url, p.url_expires_at)
                for p in parts
            ],
        )

    @_locked
    async def plan_parts(self, file_id: int, parts: Sequence[NewPart]) -> None:
        """Record (or re-plan) parts that are not acknowledged (real-time uploads)."""
        acked = {p.number for p in await self._parts(file_id) if p.state is PartState.ACKED}
        clash = [p.number for p in parts if p.number in acked]
        if clash:
            raise ValueError(f"parts {clash} are acknowledged already")
        await self._insert_parts(file_id, parts)

    @_locked
    async def replan_sent_part(self, file_id: int, part: NewPart) -> PartRecord:
        """An acknowledged part is to be sent again with a new range (an append-only real-time
        file's growing last part): pending again, its bytes no longer counted as acknowledged,
        in one commit. Returns the part as it was (what Frame.io holds until the new one lands,
        and what :meth:`restore_part` puts back if the re-send is withdrawn)."""

        def replan(conn: sqlite3.Connection) -> PartRecord:
            row = conn.execute(
                "SELECT * FROM parts WHERE file_id = ? AND number = ? AND state = 'acked'",
                (file_id, part.number),
            ).fetchone()
            if row is None:
                raise ValueError(f"part {part.number} is not acknowledged")
            before = _part(row)
            conn.execute(
                "UPDATE parts SET offset = ?, size = ?, is_final = ?, state = 'pending', "
                "url = NULL, url_expires_at = NULL, sha256 = NULL, acked_at = NULL "
                "WHERE file_id = ? AND number = ?",
                (part.offset, part.size, int(part.is_final), file_id, part.number),
            )
            conn.execute(
                "UPDATE files SET bytes_acked = bytes_acked - ? WHERE id = ?",
                (before.size, file_id),
            )
            return before

        before = await self._in_transaction(replan)
        await self._refresh(file_id)
        return before

    @_locked
    async def restore_part(self, file_id: int, before: PartRecord) -> bool:
        """A re-send of an acknowledged part was withdrawn before its last byte went (see
        :meth:`replan_sent_part`): Frame.io still holds the part as it was, so it is put back
        acknowledged with its earlier range and SHA-256, its bytes counted again, in one
        commit. False (nothing changed) if the part was acknowledged meanwhile."""
        if before.state is not PartState.ACKED:
            raise ValueError(f"part {before.number} was not acknowledged before")

        def restore(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(
                "UPDATE parts SET offset = ?, size = ?, is_final = ?, state = 'acked', "
                "url = NULL, url_expires_at = NULL, sha256 = ?, acked_at = ? "
                "WHERE file_id = ? AND number = ? AND state != 'acked' RETURNING number",
                (
                    before.offset,
                    before.size,
                    int(before.is_final),
                    before.sha256,
                    before.acked_at,
                    file_id,
                    before.number,
                ),
            ).fetchall()
            if not rows:
                return False
            conn.execute(
                "UPDATE files SET bytes_acked = bytes_acked + ? WHERE id = ?",
                (before.size, file_id),
            )
            return True

        restored = await self._in_transaction(restore)
        await self._refresh(file_id)
        return restored

    @_locked
    async def set_part_url(
        self, file_id: int, number: int, url: str, url_expires_at: float | None
    ) -> None:
        await self.db.execute(
            "UPDATE parts SET url = ?, url_expires_at = ? WHERE file_id = ? AND number = ? "
            "AND state != 'acked'",
            (url, url_expires_at, file_id, number),
        )

    @_locked
    async def parts(self, file_id: int) -> list[PartRecord]:
        return await self._parts(file_id)

    async def _parts(self, file_id: int) -> list[PartRecord]:
        cur = await self.db.execute(
            "SELECT * FROM parts WHERE file_id = ? ORDER BY number", (file_id,)
        )
        return [_part(row) for row in await cur.fetchall()]

    @_locked
    async def part_sending(self, file_id: int, number: int) -> None:
        """Intent: a PUT of this part is about to go out.

        Written, but not forced to disk on its own (``synchronous = NORMAL`` for this one
        commit): the next durable commit (the part's ``acked``) forces it with everything
        before it, as the WAL is one sequential file. A power cut can only lose it when no
        later commit happened, and then the part is ``pending``, which is what a ``sending``
        part becomes at start anyway; an acknowledgement is still forced to disk before it is
        told. One fsync per part instead of two, and one hop to the connection's thread: the
        pragma is set back to ``FULL`` there, whatever the update did.
        """

        def mark(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute(
                    "UPDATE parts SET state = 'sending', attempts = attempts + 1 "
                    "WHERE file_id = ? AND number = ? AND state != 'acked'",
                    (file_id, number),
                )
            finally:
                conn.execute("PRAGMA synchronous = FULL")

        await self._in_thread(mark)

    @_locked
    async def part_unsent(self, file_id: int, number: int) -> None:
        """The PUT failed: the part is pending again."""
        await self.db.execute(
            "UPDATE parts SET state = 'pending' WHERE file_id = ? AND number = ? "
            "AND state = 'sending'",
            (file_id, number),
        )

    @_locked
    async def part_acked(
        self, file_id: int, number: int, now: float, sha256: str | None = None
    ) -> FileRecord:
        """S3 acknowledged the part: durable before anyone hears of it.

        One transaction, one hop to the connection's thread, one fsync: the part ``acked``
        (with its SHA-256) and the file's ``bytes_acked`` together, so a power cut keeps both
        or neither. The mirror's record is updated from what the commit returned (nothing is
        read back). A part acknowledged already changes nothing.
        """
        if file_id not in self.files:
            raise KeyError(file_id)

        def commit(conn: sqlite3.Connection) -> int | None:
            acked = conn.execute(
                "UPDATE parts SET state = 'acked', acked_at = ?, sha256 = ? "
                "WHERE file_id = ? AND number = ? AND state != 'acked' RETURNING size",
                (now, sha256, file_id, number),
            ).fetchall()
            if not acked:
                return None
            rows = conn.execute(
                "UPDATE files SET bytes_acked = bytes_acked + ?, updated_at = ? "
                "WHERE id = ? RETURNING bytes_acked",
                (acked[0][0], now, file_id),
            ).fetchall()
            return int(rows[0][0]) if rows else None

        total = await self._in_transaction(commit)
        record = self.files[file_id]
        if total is not None:
            record = replace(record, bytes_acked=total, updated_at=now)
            self.files[file_id] = record
        return record

    @_locked
    async def forget_asset(self, file_id: int, now: float) -> FileRecord:
        """Drop the asset and its parts (the file will be sent to a new asset)."""
        record = self.files[file_id]
        info = dict(record.info)
        if record.asset_id is not None:
            info.setdefault("abandoned_assets", []).append(record.asset_id)
        await self.db.execute("DELETE FROM parts WHERE file_id = ?", (file_id,))
        return await self._update(file_id, asset_id=None, bytes_acked=0, info=info, updated_at=now)

    # ------------------------------------------------------------------ views
    def active(self) -> list[FileRecord]:
        return self.files.in_states(*ACTIVE_STATES)

    def active_count(self) -> int:
        return sum(len(self.files.by_state[state]) for state in ACTIVE_STATES)

    def counts(self) -> dict[str, int]:
        return {state.value: len(self.files.by_state[state]) for state in FileState}
