"""The whole hub, SIGKILLed mid-take and mid-press-burst, restarted each time: nothing lost,
nothing twice. Shared by the short test (``tests/ui/test_hub_chaos.py``) and ``make bench``
(:mod:`bench.hub_chaos`, 100 kills and more); :class:`HubRig` is also the soak's hub
(:mod:`bench.soak`).

The rig: the emulated Frame.io (strict) behind a shaped link, emulated AES67 microphones (RTP
unicast on loopback, announced by SAP on a group of the run's own; they live in this process
and outlast every kill), and ``c2c-hub run`` as a subprocess (:mod:`tests.ui.hub_child`: the
command as a user runs it, with an emulated button remote in range), paired once through
``c2c-hub pair``.

Each round starts the hub, waits until every microphone and the remote are channels at
Frame.io, then plays one of three plans, in turn:

- **take**: a take starts (``POST /takes/start``) and a press burst with it; the kill lands at a
  random moment 0.5 to 4 s in;
- **burst**: a burst of presses; the kill lands at a random moment once some are durable;
- **acked**: a take long enough for two parts a track, stopped (its last parts go up), a short
  burst; the kill lands up to 0.25 s after a part of an unfinished file is acknowledged.

What was true when each kill landed is read, not assumed: a take being written (the take
journal, ``recording.json``), a burst under way (the child's marks), parts of unfinished files
acknowledged (the upload queue's database). A run where no kill hit one of those proved nothing
and says so. A last round lets the hub finish (every press sent, every file done) and stops it
with SIGTERM.

Then: every press durable at any kill is still in the press log, none failed or left pending;
at the emulator, each (remote, input, timecode) was logged at least as many times as the hub
has it ``sent`` and at most that plus its ``unconfirmed`` presses (a press in flight at a kill:
never re-sent on its own, as presses have no idempotency key); every track on disk went up
byte-identical, as exactly one complete asset; no part acknowledged at a kill was sent again;
the emulator saw no protocol violation.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.emulation.frameio.state import EmulatorConfig
from c2c_hub.emulation.linksim import LinkSimulator
from c2c_hub.presses import DB_FILE as PRESSES_DB
from c2c_hub.recorder.recovery import JOURNAL_FILE
from c2c_hub.uploader.queue import QUEUE_FILE
from c2c_hub_plugins.aes67.emulated import EmulatedMicrophones
from tests.discovery import declare_installed_models, private_sap_group
from tests.ui.hub_child import REMOTE
from tests.uploader.chaos import acked_parts
from tests.uploader.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]  # the child is run as a module of this checkout
CHILD = [sys.executable, "-m", "tests.ui.hub_child"]
PAIR = [sys.executable, "-m", "c2c_hub.ui.cli", "pair"]
SOCKET = "control.sock"
PLANS = ("take", "burst", "acked")


class ProvedNothing(AssertionError):
    pass


def wait_for(check: Callable[[], Any], within: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        time.sleep(step)


class Microphones(EmulatedMicrophones):
    """Emulated AES67 microphones (4 ms packets: a loaded machine keeps pace), announced on a
    SAP group of the run's own."""

    def __init__(self, count: int, sample_rate: int) -> None:
        names = [f"Mic {i + 1}" for i in range(count)]
        group = private_sap_group()
        super().__init__(names, sap_group=group, sample_rate=sample_rate, ptime_ms=4.0)
        self.start()

    def close(self) -> None:
        self.stop()


