"""The two things a new user runs first: `c2c-hub emulator` and `make demo`'s script."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest


def _read_banner(
    proc: subprocess.Popen[str], seen: list[str], timeout: float = 20.0
) -> dict[str, str]:
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline and "strict" not in found:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.match(r"\s+(API|control API|CA certificate|strict mode)\s+(\S+)", line)
        if match:
            found[match.group(1).split()[0]] = match.group(2)
    return found


def test_emulator_command_serves_https_and_nothing_over_plain_http(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "c2c_hub.ui.cli", "emulator", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        banner = _read_banner(proc, seen)
        assert banner.get("strict") == "on"
        api, ca_file = banner["API"], banner["CA"]
        assert api.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=ca_file)
        assert httpx.get(f"{api}/health", verify=context).json() == {"ok": True}

        # The default trust store does not know the emulator's CA.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{api}/health")

        # Plain HTTP on the same port gets no HTTP answer at all.
        host, port = api.removeprefix("https://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            try:
                reply = sock.recv(1024)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        assert not reply.startswith(b"HTTP/")

        info = json.loads((tmp_path / "emulator.json").read_text())
        assert info["api"] == api
        secret_file = Path(info["client_secret_file"])
        assert secret_file.stat().st_mode & 0o077 == 0, "client secret must be owner-only"
        server_key = tmp_path / "tls" / "emulator-server.pem"
        assert server_key.stat().st_mode & 0o077 == 0, "TLS key must be owner-only"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    printed = "".join(seen) + out
    assert proc.returncode == 0, printed
    assert "client secret  in" in printed
    assert (tmp_path / "client-secret").read_text() not in printed


@pytest.mark.timeout(360)  # a busy machine runs the demo's hub, emulator and mics slowly
def test_demo_records_a_take_whose_tracks_arrive_on_their_mics_channels() -> None:
    """``make demo`` end to end (a short take): four mics, four channels, four byte-identical
    tracks, each on its own microphone's channel; the recorder's two local inputs (a private
    JACK server, a player of known signals) byte-identical on the primary channel and holding
    the player's signals; the meters read while it rolled; a logged press, and no
    off-contract call."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "c2c_hub.ui.cli", "demo", "--json", "--seconds", "4"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    summary = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    assert result.returncode == 0 and summary["ok"] is True, _why(summary, result.stderr)
    assert summary["project"] == "Demo Shoot"
    assert summary["violations"] == []
    inputs = summary["local_inputs"]
    assert inputs["available"], f"jackd2 is installed by the Makefile: {inputs['reason']}"
    local_serials = {i["serial"] for i in inputs["inputs"]}
    tracks = summary["tracks"]
    mics = [t for t in tracks if t["serial"] not in local_serials]
    local = [t for t in tracks if t["serial"] in local_serials]
    assert len(mics) == 4 and len(local) == 2
    assert {t["kind"] for t in mics} == {"microphone"}
    assert len({t["channel"] for t in mics}) == 4 and 0 not in {t["channel"] for t in mics}
    frames = summary["take"]["frames"]
    for track in tracks:
        assert track["asset_complete"] and track["byte_identical"], track
        assert track["asset_channel"] == track["channel"]
        assert track["frames"] == frames
    # The recorder's own inputs: on the primary channel, after the microphones, each the
    # signal its player played (sample for sample, but where a busy machine lost a period).
    assert [t["name"] for t in local] == ["Line 1", "Line 2"]
    assert [t["track"] for t in local] == [5, 6]
    for track in local:
        assert track["kind"] == "local_input" and track["channel"] == 0, track
        check = track["signal_check"]
        assert check["is_signal"] and not check["silent"], check
        assert check["matching"] >= frames // 2, check
    # At least the four seconds asked for, and no more than the hub was recording: from just
    # before the take started until its stop returned (by the demo's marks, so a busy machine,
    # which makes the demo's four seconds longer, does not fail it).
    marks = summary["timings_s"]
    assert 3.9 * 48000 <= frames <= (marks["take_stopped"] - marks["take_starting"] + 0.1) * 48000
    assert frames >= (marks["take_stopping"] - marks["take_started"] - 0.1) * 48000
    assert summary["channels"]["bulk_disconnects"] == 1
    assert summary["channels"]["connects"] == 5  # four mics and the remote (no local input)
    # The meters moved while the take rolled: read every half second from the status, every
    # track there; the sine's steady at -6.02 dBFS, the ramp's changing.
    meters = summary["meters"]
    assert meters["updates_during_take"] > 0
    readings = [r for read in meters["read"] for r in read["tracks"]]
    assert {r["serial"] for r in readings} >= {t["serial"] for t in tracks}
    sine = [r["peak_dbfs"] for r in readings if r["name"] == "Line 1" and r["signal"]]
    ramp = [r["peak_dbfs"] for r in readings if r["name"] == "Line 2" and r["signal"]]
    assert sine and all(abs(p + 6.02) < 0.1 for p in sine), sine
    assert len({round(p, 1) for p in ramp}) >= 2, ramp
    # The remote's "Good take" is one logging event at the timecode the hub stamped it with.
    (event,) = summary["logged_events"]
    (press,) = summary["presses"]
    assert (event["input"], event["input_index"], event["remote"]) == ("Good take", 0, "RMT-DEMO")
    assert event["timecode"] == press["timecode"] and press["state"] == "sent"


