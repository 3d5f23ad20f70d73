"""Fixtures for the uploader's tests: a session paired with the emulator, uploaders on a DB.

The session runs on a :class:`ManualClock` that tests do not advance (so it never refreshes on
its own: a 401 is the only way it learns a token died). The uploader runs on real time, like the
emulator, so ``offset`` and pause windows line up with the emulator's clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import TokenStore
from c2c_hub.uploader import RetryPolicy, UploadConfig, Uploader
from c2c_hub.uploader.progress import Event
from tests.helpers import pair_tokens

MiB = 1024 * 1024
FAST_RETRY = RetryPolicy(initial=0.05, max=0.5, jitter=0.05)


def fast_config(**changes: Any) -> UploadConfig:
    """Short backoffs and timeouts, so every failure class resolves in well under a second."""
    base: dict[str, Any] = {"retry": FAST_RETRY, "pause_poll_s": 0.2, "realtime_poll_s": 0.05}
    return UploadConfig(**(base | changes))


def wav_header(size: int) -> bytes:
    """The 44-byte header of a ``size``-byte 8-bit mono WAV (random samples follow it)."""
    data = size - 44
    fmt = struct.pack("<HHIIHH", 1, 1, 48000, 48000, 1, 8)
    return (
        b"RIFF"
        + struct.pack("<I", size - 8)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", data))
    )


def make_file(directory: Path, name: str, size: int) -> Path:
    """``size`` random bytes; a ``.wav`` gets a true WAV header first (it is checked)."""
    path = directory / name
    with path.open("wb") as fh:
        left = size
        if name.lower().endswith(".wav"):
            assert size >= 44, "a WAV file has a 44-byte header"
            fh.write(wav_header(size))
            left -= 44
        while left:
            block = os.urandom(min(left, 4 * MiB))
            fh.write(block)
            left -= len(block)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Recorder:
    """Collects every event an uploader emits."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: str, **match: Any) -> list[Event]:
        return [
            e
            for e in self.events
            if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
        ]


@pytest.fixture
async def session(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[Session]:
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        store = TokenStore(tmp_path / "credentials")
        session = Session(client, store, frameio_settings, clock=ManualClock())
        await session.adopt(await pair_tokens(client, frameio_settings, emulator))
        try:
            yield session
        finally:
            await session.stop()


UploaderFactory = Callable[..., Uploader]


@pytest.fixture
async def uploaders(session: Session, tmp_path: Path) -> AsyncIterator[UploaderFactory]:
    """``uploaders(config=..., pause=..., db=...)`` builds an Uploader; all are stopped after."""
    made: list[Uploader] = []

    def build(
        *, config: UploadConfig | None = None, db: Path | None = None, **kwargs: Any
    ) -> Uploader:
        uploader = Uploader(
            db or tmp_path / "queue.sqlite3",
            session,
            session.client._http,
            config=config or fast_config(),
            **kwargs,
        )
        made.append(uploader)
        return uploader

    yield build
    for uploader in made:
        await uploader.stop()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    directory = tmp_path / "media"
    directory.mkdir()
    return directory


async def until(predicate: Callable[[], object], within: float = 15.0, step: float = 0.01) -> None:
    """Poll ``predicate`` (a condition on uploader state) until true; fail after ``within`` s."""
    for _ in range(int(within / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {within} s")
