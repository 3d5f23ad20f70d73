"""Basic uploads: chunk = ceil(filesize / len(upload_urls)), the last part is the remainder.

See docs/rulings.md#basic-upload-urls.
"""

from __future__ import annotations

import itertools
import math

import pytest

from c2c_hub.frameio import plan_parts
from c2c_hub.frameio.parts import PartPlan

MIB = 1024 * 1024


def test_the_docs_sample_splits_in_two_equal_halves() -> None:
    assert plan_parts(21_136_250, 2) == [PartPlan(0, 10_568_125), PartPlan(10_568_125, 10_568_125)]


def test_the_last_part_is_the_remainder() -> None:
    assert plan_parts(10, 4) == [(0, 3), (3, 3), (6, 3), (9, 1)]
    assert plan_parts(16 * MIB + 1, 2) == [(0, 8 * MIB + 1), (8 * MIB + 1, 8 * MIB)]


def test_one_url_takes_the_whole_file_and_an_empty_file_is_one_empty_part() -> None:
    assert plan_parts(12345, 1) == [(0, 12345)]
    assert plan_parts(0, 1) == [(0, 0)]


@pytest.mark.parametrize("filesize", [1, 5 * MIB, 16 * MIB, 16 * MIB + 1, 1_000_000_007, 5 * 2**40])
def test_parts_are_contiguous_and_cover_the_file(filesize: int) -> None:
    n_urls = max(1, math.ceil(filesize / (16 * MIB)))
    plan = plan_parts(filesize, n_urls)
    assert len(plan) == n_urls
    assert plan[0].offset == 0
    for before, after in itertools.pairwise(plan):
        assert after.offset == before.offset + before.size
    assert sum(part.size for part in plan) == filesize
    chunk = math.ceil(filesize / n_urls)
    assert all(part.size == chunk for part in plan[:-1])
    assert 0 < plan[-1].size <= chunk


@pytest.mark.parametrize(
    ("filesize", "n_urls", "match"),
    [
        (-1, 1, "filesize"),
        (10, 0, "at least one"),
        (0, 2, "empty file"),
        (4, 3, "fill only 2 parts"),  # ceil(4/3) = 2: two chunks use the whole file
    ],
)
def test_impossible_plans_are_refused(filesize: int, n_urls: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan_parts(filesize, n_urls)
