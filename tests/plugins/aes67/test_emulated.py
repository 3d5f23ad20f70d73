"""The emulated sender's command: N senders, their SDP printed and written, SAP announced."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from c2c_hub_plugins.aes67.sap import open_sap_socket, parse_sap
from c2c_hub_plugins.aes67.sdp import parse_sdp

from .conftest import FakeSourceContext, Groups, new_groups


def test_the_command_starts_n_senders_announced_by_sap(tmp_path: Path) -> None:
    groups = new_groups()
    listener = open_sap_socket("127.0.0.1", [groups.sap])
    listener.setblocking(True)
    listener.settimeout(10)
    command = [
        sys.executable,
        "-m",
        "c2c_hub_plugins.aes67.emulated",
        "--count=2",
        "--channels=8",
        "--encoding=L16",
        "--ptime=0.25",
        f"--address={groups.rtp[0]}",
        f"--port={groups.port}",
        f"--sap-group={groups.sap}",
        f"--sdp-dir={tmp_path}",
        "--duration=1.5",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        heard = {parse_sap(listener.recv(65536)).sdp for _ in range(2)}
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.glob("*.sdp"))
    assert [f.name for f in files] == ["emulated-1.sdp", "emulated-2.sdp"]
    sessions = [parse_sdp(f.read_text()) for f in files]
    streams = [s.streams[0] for s in sessions]
    second = str(ipaddress.IPv4Address(groups.rtp[0]) + 1)
    assert [m.address for m in streams] == [groups.rtp[0], second]
    assert {(m.encoding, m.channels, m.frames_per_packet) for m in streams} == {("L16", 8, 12)}
    assert heard == {f.read_bytes().decode() for f in files}
    assert "sent " in done.stderr and " packets from 2 sender(s)" in done.stderr


async def test_the_command_announces_ravenna_sessions_the_source_finds(
    run_source: Any, groups: Groups
) -> None:
    service = f"_rav{secrets.token_hex(3)}._sub._rtsp._tcp.local."
    command = [
        sys.executable,
        "-m",
        "c2c_hub_plugins.aes67.emulated",
        "--count=2",
        "--channels=2",
        "--no-sap",
        "--ravenna",
        f"--ravenna-service={service}",
        f"--address={groups.rtp[0]}",
        f"--port={groups.port}",
        "--duration=20",
    ]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    try:
        run = await run_source(sap=False, ravenna_service=service)
        ctx: FakeSourceContext = run.ctx
        await ctx.wait_for("4 channels", lambda: len(ctx.attached()) == 4, within=15)
        names = sorted(a.device.name for a in ctx.registry)
        assert names == ["Ch 1", "Ch 1", "Ch 2", "Ch 2"]
        assert {s["session"] for s in run.source.streams()} == {
            "Emulated AES67 1",
            "Emulated AES67 2",
        }
    finally:
        child.send_signal(signal.SIGINT)  # as Ctrl-C: a clean stop (goodbyes, deletions)
        async with asyncio.timeout(10):
            assert await child.wait() == 0
