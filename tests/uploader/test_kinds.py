"""A recorder's kinds of file (proxy, mix, iso, poly) in the type priorities: ``kind:<k>`` keys,
most specific first, applied to files already queued and shown with each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2c_hub.uploader.queue import FileState, UploadQueue, normalize_type_key, type_keys


def test_a_kind_is_the_most_specific_key_and_an_unknown_kind_is_refused() -> None:
    assert type_keys("S1_T001_00_Mix.WAV", "audio/wav", "mix") == [
        "kind:mix",
        "audio/wav",
        "audio/*",
        ".wav",
    ]
    assert normalize_type_key(" KIND:Proxy ") == "kind:proxy"
    with pytest.raises(ValueError, match="kind:proxy"):
        normalize_type_key("kind:stems")


async def test_kind_priorities_order_files_and_apply_to_those_already_queued(
    tmp_path: Path,
) -> None:
    queue = UploadQueue(tmp_path / "q.sqlite3")
    await queue.open(0.0)
    try:
        ids = {}
        for kind, name in (("iso", "a.wav"), ("mix", "m.wav"), ("proxy", "m.mp3"), (None, "x.wav")):
            record = await queue.add(
                path=str(tmp_path / name),
                name=name,
                filetype="audio/mpeg" if name.endswith(".mp3") else "audio/wav",
                channel=0,
                size=1,
                mtime_ns=1,
                inode=1,
                capture_time=0.0,
                now=0.0,
                kind=kind,
            )
            ids[name] = record.id
        await queue.set_type_priority("audio/wav", 5, 1.0)
        for key, priority in (("kind:proxy", 30), ("kind:mix", 20), ("kind:iso", 10)):
            await queue.set_type_priority(key, priority, 1.0)
        shown = {r.name: (r.to_json()["kind"], r.type_priority) for r in queue.files.values()}
        assert shown == {
            "a.wav": ("iso", 10),
            "m.wav": ("mix", 20),
            "m.mp3": ("proxy", 30),
            "x.wav": (None, 5),  # no kind: its MIME type's
        }
        claimed = []
        while (record := await queue.claim(2.0, manual=False)) is not None:
            claimed.append(record.name)
            await queue.set_state(record.id, FileState.DONE, 2.0)
        assert claimed == ["m.mp3", "m.wav", "a.wav", "x.wav"]
        with pytest.raises(ValueError):
            await queue.add(
                path=str(tmp_path / "s.wav"),
                name="s.wav",
                filetype="audio/wav",
                channel=0,
                size=1,
                mtime_ns=1,
                inode=1,
                capture_time=0.0,
                now=0.0,
                kind="stems",
            )
    finally:
        await queue.close()
