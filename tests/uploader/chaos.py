"""The chaos run, shared by the test (a short one) and ``make bench`` (100 kills and more).

A separate uploader process (``python -m c2c_hub.uploader``) uploads a multi-file session to the
emulator through a shaped link (100 Mbit/s, 10 ms RTT) and is killed with SIGKILL again and
again, and restarted each time, until every file is done. Most kills wait until the run has had
a part acknowledged (the queue's ``acked`` state, read from its database) of a file not yet
done, then land after a random delay (up to 0.25 s): so there is almost always something the
restarted uploader must not send again. Every third kill lands at a random moment instead
(between an asset create and its first part, say).

Then: every file matches its SHA-256 in the emulator; no part the queue had acknowledged at a
kill was sent again (the emulator counts every attempt per part); a duplicate asset (possible
only when a kill lands between an asset create and storing its id) is counted; and the run
reports how many kills landed with parts acknowledged, so a run that proved nothing says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

PART = 5 * MiB


@dataclass
class ChaosResult:
    seed: int
    kills: int = 0
    kills_after_ack: int = 0  # kills that landed with parts of unfinished files acknowledged
    acked_at_kill: dict[tuple[str, int], int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    #: extra assets Frame.io holds beyond what the queue reported (possible duplicates and
    #: abandoned assets), by file name: must be empty, the operator is told of every one
    unreported: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    resent: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    mib: int = 0
    seconds: float = 0.0

    @property
    def note(self) -> str:
        return f"(replay with C2C_CHAOS_SEED={self.seed})"

    @property
    def proved_something(self) -> bool:
        return self.kills_after_ack > 0 and bool(self.acked_at_kill)

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "files": self.files,
            "mib": self.mib,
            "kills": self.kills,
            "kills_with_parts_acknowledged": self.kills_after_ack,
            "parts_acknowledged_at_kills": len(self.acked_at_kill),
            "acknowledged_parts_resent": len(self.resent),
            "duplicate_assets": sum(self.duplicates.values()),
            "duplicate_assets_unreported": sum(self.unreported.values()),
            "files_wrong": len(self.problems),
            "violations": len(self.violations),
            "seconds": round(self.seconds, 1),
        }


@contextlib.contextmanager
def shaped_emulator(work: Path, rate_bps: float = 100e6) -> Iterator[tuple[EmulatorServer, Any]]:
    """An emulator reached only through a shaped link (``rate_bps``, 10 ms RTT)."""
    with LinkSimulator(rate_bps=rate_bps, delay_s=0.005) as link:
        config = EmulatorConfig(strict=True, device_code_interval=0.05)
        advertise = f"127.0.0.1:{link.port}"
        server = EmulatorServer(work / "emulator", config=config, advertise=advertise)
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


def reported_extra_assets(db: Path) -> dict[str, int]:
    """By file name, how many extra assets the queue told the operator of: creates that may
    have left one (``info.possible_duplicates``) and assets it abandoned."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT name, info FROM files").fetchall()
    found: Counter[str] = Counter()
    for name, info in rows:
        data = json.loads(info or "{}")
        found[name] += len(data.get("possible_duplicates", []))
        found[name] += len(data.get("abandoned_assets", []))
    return dict(found)


def acked_parts(db: Path, *, unfinished: bool = False) -> dict[tuple[str, int], float]:
    """(asset id, part number) of every part the queue has acknowledged (with ``unfinished``:
    only those of files not yet done, which a restarted uploader must not send again)."""
    if not db.exists():
        return {}
    where = " AND files.state != 'done'" if unfinished else ""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT files.asset_id, parts.number, parts.acked_at FROM parts "
                "JOIN files ON files.id = parts.file_id WHERE parts.state = 'acked'" + where
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet, or busy this instant
        return {}
    return {(asset, number): at for asset, number, at in rows if asset}


