"""Asset creates answered oddly (cut off mid-reply, not JSON, far too large): each file still
arrives whole, the odd answer is counted as a create whose answer was lost, and the files
around it are not held up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import FileState
from tests.uploader.conftest import MiB, UploaderFactory, fast_config, make_file, sha256_of


async def test_odd_answers_to_asset_create_lose_nothing(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders(config=fast_config(files_in_parallel=1))
    for kind, extra in (("reset", {}), ("malformed", {}), ("huge", {"size": 32 * MiB})):
        emulator.fault("api", kind, count=1, path_prefix="/v2/devices/assets", **extra)
    await uploader.start()
    paths = [make_file(media, f"take{n}.wav", 3000 + n) for n in range(5)]
    ids = [await uploader.enqueue(p) for p in paths]
    async with asyncio.timeout(60):
        records = [await uploader.wait_for(i) for i in ids]
    assert all(r.state is FileState.DONE for r in records), records
    for path, record in zip(paths, records, strict=True):
        assert emulator.asset(record.asset_id or "")["sha256"] == sha256_of(path)
    assert sum(r.info.get("lost_creates", 0) for r in records) == 3
    # The three creates that took effect but whose answers were unusable left assets behind.
    assert len(emulator.assets()) == len(paths) + 3
    # ... and the status names each file whose create may have left one, so that an operator
    # can find it: the same names as the incomplete assets Frame.io holds.
    possible = uploader.snapshot()["possible_duplicates"]
    assert [d["why"] for d in possible] == ["no usable answer"] * 3
    incomplete = sorted(a["name"] for a in emulator.assets() if not a["complete"])
    assert sorted(d["name"] for d in possible) == incomplete