class HubProcess:
    """One ``c2c-hub run`` (with its remote): started, driven, killed or stopped."""

    def __init__(self, rig: HubRig, number: int) -> None:
        self.rig = rig
        self.log_path = rig.work / "logs" / f"hub{number:03d}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            CHILD,
            cwd=ROOT,
            env=rig.env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(rig.data_dir / SOCKET)),
            base_url="http://hub.local",
            timeout=30,
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        data = response.json()
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {data}")
        return data

    def status(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the hub exited ({self.proc.returncode}): {self.tail()}")
        try:
            result: dict[str, Any] = self.call("GET", "/status")
        except (httpx.TransportError, ValueError):
            return None  # not listening yet (or the socket of a killed hub, not yet replaced)
        return result

    def ready(self, within: float = 90.0) -> dict[str, Any]:
        """Until every microphone and the remote are connected channels at Frame.io."""
        wanted = {*self.rig.mics.serials, REMOTE[2]}

        def check() -> dict[str, Any] | None:
            status = self.status()
            if status is None:
                return None
            channels = status["channels"]["channels"]
            connected = {c["serial"] for c in channels if c["state"] == "connected"}
            return status if wanted <= connected else None

        result: dict[str, Any] = wait_for(check, within, f"channels {wanted}", step=0.1)
        return result

    def burst(self, count: int, rate: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"burst {count} {rate}\n".encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.close()

    def stop(self, within: float = 60.0) -> int:
        """SIGTERM, and the exit code; a hub that does not stop in time is killed (never left
        behind) and reported."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the hub did not stop within {within} s: {self.tail()}") from None
        self.close()
        return code

    def close(self) -> None:
        self._http.close()
        self._log.close()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


class HubRig:
    """The emulator behind a shaped link, microphones, a paired data directory, and the
    environment every :class:`HubProcess` runs with."""

    def __init__(
        self,
        work: Path,
        *,
        mics: int = 2,
        sample_rate: int = 96000,
        rate_bps: float = 40e6,
        extra_config: str = "",
    ) -> None:
        self.work = work
        self._stack = contextlib.ExitStack()
        self.link = self._stack.enter_context(LinkSimulator(rate_bps=rate_bps, delay_s=0.005))
        config = EmulatorConfig(strict=True, device_code_interval=0.05)
        advertise = f"127.0.0.1:{self.link.port}"
        self.server = EmulatorServer(work / "emulator", config=config, advertise=advertise)
        self.link.set_target("127.0.0.1", self.server.port)
        self._stack.enter_context(self.server)
        self.handle = EmulatorHandle(
            self.server.base_url, self.server.control_url, self.server.ca_file, config.client_secret
        )
        self._stack.callback(self.handle.close)
        declare_installed_models(self.handle)
        self.sample_rate = sample_rate
        self.mics = Microphones(mics, sample_rate)
        self._stack.callback(self.mics.close)
        self.data_dir = work / "state"
        self.recordings = work / "recordings"
        self.marks = work / "marks.txt"
        self.marks.touch()
        self.number = 0
        config = work / "hub.toml"
        config.write_text(
            f"""
[recorder]
sample_rate = {sample_rate}
min_free_minutes = 0

[plugins.options.aes67]
interface = "127.0.0.1"
sap_groups = ["{self.mics.sap_group}"]
ravenna = false

[plugins.options.ble_remotes]
radio = "emulated"
emulated_radio = "chaos"

[plugins.options.hid_remotes]
radio = "emulated"
emulated_radio = "chaos"
evdev = false
{extra_config}
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
        self.env = env | {
            "C2C_HUB_CONFIG": str(config),
            "C2C_HUB_FRAMEIO__API_BASE_URL": self.server.base_url,
            "C2C_HUB_FRAMEIO__CA_FILE": str(self.server.ca_file),
            "C2C_HUB_FRAMEIO__CLIENT_SECRET": self.server.config.client_secret,
            "C2C_HUB_FRAMEIO__FIRMWARE_VERSION": "1.0.0",
            "C2C_HUB_STORAGE__DATA_DIR": str(self.data_dir),
            "C2C_HUB_STORAGE__KEY_FILE": str(work / "keys" / "token.key"),
            "C2C_HUB_RECORDER__DIRECTORY": str(self.recordings),
            "C2C_HUB_CONTROL__PORT": "0",
            "C2C_CHILD_RADIO": "chaos",
            "C2C_CHILD_MARKS": str(self.marks),
            "PYTHONUNBUFFERED": "1",
        }
        self._pair()

    def _pair(self) -> None:
        proc = subprocess.Popen(
            PAIR, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        pending = wait_for(self.handle.pending_pairings, 30, "a pairing code")
        self.handle.approve(pending[0]["user_code"])
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out

    def start(self) -> HubProcess:
        self.number += 1
        return HubProcess(self, self.number)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> HubRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------- reading


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def press_rows(data_dir: Path) -> dict[int, tuple[str, int, str, str]]:
    """Every press in the log: id -> (serial, input, timecode, state)."""
    db = data_dir / PRESSES_DB
    if not db.exists():
        return {}
    with contextlib.closing(_ro(db)) as conn:
        rows = conn.execute("SELECT id, serial, input_index, timecode, state FROM presses")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows.fetchall()}


def bursts_open(marks: Path) -> bool:
    """The last burst started and did not end (the child's marks, read after a kill)."""
    lines = marks.read_text().splitlines()
    return bool(lines) and lines[-1].startswith("burst-start")


def _attempts(handle: EmulatorHandle) -> dict[tuple[str, int], int]:
    return {
        (asset["id"], part["number"]): part["attempts"]
        for asset in handle.assets()
        for part in asset["parts"]
    }


# ---------------------------------------------------------------------------------- the run


@dataclass
class HubChaosResult:
    seed: int
    kills: int = 0
    mid_take: int = 0
    mid_burst: int = 0
    after_acked: int = 0
    presses_durable_at_kills: int = 0
    presses_lost: list[int] = field(default_factory=list)
    presses_acked: int = 0
    presses_sent: int = 0
    presses_unconfirmed: int = 0
    presses_delivered: int = 0
    presses_twice: list[str] = field(default_factory=list)
    presses_missing: list[str] = field(default_factory=list)
    presses_left: Counter[str] = field(default_factory=Counter)
    tracks: int = 0
    tracks_wrong: list[str] = field(default_factory=list)
    duplicate_assets: int = 0
    acked_parts_at_kills: int = 0
    resent: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)  # not finished by the last run
    seconds: float = 0.0

    @property
    def note(self) -> str:
        return f"(replay with C2C_CHAOS_SEED={self.seed})"

    @property
    def proved_something(self) -> bool:
        return bool(self.mid_take and self.mid_burst and self.after_acked)

    @property
    def ok(self) -> bool:
        return self.proved_something and not (
            self.presses_lost
            or self.presses_twice
            or self.presses_missing
            or self.presses_left
            or self.tracks_wrong
            or self.resent
            or self.violations
            or self.unsettled
        )

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "kills": self.kills,
            "kills_mid_take": self.mid_take,
            "kills_mid_burst": self.mid_burst,
            "kills_after_acked_parts": self.after_acked,
            "presses_acked": self.presses_acked,
            "presses_durable_at_kills": self.presses_durable_at_kills,
            "presses_acked_lost": len(self.presses_lost),
            "presses_sent": self.presses_sent,
            "presses_unconfirmed": self.presses_unconfirmed,
            "presses_delivered": self.presses_delivered,
            "presses_delivered_twice": len(self.presses_twice),
            "presses_sent_missing": len(self.presses_missing),
            "presses_left": dict(self.presses_left),
            "tracks_verified": self.tracks - len(self.tracks_wrong),
            "tracks_wrong": len(self.tracks_wrong),
            "duplicate_assets": self.duplicate_assets,
            "acked_parts_at_kills": self.acked_parts_at_kills,
            "acked_parts_resent": len(self.resent),
            "violations": len(self.violations),
            "unsettled": self.unsettled,
            "seconds": round(self.seconds, 1),
        }

    def explain(self) -> str:
        return (
            f"{self.note} {self.summary()} lost={self.presses_lost[:5]} "
            f"twice={self.presses_twice[:5]} missing={self.presses_missing[:5]} "
            f"tracks={self.tracks_wrong[:5]} resent={self.resent[:5]} "
            f"violations={self.violations[:3]}"
        )


