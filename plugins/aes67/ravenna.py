"""RAVENNA session discovery: mDNS/DNS-SD names a session, RTSP ``DESCRIBE`` gives its SDP.

A RAVENNA device announces each of its sessions as an instance of ``_rtsp._tcp`` with the
subtype ``_ravenna_session`` (browse ``_ravenna_session._sub._rtsp._tcp.local.``); the
instance name is the session name, and ``DESCRIBE rtsp://<host>:<port>/by-name/<session name>``
answers with the session's SDP.

- :func:`session_name` / :func:`describe_url`: from a service instance to the RTSP URL;
- :func:`describe`: one RTSP ``DESCRIBE`` (RFC 2326), bounded in time and size; every failure
  is an :class:`RtspError` saying what went wrong;
- :class:`RtspServer`: the device's side, for the emulated sender and tests: answers
  ``DESCRIBE`` (and ``OPTIONS``) for the sessions it holds, 404 for others.

No hub imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse

from c2c_hub.kit import HubError

RAVENNA_SERVICE = "_ravenna_session._sub._rtsp._tcp.local."
RTSP_TYPE = "_rtsp._tcp.local."
MAX_HEADER_BYTES = 8192
MAX_SDP_BYTES = 64 * 1024
USER_AGENT = "c2c-hub"


class RtspError(HubError, ValueError):
    """An RTSP exchange that gave no SDP; the message says why."""


def session_name(service_name: str) -> str:
    """The session name of a service instance (``Stage box 1._rtsp._tcp.local.``)."""
    if not service_name.endswith("." + RTSP_TYPE):
        raise RtspError(f"{service_name!r} is not an instance of {RTSP_TYPE}")
    return service_name[: -len(RTSP_TYPE) - 1]


def describe_url(host: str, port: int, name: str) -> str:
    return f"rtsp://{host}:{port}/by-name/{urllib.parse.quote(name, safe='')}"


async def describe(url: str, *, within_s: float = 3.0) -> str:
    """``DESCRIBE`` ``url`` (``rtsp://host:port/path``); the SDP text, or :class:`RtspError`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "rtsp" or not parts.hostname:
        raise RtspError(f"{url!r} is not an rtsp:// URL")
    port = parts.port or 554
    request = (
        f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
        f"User-Agent: {USER_AGENT}\r\n\r\n"
    ).encode()
    try:
        async with asyncio.timeout(within_s):
            reader, writer = await asyncio.open_connection(parts.hostname, port)
            try:
                writer.write(request)
                await writer.drain()
                return await _response(reader, url)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        raise RtspError(f"DESCRIBE {url}: no answer within {within_s:g} s") from None
    except OSError as exc:
        raise RtspError(f"DESCRIBE {url}: {exc.strerror or exc}") from None


async def _response(reader: asyncio.StreamReader, url: str) -> str:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise RtspError(f"DESCRIBE {url}: headers too long") from None
    except asyncio.IncompleteReadError:
        raise RtspError(f"DESCRIBE {url}: the connection closed before an answer") from None
    if len(head) > MAX_HEADER_BYTES:
        raise RtspError(f"DESCRIBE {url}: headers too long")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("RTSP/1.") or not status[1].isdigit():
        raise RtspError(f"DESCRIBE {url}: not an RTSP answer: {lines[0][:80]!r}")
    if status[1] != "200":
        raise RtspError(f"DESCRIBE {url}: {' '.join(status[1:])}")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/sdp":
        raise RtspError(f"DESCRIBE {url}: content type {kind or 'missing'}, not application/sdp")
    length = headers.get("content-length", "")
    if not length.isdigit() or not 0 < int(length) <= MAX_SDP_BYTES:
        raise RtspError(f"DESCRIBE {url}: content length {length or 'missing'}")
    try:
        body = await reader.readexactly(int(length))
    except asyncio.IncompleteReadError:
        raise RtspError(f"DESCRIBE {url}: the SDP was cut short") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RtspError(f"DESCRIBE {url}: the SDP is not UTF-8") from None


class RtspServer:
    """Answers ``DESCRIBE rtsp://…/by-name/<name>`` with the SDP of session ``name``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.sessions: dict[str, str] = {}
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                self.requests += 1
                self._answer_request(head.decode("latin-1").split("\r\n"), writer)
                await writer.drain()
        finally:
            writer.close()

    def _answer_request(self, lines: list[str], writer: asyncio.StreamWriter) -> None:
        method, _, rest = lines[0].partition(" ")
        url = rest.rsplit(" ", 1)[0]
        cseq = "0"
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "cseq":
                cseq = value.strip()
        path = urllib.parse.urlsplit(url).path
        name = urllib.parse.unquote(path.removeprefix("/by-name/"))
        if method == "OPTIONS":
            _answer(writer, "200 OK", cseq, "Public: DESCRIBE, OPTIONS\r\n")
        elif method != "DESCRIBE":
            _answer(writer, "501 Not Implemented", cseq)
        elif path.startswith("/by-name/") and name in self.sessions:
            body = self.sessions[name].encode()
            extra = f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n"
            _answer(writer, "200 OK", cseq, extra, body)
        else:
            _answer(writer, "404 Not Found", cseq)


def _answer(
    writer: asyncio.StreamWriter, status: str, cseq: str, headers: str = "", body: bytes = b""
) -> None:
    writer.write(f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{headers}\r\n".encode() + body)
