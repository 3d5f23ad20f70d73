"""Chaos: a separate uploader process is killed with SIGKILL at random moments over a
multi-file session, and restarted each time, until every file is done.

Then every file matches its SHA-256 in the emulator, no part the queue had acknowledged was
sent again, and any duplicate asset (possible only when a kill lands between an asset create
and its commit) is counted and reported. The link is shaped (100 Mbit/s, 10 ms RTT) so kills
land mid-transfer; the run is bounded in kills and in time.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.emulation.frameio.state import EmulatorConfig
from c2c_hub.emulation.linksim import LinkSimulator
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import TokenStore
from tests.helpers import pair_tokens
from tests.uploader.conftest import MiB, make_file, sha256_of

SIZES_MIB = [12, 7, 21, 3, 16, 9]
MAX_KILLS = 25
TIME_LIMIT_S = 150


@pytest.fixture
def shaped(tmp_path: Path) -> Iterator[tuple[EmulatorServer, EmulatorHandle]]:
    """An emulator reached only through a 100 Mbit/s, 10 ms RTT link."""
    with LinkSimulator(rate_bps=100e6, delay_s=0.005) as link:
        config = EmulatorConfig(strict=True, device_code_interval=0.05)
        server = EmulatorServer(
            tmp_path / "emulator", config=config, advertise=f"127.0.0.1:{link.port}"
        )
        link.set_target("127.0.0.1", server.port)
        with server:
            handle = EmulatorHandle(
                server.base_url, server.control_url, server.ca_file, config.client_secret
            )
            try:
                yield server, handle
            finally:
                handle.close()


def _pair_into(settings: FrameioSettings, handle: EmulatorHandle, data_dir: Path) -> None:
    async def pair() -> None:
        async with make_http_client(settings) as http:
            client = FrameioClient.from_settings(settings, http)
            session = Session(client, TokenStore(data_dir / "credentials"), settings)
            await session.adopt(await pair_tokens(client, settings, handle))

    asyncio.run(pair())


def _acked(db: Path) -> dict[tuple[str, int], float]:
    """(asset id, part number) of every part the queue has acknowledged."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT files.asset_id, parts.number, parts.acked_at FROM parts "
            "JOIN files ON files.id = parts.file_id WHERE parts.state = 'acked'"
        ).fetchall()
    return {(asset, number): at for asset, number, at in rows if asset}


def _attempts(handle: EmulatorHandle) -> dict[tuple[str, int], int]:
    return {
        (asset["id"], part["number"]): part["attempts"]
        for asset in handle.assets()
        for part in asset["parts"]
    }


def test_sigkill_at_random_moments_loses_and_resends_nothing(
    shaped: tuple[EmulatorServer, EmulatorHandle], tmp_path: Path
) -> None:
    server, handle = shaped
    seed = int(os.environ.get("C2C_CHAOS_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    seed_note = f"(replay with C2C_CHAOS_SEED={seed})"
    media = tmp_path / "media"
    media.mkdir()
    files = [make_file(media, f"take{i:02d}.wav", size * MiB) for i, size in enumerate(SIZES_MIB)]
    data_dir = tmp_path / "hub"
    settings = FrameioSettings(
        api_base_url=server.base_url,
        client_id=f"chaos-{uuid.uuid4()}",
        client_secret=SecretStr(server.config.client_secret),
        ca_file=server.ca_file,
        firmware_version="1.0.0",
    )
    _pair_into(settings, handle, data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    env |= {
        "C2C_HUB_FRAMEIO__API_BASE_URL": settings.api_base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(server.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": server.config.client_secret,
        "C2C_HUB_FRAMEIO__CLIENT_ID": settings.client_id,
        "C2C_HUB_FRAMEIO__FIRMWARE_VERSION": "1.0.0",
        "C2C_HUB_STORAGE__DATA_DIR": str(data_dir),
    }
    command = [
        sys.executable,
        "-m",
        "c2c_hub.uploader",
        "--data-dir",
        str(data_dir),
        "--part-size",
        str(5 * MiB),
        "--quiet",
        *map(str, files),
    ]
    db = data_dir / "queue.sqlite3"
    acked_at_kill: dict[tuple[str, int], int] = {}  # part -> emulator attempts when acked
    kills = 0
    started = time.monotonic()
    while True:
        log = (tmp_path / f"run{kills:02d}.log").open("wb")
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if kills < MAX_KILLS and time.monotonic() - started < TIME_LIMIT_S - 30:
            try:
                proc.wait(timeout=rng.uniform(0.6, 2.5))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                log.close()
                kills += 1
                attempts = _attempts(handle)
                for part in _acked(db):
                    acked_at_kill.setdefault(part, attempts.get(part, 0))
                continue
        else:
            proc.wait(timeout=max(5.0, TIME_LIMIT_S - (time.monotonic() - started)))
        log.close()
        output = (tmp_path / f"run{kills:02d}.log").read_text(errors="replace")[-2000:]
        assert proc.returncode == 0, f"{seed_note} exit {proc.returncode}: {output}"
        break

    assert kills >= 3, f"the kills must land mid-session to prove anything {seed_note}"
    assets = handle.assets()
    by_name = Counter(a["name"] for a in assets)
    duplicates = {name: n - 1 for name, n in by_name.items() if n > 1}
    print(f"chaos: {kills} SIGKILLs, duplicate assets {sum(duplicates.values())} {duplicates}")
    for path in files:
        complete = [a for a in assets if a["name"] == path.name and a["complete"]]
        assert len(complete) == 1, f"{path.name}: {len(complete)} complete assets {seed_note}"
        assert complete[0]["sha256"] == sha256_of(path), f"{path.name} differs {seed_note}"
    # A duplicate is an asset whose create answer was lost in a kill: never completed.
    assert sum(duplicates.values()) <= kills
    final = _attempts(handle)
    resent = {p: (n, final[p]) for p, n in acked_at_kill.items() if final[p] != n}
    assert not resent, f"acknowledged parts were sent again: {resent} {seed_note}"
    assert not handle.violations()
