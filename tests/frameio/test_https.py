"""HTTPS only: http:// URLs, and redirects to one, are refused before a byte is sent.

See docs/rulings.md#https-only.

"Before a byte is sent" is proven with real sockets: a plain TCP listener on 127.0.0.1 records
every connection, and the redirects come from a real TLS server (its CA made with trustme).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from c2c_hub.frameio import (
    FrameioClient,
    InsecureURLError,
    TransportError,
    UnexpectedRedirect,
    make_http_client,
)
from c2c_hub.settings import FrameioSettings
from tests.frameio.conftest import BASE_URL, VERSION
from tests.frameio.fakes import FakeFrameio

SETTLE_S = 0.2  # time for a stray connection to reach the listener


@dataclass
class Listener:
    """A plain TCP server that only counts who connected (and what they sent)."""

    port: int = 0
    connections: int = 0
    received: bytes = b""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    state = Listener()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            state.received += await asyncio.wait_for(reader.read(4096), 1)
        except TimeoutError:
            pass
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


@dataclass
class TlsServer:
    port: int = 0
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@asynccontextmanager
async def serve_tls(ca: trustme.CA, answer: bytes) -> AsyncIterator[TlsServer]:
    """An HTTPS server on 127.0.0.1 answering every request with the raw bytes ``answer``."""
    state = TlsServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            state.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=context)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def redirect_to(location: str, status: int = 302) -> bytes:
    return (
        f"HTTP/1.1 {status} Found\r\nLocation: {location}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


# ---- the listener itself (so a zero below means something) ---------------------------------


async def test_the_listener_does_see_a_plain_http_request(listener: Listener) -> None:
    async with httpx.AsyncClient() as http:  # no guard at all
        with pytest.raises(httpx.HTTPError):
            await http.get(listener.http_url + "/v2/devices/me")
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 1 and listener.received.startswith(b"GET /v2/devices/me")


# ---- refusals -----------------------------------------------------------------------------


async def test_http_base_url_is_refused_when_the_client_is_built(listener: Listener) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(InsecureURLError, match="HTTPS only"):
            FrameioClient(http, client_version=VERSION, base_url=listener.http_url)
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 0


async def test_absolute_http_url_is_refused_before_connecting(listener: Listener) -> None:
    async with httpx.AsyncClient() as http:  # an unguarded client: the refusal is ours
        client = FrameioClient(http, client_version=VERSION, base_url=BASE_URL)
        with pytest.raises(InsecureURLError):
            await client.connect_channel(
                "at_x", "mic", "model", path=listener.http_url + "/v2/devices/channels"
            )
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 0


async def test_guarded_http_client_refuses_http_for_any_caller(listener: Listener) -> None:
    async with make_http_client(FrameioSettings()) as http:
        with pytest.raises(InsecureURLError):
            await http.put(listener.http_url + "/part/1", content=b"bytes")
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 0


@pytest.mark.parametrize("follow_redirects", [False, True])
async def test_redirect_to_http_is_refused_and_never_followed(
    ca: trustme.CA, ca_file: Path, listener: Listener, follow_redirects: bool
) -> None:
    """Even an injected client configured to follow redirects does not follow this one."""
    answer = redirect_to(listener.http_url + "/v2/devices/me")
    async with serve_tls(ca, answer) as server:
        context = ssl.create_default_context(cafile=str(ca_file))
        async with httpx.AsyncClient(verify=context, follow_redirects=follow_redirects) as http:
            client = FrameioClient(http, client_version=VERSION, base_url=server.url)
            with pytest.raises(InsecureURLError, match=r"redirect to http://127\.0\.0\.1"):
                await client.me("at_x")
        assert len(server.requests) == 1
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 0


async def test_guarded_http_client_refuses_a_followed_redirect_to_http(
    ca: trustme.CA, ca_file: Path, listener: Listener
) -> None:
    async with serve_tls(ca, redirect_to(listener.http_url + "/x", 307)) as server:
        settings = FrameioSettings(api_base_url=server.url, ca_file=ca_file)
        async with make_http_client(settings) as http:
            with pytest.raises(InsecureURLError):
                await http.get(server.url + "/upload", follow_redirects=True)
    await asyncio.sleep(SETTLE_S)
    assert listener.connections == 0


async def test_https_redirect_is_not_followed_either(fake: FakeFrameio) -> None:
    fake.script("GET", "/health", 307, headers={"location": "https://elsewhere.example/health"})
    async with httpx.AsyncClient(transport=fake.transport(), follow_redirects=True) as http:
        client = FrameioClient(http, client_version=VERSION, base_url=BASE_URL)
        with pytest.raises(UnexpectedRedirect) as caught:
            await client.health()
    assert caught.value.status == 307
    assert caught.value.location == "https://elsewhere.example/health"
    assert [r.url.host for r in fake.requests] == ["api.frame.io.test"]


async def test_relative_redirect_is_unexpected_not_insecure(fake: FakeFrameio) -> None:
    fake.script("GET", "/health", 301, headers={"location": "/v3/health"})
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        client = FrameioClient(http, client_version=VERSION, base_url=BASE_URL)
        with pytest.raises(UnexpectedRedirect, match=r"https://api.frame.io.test/v3/health"):
            await client.health()


# ---- make_http_client's TLS ------------------------------------------------------------------

HEALTHY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
    b'Connection: close\r\n\r\n{"ok":true}'
)


async def test_make_http_client_trusts_the_configured_ca(ca: trustme.CA, ca_file: Path) -> None:
    async with serve_tls(ca, HEALTHY) as server:
        settings = FrameioSettings(api_base_url=server.url, ca_file=ca_file)
        async with make_http_client(settings) as http:
            client = FrameioClient.from_settings(settings, http)
            assert (await client.health()).healthy
        assert server.requests[0].startswith(b"GET /health HTTP/1.1")
        assert b"x-client-version: " + settings.firmware_version.encode() in server.requests[0]


async def test_make_http_client_without_the_ca_rejects_the_certificate(ca: trustme.CA) -> None:
    async with serve_tls(ca, HEALTHY) as server:
        settings = FrameioSettings(api_base_url=server.url)
        async with make_http_client(settings) as http:
            client = FrameioClient.from_settings(settings, http)
            with pytest.raises(TransportError, match="ConnectError"):
                await client.health()
        assert server.requests == []
