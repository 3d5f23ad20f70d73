"""Frame.io's own Python uploader (``frameioclient`` 1.1.0) against the emulator's part URLs.

``FrameioUploader`` computes the chunking itself (``ceil(filesize / len(upload_urls))``), PUTs
from five threads with ``requests`` and sends ``content-type`` and ``x-amz-acl: private``. It
swallows exceptions inside its threads, so the verdict comes from the emulator: the asset is
complete, and its SHA-256 and bytes are the file's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from frameioclient.lib.upload import FrameioUploader

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.helpers import bearer, frameio_client, pair_raw

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


def _create(emulator: EmulatorHandle, name: str, size: int, filetype: str) -> dict[str, object]:
    tokens = pair_raw(emulator)
    with frameio_client(emulator) as http:
        response = http.post(
            "/v2/devices/assets",
            json={"name": name, "filetype": filetype, "filesize": size, "offset": 0},
            headers=bearer(tokens["access_token"]),
        )
    assert response.status_code == 200, response.text
    asset: dict[str, object] = response.json()
    return asset


@pytest.mark.parametrize(
    ("size", "urls", "filetype"),
    [
        (40 * MiB, 3, "video/mp4"),  # two 13.3 MiB chunks and a shorter last one
        (21_136_250, 2, "video/quicktime"),  # the docs' sample size
        (1234, 1, "audio/wav"),
    ],
)
def test_frameio_uploader_completes_an_emulator_asset(
    emulator: EmulatorHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    urls: int,
    filetype: str,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_file))  # requests trusts our CA
    data = os.urandom(size)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    asset = _create(emulator, "clip.bin", size, filetype)
    upload_urls = asset["upload_urls"]
    assert isinstance(upload_urls, list) and len(upload_urls) == urls

    with path.open("rb") as file:
        FrameioUploader(asset, file).upload()

    state = emulator.asset(str(asset["id"]))
    assert [p["stored"] for p in state["parts"]] == [True] * urls, state["parts"]
    assert all(p["attempts"] == 1 for p in state["parts"])  # nothing was refused
    assert state["complete"] is True
    assert state["sha256"] == hashlib.sha256(data).hexdigest()
    assert emulator.asset_content(str(asset["id"])) == data
    assert emulator.violations() == []


def test_frameio_uploader_is_refused_without_the_asset_filetype(
    emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signed Content-Type is checked: with another filetype nothing is stored."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_file))
    data = os.urandom(1000)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    asset = _create(emulator, "clip.bin", 1000, "video/mp4")
    with path.open("rb") as file:
        FrameioUploader({**asset, "filetype": "video/quicktime"}, file).upload()
    state = emulator.asset(str(asset["id"]))
    assert state["complete"] is False
    assert state["parts"][0]["stored"] is False
    # The same URL with the asset's own filetype then goes through.
    with path.open("rb") as file:
        FrameioUploader(asset, file).upload()
    assert emulator.asset(str(asset["id"]))["sha256"] == hashlib.sha256(data).hexdigest()
