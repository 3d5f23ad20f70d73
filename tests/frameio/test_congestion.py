"""Congestion control per socket: the hub's connections run BBR where the kernel offers it.

Proven on real kernel TCP over loopback: a TLS server on 127.0.0.1, the hub's own HTTP client
(``make_http_client``), and the algorithm read back from the connected socket
(``getsockopt(TCP_CONGESTION)``), as ``ss -ti`` would show it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from c2c_hub.frameio import make_http_client
from c2c_hub.frameio.congestion import AVAILABLE, DEFAULT, choose, of_socket
from c2c_hub.settings import FrameioSettings

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_CONGESTION") or not AVAILABLE.exists(),
    reason="needs Linux per-socket congestion control",
)


def available() -> set[str]:
    return set(AVAILABLE.read_text().split())


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 answering every request with 200 (its CA file)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, ca_file
    finally:
        server.close()
        await server.wait_closed()


async def algorithm_of_a_request(requested: str, port: int, ca_file: Path) -> str | None:
    """What the hub's client's connection ran, for ``uploads.congestion_control=requested``."""
    settings = FrameioSettings(api_base_url="https://127.0.0.1", ca_file=ca_file)
    async with make_http_client(settings, choose(requested)) as http:
        async with http.stream("GET", f"https://127.0.0.1:{port}/") as response:
            assert response.status_code == 200
            stream = response.extensions["network_stream"]
            sock = stream.get_extra_info("socket")
            assert sock is not None  # asyncio's TransportSocket: getsockopt works on it
            return of_socket(sock)


@pytest.mark.skipif(not {"bbr", "cubic"} <= available(), reason="this kernel lacks BBR or CUBIC")
async def test_auto_starts_every_connection_on_cubic_with_bbr_for_random_loss(
    tls_server: tuple[int, Path],
) -> None:
    # The system default here is BBR: only the per-socket option explains CUBIC.
    assert await algorithm_of_a_request("auto", *tls_server) == "cubic"
    chosen = choose("auto")
    assert (chosen.algorithm, chosen.upgrade) == ("cubic", "bbr")
    assert chosen.status()["switches_to"] == "bbr"
    assert "random loss" in chosen.reason


def kernel(tmp_path: Path, offered: str, default: str) -> dict[str, Path]:
    """What ``choose`` reads of a kernel: the algorithms it offers, and its default."""
    (tmp_path / "available").write_text(offered + "\n")
    (tmp_path / "default").write_text(default + "\n")
    return {"available_path": tmp_path / "available", "default_path": tmp_path / "default"}


def test_auto_where_only_bbr_is_allowed_runs_bbr_from_the_start(tmp_path: Path) -> None:
    chosen = choose(
        "auto",
        **kernel(tmp_path, "reno cubic bbr", "reno"),
        may_use=lambda name: None if name == "bbr" else "the kernel refused it",
    )
    assert (chosen.algorithm, chosen.upgrade) == ("bbr", None)


@pytest.mark.skipif("cubic" not in available(), reason="this kernel has no CUBIC")
async def test_a_named_algorithm_is_set_on_the_socket(tls_server: tuple[int, Path]) -> None:
    # Not the system default here (BBR on this bench), so only the per-socket option explains it.
    assert await algorithm_of_a_request("cubic", *tls_server) == "cubic"
    assert await algorithm_of_a_request("reno", *tls_server) == "reno"


async def test_system_leaves_the_default(tls_server: tuple[int, Path]) -> None:
    assert await algorithm_of_a_request("system", *tls_server) == DEFAULT.read_text().strip()


async def test_an_algorithm_the_kernel_lacks_falls_back_to_the_default(
    tls_server: tuple[int, Path],
) -> None:
    chosen = choose("nosuchcc")
    assert chosen.algorithm is None
    assert "unavailable" in chosen.reason
    assert chosen.status()["algorithm"] == DEFAULT.read_text().strip()
    assert await algorithm_of_a_request("nosuchcc", *tls_server) == DEFAULT.read_text().strip()


def test_auto_without_bbr_keeps_the_system_default(tmp_path: Path) -> None:
    chosen = choose("auto", **kernel(tmp_path, "reno cubic", "cubic"))
    assert (chosen.algorithm, chosen.effective) == (None, "cubic")
    assert chosen.socket_options() == []
    assert chosen.status()["per_socket"] is False


def test_auto_where_the_kernel_refuses_bbr_to_this_process(tmp_path: Path) -> None:
    chosen = choose(
        "auto",
        **kernel(tmp_path, "reno cubic bbr", "cubic"),
        may_use=lambda name: "the kernel refused it (Operation not permitted)",
    )
    assert chosen.effective == "cubic"
    assert "not permitted" in chosen.reason


def test_the_settings_name_an_algorithm_or_refuse_it() -> None:
    from c2c_hub.settings import SettingsError, load_settings

    assert (
        load_settings(uploads={"congestion_control": " BBR "}).uploads.congestion_control == "bbr"
    )
    for bad in ("bbr; rm", "", "x" * 16):
        with pytest.raises(SettingsError, match="congestion_control"):
            load_settings(uploads={"congestion_control": bad})
    with pytest.raises(SettingsError, match="min_part_streams"):
        load_settings(uploads={"min_part_streams": 8, "max_part_streams": 4})
