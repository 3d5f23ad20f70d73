"""An S3-style part sink: presigned-style URLs, signed headers, XML errors, streaming to disk.

URLs look like S3's presigned PUT URLs (``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders=content-type;host;x-amz-acl``, ``X-Amz-Signature``). The signature is an
HMAC over the method, path, query and the *values* of the signed headers, so a PUT whose
``Content-Type`` is not the asset's filetype, whose ``x-amz-acl`` is not ``private``, or whose URL
was tampered with, answers 403 ``SignatureDoesNotMatch`` (docs/rulings.md#part-put-rules). An
expired URL answers 403 ``AccessDenied`` "Request has expired" (after 24 h by default). Bodies
stream to disk while being hashed; a part is never held whole in memory.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import hmac
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from c2c_hub.emulation.frameio.errors import s3_error
from c2c_hub.emulation.frameio.faults import S3_MESSAGES, Faults
from c2c_hub.emulation.frameio.state import Asset, EmulatorState, Part

SIGNED_HEADERS = "content-type;host;x-amz-acl"
_SIGNED = tuple(SIGNED_HEADERS.split(";"))
PART_PATH = "/s3/parts/{asset_id}/{number}"
_BLOCK = 1 << 20  # bytes handed to the hashing/writing thread at a time
# Hashing and writing parts (and hashing completed assets) happen here, off the event loop.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="c2c-emulator-sink")


def _string_to_sign(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
    canonical_query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items())
    )
    canonical_headers = "\n".join(f"{h}:{headers.get(h, '').strip()}" for h in _SIGNED)
    return f"PUT\n{path}\n{canonical_query}\n{canonical_headers}".encode()


def _sign(key: bytes, path: str, query: dict[str, str], headers: dict[str, str]) -> str:
    return hmac.new(key, _string_to_sign(path, query, headers), hashlib.sha256).hexdigest()


def part_url(state: EmulatorState, base_url: str, host: str, asset: Asset, part: Part) -> str:
    """A presigned-style URL for one part, valid until ``part.url_expires_at``."""
    path = PART_PATH.format(asset_id=asset.id, number=part.number)
    issued = int(state.clock.now())
    query = {
        "x-amz-meta-asset_id": asset.id,
        "x-amz-meta-part_number": str(part.number),
        "x-amz-meta-part_count": str(len(asset.parts)),
        "x-amz-meta-is_realtime_upload": "true" if asset.realtime else "false",
        "x-amz-meta-generation": str(part.url_generation),
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "C2CEMULATOR/us-east-1/s3/aws4_request",
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(issued)),
        "X-Amz-Expires": str(max(1, int(part.url_expires_at - issued))),
        "X-Amz-SignedHeaders": SIGNED_HEADERS,
    }
    headers = {"content-type": asset.filetype, "host": host, "x-amz-acl": "private"}
    query["X-Amz-Signature"] = _sign(state.url_key, path, query, headers)
    return f"{base_url}{path}?{urlencode(query, quote_via=quote)}"


def _expired(query: dict[str, str], now: float) -> bool:
    try:
        issued = calendar.timegm(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        return now > issued + int(query["X-Amz-Expires"])
    except (KeyError, ValueError):
        return True


async def _drain(request: Request) -> None:
    """Read and discard whatever is left of the body, so the connection stays usable."""
    try:
        async for _ in request.stream():
            pass
    except (ClientDisconnect, RuntimeError):  # gone, or already read to the end
        pass


class _Sink:
    """Hash and write a part's body in a worker thread, one block behind the network.

    The event loop only gathers chunks (no copies) into blocks of about :data:`_BLOCK` bytes and
    hands each block to the thread; it waits for the previous block first, so at most two blocks
    per upload are held (about 2 MiB) and their order is kept. hashlib and file writes release the
    GIL, so on a machine with two cores TLS decryption and hashing/writing run in parallel.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self._file: BinaryIO = path.open("wb")
        self._loop = asyncio.get_running_loop()
        self._pending: asyncio.Future[None] | None = None
        self._chunks: list[bytes] = []
        self._size = 0

    def _consume(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.digest.update(chunk)
        self._file.writelines(chunks)

    async def _submit(self) -> None:
        if self._pending is not None:
            await self._pending
        chunks, self._chunks, self._size = self._chunks, [], 0
        self._pending = self._loop.run_in_executor(_EXECUTOR, self._consume, chunks)

    async def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size >= _BLOCK:
            await self._submit()

    async def finish(self) -> str:
        """Write what is left, close the file, return the SHA-256 (hex) of everything fed."""
        await self._submit()
        assert self._pending is not None
        await self._pending
        self._file.close()
        return self.digest.hexdigest()

    def discard(self) -> None:
        """Give up: close and delete the file, once a block still being written is done."""
        if self._pending is not None and not self._pending.done():
            self._pending.add_done_callback(self._close_and_delete)
        else:
            self._close_and_delete()

    def _close_and_delete(self, done: asyncio.Future[None] | None = None) -> None:
        if done is not None and not done.cancelled():
            done.exception()  # retrieved: a failed write of a discarded part is no news
        self._file.close()
        self.path.unlink(missing_ok=True)


def _abort_connection(request: Request) -> None:
    """Drop the TCP connection under this request (uvicorn keeps the transport on receive)."""
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()


async def put_part(request: Request) -> Response:
    state: EmulatorState = request.app.state.emulator
    faults: Faults = request.app.state.faults
    asset_id = request.path_params["asset_id"]
    resource = request.url.path
    try:
        number = int(request.path_params["number"])
    except ValueError:
        return s3_error(400, "InvalidArgument", "Part number must be an integer", resource)
    query = dict(request.query_params)
    signature = query.pop("X-Amz-Signature", "")
    headers = {
        "content-type": request.headers.get("content-type", ""),
        "host": request.headers.get("host", ""),
        "x-amz-acl": request.headers.get("x-amz-acl", ""),
    }
    expected = _sign(state.url_key, request.url.path, query, headers)
    if not signature or not hmac.compare_digest(signature, expected):
        await _drain(request)
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            resource,
        )
    if _expired(query, state.clock.now()):
        await _drain(request)
        return s3_error(403, "AccessDenied", "Request has expired", resource)
    with state.lock:
        asset = state.assets.get(asset_id)
        part = asset.parts.get(number) if asset else None
        if part is not None:
            part.attempts += 1
            expected_size = part.size
    if asset is None or part is None:
        await _drain(request)
        return s3_error(404, "NoSuchUpload", "The specified upload does not exist.", resource)
    generation = int(query.get("x-amz-meta-generation", "-1"))
    if request.headers.get("content-length") is None:
        await _drain(request)
        return s3_error(
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
            resource,
        )

    fault = faults.take("part", asset_id=asset_id, part_number=number)
    if fault is not None and fault.kind == "status":
        await _drain(request)
        message = S3_MESSAGES.get(fault.code, (fault.status, "Injected fault"))[1]
        return s3_error(fault.status, fault.code, message, resource)

    tmp = state.storage / "parts" / f"{asset_id}.{number}.{os.urandom(6).hex()}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    sink = _Sink(tmp)
    received = 0
    reset_at = expected_size // 2 if fault is not None and fault.kind == "reset" else None
    rate = fault.rate if fault is not None and fault.kind == "slow" else None
    began = time.monotonic()
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if rate is not None:  # not read on before the body's pace allows
                await asyncio.sleep(max(0.0, began + received / rate - time.monotonic()))
            if reset_at is not None and received >= reset_at:
                _abort_connection(request)
                raise ConnectionAbortedError("injected reset")
            if received <= expected_size:
                await sink.feed(chunk)
            # A body longer than planned is read to its end (then refused), never stored.
        sha = await sink.finish()
    except (ConnectionAbortedError, ClientDisconnect):
        sink.discard()
        return Response(status_code=499)  # nobody is listening any more
    except OSError:
        sink.discard()
        return s3_error(500, "InternalError", "We encountered an internal error.", resource)
    except BaseException:
        sink.discard()
        raise
    if received != expected_size:
        tmp.unlink(missing_ok=True)
        return s3_error(
            400,
            "IncompleteBody",
            f"You did not provide the number of bytes specified: expected {expected_size}, "
            f"got {received}.",
            resource,
        )
    if fault is not None and fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
    final = tmp.with_suffix(".part")
    tmp.rename(final)
    # Completing an asset hashes the assembled file: keep that off the event loop.
    await asyncio.get_running_loop().run_in_executor(
        _EXECUTOR, state.part_stored, asset, number, received, sha, final, generation
    )
    return Response(status_code=200, headers={"ETag": f'"{sha[:32]}"'})