def _attempts(handle: EmulatorHandle) -> dict[tuple[str, int], int]:
    return {
        (asset["id"], part["number"]): part["attempts"]
        for asset in handle.assets()
        for part in asset["parts"]
    }


def _wait_for_new_ack(proc: subprocess.Popen[bytes], db: Path, before: int, within: float) -> bool:
    """Until the queue holds more acknowledged parts than ``before`` and some of a file not yet
    done (True), or the process ended or ``within`` passed (False)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None:
        if len(acked_parts(db)) > before and acked_parts(db, unfinished=True):
            return True
        time.sleep(0.01)
    return False


def run_chaos(
    work: Path,
    *,
    sizes_mib: list[int],
    kills: int,
    time_limit_s: float,
    rate_bps: float = 100e6,
    seed: int | None = None,
) -> ChaosResult:
    """Kill and restart the uploader ``kills`` times over a session of ``sizes_mib`` files."""
    seed = seed or int(os.environ.get("C2C_CHAOS_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    result = ChaosResult(seed, files=len(sizes_mib), mib=sum(sizes_mib))
    media = work / "media"
    media.mkdir(parents=True)
    files = [make_file(media, f"take{i:03d}.wav", size * MiB) for i, size in enumerate(sizes_mib)]
    started = time.monotonic()
    with shaped_emulator(work, rate_bps) as (server, handle):
        data_dir = work / "hub"
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
            str(PART),
            "--quiet",
            *map(str, files),
        ]
        db = data_dir / "queue.sqlite3"
        run = 0
        while True:
            log_path = work / f"run{run:03d}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                left = time_limit_s - (time.monotonic() - started)
                if result.kills < kills and left > 30:
                    if result.kills % 3 == 2:  # a random moment
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            proc.wait(timeout=rng.uniform(0.3, 2.5))
                    else:  # after a part of this run is acknowledged, then a random delay
                        # On a fast link a file can finish within the delay, leaving no part of
                        # an unfinished file acknowledged: wait for the next ack then (a few times).
                        for _ in range(3):
                            before = len(acked_parts(db))
                            within = time_limit_s - (time.monotonic() - started) - 30
                            _wait_for_new_ack(proc, db, before, within)
                            with contextlib.suppress(subprocess.TimeoutExpired):
                                proc.wait(timeout=rng.uniform(0.0, 0.25))
                            if proc.poll() is not None or acked_parts(db, unfinished=True):
                                break
                    if proc.poll() is None:
                        in_play = len(acked_parts(db, unfinished=True))
                        proc.send_signal(signal.SIGKILL)
                        proc.wait()
                        result.kills += 1
                        result.kills_after_ack += int(in_play > 0)
                        attempts = _attempts(handle)
                        for part in acked_parts(db):
                            result.acked_at_kill.setdefault(part, attempts.get(part, 0))
                        run += 1
                        continue
                proc.wait(timeout=max(5.0, time_limit_s - (time.monotonic() - started)))
            if proc.returncode != 0:
                output = log_path.read_text(errors="replace")[-2000:]
                raise AssertionError(f"{result.note} exit {proc.returncode}: {output}")
            break
        result.seconds = time.monotonic() - started
        assets = handle.assets()
        by_name = Counter(a["name"] for a in assets)
        result.duplicates = {name: n - 1 for name, n in by_name.items() if n > 1}
        reported = reported_extra_assets(db)
        result.unreported = {
            name: n - reported.get(name, 0)
            for name, n in result.duplicates.items()
            if n > reported.get(name, 0)
        }
        for path in files:
            complete = [a for a in assets if a["name"] == path.name and a["complete"]]
            if len(complete) != 1:
                result.problems.append(f"{path.name}: {len(complete)} complete assets")
            elif complete[0]["sha256"] != sha256_of(path):
                result.problems.append(f"{path.name} differs")
        final = _attempts(handle)
        result.resent = {
            p: (n, final[p]) for p, n in result.acked_at_kill.items() if final.get(p) != n
        }
        result.violations = handle.violations()
    return result
