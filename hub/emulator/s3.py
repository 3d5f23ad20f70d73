"""An S3-style part sink: presigned-style URLs, signed headers, XML errors, streaming to disk.

URLs look like S3's presigned PUT URLs (``X-Amz-Date``, ``X-Amz-Expires``,
``X-Amz-SignedHeaders=content-type;host;x-amz-acl``, ``X-Amz-Signature``). The signature is an
HMAC over the method, path, query and the *values* of the signed headers, so a PUT whose
``Content-Type`` is not the asset's filetype, whose ``x-amz-acl`` is not ``private``, or whose URL
was tampered with, answers 403 ``SignatureDoesNotMatch`` (R10). An expired URL answers 403
``AccessDenied`` "Request has expired" (R9). Bodies stream to disk while being hashed; a part is
never held whole in memory.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import hmac
import os
import time
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from hub.emulator.errors import s3_error
from hub.emulator.faults import S3_MESSAGES, Faults
from hub.emulator.state import Asset, EmulatorState, Part

SIGNED_HEADERS = "content-type;host;x-amz-acl"
PART_PATH = "/s3/parts/{asset_id}/{number}"
_WRITE_BUFFER = 1 << 20


def _string_to_sign(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
    canonical_query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items())
    )
    canonical_headers = "\n".join(f"{h}:{headers.get(h, '').strip()}" for h in ("content-type", "host", "x-amz-acl"))
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
    async for _ in request.stream():
        pass


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
        if asset is None or part is None:
            return s3_error(404, "NoSuchUpload", "The specified upload does not exist.", resource)
        generation = int(query.get("x-amz-meta-generation", "-1"))
        part.attempts += 1
        expected_size = part.size
    length_header = request.headers.get("content-length")
    if length_header is None:
        return s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.", resource)

    fault = faults.take("part", asset_id=asset_id, part_number=number)
    if fault is not None and fault.kind == "status":
        await _drain(request)
        message = S3_MESSAGES.get(fault.code, (fault.status, "Injected fault"))[1]
        return s3_error(fault.status, fault.code, message, resource)

    tmp = state.storage / "parts" / f"{asset_id}.{number}.{os.urandom(6).hex()}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    received = 0
    buffer = bytearray()
    reset_at = expected_size // 2 if fault is not None and fault.kind == "reset" else None
    try:
        with tmp.open("wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if reset_at is not None and received >= reset_at:
                    _abort_connection(request)
                    raise ConnectionAbortedError("injected reset")
                if received > expected_size:
                    break
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= _WRITE_BUFFER:
                    out.write(buffer)
                    buffer.clear()
            out.write(buffer)
    except (ConnectionAbortedError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ConnectionAbortedError):
            return Response(status_code=499)
        return s3_error(500, "InternalError", "We encountered an internal error.", resource)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if received != expected_size:
        tmp.unlink(missing_ok=True)
        if received > expected_size:
            await _drain(request)
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
    sha = digest.hexdigest()
    state.part_stored(asset, number, received, sha, final, generation)
    return Response(status_code=200, headers={"ETag": f'"{sha[:32]}"'})
