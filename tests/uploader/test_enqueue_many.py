"""Queue scale: a batch of files queued in one transaction, found again by identity in O(1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2c_hub.uploader.queue import FileIndex, FileRecord, FileState
from tests.uploader.conftest import UploaderFactory, make_file


async def test_a_batch_is_queued_in_order_and_idempotently(
    uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")  # nothing leaves: the queue alone is under test
    paths = [make_file(media, f"clip-{i:03}.mov", 64) for i in range(200)]
    broken = media / "broken.wav"
    broken.write_bytes(b"RIFF" + (1000).to_bytes(4, "little") + b"WAVEfmt ")
    ids = await uploader.enqueue_many([*paths, paths[0], broken])
    assert len(ids) == 202
    assert ids[:200] == sorted(ids[:200]) and len(set(ids[:200])) == 200
    assert ids[200] == ids[0]  # the same file twice in one batch: one entry
    files = {f["id"]: f for f in uploader.files()}
    assert files[ids[201]]["state"] == FileState.CORRUPT
    assert "truncated" in files[ids[201]]["reason"] or "WAV" in files[ids[201]]["reason"]
    assert [files[i]["name"] for i in ids[:3]] == ["clip-000.mov", "clip-001.mov", "clip-002.mov"]
    # again, and mixed with one-at-a-time enqueue: the same ids, nothing added
    assert await uploader.enqueue_many(paths) == ids[:200]
    assert await uploader.enqueue(paths[5]) == ids[5]
    assert len(uploader.files()) == 201
    # a changed file is a new entry (its identity changed)
    with paths[7].open("ab") as fh:
        fh.write(b"more")
    (again,) = await uploader.enqueue_many([paths[7]])
    assert again not in ids
    # survives a restart, and the index is rebuilt from the database
    await uploader.stop()
    second = uploaders()
    await second.start()
    assert await second.enqueue_many(paths[:10]) == [*ids[:7], again, *ids[8:10]]


async def test_a_missing_path_queues_none_of_the_batch(
    uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    good = make_file(media, "a.mov", 64)
    with pytest.raises(FileNotFoundError):
        await uploader.enqueue_many([good, media / "missing.mov"])
    assert uploader.files() == []


async def test_pages_of_the_queue_by_id(uploaders: UploaderFactory, media: Path) -> None:
    uploader = uploaders()
    await uploader.start()
    await uploader.set_mode("manual")
    ids = await uploader.enqueue_many([make_file(media, f"{i}.mov", 8) for i in range(25)])
    seen: list[int] = []
    after, more = 0, True
    while more:
        page, more = uploader.files_page(after=after, limit=10)
        seen += [f["id"] for f in page]
        after = page[-1]["id"] if page else after
    assert seen == ids and uploader.file_count() == 25


def _record(file_id: int, path: str, size: int, mtime_ns: int) -> FileRecord:
    return FileRecord(
        **{
            **dict.fromkeys(FileRecord.__dataclass_fields__, None),
            "id": file_id,
            "path": path,
            "size": size,
            "mtime_ns": mtime_ns,
            "state": FileState.QUEUED,
            "bytes_acked": 0,
        }
    )


def test_the_index_follows_every_change_of_the_mirror() -> None:
    index = FileIndex([_record(1, "/a", 10, 5), _record(2, "/b", 10, 5)])
    assert index.find("/a", 10, 5).id == 1  # type: ignore[union-attr]
    index[1] = _record(1, "/a", 11, 6)  # retried as it is now: a new identity
    assert index.find("/a", 10, 5) is None
    assert index.find("/a", 11, 6).id == 1  # type: ignore[union-attr]
    assert index.active_remaining == 11 + 10
    done = _record(2, "/b", 10, 5)  # the queue replaces records, never changes them in place
    done.state = FileState.DONE
    index[2] = done
    assert index.active_remaining == 11 and index.in_states(FileState.DONE) == [done]
    index.pop(2)
    assert index.find("/b", 10, 5) is None and list(index) == [1]
    assert index.active_remaining == 11
    assert [r.id for r in index.in_states(FileState.QUEUED)] == [1]