def _play(hub: HubProcess, plan: str, rng: random.Random, rig: HubRig) -> None:
    """Set the stage for a kill; return when it is time to kill."""
    db = rig.data_dir / QUEUE_FILE
    if plan == "take":
        hub.call("POST", "/takes/start", {"scene": "C"})
        hub.burst(rng.randrange(60, 200), rate=300)
        time.sleep(rng.uniform(0.5, 4.0))
    elif plan == "burst":
        before = len(press_rows(rig.data_dir))
        hub.burst(rng.randrange(150, 400), rate=400)
        wait_for(lambda: len(press_rows(rig.data_dir)) > before, 30, "a durable press")
        time.sleep(rng.uniform(0.0, 0.3))
    else:  # a take of two parts a track, stopped: kill just after a part is acknowledged
        hub.call("POST", "/takes/start", {"scene": "C"})
        scale = 192000 / rig.sample_rate  # 9.5 s at 192 kHz/24-bit is two 5 MiB parts
        time.sleep(rng.uniform(9.5, 13.0) * scale)
        hub.call("POST", "/takes/stop")
        hub.burst(rng.randrange(20, 100), rate=300)
        before = len(acked_parts(db))
        with contextlib.suppress(AssertionError):
            wait_for(
                lambda: len(acked_parts(db)) > before and acked_parts(db, unfinished=True),
                30,
                "a part of an unfinished file acknowledged",
                step=0.01,
            )
        time.sleep(rng.uniform(0.0, 0.25))


