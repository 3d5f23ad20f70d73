"""RAVENNA discovery: a session on mDNS (``_ravenna_session._sub._rtsp._tcp``), its SDP by RTSP
``DESCRIBE``; the emulated device's side and the source's, on real zeroconf on 127.0.0.1."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, EmulatedRavennaDevice
from c2c_hub_plugins.aes67.ravenna import RtspError, RtspServer, describe, describe_url

from .conftest import FakeSourceContext
from .test_source import assert_exact, serials

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Stage box 1\r\n"


async def test_describe_reads_the_sdp_of_a_session_by_name() -> None:
    server = RtspServer()
    server.sessions["Stage box 1"] = SDP
    await server.start()
    try:
        assert await describe(describe_url("127.0.0.1", server.port, "Stage box 1")) == SDP
        with pytest.raises(RtspError, match="404 Not Found"):
            await describe(describe_url("127.0.0.1", server.port, "Stage box 2"))
    finally:
        await server.stop()


async def test_describe_names_what_went_wrong() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RtspError, match="not an RTSP answer"):
            await describe(describe_url("127.0.0.1", port, "x"))
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(RtspError, match=r"DESCRIBE rtsp://127\.0\.0\.1:"):
        await describe(describe_url("127.0.0.1", port, "x"))  # nobody listens any more
    with pytest.raises(RtspError, match="not an rtsp:// URL"):
        await describe("http://127.0.0.1/x")


async def test_a_ravenna_session_found_by_mdns_becomes_channels(
    run_source: Any, senders: Callable[..., EmulatedAes67Sender]
) -> None:
    service = f"_rav{secrets.token_hex(3)}._sub._rtsp._tcp.local."  # this test's only
    sender = senders(channels=2, sap=False, name=f"Stage box {secrets.token_hex(2)}")
    device = EmulatedRavennaDevice([sender], service_type=service)
    run = await run_source(sap=False, ravenna_service=service)
    ctx: FakeSourceContext = run.ctx
    await device.start()
    try:
        await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2, within=15)
        assert ctx.attached() == set(serials(sender))
        await ctx.wait_for("audio", lambda: ctx.frames(serials(sender)[1]) >= 4800)
        assert assert_exact(ctx, sender, 1) >= 4800
        assert device.rtsp.requests >= 1
    finally:
        await device.stop()  # the mDNS goodbye
    await ctx.wait_for("detached", lambda: not ctx.attached(), within=15)
