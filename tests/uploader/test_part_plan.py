"""The basic upload's part plan (issue 20, the drain): how many parts the hub asks Frame.io for.

The plan's rules, checked against the emulator's own planning of the answer (ruling R8: chunk
= ceil(filesize / parts), the last part the remainder, every part but the last >= 5 MiB), and
a file sent with the plan arriving byte-identical.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.state import EmulatorState
from c2c_hub.frameio import plan_parts
from c2c_hub.uploader import FileState
from c2c_hub.uploader.basic import FRAMEIO_PART, MAX_PARTS, PARTS_PER_STREAM, part_count
from c2c_hub.uploader.config import MIN_PART
from tests.uploader.conftest import MiB, UploaderFactory, fast_config, make_file, sha256_of

GiB = 1024 * MiB
SIZES = [
    1,
    MIN_PART - 1,
    MIN_PART,
    2 * MIN_PART - 1,
    2 * MIN_PART,
    12 * MiB,
    21 * MiB + 123,
    64 * MiB,
    96 * MiB + 7,
    256 * MiB,
    256 * MiB + 1,
    511 * MiB,
    600 * MiB + 12345,
    GiB,
    10 * GiB + 3,
    200 * GiB,
    5 * 1024 * GiB,
]


def frameio_count(size: int) -> int:
    return -(-size // FRAMEIO_PART)


@pytest.mark.parametrize("streams", [1, 2, 3, 4, 5, 8, 16])
@pytest.mark.parametrize("size", SIZES)
def test_every_plan_is_one_frameio_accepts_and_covers_the_file(size: int, streams: int) -> None:
    count = part_count(size, streams)
    urls = frameio_count(size) if count is None else count
    if count is None:  # Frame.io's own count stands: only where it is within S3's limit
        assert urls <= MAX_PARTS
    # what the emulator plans for that count (it refuses a plan it cannot honour: 422)
    sizes = EmulatorState._plan(size, count)
    plan = plan_parts(size, urls)  # and the hub cuts the file the same way
    assert [p.size for p in plan] == sizes
    assert all(s >= MIN_PART for s in sizes[:-1]) and 0 < sizes[-1] <= sizes[0]
    assert plan[0].offset == 0 and plan[-1].offset + plan[-1].size == size
    assert all(a.offset + a.size == b.offset for a, b in itertools.pairwise(plan))
    assert 1 <= urls <= MAX_PARTS


@pytest.mark.parametrize("streams", [2, 4, 8, 16])
@pytest.mark.parametrize("size", SIZES)
def test_parts_are_shared_evenly_by_the_streams_where_the_file_allows(
    size: int, streams: int
) -> None:
    count = part_count(size, streams) or frameio_count(size)
    most = size // MIN_PART  # parts of 5 MiB at least
    if most >= streams:  # enough bytes for a part on every stream: every stream as many
        assert count % streams == 0
    if most >= PARTS_PER_STREAM * streams:  # and no fewer than PARTS_PER_STREAM each
        assert count >= PARTS_PER_STREAM * streams
    if count > frameio_count(size):  # more parts only where the drain needs them
        assert count <= max(PARTS_PER_STREAM * streams, frameio_count(size) + streams)


def test_large_files_keep_about_frameios_part_size() -> None:
    assert part_count(GiB, 4) is None  # 64 parts of 16 MiB: already 8 per stream
    assert part_count(600 * MiB, 4) == 40  # 38 parts would leave a last round on 2 streams
    assert part_count(5 * 1024 * GiB, 4) == MAX_PARTS  # S3 takes no more than 10,000
    assert part_count(256 * MiB, 1) is None  # one stream: nothing drains


async def test_a_planned_file_arrives_byte_identical(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    size = 21 * MiB + 123  # Frame.io alone would cut 2 parts; 4 streams get one each
    path = make_file(media, "take.wav", size)
    uploader = uploaders(config=fast_config(max_in_flight=4))
    await uploader.start()
    file_id = await uploader.enqueue(path)
    async with asyncio.timeout(30):
        await uploader.wait_idle()
    record = uploader.file(file_id)
    assert record["state"] == FileState.DONE, record
    asset = emulator.asset(record["asset_id"])
    assert asset["complete"] and asset["sha256"] == sha256_of(path)
    sizes = [p["size"] for p in asset["parts"]]
    assert sizes == [p.size for p in plan_parts(size, 4)]
    assert all(p["attempts"] == 1 for p in asset["parts"])
    assert emulator.violations() == []
