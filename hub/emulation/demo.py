"""``make demo`` (``c2c-hub demo``): the hub's main job, end to end, on the built-in emulators.

1. Start the emulated Frame.io (strict, HTTPS, its own CA), four emulated network
   microphones as AES67 gear presents them (one AES67 stream each: RTP unicast on loopback,
   announced by SAP on a group of the demo's own), an emulated button remote (the BLE
   plugin's own code, on its emulated radio), and the recorder's own inputs: a private JACK
   server (dummy backend) with a player of two known signals, recorded by the ``jack_inputs``
   plugin (:mod:`c2c_hub.emulation.demo_inputs`; without jackd, the demo says so and goes on
   without them).
2. Start the hub with its first-party plugins; pair it with the device-code flow (the emulated
   user approves the code through the emulator's control API, as a person would in Frame.io).
3. Show the microphones discovered and connected as channels (the boot-time bulk disconnect,
   then one connect per microphone).
4. Record a take (20 s by default), one BWF track per microphone and per local input, each
   uploaded in real time (a microphone's on its own channel, a local input's on the primary
   channel), with live progress and the level meters (the terminal view's, or in a pipe a
   meter line per track drawn by the same code); halfway through, the remote presses
   "Good take", which becomes a real-time logging event at its timecode.
5. End with a table of the take's tracks, their channels and their assets, complete and
   byte-identical (SHA-256) in the emulator, each local input's samples checked to be its
   player's signal; then the mix (stereo, on the primary channel) and
   the MP3 proxies (the mix's on the primary channel, each ISO's on its microphone's), each
   byte-identical, the mix's proxy acknowledged before the mix. ``--json`` prints a
   machine-readable summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from rich.text import Text

from c2c_hub.emulation.demo_inputs import PLAYER, LocalInputs, LocalInputsError, check_signal
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.emulation.frameio.state import EmulatorConfig
from c2c_hub.emulation.plugin_models import plugin_device_models
from c2c_hub.frameio import FrameioError
from c2c_hub.pairing import PairingStep, PairingUpdate
from c2c_hub.presence import PresenceState
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
    TrackPin,
)
from c2c_hub.ui.live import LiveView, wants_plain
from c2c_hub.ui.live.meters import meter_row
from c2c_hub_plugins.aes67.emulated import EmulatedMicrophones
from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote
from c2c_hub_plugins.hid_remotes.emulated import VOLUME_UP, EmulatedHidRemote

REMOTE = ("AA:BB:CC:DD:EE:01", "C2C-Remote Slate", "RMT-DEMO")
RADIO = "demo"
GOOD_TAKE_CODE = 1  # device_models/c2c-button-remote.toml: input 0, "Good take"
# A HID shutter remote instead (--remote hid): its Volume Up is "Good take" in the
# hid_remotes plugin's model (plugins/hid_remotes/device_models/ble-shutter-remote.toml).
HID_REMOTE = ("F1:C2:C0:DE:00:01", "AB Shutter3")


class _HidDemoRemote:
    """The HID shutter remote, pressed as the demo presses our own."""

    def __init__(self) -> None:
        self.remote = EmulatedHidRemote(*HID_REMOTE, radio=RADIO, address_type="random")
        self.name = self.remote.name

    def press(self, _code: int) -> bool:
        return self.remote.tap(VOLUME_UP)


DemoRemote = EmulatedRemote | _HidDemoRemote

MICS = ["Boom", "Lav Alice", "Lav Bob", "Plant"]


class Demo:
    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        # In a terminal, the take and its uploads are shown on the hub's live view.
        self.live = not quiet and console.is_terminal and not wants_plain(console.file)
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}
        #: The meters read while the take rolled (every half second), and how many readings
        #: the hub made meanwhile.
        self.meters: list[dict[str, Any]] = []
        self.meter_updates = 0
        #: Each track's sub-device kind (``microphone``, ``local_input``), by serial.
        self.kinds: dict[str, str | None] = {}

    def say(self, text: str = "") -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.started, 3)


async def _until(check: Callable[[], bool], within: float = 20.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return check()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _approve_when_shown(
    demo: Demo, handle: EmulatorHandle, loop: asyncio.AbstractEventLoop
) -> Callable[[PairingUpdate], None]:
    def observer(update: PairingUpdate) -> None:
        if update.step is PairingStep.SHOW_CODE and update.user_code:
            code = update.user_code
            demo.say(f"  Pairing code [bold]{code[:3]} {code[3:]}[/]  at {update.verification_uri}")
            demo.say("  [dim][Frame.io web app] the user enters the code and picks the project[/]")
            loop.call_later(1.0, lambda: loop.run_in_executor(None, handle.approve, code))

    return observer


def _channel_rows(hub: Hub) -> list[tuple[str, str, str, str]]:
    rows = []
    for link in hub.channels.links.values():
        index = "-" if link.external_index is None else str(link.external_index)
        rows.append((link.serial, link.name, link.state, index))
    return sorted(rows)


PRINT_EVERY_S = 4.0  # in a pipe: a progress line and the meters this often


def _meter_lines(demo: Demo, hub: Hub) -> None:
    """A meter line per track from the status model, drawn by the terminal view's own code."""
    for reading in hub.status()["meters"].get("tracks") or []:
        name, bar, numbers, note = meter_row(reading)
        name.truncate(14, overflow="ellipsis", pad=True)
        demo.console.print(Text.assemble("    ", name, " ", bar, f" {numbers} ", note))


