"""``GET /uploads`` a page at a time, and ``POST /uploads`` queuing a batch in one go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from c2c_hub.frameio.congestion import choose
from tests.conftest import ControlHub, ControlHubFactory


@pytest.fixture
async def running(control_hub: ControlHubFactory) -> AsyncIterator[ControlHub]:
    async with control_hub() as started:
        yield started


async def test_a_batch_goes_in_and_comes_back_a_page_at_a_time(
    running: ControlHub, tmp_path: Path
) -> None:
    folder = tmp_path / "rec" / "S1_T001"
    folder.mkdir(parents=True)
    paths = []
    for i in range(23):
        path = folder / f"clip-{i:02}.mov"
        path.write_bytes(b"x" * 16)
        paths.append(str(path))
    async with running.client() as http:
        assert (await http.put("/uploads/mode", json={"mode": "manual"})).status_code == 200
        answer = await http.post("/uploads", json={"paths": paths})
        assert answer.status_code == 200, answer.text
        ids = answer.json()["ids"]
        assert len(ids) == 23 and ids == sorted(ids)

        whole = (await http.get("/uploads")).json()  # no parameters: the whole queue, as before
        assert [f["id"] for f in whole["files"]] == ids and "next" not in whole

        seen, after = [], 0
        while True:
            page = (await http.get("/uploads", params={"limit": 10, "after": after})).json()
            assert page["total"] == 23 and len(page["files"]) <= 10
            assert page["snapshot"]["counts"]["queued"] == 23
            seen += [f["id"] for f in page["files"]]
            if page["next"] is None:
                break
            after = page["next"]
        assert seen == ids

        # the uploads section says what the connections run and how many streams may go
        uploads = (await http.get("/status")).json()["uploads"]
        assert uploads["congestion_control"]["algorithm"] == choose("auto").effective
        assert uploads["congestion_control"]["requested"] == "auto"
        assert uploads["part_streams"]["mode"] == "adaptive"
        assert (uploads["part_streams"]["min"], uploads["part_streams"]["max"]) == (4, 16)

        for bad in ({"limit": 0}, {"limit": "x"}, {"after": -1}):
            assert (await http.get("/uploads", params=bad)).status_code == 400
