"""The operator's view (`c2c-hub run` in a terminal): what is on screen, the plain lines when
there is no terminal, no secret anywhere, and the real thing inside tmux."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.frameio.server import EmulatorServer
from c2c_hub.settings import FrameioSettings
from c2c_hub.ui.live import LiveView, PlainLog, render, wants_plain

NOW = 1_800_000_000.0
PROJECT_ID = "5f0c2a9e-7d31-4b8e-9a64-0c1d2e3f4a5b"


# ---------------------------------------------------------------------- crafted snapshots
def _base() -> dict[str, Any]:
    """A paired, joined, idle hub with four mics and a remote on their channels."""
    mics = [
        ("NM-1001", "Boom"),
        ("NM-1002", "Lav Alice"),
        ("NM-1003", "Lav Bob"),
        ("NM-1004", "Plant"),
    ]
    devices = [
        {"serial": s, "name": n, "model": "C2C Network Microphone", "kind": "microphone"}
        for s, n in mics
    ] + [
        {"serial": "RMT-1", "name": "Slate", "model": "C2C Button Remote", "kind": "button_remote"}
    ]
    channels = [
        {"serial": d["serial"], "name": d["name"], "state": "connected", "external_index": i + 2}
        for i, d in enumerate(devices[:4])
    ] + [{"serial": "RMT-1", "name": "Slate", "state": "connected", "external_index": 1}]
    return {
        "generated_at": NOW,
        "firmware_version": "1.2.3",
        "hub": {"running": True},
        "pairing": {
            "state": "paired",
            "project_id": PROJECT_ID,
            "project_name": "Night Exteriors",
            "authorized_by": "Dana Mixer",
        },
        "socket": {"state": "joined", "connected_since": NOW - 130, "last_error": None},
        "paused": False,
        "network": {
            "link": {"interface": "wlan0", "kind": "wifi", "up": True, "addresses": ["10.0.0.7"]},
            "frameio_reachable": True,
            "health_rtt_ms": 41.0,
            "last_error": None,
            "upload_mbps": 63.5,
        },
        "uploads": {
            "running": True,
            "mode": "auto",
            "parallel": True,
            "paused": False,
            "paused_reason": None,
            "waiting_for": None,
            "files_remaining": 0,
            "bytes_remaining": 0,
            "counts": {"queued": 0, "uploading": 0, "done": 0, "failed": 0, "recording": 0},
            "current": [],
            "throughput_bps": 0.0,
            "problems": [],
        },
        "devices": devices,
        "channels": {"state": "in sync", "channels": channels, "departing": []},
        "plugins": [
            {
                "name": "aes67",
                "state": "loaded",
                "sources": [{"key": "aes67:aes67", "state": "running"}],
            }
        ],
        "recorder": {
            "recording": False,
            "scene": "12A",
            "next_take": 3,
            "timecode": "01:02:00:00",
            "timecode_rate": "23.976",
            "take": None,
            "last_take": None,
        },
        "presses": {"counts": {"sent": 0}, "recent": []},
        "pairing_flow": {"running": False, "step": None},
        "control": {"url": "http://127.0.0.1:8765/"},
    }


def _pairing() -> dict[str, Any]:
    status = _base()
    status["pairing"] = {"state": "unpaired", "project_id": None, "project_name": None}
    status["socket"] = {"state": "needs_pairing", "last_error": "needs pairing: not paired"}
    status["pairing_flow"] = {
        "running": True,
        "step": "show_code",
        "user_code": "482913",
        "verification_uri": "https://frameio.example/pair",
        "verification_uri_complete": "https://frameio.example/pair/482913",
        "expires_at": NOW + 299.4,
        "message": "",
    }
    return status


def _uploading() -> dict[str, Any]:
    status = _base()
    status["uploads"].update(
        files_remaining=2,
        bytes_remaining=70 << 20,
        counts={"queued": 1, "uploading": 1, "done": 5, "failed": 1, "recording": 0},
        current=[
            {
                "id": 7,
                "name": "S12A_T002_01_Boom.wav",
                "state": "uploading",
                "size": 100 << 20,
                "bytes_done": 45 << 20,
                "progress": 0.45,
                "retrying": None,
                "rate_bps": 6.5 * (1 << 20),
            }
        ],
        throughput_bps=6.5 * (1 << 20),
        problems=[
            {
                "id": 4,
                "name": "A001_C003.mov",
                "state": "failed",
                "reason": "Frame.io refused the file type (415)",
            }
        ],
        possible_duplicates=[
            {"id": 3, "name": "A001_C002.mov", "at": NOW - 60, "why": "no usable answer"}
        ],
    )
    return status


def _recording() -> dict[str, Any]:
    status = _base()
    tracks = [
        {
            "index": i + 1,
            "serial": d["serial"],
            "name": d["name"],
            "frames": 576_000 + i,
            "dropouts": 2 if i == 3 else 0,
            "error": None,
        }
        for i, d in enumerate(status["devices"][:4])
    ]
    status["recorder"].update(
        recording=True,
        timecode="01:02:15:07",
        take={
            "scene": "12A",
            "take": 3,
            "started_at": NOW - 12.4,
            "start_timecode": "01:02:03:00",
            "tracks": tracks,
        },
    )
    status["uploads"].update(
        files_remaining=4,
        counts={"queued": 0, "uploading": 0, "done": 8, "failed": 0, "recording": 4},
        current=[
            {
                "id": 10 + t["index"],
                "name": f"S12A_T003_0{t['index']}_{t['name']}.wav",
                "state": "recording",
                "size": None,
                "bytes_done": 1 << 20,
                "progress": None,
                "retrying": None,
            }
            for t in tracks
        ],
    )
    status["presses"] = {
        "counts": {"sent": 1},
        "recent": [
            {
                "id": 9,
                "serial": "RMT-1",
                "device": "Slate",
                "input": "Good take",
                "pressed_at": NOW - 3,
                "timecode": "01:02:12:05",
                "state": "sent",
                "last_error": None,
                "latency_s": 0.045,
            }
        ],
    }
    return status


def _screen(status: dict[str, Any], width: int = 100, height: int = 40) -> str:
    console = Console(
        file=io.StringIO(), record=True, width=width, height=height, force_terminal=True
    )
    console.print(render(status, NOW))
    return console.export_text()


# ---------------------------------------------------------------------- what is on screen
def test_pairing_shows_the_code_in_large_digits_its_qr_its_link_and_the_time_left() -> None:
    text = _screen(_pairing())
    assert "Code: 482 913" in text
    assert "https://frameio.example/pair" in text
    assert "https://frameio.example/pair/482913" in text
    assert "Expires in 4:59" in text
    assert "▀" in text or "▄" in text, "the QR code is drawn"
    assert "|" in text and "_" in text, "the code in large (figlet) digits"
    assert "Ctrl-C" in text


def test_paired_and_uploading_shows_project_socket_queue_progress_and_the_failure() -> None:
    text = _screen(_uploading())
    assert "Night Exteriors" in text and PROJECT_ID in text
    assert "Dana Mixer" in text
    assert "joined 2m 10s" in text
    assert "Frame.io paused no" in text
    assert "wlan0 (wifi) up" in text and "reachable 41 ms" in text and "63.5 Mbit/s" in text
    assert "2 files, 70.0 MiB remaining" in text
    assert "done 5" in text and "queued 1" in text and "failed 1" in text
    assert "S12A_T002_01_Boom.wav" in text and "45%" in text and "6.5 MiB/s" in text
    assert "A001_C003.mov" in text and "Frame.io refused the file type (415)" in text
    # a create that may have left an extra asset on Frame.io: the operator can go and look
    assert "A001_C002.mov: Frame.io may hold an incomplete extra asset" in text


def test_the_operators_pause_is_shown_with_its_reason() -> None:
    status = _uploading()
    status["uploads"]["paused_reason"] = "uploading is paused by the operator"
    status["paused"] = True
    text = _screen(status)
    assert "Frame.io paused PAUSED" in text
    assert "Uploads PAUSED" in text
    assert "uploading is paused by the operator" in text


def test_recording_shows_the_take_its_tracks_channels_and_the_press() -> None:
    text = _screen(_recording())
    assert "● REC scene 12A take 3" in text
    assert "TC 01:02:15:07" in text and "0:12" in text
    for index, name in ((1, "Boom"), (2, "Lav Alice"), (3, "Lav Bob"), (4, "Plant")):
        assert name in text
        assert f"channel {index + 1}" in text
    assert "channel 1" in text and "RMT-1" in text
    assert "576,003 frames" in text and "2 dropouts" in text
    assert "Good take" in text and "01:02:12:05" in text and "45 ms" in text and "sent" in text


def test_a_microphone_the_hub_stopped_trusting_is_shown_on_its_track() -> None:
    status = _recording()
    plant = status["recorder"]["take"]["tracks"][3]
    plant["warning"] = "sending faster than real time (20.0x real time): cut off"
    text = _screen(status, width=160)
    assert "faster than real time" in text


def test_a_channel_that_cannot_be_told_apart_says_its_files_wait() -> None:
    status = _base()
    link = status["channels"]["channels"][1]
    link.update(
        external_index=0,
        routable=False,
        error="Frame.io numbers its channel 0, the same as the primary channel",
    )
    text = _screen(status, width=140, height=40)
    assert "channel 0? files wait" in text


def test_idle_shows_the_next_take() -> None:
    text = _screen(_base())
    assert "Recorder idle" in text and "scene 12A take 3" in text
    assert "queue empty" in text


@pytest.mark.parametrize("make", [_pairing, _uploading, _recording])
def test_it_fits_80x24(make: Any) -> None:
    lines = _screen(make(), width=80, height=24).rstrip("\n").split("\n")
    assert len(lines) <= 24, "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)


def test_more_room_shows_more() -> None:
    status = _recording()
    for i in range(12):
        serial = f"NM-2{i:03d}"
        status["devices"].append({"serial": serial, "name": f"Extra {i}", "model": "Mic"})
        status["channels"]["channels"].append(
            {"serial": serial, "name": f"Extra {i}", "state": "connected", "external_index": 10 + i}
        )
    small = _screen(status, width=80, height=24)
    assert "more" in small and "NM-2011" not in small
    large = _screen(status, width=140, height=60)
    assert "NM-2011" in large and "channel 21" in large


def test_a_device_name_cannot_inject_escapes() -> None:
    status = _base()
    status["devices"][0]["name"] = "Boom\x1b[2J\x1b]0;owned\x07"
    out = io.StringIO()
    Console(file=out, width=100, height=40, color_system=None).print(render(status, NOW))
    assert "Boom" in out.getvalue() and "\x1b" not in out.getvalue()
    lines: list[str] = []
    PlainLog(lines.append).observe(
        {
            **status,
            "channels": {"channels": [{**status["channels"]["channels"][0], "name": "\x1b[31mX"}]},
        },
        NOW,
    )
    assert lines and not any("\x1b" in line for line in lines)


# ---------------------------------------------------------------------- plain lines
def test_plain_mode_prints_one_line_per_change_and_no_escape() -> None:
    lines: list[str] = []
    plain = PlainLog(lines.append)
    pairing = _pairing()
    pairing["channels"] = {"channels": []}
    pairing["devices"] = []
    plain.observe(pairing, NOW)
    plain.observe(pairing, NOW + 0.25)  # nothing changed: nothing printed
    paired = _base()
    paired["socket"] = {"state": "connecting"}
    plain.observe(paired, NOW + 1)
    plain.observe(_base(), NOW + 2)
    recording = _recording()
    recording["presses"]["recent"][0]["state"] = "pending"
    plain.observe(recording, NOW + 3)
    plain.observe(_recording(), NOW + 4)
    plain.event({"type": "part_acked", "file_id": 11}, NOW + 4)
    plain.event({"type": "file", "name": "S12A_T002_01_Boom.wav", "state": "done", "size": 5 << 20})
    plain.event({"type": "file", "name": "A001.mov", "state": "failed", "reason": "415"}, NOW + 5)
    after = _base()
    after["recorder"]["last_take"] = {**_recording()["recorder"]["take"], "seconds": 12.5}
    after["socket"] = {"state": "backoff", "last_error": "connection reset"}
    after["network"]["link"] = {"interface": "eth0", "kind": "ethernet", "up": True}
    after["channels"]["channels"] = after["channels"]["channels"][1:]
    after["uploads"]["paused_reason"] = "the device is paused in Frame.io"
    after["paused"] = True
    unconfirmed = _recording()["presses"]
    unconfirmed["recent"][0].update(state="unconfirmed", last_error="the hub stopped")
    after["presses"] = unconfirmed
    plain.observe(after, NOW + 6)
    plain.observe(after, NOW + 7)

    text = "\n".join(lines)
    assert "\x1b" not in text
    expected = [
        "pairing code 482 913: enter it at https://frameio.example/pair "
        "(or open https://frameio.example/pair/482913); expires in 4m 59s",
        "network: wlan0 (wifi, up); Frame.io reachable (41 ms)",
        f"paired with project Night Exteriors ({PROJECT_ID}), authorized by Dana Mixer",
        "channel connected: Boom (NM-1001), index 2",
        "channel connected: Slate (RMT-1), index 1",
        "socket joined",
        "take started: scene 12A take 3 at 01:02:03:00, 4 tracks",
        "press sent: Slate (RMT-1) 'Good take' at 01:02:12:05 (45 ms)",
        "uploaded S12A_T002_01_Boom.wav (5.0 MiB)",
        "upload failed: A001.mov: 415",
        "socket lost (backoff): connection reset",
        "Frame.io paused this device",
        "uploads paused: the device is paused in Frame.io",
        "network: eth0 (ethernet, up); Frame.io reachable (41 ms)",
        "channel disconnected: Boom (NM-1001)",
        "take stopped: scene 12A take 3, 12.50 s, 4 tracks, 2 dropouts",
        "press unconfirmed: Slate (RMT-1) 'Good take' at 01:02:12:05: the hub stopped",
    ]
    position = -1
    for line in expected:
        found = [i for i, seen in enumerate(lines) if seen.endswith(" " + line)]
        assert found, f"missing {line!r} in:\n{text}"
        assert found[0] > position, f"{line!r} out of order in:\n{text}"
        position = found[0]
    assert len(lines) == len(set(lines)), "each change once"
    assert sum("pairing code" in line for line in lines) == 1


def test_plain_is_chosen_without_a_terminal_or_with_term_dumb() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_plain(io.StringIO(), {"TERM": "xterm-256color"})
    assert wants_plain(Tty(), {"TERM": "dumb"})
    assert not wants_plain(Tty(), {"TERM": "xterm-256color"})
    view = LiveView(status=_base, console=Console(file=io.StringIO()))
    assert view.plain


# ---------------------------------------------------------------------- a real hub: no secret
async def _eventually(check: Callable[[], bool], within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_the_view_of_a_real_hub_never_shows_a_secret(
    emulator: EmulatorHandle,
    emulator_server: EmulatorServer,
    frameio_settings: FrameioSettings,
    tmp_path: Path,
) -> None:
    from c2c_hub.runtime import Hub
    from c2c_hub.settings import HubSettings, PluginSettings, RecorderSettings, StorageSettings

    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "recordings"),
        plugins=PluginSettings(allow=[]),
    )
    async with Hub(settings) as hub:
        await hub.start(status_file=False, plugins=False)
        lines: list[str] = []
        view = LiveView(hub, console=Console(file=io.StringIO()), write=lines.append)
        assert view.plain
        stop = asyncio.Event()
        plain_task = asyncio.create_task(view.run_until(stop))
        hub.start_pairing()
        await _eventually(lambda: bool(hub.pairing_state().get("user_code")), 10)
        code = hub.pairing_state()["user_code"]
        device_codes = [
            c.device_code
            for c in emulator_server.state.device_codes.values()
            if c.user_code == code
        ]
        assert device_codes
        during = _screen(view.snapshot())
        assert f"Code: {code[:3]} {code[3:]}" in during
        await asyncio.to_thread(emulator.approve, code)
        await _eventually(lambda: hub.presence.snapshot()["state"] == "joined", 15)
        snapshot = view.snapshot()
        after = _screen(snapshot, width=160, height=60)
        await asyncio.sleep(0.3)
        stop.set()
        await plain_task

        # And the full screen, drawn by the live loop into a terminal-like console.
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=100, height=30)
        live = LiveView(hub, console=console, plain=False)
        assert not live.plain
        async with live:
            await asyncio.sleep(0.6)

        creds = hub.session.credentials
        assert creds is not None
        secrets = {
            "access token": creds.access_token,
            "refresh token": creds.refresh_token,
            "client secret": settings.frameio.client_secret.get_secret_value(),
            "device code": device_codes[0],
        }
        project = snapshot["pairing"]["project_name"]
        assert project and project in after and project in out.getvalue()
        assert "joined" in after
        # How the parts go up, from the real uploader: its part streams and congestion control.
        uploads = snapshot["uploads"]
        assert f"parts 0 in flight of {uploads['part_streams']['limit']}" in after, after
        assert f"TCP {uploads['congestion_control']['algorithm']}" in after, after
        assert any("paired with project" in line for line in lines)
        assert any("socket joined" in line for line in lines)
        shown = {
            "pairing screen": during,
            "paired screen": after,
            "live loop": out.getvalue(),
            "plain lines": "\n".join(lines),
            "snapshot": json.dumps(snapshot, default=str),
        }
        for what, text in shown.items():
            for name, secret in secrets.items():
                assert len(secret) >= 8
                assert secret not in text, f"the {name} is in the {what}"


# ---------------------------------------------------------------------- a real terminal
@pytest.fixture
def tmux() -> Iterator[list[str]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux): no real terminal to test in")
    command = ["tmux", "-L", f"c2c-live-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
    try:
        yield command
    finally:
        subprocess.run([*command, "kill-server"], capture_output=True, timeout=10)


def _capture(tmux: list[str]) -> str:
    done = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True, timeout=10)
    return done.stdout


def _wait_screen(tmux: list[str], *needles: str, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    screen = ""
    while time.monotonic() < deadline:
        screen = _capture(tmux)
        if all(n in screen for n in needles):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"never saw {needles} on screen:\n{screen}")


def test_c2c_hub_run_in_a_real_terminal(
    tmux: list[str], emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = {
        "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
        "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
        "C2C_HUB_CONTROL__PORT": "0",
        "C2C_HUB_PLUGINS__ALLOW": "[]",
        "TERM": "xterm-256color",
    }
    rc_file = tmp_path / "rc"
    run = " ".join(
        [
            "env",
            *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            shlex.quote(sys.executable),
            "-m",
            "c2c_hub.ui.cli",
            "run",
        ]
    )
    # The shell survives Ctrl-C (a trap, which its child does not inherit) to report the code.
    script = f"trap true INT; {run}; echo $? > {shlex.quote(str(rc_file))}"
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "24", "sh", "-c", script],
        check=True,
        timeout=10,
    )
    screen = _wait_screen(tmux, "Not paired", "c2c-hub pair", "Network")

    # Pair through the running hub, as an operator would from a second terminal.
    pair_env = {**{k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}, **env}
    pair = subprocess.Popen(
        [sys.executable, "-m", "c2c_hub.ui.cli", "pair", "--no-qr"],
        env=pair_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        screen = _wait_screen(tmux, "Code: ")
        code = screen.split("Code: ", 1)[1][:7].replace(" ", "")
        assert code.isdigit() and len(code) == 6, screen
        assert code in [p["user_code"] for p in emulator.pending_pairings()]
        assert "Expires in" in screen
        emulator.approve(code)
        out, _ = pair.communicate(timeout=30)
        assert pair.returncode == 0, out
    finally:
        if pair.poll() is None:
            pair.kill()
    screen = _wait_screen(tmux, "Emulated Project", "Socket   joined")
    assert "Emulated User" in screen
    assert "Uploads" in screen and "queue empty" in screen
    assert max(len(line) for line in screen.splitlines()) <= 80

    subprocess.run([*tmux, "send-keys", "C-c"], check=True, timeout=10)
    deadline = time.monotonic() + 20
    while not rc_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rc_file.exists(), _capture(tmux)
    assert rc_file.read_text().strip() == "0"


async def test_the_login_code_is_on_the_hub_screen_only(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    from c2c_hub.runtime import Hub
    from c2c_hub.settings import (
        ControlSettings,
        HubSettings,
        PluginSettings,
        RecorderSettings,
        StorageSettings,
    )
    from c2c_hub.ui.control import ControlServer, attach_control

    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "recordings"),
        plugins=PluginSettings(allow=[]),
        control=ControlSettings(port=0),
    )
    async with Hub(settings) as hub:
        control = attach_control(hub)
        assert isinstance(control, ControlServer)
        await hub.start(status_file=False, plugins=False, presence=False)
        code = control.login_code()
        assert code is not None
        screen = LiveView(hub, console=Console(file=io.StringIO()), plain=False)
        shown = _screen(screen.snapshot(), width=100, height=30)
        assert f"login code {code[:3]} {code[3:]}" in shown
        assert str(control.url) in shown
        lines: list[str] = []
        plain = LiveView(hub, console=Console(file=io.StringIO()), write=lines.append)
        assert plain.plain and "login_code" not in plain.snapshot()
        assert code not in json.dumps(hub.status())


NETWORKS = {
    "controls": True,
    "in_use": {
        "name": "StudioNet",
        "uuid": "u-1",
        "kind": "wifi",
        "interface": "wlan0",
        "ssid": "StudioNet",
        "signal": 23,
        "link_rate_mbps": 54.0,
        "why": "chosen by the operator",
    },
    "health": {"verdict": "degraded", "reason": "weak signal (23%) over wifi StudioNet"},
    "upload": {"mbps": 12.5, "age_s": 40.0},
    "frameio": {"reachable": True, "rtt_ms": 41.0, "last_error": None},
    "routes": {
        "ipv4": [{"interface": "wlan0", "gateway": "192.168.1.1", "metric": 600}],
        "ipv6": [],
    },
}


def test_the_network_line_shows_what_is_in_use_its_verdict_and_the_speeds_age() -> None:
    status = {**_base(), "networks": NETWORKS}
    screen = _screen(status, width=160)
    line = next(row for row in screen.splitlines() if "Network" in row)
    assert "StudioNet (wifi, 23%, 54 Mbit/s)" in line
    assert "degraded: weak signal (23%) over wifi StudioNet" in line
    assert "upload 12.5 Mbit/s 40 s ago" in line and "v4" in line and "v6" not in line
    lines: list[str] = []
    plain = PlainLog(lines.append)
    plain.observe(status, NOW)
    assert any(
        seen.endswith("network: StudioNet (wifi); degraded: weak signal (23%) over wifi StudioNet")
        for seen in lines
    )