def _why(summary: dict[str, Any], stderr: str) -> str:
    """What a failed demo said, in short: its error, and each file's state in Frame.io."""
    if not summary:
        return stderr[-4000:]
    keys = ("name", "kind", "channel", "asset_channel", "state", "asset_complete")
    brief = {
        "error": summary.get("error"),
        "tracks": [
            {
                **{k: t.get(k) for k in keys},
                "identical": t.get("byte_identical"),
                "signal": t.get("signal_check"),
            }
            for t in summary.get("tracks", [])
        ],
        "mix_and_proxies": [
            (m.get("kind"), m.get("channel"), m.get("asset_complete"), m.get("byte_identical"))
            for m in summary.get("mix_and_proxies", [])
        ],
        "logged_events": len(summary.get("logged_events", [])),
    }
    return json.dumps(brief, indent=1)[-6000:]


@pytest.mark.timeout(240)
def test_the_demo_stopped_by_sigterm_mid_take_closes_its_take_and_stops_its_jack_server(
    tmp_path: Path,
) -> None:
    """SIGTERM (a service manager's stop) unwinds the demo as Ctrl-C does: the hub stops in
    order, the rolling take first, every track closed whole at the take's length; nothing cut
    short, nothing complaining at exit, no thread left behind. However the demo ends, its
    private JACK server and its player go with it (JACK2 keeps 8 server names per machine: a
    server left running holds one)."""
    command = [sys.executable, "-m", "c2c_hub.ui.cli", "demo", "--seconds", "60"]
    proc = subprocess.Popen(
        [*command, "--keep", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    pids: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if found := re.search(r"JACK server \S+: jackd pid (\d+)", line):
                pids["jackd"] = int(found.group(1))
            if found := re.search(r"Player \S+: pid (\d+)", line):
                pids["player"] = int(found.group(1))
            if re.match(r"\s+\d+\.\d s  TC ", line):  # the take's first progress line
                break
        assert set(pids) == {"jackd", "player"}, "".join(seen)
        for pid in pids.values():
            os.kill(pid, 0)  # both running while the take rolls
        # Where the signal most often lands mid-take, and where raising SystemExit once cut
        # the hub's stop short: in the event loop's select(), the demo idle between two
        # progress lines (not in the demo's task, printing this one).
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed = "".join(seen) + out
    assert proc.returncode == 128 + signal.SIGTERM, printed
    for name, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
            pytest.fail(f"the demo's {name} (pid {pid}) outlived it")
    # Nothing cut short (the hub's stop), nothing left to the garbage collector after the
    # loop closed, no thread the process had to leave running (c2c_hub.ui.cli).
    for bad in ("cut short", "Exception ignored", "still running", "Traceback"):
        assert bad not in printed, printed
    # The take was stopped: its journal gone, every track and the mix a whole WAV, each of
    # the take's length.
    assert not (tmp_path / "hub" / "recording.json").exists(), printed
    wavs = sorted((tmp_path / "recordings").rglob("*.wav"))
    assert len(wavs) == 4 + 2 + 1, wavs  # four mics, two local inputs, the mix
    frames = {path.name: _whole_wav_frames(path) for path in wavs}
    assert len(set(frames.values())) == 1 and min(frames.values()) > 0, frames
    assert "Terminated (SIGTERM)" in out, printed


def _whole_wav_frames(path: Path) -> int:
    """The sample frames of a WAV whose every size is right: the RIFF size is the file's, its
    chunks end exactly at the end of the file, the data holds whole frames."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", (path, raw[:12])
    assert int.from_bytes(raw[4:8], "little") + 8 == len(raw), (path, "RIFF size", len(raw))
    offset, align, data = 12, 0, None
    while offset < len(raw):
        chunk = raw[offset : offset + 4]
        size = int.from_bytes(raw[offset + 4 : offset + 8], "little")
        if chunk == b"fmt ":
            align = int.from_bytes(raw[offset + 20 : offset + 22], "little")
        elif chunk == b"data":
            data = size
        offset += 8 + size + (size & 1)
    assert offset == len(raw), (path, "chunks end past the file", offset, len(raw))
    assert data is not None and align > 0 and data % align == 0, (path, data, align)
    return data // align