async def _record(demo: Demo, hub: Hub, seconds: float, remote: DemoRemote) -> Any:
    demo.mark("take_starting")
    take = await hub.recorder.start_take(scene="12A")
    demo.mark("take_started")
    demo.say(
        f"\n[bold]Recording[/] scene {take.scene} take {take.number} at timecode "
        f"{take.start_timecode} ({hub.timecode.rate}): {len(take.tracks)} tracks"
    )
    demo.kinds = {}
    for serial in take.tracks:
        attached = hub.devices.get(serial)
        demo.kinds[serial] = attached.kind.name if attached is not None else None
    if not demo.quiet and not demo.live:
        demo.say("  [dim]meters, dBFS: peak / RMS / hold[/]")
    updates_before = hub.meters.snapshot()["updates"]
    # The take runs from its own start (opening the tracks takes a moment, longer on a busy
    # machine): its length is the one asked for, whatever start_take cost.
    started = time.monotonic() - max(0.0, hub.clock.now() - take.started_at)
    pressed = False
    next_print = PRINT_EVERY_S
    while (elapsed := time.monotonic() - started) < seconds:
        until_press = seconds / 2 - elapsed
        step = min(0.5, seconds - elapsed, until_press if until_press > 0 else 0.5)
        await asyncio.sleep(step)
        elapsed = time.monotonic() - started
        if not pressed and elapsed >= seconds / 2:
            pressed = remote.press(GOOD_TAKE_CODE)
            if pressed:
                demo.say(
                    f"  [bold]{remote.name}[/]: 'Good take' pressed at {hub.timecode.timecode()}"
                )
        demo.meters.append(
            {
                "at_s": round(elapsed, 2),
                "tracks": [
                    {k: r.get(k) for k in ("name", "serial", "peak_dbfs", "rms_dbfs", "signal")}
                    for r in hub.meters.snapshot()["tracks"]
                ],
            }
        )
        if demo.live or demo.quiet or (elapsed < next_print and elapsed < seconds):
            continue
        next_print = (elapsed // PRINT_EVERY_S + 1) * PRINT_EVERY_S
        files = hub.uploader.snapshot()
        demo.say(
            f"  {elapsed:5.1f} s  TC {hub.timecode.timecode()}  "
            f"{len(take.tracks)} tracks, {len(hub.channels.available())} channels, "
            f"{files.get('bytes_sent', 0) / 1e6:.1f} MB sent"
        )
        _meter_lines(demo, hub)
    demo.meter_updates = hub.meters.snapshot()["updates"] - updates_before
    # A remote that was not yet listening (its link still subscribing on a busy machine) took
    # no press: try again for a while rather than end a take with no "Good take" in it.
    deadline = time.monotonic() + 30.0
    while not pressed and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        pressed = remote.press(GOOD_TAKE_CODE)
        if pressed:
            demo.say(f"  [bold]{remote.name}[/]: 'Good take' pressed at {hub.timecode.timecode()}")
    demo.mark("take_stopping")
    return await hub.recorder.stop_take()


async def _wait_uploaded(demo: Demo, hub: Hub, file_ids: list[int], within: float) -> bool:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    def states() -> dict[int, dict[str, Any]]:
        return {i: hub.uploader.file(i) for i in file_ids}

    final = {"done", "failed", "cancelled", "corrupt", "skipped_paused"}
    if demo.quiet or demo.live:
        return await _until(
            lambda: all(f["state"] in final for f in states().values()), within=within
        )
    with Progress(
        TextColumn("  {task.description:<24}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[state]}"),
        console=demo.console,
        transient=False,
    ) as progress:
        bars = {
            i: progress.add_task(f["name"], total=f.get("size") or 1, state=f["state"])
            for i, f in states().items()
        }
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            current = states()
            for i, f in current.items():
                progress.update(
                    bars[i],
                    completed=f.get("bytes_acked") or 0,
                    total=f.get("size") or 1,
                    state=f["state"],
                )
            if all(f["state"] in final for f in current.values()):
                return True
            await asyncio.sleep(0.1)
    return False


async def run(
    settings: HubSettings,
    handle: EmulatorHandle,
    demo: Demo,
    seconds: float,
    mics: EmulatedMicrophones,
    remote_kind: str = "c2c",
    jack: LocalInputs | None = None,
) -> int:
    summary: dict[str, Any] = {"ok": False}
    local_inputs = jack.serials() if jack is not None and jack.available else {}
    sap_group = mics.sap_group
    remote: DemoRemote = (
        _HidDemoRemote() if remote_kind == "hid" else EmulatedRemote(*REMOTE, radio=RADIO)
    )
    protocol = "HID over GATT" if remote_kind == "hid" else "the C2C GATT format"
    demo.say(f"The button remote: {remote.name} ({protocol})")
    async with contextlib.AsyncExitStack() as stack:
        demo.say(
            f"Starting {len(MICS)} emulated AES67 microphones (RTP L24/48 kHz unicast on "
            f"127.0.0.1, SAP on {sap_group}) ..."
        )
        mics.start()
        stack.callback(mics.stop)
        demo.mark("mics_announced")

        if jack is not None and jack.available:
            # the player started with the demo; once it plays, the hub finds its ports at once
            try:
                await asyncio.to_thread(jack.ready)
            except LocalInputsError as exc:
                demo.say(f"[red]{exc}[/]")
                summary["error"] = str(exc)
                return _finish(demo, summary, 1)
            demo.mark("player_ready")

        hub = Hub(settings)
        stack.push_async_callback(hub.aclose)
        await hub.start()
        demo.say("Hub started; plugins: " + ", ".join(p["name"] for p in hub.plugins.snapshot()))

        pairing = hub.pairing()
        pairing.subscribe(_approve_when_shown(demo, handle, asyncio.get_running_loop()))
        device = await pairing.run()
        demo.mark("paired")
        demo.say(f"Paired with project [bold]{device.project.name}[/] ({device.project.id})")
        await _until(lambda: hub.presence.state is PresenceState.JOINED, within=10)
        demo.say(f"  Socket {hub.presence.state.value}")

        wanted = len(MICS) + 1  # and the remote
        connected = await _until(lambda: len(hub.channels.available()) >= wanted, within=20)
        demo.mark("channels_connected")
        table = Table(title="Sub-devices as Frame.io channels", title_justify="left")
        for column in ("serial", "name", "channel", "external_index"):
            table.add_column(column)
        for row in _channel_rows(hub):
            table.add_row(*row)
        if not demo.quiet:
            demo.console.print(table)
        demo.say(
            f"  boot flow: {hub.channels.stats.bulk_disconnects} bulk disconnect, "
            f"{hub.channels.stats.connects} connects"
        )
        if not connected:
            demo.say("[red]not every microphone became a channel[/]")
            summary["error"] = "channels"
            return _finish(demo, summary, 1)
        if local_inputs:
            attached = await _until(
                lambda: all(hub.devices.get(s) is not None for s in local_inputs), within=20
            )
            demo.mark("local_inputs_attached")
            for serial, item in local_inputs.items():
                entry = hub.devices.get(serial)
                address = entry.device.address if entry is not None else None
                demo.say(
                    f"  Local input [bold]{item.name}[/] ({serial}): "
                    f"{'fed by ' + str(address) if entry is not None else '[red]not attached[/]'}"
                    f", on the primary channel"
                )
            if not attached:
                demo.say("[red]not every local input attached[/]")
                summary["error"] = "local_inputs"
                return _finish(demo, summary, 1)

        view = LiveView(hub, console=demo.console, plain=False, screen=False, show_qr=False)
        async with view if demo.live else contextlib.nullcontext(view):
            take = await _record(demo, hub, seconds, remote)
            demo.mark("take_stopped")
            demo.say(
                f"Stopped after {(take.frames or 0) / take.sample_rate:.2f} s; uploading the rest"
            )
            file_ids = [t.file_id for t in take.tracks.values() if t.file_id is not None]
            derived = take.derived.files if take.derived is not None else []
            file_ids += [d.file_id for d in derived if d.file_id is not None]
            uploaded = await _wait_uploaded(demo, hub, file_ids, within=60)
            demo.mark("uploaded")
            if demo.live:
                await asyncio.sleep(0.5)  # the last frame shows every track done

        assets = {a["id"]: a for a in handle.assets()}
        tracks = []
        for track in sorted(take.tracks.values(), key=lambda t: t.index):
            record = hub.uploader.file(track.file_id) if track.file_id is not None else {}
            asset = assets.get(record.get("asset_id") or "")
            local = _sha256(track.path)
            tracks.append(
                {
                    "track": track.index,
                    "name": track.name,
                    "serial": track.serial,
                    "kind": demo.kinds.get(track.serial),
                    "file": str(track.path),
                    "frames": track.assembler.frames_written,
                    "dropout_samples": track.assembler.dropout_samples,
                    "channel": record.get("channel"),
                    "state": record.get("state"),
                    "asset_id": record.get("asset_id"),
                    "asset_complete": bool(asset and asset.get("complete")),
                    "asset_channel": asset.get("channel") if asset else None,
                    "byte_identical": bool(asset and asset.get("sha256") == local),
                    "sha256": local,
                }
            )
            played = local_inputs.get(track.serial)
            if played is not None:
                found = await asyncio.to_thread(check_signal, track.path, played)
                tracks[-1]["signal_check"] = found
        table = Table(title=f"Scene {take.scene} take {take.number}", title_justify="left")
        for column in ("track", "file", "channel", "asset", "in Frame.io", "signal"):
            table.add_column(column)
        for t in tracks:
            kind = {"microphone": "mic", "local_input": "input"}.get(t["kind"], t["kind"])
            table.add_row(
                f"{t['track']} {kind}",
                Path(t["file"]).name,
                "0 primary" if t["channel"] == 0 else str(t["channel"]),
                (t["asset_id"] or "-")[:8],
                "NOT COMPLETE"
                if not t["asset_complete"]
                else "identical"
                if t["byte_identical"]
                else "DIFFERENT",
                _signal_cell(t["signal_check"]) if "signal_check" in t else "-",
            )
        if not demo.quiet:
            demo.console.print(table)
        mixes = _derived_rows(hub, derived, assets)
        table = Table(title="The mix and the proxies", title_justify="left")
        for column in ("file", "kind", "channel", "asset", "acknowledged", "identical"):
            table.add_column(column)
        first = min((m["completed_at"] or 0 for m in mixes), default=0)
        for m in mixes:
            done_at = m["completed_at"]
            table.add_row(
                Path(m["file"]).name,
                m["kind"],
                str(m["channel"]),
                (m["asset_id"] or "-")[:8],
                "NO" if done_at is None else f"+{done_at - first:.2f} s",
                "yes" if m["byte_identical"] else "NO",
            )
        if not demo.quiet and mixes:
            demo.console.print(table)
        by_name = {Path(m["file"]).name: m for m in mixes}
        mix_wav = next((m for m in mixes if m["kind"] == "mix"), None)
        mix_mp3 = by_name.get(Path(mix_wav["file"]).with_suffix(".mp3").name) if mix_wav else None
        proxy_first = bool(
            mix_wav
            and mix_mp3
            and mix_wav["completed_at"] is not None
            and mix_mp3["completed_at"] is not None
            and mix_mp3["completed_at"] <= mix_wav["completed_at"]
        )
        if mix_wav and mix_mp3:
            demo.say(
                f"The mix and its proxy on the primary channel: proxy "
                f"{'first' if proxy_first else '[red]NOT first[/]'}"
            )
        mic_tracks = [t for t in tracks if t["serial"] not in local_inputs]
        local_tracks = [t for t in tracks if t["serial"] in local_inputs]
        if local_tracks:
            good = sum(t["signal_check"]["is_signal"] for t in local_tracks)
            lost = [t["signal_check"]["dropped"] / (t["frames"] or 1) for t in local_tracks]
            demo.say(
                f"Local inputs on the primary channel: {good} of {len(local_tracks)} hold "
                "their player's signal sample for sample"
                + (
                    f" (up to {100 * max(lost):.1f}% of the take lost to xruns: a busy machine)"
                    if max(lost) >= 0.001
                    else ""
                )
            )
        ok = (
            uploaded
            and len(mic_tracks) == len(MICS)
            and len(local_tracks) == len(local_inputs)
            and all(t["asset_complete"] and t["byte_identical"] for t in tracks)
            and all(t["asset_channel"] == t["channel"] for t in tracks)
            and all(t["channel"] != 0 and t["kind"] == "microphone" for t in mic_tracks)
            and all(
                t["channel"] == 0 and t["kind"] == "local_input" and t["signal_check"]["is_signal"]
                for t in local_tracks
            )
            and bool(mixes)
            and all(m["asset_complete"] and m["byte_identical"] for m in mixes)
            and proxy_first
            and mix_wav is not None
            and mix_wav["asset_channel"] == 0
        )
        await _until(lambda: hub.presses.counts.get("sent", 0) >= 1, within=10)
        logged = [
            {
                "remote": e.get("channel_client_id"),
                "input": e.get("input_name"),
                "input_index": e.get("input_index"),
                "timecode": (e.get("start") or {}).get("smpte_timecode"),
                "rate": (e.get("start") or {}).get("rate"),
                "offset": e.get("offset"),
            }
            for e in handle.log_events()
        ]
        hub_presses = [r.to_json() for r in hub.presses.recent]
        for event in logged:
            demo.say(
                f"Logged in Frame.io: [bold]{event['input']}[/] from {event['remote']} "
                f"at {event['timecode']}"
            )
        ok = ok and len(logged) == 1 and logged[0]["timecode"] == hub_presses[-1]["timecode"]
        violations = handle.violations()
        summary.update(
            ok=ok and not violations,
            project=device.project.name,
            take=take.to_json(),
            tracks=tracks,
            mix_and_proxies=mixes,
            channels=hub.channels.snapshot(),
            local_inputs={
                "available": bool(local_inputs),
                "reason": jack.reason if jack is not None else "not asked for",
                "server": jack.server.name if jack is not None and jack.available else None,
                "inputs": [
                    {"serial": s, "name": i.name, "signal": i.what, "kind": i.kind}
                    for s, i in local_inputs.items()
                ],
            },
            meters={"updates_during_take": demo.meter_updates, "read": demo.meters},
            logged_events=logged,
            presses=hub_presses,
            violations=violations,
        )
        demo.say(f"Take directory: {take.directory}")
        if violations:
            demo.say(f"[red]off-contract calls seen by the emulator: {violations}[/]")
        else:
            demo.say("Every call followed Frame.io's contract (strict emulator, no violations).")
    return _finish(demo, summary, 0 if summary["ok"] else 1)


def _signal_cell(check: dict[str, Any]) -> str:
    """The share of a local input's samples that are exactly its player's signal."""
    if check["silent"]:
        return "SILENT"
    cell = f"{100 * check['share']:.1f}%"
    return cell if check["is_signal"] else f"NO {cell}"


def _derived_rows(hub: Hub, derived: list[Any], assets: dict[str, Any]) -> list[dict[str, Any]]:
    """The mix, its proxy and each ISO's proxy: where each went, complete and byte-identical."""
    rows = []
    for item in derived:
        if item.file_id is None:
            continue
        record = hub.uploader.file(item.file_id)
        asset = assets.get(record.get("asset_id") or "")
        local = _sha256(item.path)
        rows.append(
            {
                "file": str(item.path),
                "kind": item.kind,
                "channel": record.get("channel"),
                "state": record.get("state"),
                "asset_id": record.get("asset_id"),
                "asset_complete": bool(asset and asset.get("complete")),
                "asset_channel": asset.get("channel") if asset else None,
                "completed_at": asset.get("completed_at") if asset else None,
                "byte_identical": bool(asset and asset.get("sha256") == local),
                "sha256": local,
            }
        )
    return sorted(rows, key=lambda r: r["completed_at"] or float("inf"))


def _finish(demo: Demo, summary: dict[str, Any], code: int) -> int:
    demo.mark("end")
    summary["timings_s"] = demo.marks
    if demo.quiet:
        print(json.dumps(summary, indent=2, default=str))
    else:
        demo.say(f"Demo wall time: {demo.marks['end']:.1f} s; {'OK' if code == 0 else 'FAILED'}")
    return code


def _private_streams() -> dict[str, Any]:
    """AES67 discovery under names of this demo's own (a RAVENNA subtype, a SAP group):
    loopback multicast is shared by every process on the machine, and a test or a benchmark
    running beside the demo must not lend it (or take from it) a stream."""
    import random
    import secrets

    group = f"239.255.{random.randrange(1, 250)}.{random.randrange(1, 250)}"
    return {
        "interface": "127.0.0.1",
        "ravenna_service": f"_ravdemo{secrets.token_hex(2)}._sub._rtsp._tcp.local.",
        "sap_groups": [group],
    }


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="c2c-demo-") as tmp:
        yield Path(tmp)


