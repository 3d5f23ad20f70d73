"""One table of content types: a file gets the same ``filetype`` whoever queues it, on any
machine (before: ``.wav`` went up as ``audio/wav`` from takes, ``audio/x-wav`` from
``c2c-hub upload``)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.uploader import guess_filetype
from c2c_hub.uploader.content_types import (
    CONTENT_TYPES,
    DEFAULT,
    WAV,
    content_type,
    extension_for,
)
from tests.uploader.conftest import MiB, UploaderFactory, make_file

HUB = Path(__file__).resolve().parents[2] / "hub"


def test_the_table_decides_whatever_the_case_and_the_machine() -> None:
    for name in ("take.wav", "TAKE.WAV", "report.Wav", "t.bwf", "t.rf64"):
        assert content_type(name) == WAV
    assert content_type("/media/A001C002.mov") == "video/quicktime"
    assert content_type("A001C002.MXF") == "application/mxf"  # not in Python's own table
    assert content_type("no-suffix") == DEFAULT
    assert content_type("take.r3d") == DEFAULT
    assert content_type("page.html") == "text/html"  # not in ours: Python's built-in table
    assert all(content_type(f"x{suffix}") == kind for suffix, kind in CONTENT_TYPES.items())
    assert guess_filetype("x.WAV") == WAV  # the uploader's public name for the same answer
    assert extension_for(WAV) == ".wav" and extension_for("video/quicktime") == ".mov"
    assert extension_for("text/html") == ".html" and extension_for("x-unknown/x") is None


def test_nothing_else_in_the_hub_guesses_or_spells_a_type() -> None:
    """Every type comes from the table: no other ``mimetypes`` use, no literal audio type."""
    table = HUB / "uploader" / "content_types.py"
    offenders = []
    for path in HUB.rglob("*.py"):
        if path == table or "emulation" in path.parts:
            continue
        text = path.read_text()
        if re.search(r"^\s*(import mimetypes|from mimetypes)", text, re.M):
            offenders.append(f"{path.name}: mimetypes")
        if re.search(r"(?<![`\w])[\"']audio/(x-)?wav[\"']", text):
            offenders.append(f"{path.name}: a literal WAV type")
    assert offenders == []


async def test_an_uploaded_wav_and_a_recorded_track_get_one_type(
    emulator: EmulatorHandle, uploaders: UploaderFactory, media: Path
) -> None:
    uploader = uploaders()
    await uploader.start()
    queued = await uploader.enqueue(make_file(media, "A001_T01.WAV", 1 * MiB))
    track = media / "S1_T001_01_Boom.wav"
    make_file(media, track.name, 1 * MiB)
    recorded = await uploader.begin_recording(track, filetype=WAV, name=track.name)
    await uploader.end_recording(recorded)
    async with asyncio.timeout(20):
        await uploader.wait_idle()
    types = {emulator.asset(uploader.file(i)["asset_id"])["filetype"] for i in (queued, recorded)}
    assert types == {WAV}
