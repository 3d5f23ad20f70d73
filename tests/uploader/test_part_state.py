"""A part's state: ``sending`` before its PUT, ``acked`` with the file's progress after it.

What a restart (after SIGKILL or a power cut) reads is what another connection to the database
sees once a call has returned: the part acknowledged with its SHA-256 and the file's
``bytes_acked`` grown by its size, in the same commit; the in-memory record the same as what a
restart loads; and the connection forcing acknowledgements to disk again after every
``sending`` mark, also when that mark failed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from c2c_hub.uploader import FileState, UploadQueue
from c2c_hub.uploader.queue import NewPart, PartState

FULL = 2  # PRAGMA synchronous: every commit is fsynced


async def _queue_with_parts(path: Path, **options: int) -> tuple[UploadQueue, int]:
    queue = UploadQueue(path, **options)
    await queue.open(1000.0)
    record = await queue.add(
        path="/m/take.wav",
        name="take.wav",
        filetype="audio/wav",
        channel=0,
        size=30,
        mtime_ns=1,
        inode=1,
        capture_time=900.0,
        now=1000.0,
    )
    await queue.claim(1001.0, manual=False)
    await queue.asset_created(
        record.id,
        "asset-1",
        [NewPart(n, (n - 1) * 10, 10, f"https://s3.example/{n}") for n in (1, 2, 3)],
        1002.0,
    )
    return queue, record.id


def _stored(db: Path, file_id: int) -> tuple[int, float, list[tuple[int, str, str | None]]]:
    """What another process (a restart) reads: the file's bytes_acked and updated_at, and each
    part's number, state and SHA-256."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        acked, updated = conn.execute(
            "SELECT bytes_acked, updated_at FROM files WHERE id = ?", (file_id,)
        ).fetchone()
        parts = conn.execute(
            "SELECT number, state, sha256 FROM parts WHERE file_id = ? ORDER BY number",
            (file_id,),
        ).fetchall()
    return acked, updated, parts


async def test_an_acked_part_is_stored_with_its_digest_and_the_files_progress_together(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.sqlite3"
    queue, file_id = await _queue_with_parts(db)
    await queue.part_sending(file_id, 2)
    assert _stored(db, file_id)[2][1] == (2, "sending", None)  # the intent, before the PUT

    record = await queue.part_acked(file_id, 2, 1005.0, "ab" * 32)

    assert _stored(db, file_id) == (
        10,
        1005.0,
        [(1, "pending", None), (2, "acked", "ab" * 32), (3, "pending", None)],
    )
    assert (record.bytes_acked, record.updated_at) == (10, 1005.0)
    assert queue.files[file_id] == record
    assert queue.files.active_remaining == 20  # the status's bytes still to send

    # An acknowledgement heard twice (a retried answer) counts once.
    again = await queue.part_acked(file_id, 2, 1006.0, "cd" * 32)
    assert again.bytes_acked == 10
    assert _stored(db, file_id)[:2] == (10, 1005.0)
    assert _stored(db, file_id)[2][1] == (2, "acked", "ab" * 32)

    await queue.part_sending(file_id, 3)
    await queue.part_acked(file_id, 3, 1007.0)
    mirror = queue.files[file_id]
    assert (mirror.bytes_acked, mirror.updated_at) == _stored(db, file_id)[:2] == (20, 1007.0)
    await queue.close()  # the process ends here; a restart loads what it held

    restarted = UploadQueue(db)
    await restarted.open(2000.0)
    loaded = restarted.files[file_id]
    assert loaded.bytes_acked == 20
    assert loaded.state is FileState.QUEUED  # given back: it was uploading
    states = [p.state for p in await restarted.parts(file_id)]
    assert states == [PartState.PENDING, PartState.ACKED, PartState.ACKED]
    await restarted.close()


async def test_acks_stay_durable_after_a_sending_mark_even_one_that_failed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.sqlite3"
    queue, file_id = await _queue_with_parts(db, busy_timeout_ms=50)

    async def synchronous() -> int:
        cur = await queue.db.execute("PRAGMA synchronous")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    assert await synchronous() == FULL
    await queue.part_sending(file_id, 1)
    assert await synchronous() == FULL

    # Another writer holds the database: the mark fails with SQLite's own error, and the
    # connection still forces the next acknowledgement to disk.
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await queue.part_sending(file_id, 2)
        other.execute("ROLLBACK")
    assert await synchronous() == FULL
    await queue.part_acked(file_id, 1, 1003.0)
    assert _stored(db, file_id)[0] == 10
    await queue.close()


async def test_an_ack_for_a_file_no_longer_queued_is_a_key_error(tmp_path: Path) -> None:
    queue, _ = await _queue_with_parts(tmp_path / "q.sqlite3")
    with pytest.raises(KeyError):
        await queue.part_acked(999, 1, 1003.0)
    await queue.close()


async def test_a_withdrawn_re_send_puts_the_part_back_as_frameio_holds_it(tmp_path: Path) -> None:
    """An append-only file's part sent again grown, then withdrawn at the stop: the part is
    acknowledged again with its earlier range and SHA-256, and its bytes counted, in one commit
    that a restart reads."""
    db = tmp_path / "q.sqlite3"
    queue, file_id = await _queue_with_parts(db)
    await queue.part_sending(file_id, 2)
    await queue.part_acked(file_id, 2, 1005.0, "ab" * 32)
    before = await queue.replan_sent_part(file_id, NewPart(2, 10, 15))
    assert (before.offset, before.size, before.sha256, before.acked_at) == (
        10,
        10,
        "ab" * 32,
        1005.0,
    )
    assert _stored(db, file_id)[0] == 0  # the grown part is not acknowledged

    assert await queue.restore_part(file_id, before)
    assert queue.files[file_id].bytes_acked == 10
    await queue.close()

    assert _stored(db, file_id)[0] == 10
    restarted = UploadQueue(db)
    await restarted.open(2000.0)
    part = (await restarted.parts(file_id))[1]
    assert (part.offset, part.size, part.state, part.sha256, part.url) == (
        10,
        10,
        PartState.ACKED,
        "ab" * 32,
        None,
    )
    # The re-send landed after all (acknowledged meanwhile): nothing is put back.
    again = await restarted.replan_sent_part(file_id, NewPart(2, 10, 15))
    await restarted.part_acked(file_id, 2, 2001.0, "cd" * 32)
    assert not await restarted.restore_part(file_id, again)
    assert _stored(db, file_id)[0] == 15
    assert _stored(db, file_id)[2][1] == (2, "acked", "cd" * 32)
    await restarted.close()