#: The demo's exit code when SIGTERM stopped it, as a shell reports a command it killed.
EXIT_TERMINATED = 128 + signal.SIGTERM


class _Termination:
    """SIGTERM (how a service manager stops a process) unwinds the demo as Ctrl-C does.

    While the hub runs, the signal cancels the demo's main task, from inside the event loop:
    the hub then stops in order, the take first (its writer finishes, every track is closed
    whole at the take's length and its upload ended), then the rest. Raising SystemExit from
    the handler instead lands most often in the loop's own select(), outside every task, and
    asyncio.run then cancels every task at once: the take's writer with the rest, so the take
    was left unclosed, to the next start's recovery.

    Before the hub runs (the JACK server, the emulator starting), the signal raises SystemExit,
    which unwinds what is started so far. Once the hub has stopped, or once a first SIGTERM is
    being handled, another is only remembered: nothing on the way out is cut short. Either
    way the JACK server and the player are stopped on the way out, and the demo ends with
    :data:`EXIT_TERMINATED`.
    """

    def __init__(self) -> None:
        self.signalled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ended = False

    def handle(self, signum: int, _frame: Any) -> None:
        """The SIGTERM handler (Python runs it in the main thread, between two bytecodes)."""
        first, self.signalled = not self.signalled, True
        if not first or self._ended:
            return
        if self._loop is None or self._task is None:
            raise SystemExit(128 + signum)
        # Not task.cancel() here: the handler may have interrupted the loop itself.
        self._loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def run(self, main: Coroutine[Any, Any, int], terminated: Callable[[], int]) -> int:
        """Run ``main`` (the demo's hub); ``terminated()`` is the exit code if SIGTERM ended it."""
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            return await main
        except asyncio.CancelledError:
            if not self.signalled:
                raise  # Ctrl-C (asyncio.run turns it into KeyboardInterrupt)
            return terminated()
        finally:
            self._ended = True
            self._loop = self._task = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="c2c-hub demo", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON summary only")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the take (20)")
    parser.add_argument("--keep", type=Path, help="write everything here (kept afterwards)")
    parser.add_argument(
        "--remote",
        choices=("c2c", "hid"),
        default="c2c",
        help="the button remote: our own GATT format (c2c) or a HID shutter remote (hid)",
    )
    parser.add_argument(
        "--no-local-inputs",
        action="store_true",
        help="no private JACK server, no local inputs: network microphones only",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C (the take stopped and closed, then the rest of the hub): the
    # JACK server and the player are stopped on the way out (_Termination).
    termination = _Termination()
    if threading.current_thread() is not threading.main_thread():
        return _main(args, termination)  # a signal handler only in the main thread
    previous = signal.signal(signal.SIGTERM, termination.handle)
    try:
        code = _main(args, termination)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_TERMINATED if termination.signalled else code


def _main(args: argparse.Namespace, termination: _Termination) -> int:
    console = Console(stderr=args.json)
    demo = Demo(console, quiet=args.json)
    jack = LocalInputs()
    if args.no_local_inputs:
        jack.reason = "--no-local-inputs"
    else:
        demo.say("Starting a private JACK server (dummy backend) and a player of known signals ...")
        try:
            jack.start()
        except LocalInputsError as exc:
            demo.say(f"[red]{exc}[/]")
            demo.say("  (c2c-hub demo --no-local-inputs runs without the recorder's own inputs)")
            return _finish(demo, {"ok": False, "error": str(exc)}, 1)
    with jack, _workspace(args.keep) as workspace:
        if jack.available:
            demo.say(
                f"  JACK server {jack.server.name}: jackd pid {jack.server.process.pid}, "
                f"dummy backend, {jack.server.rate} Hz"
            )
            demo.say(f"  Player {PLAYER}: pid {jack.player_pid}")
            for item in jack.inputs:
                demo.say(
                    f"  {PLAYER}:out_{item.output + 1} plays {item.what} into [bold]{item.name}[/]"
                )
        else:
            demo.say(f"  No local inputs: {jack.reason}")
        demo.say("Starting the emulated Frame.io (HTTPS, strict) ...")
        config = EmulatorConfig(strict=True, device_code_interval=0.5, project_name="Demo Shoot")
        with EmulatorServer(workspace / "emulator", config=config) as server:
            demo.say(f"  API {server.base_url}")
            streams = _private_streams()
            mics = EmulatedMicrophones(MICS, sap_group=streams["sap_groups"][0], session_base=1001)
            # each microphone on its own track number in every take (recorder.tracks)
            pins = {s: TrackPin(track=n + 1) for n, s in enumerate(mics.serials)}
            # the local inputs after them, on the primary channel (they are the recorder's own)
            local_serials = list(jack.serials()) if jack.available else []
            for n, serial in enumerate(local_serials):
                pins[serial] = TrackPin(track=len(MICS) + n + 1)
            settings = HubSettings(
                frameio=FrameioSettings(
                    api_base_url=server.base_url,
                    client_id=f"demo-{uuid.uuid4()}",
                    client_secret=SecretStr(config.client_secret),
                    ca_file=server.ca_file,
                ),
                # The token key in its own folder of the demo's workspace, not the user's config.
                storage=StorageSettings(
                    data_dir=workspace / "hub", key_file=workspace / "keys" / "token.key"
                ),
                recorder=RecorderSettings(directory=workspace / "recordings", tracks=pins),
                plugins=PluginSettings(
                    options={
                        "ble_remotes": {"radio": "emulated", "emulated_radio": RADIO},
                        "hid_remotes": {
                            "radio": "emulated",
                            "emulated_radio": RADIO,
                            "evdev": False,
                        },
                        "aes67": streams,
                        **({"jack_inputs": jack.options()} if jack.available else {}),
                    }
                ),
            )
            handle = EmulatorHandle(
                server.base_url, server.control_url, server.ca_file, config.client_secret
            )
            # Frame.io knows a plugin's device model once the integration declares it (as
            # its developer console would): the AES67 channel's and the HID shutter remote's
            # are the plugins' own.
            for _, model in plugin_device_models(
                settings.plugins, settings.device_models.directory
            ):
                if model.source is not None:
                    handle.declare_device_model(model.source.read_text(encoding="utf-8"))

            def terminated() -> int:
                demo.say("[yellow]Terminated (SIGTERM)[/]: the hub stopped in order")
                return _finish(demo, {"ok": False, "error": "terminated"}, EXIT_TERMINATED)

            try:
                return asyncio.run(
                    termination.run(
                        run(settings, handle, demo, args.seconds, mics, args.remote, jack),
                        terminated,
                    )
                )
            except FrameioError as exc:
                demo.say(f"[red]Frame.io call failed: {exc}[/]")
                return 1
            finally:
                handle.close()


if __name__ == "__main__":
    sys.exit(main())