def _plan(result: HubChaosResult, kills: int) -> str:
    if result.kills < kills:
        return PLANS[result.kills % len(PLANS)]
    if not result.mid_take:
        return "take"
    return "burst" if not result.mid_burst else "acked"


def _unsettled(hub: HubProcess) -> list[str]:
    """What the hub had not finished: presses not sent, files not done (with their state)."""
    status = hub.status() or {}
    left = [f"presses: {status.get('presses', {}).get('counts')}"]
    for record in hub.call("GET", "/uploads").get("files", []):
        if record["state"] not in ("done", "corrupt", "failed", "cancelled"):
            left.append(
                f"file {record['id']} {record['name']}: {record['state']}, "
                f"{record.get('bytes_acked')} of {record.get('size')} bytes acknowledged"
            )
    return left


def _settled(hub: HubProcess) -> bool:
    status = hub.status()
    if status is None:
        return False
    counts = status["presses"]["counts"]
    uploads = status["uploads"]["counts"]
    busy = counts["pending"] + counts["sending"]
    moving = uploads["recording"] + uploads["queued"] + uploads["uploading"]
    return busy == 0 and moving == 0 and not status["recorder"]["recording"]


def run_hub_chaos(
    work: Path,
    *,
    kills: int,
    seed: int | None = None,
    mics: int = 2,
    settle_s: float = 300.0,
    extra_kills: int = 0,
    progress: bool = False,
) -> HubChaosResult:
    """Kill and restart the hub ``kills`` times, and up to ``extra_kills`` more while some
    moment (mid-take, mid-burst, after acknowledged parts) was not hit yet (a loaded machine
    can make a plan miss its moment); then let it finish and check everything."""
    seed = seed or int(os.environ.get("C2C_CHAOS_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    result = HubChaosResult(seed)
    started = time.monotonic()
    durable: dict[int, tuple[str, int, str]] = {}
    acked_at_kill: dict[tuple[str, int], int] = {}
    with HubRig(work, mics=mics) as rig:
        db = rig.data_dir / QUEUE_FILE
        while result.kills < kills or (
            not result.proved_something and result.kills < kills + extra_kills
        ):
            hub = rig.start()
            try:
                hub.ready()
                _play(hub, _plan(result, kills), rng, rig)
                taking = (rig.data_dir / JOURNAL_FILE).exists()
                acked_unfinished = bool(acked_parts(db, unfinished=True))
            except BaseException:
                hub.kill()
                raise
            hub.kill()
            result.kills += 1
            result.mid_take += int(taking)
            result.after_acked += int(acked_unfinished)
            result.mid_burst += int(bursts_open(rig.marks))
            if progress:
                print(
                    f"kill {result.kills}: take={taking} burst={bursts_open(rig.marks)} "
                    f"acked_parts={acked_unfinished}",
                    file=sys.stderr,
                    flush=True,
                )
            with rig.marks.open("a") as marks:
                marks.write("killed\n")
            for press_id, (serial, index, timecode, _) in press_rows(rig.data_dir).items():
                durable.setdefault(press_id, (serial, index, timecode))
            attempts = _attempts(rig.handle)
            for part in acked_parts(db):
                acked_at_kill.setdefault(part, attempts.get(part, 0))

        hub = rig.start()  # the last run: everything finishes, then a clean stop
        try:
            hub.ready()
            try:
                wait_for(lambda: _settled(hub), settle_s, "every press sent, every file done", 0.5)
            except AssertionError:
                result.unsettled = _unsettled(hub)  # reported with everything else, not raised
        finally:
            code = hub.stop()
        assert code == 0, hub.tail()
        result.seconds = time.monotonic() - started
        _check(result, rig, durable, acked_at_kill)
    return result


def _check(
    result: HubChaosResult,
    rig: HubRig,
    durable: dict[int, tuple[str, int, str]],
    acked_at_kill: dict[tuple[str, int], int],
) -> None:
    handle = rig.handle
    final = press_rows(rig.data_dir)
    result.presses_acked = len(final)
    result.presses_durable_at_kills = len(durable)
    result.presses_lost = [
        i for i, press in durable.items() if i not in final or final[i][:3] != press
    ]
    states = Counter(state for *_, state in final.values())
    result.presses_sent = states["sent"]
    result.presses_unconfirmed = states["unconfirmed"]
    result.presses_left = Counter(
        {s: n for s, n in states.items() if s not in ("sent", "unconfirmed")}
    )
    sent: Counter[tuple[str, int, str]] = Counter()
    maybe: Counter[tuple[str, int, str]] = Counter()
    for serial, index, timecode, state in final.values():
        if state == "sent":
            sent[(serial, index, timecode)] += 1
        elif state == "unconfirmed":
            maybe[(serial, index, timecode)] += 1
    logged: Counter[tuple[str, int, str]] = Counter(
        (e["channel_client_id"], e["input_index"], e["start"]["smpte_timecode"])
        for e in handle.log_events()
    )
    result.presses_delivered = sum(logged.values())
    for key in sent.keys() | maybe.keys() | logged.keys():
        if logged[key] > sent[key] + maybe[key]:
            result.presses_twice.append(f"{key}: logged {logged[key]}, hub has {sent[key]} sent")
        if logged[key] < sent[key]:
            result.presses_missing.append(f"{key}: logged {logged[key]}, sent {sent[key]}")

    assets = handle.assets()
    by_name = Counter(a["name"] for a in assets)
    result.duplicate_assets = sum(n - 1 for n in by_name.values() if n > 1)
    tracks = sorted(rig.recordings.rglob("*.wav"))
    result.tracks = len(tracks)
    for path in tracks:
        complete = [a for a in assets if a["name"] == path.name and a["complete"]]
        if len(complete) != 1:
            result.tracks_wrong.append(f"{path.name}: {len(complete)} complete assets")
        elif complete[0]["sha256"] != sha256_of(path):
            result.tracks_wrong.append(f"{path.name}: differs from the file on disk")
    final_attempts = _attempts(handle)
    result.acked_parts_at_kills = len(acked_at_kill)
    result.resent = [
        f"{part}: {n} -> {final_attempts.get(part)}"
        for part, n in acked_at_kill.items()
        if final_attempts.get(part) != n
    ]
    result.violations = handle.violations()


@contextlib.contextmanager
def keep_or_temp(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hub-chaos-") as tmp:
        yield Path(tmp)
