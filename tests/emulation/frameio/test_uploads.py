"""The emulator's upload surface, over real HTTPS.

What it follows: docs/rulings.md#basic-upload and the rulings on uploads.

Every test talks to the session emulator through plain httpx, as a camera would: create an asset
on the Frame.io surface, PUT the bytes to the presigned-style part URLs, then read the verdict
(completion, SHA-256, stored bytes) through the control API.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.emulation.frameio.conftest import PairedDevice

MiB = 1024 * 1024
DOCS_SAMPLE_SIZE = 21_136_250  # the docs' sample file: two upload URLs
FILETYPE = "video/mp4"
PAUSED_BODY = {
    "code": 409,
    "errors": [
        {
            "code": 409,
            "detail": "The channel you're uploading from is currently paused.",
            "status": 409,
            "title": "Channel Paused",
        }
    ],
    "message": "Channel Paused",
}


# ---------------------------------------------------------------------------------------- helpers
def put(
    http: httpx.Client,
    url: str,
    data: bytes,
    *,
    content_type: str = FILETYPE,
    acl: str | None = "private",
    timeout: float = 60,
) -> httpx.Response:
    """A part PUT as Frame.io's uploader sends it: raw bytes, the two signed headers, no auth."""
    headers = {"Content-Type": content_type}
    if acl is not None:
        headers["x-amz-acl"] = acl
    return http.put(url, content=data, headers=headers, timeout=timeout)


def s3_error(response: httpx.Response) -> tuple[str, str]:
    """(Code, Message) of an S3 XML error body."""
    assert response.headers["content-type"].startswith("application/xml"), response.text
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return root.findtext("Code") or "", root.findtext("Message") or ""


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def chunks(data: bytes, count: int) -> list[bytes]:
    """As Frame.io's uploader does: chunk = ceil(size / urls), the last part the remainder."""
    size = math.ceil(len(data) / count)
    return [data[i * size : (i + 1) * size] for i in range(count)]


def create_basic(paired: PairedDevice, size: int, **extra: object) -> dict[str, object]:
    response = paired.create_asset(name="clip.mp4", filetype=FILETYPE, filesize=size, **extra)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def upload_basic(paired: PairedDevice, data: bytes, **extra: object) -> str:
    """Create an asset for ``data``, PUT every part, return the asset id."""
    asset = create_basic(paired, len(data), **extra)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    for url, chunk in zip(urls, chunks(data, len(urls)), strict=True):
        response = put(paired.http, url, chunk)
        assert response.status_code == 200, response.text
    return str(asset["id"])


def assert_complete(emulator: EmulatorHandle, asset_id: str, data: bytes) -> None:
    asset = emulator.asset(asset_id)
    assert asset["complete"] is True
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert emulator.asset_content(asset_id) == data


@pytest.fixture
def sample() -> bytes:
    return os.urandom(DOCS_SAMPLE_SIZE)


# ------------------------------------------------------------------------------ basic create
@pytest.mark.parametrize(
    ("filesize", "urls"),
    [(DOCS_SAMPLE_SIZE, 2), (1, 1), (16 * MiB, 1), (16 * MiB + 1, 2), (100 * MiB, 7)],
)
def test_basic_create_issues_one_url_per_16_mib(
    paired: PairedDevice, emulator: EmulatorHandle, filesize: int, urls: int
) -> None:
    asset = create_basic(paired, filesize, offset=10)
    assert asset["_type"] == "file"
    assert asset["filesize"] == filesize
    upload_urls = asset["upload_urls"]
    assert isinstance(upload_urls, list) and len(upload_urls) == urls
    assert asset["original_upload"] == upload_urls[0]
    for number, url in enumerate(upload_urls, start=1):
        assert url.startswith(emulator.base_url + "/")
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["X-Amz-SignedHeaders"] == "content-type;host;x-amz-acl"
        assert query["X-Amz-Expires"] == str(24 * 3600)  # 24 h
        assert query["x-amz-meta-part_number"] == str(number)
        assert query["x-amz-meta-part_count"] == str(urls)
    planned = [p["size"] for p in emulator.asset(str(asset["id"]))["parts"]]
    chunk = math.ceil(filesize / urls)
    assert planned == [chunk] * (urls - 1) + [filesize - chunk * (urls - 1)]


@pytest.mark.parametrize("parts", [4, "3", 1])
def test_basic_create_honours_parts(paired: PairedDevice, parts: int | str) -> None:
    asset = create_basic(paired, 40 * MiB, parts=parts)
    upload_urls = asset["upload_urls"]
    assert isinstance(upload_urls, list) and len(upload_urls) == int(parts)


@pytest.mark.parametrize(("filesize", "parts"), [(12 * MiB, 3), (10 * MiB, 3), (6 * MiB, 6)])
def test_basic_create_rejects_parts_under_5_mib(
    paired: PairedDevice, filesize: int, parts: int
) -> None:
    response = paired.create_asset(
        name="clip.mp4", filetype=FILETYPE, filesize=filesize, parts=parts
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["status"] == 422


def test_basic_create_allows_a_short_last_part(paired: PairedDevice) -> None:
    asset = create_basic(paired, 11 * MiB, parts=2)  # 5.5 MiB + 5.5 MiB
    assert isinstance(asset["upload_urls"], list) and len(asset["upload_urls"]) == 2


# -------------------------------------------------- part PUTs (docs/rulings.md#part-put-rules)
def test_parts_complete_the_asset_with_the_sha256_of_the_assembled_bytes(
    paired: PairedDevice, emulator: EmulatorHandle, sample: bytes
) -> None:
    asset = create_basic(paired, len(sample))
    urls = asset["upload_urls"]
    assert isinstance(urls, list) and len(urls) == 2
    first, second = chunks(sample, 2)
    # Parts may arrive in any order; the asset completes only when all are stored.
    response = put(paired.http, urls[1], second)
    assert response.status_code == 200
    assert response.headers["etag"].startswith('"')
    assert emulator.asset(str(asset["id"]))["complete"] is False
    assert put(paired.http, urls[0], first).status_code == 200
    assert_complete(emulator, str(asset["id"]), sample)
    parts = emulator.asset(str(asset["id"]))["parts"]
    assert [p["sha256"] for p in parts] == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]


@pytest.mark.parametrize(
    ("content_type", "acl"),
    [
        ("application/octet-stream", "private"),  # not the asset's filetype
        ("video/quicktime", "private"),
        (FILETYPE, "public-read"),
        (FILETYPE, None),  # x-amz-acl missing
    ],
)
def test_unsigned_header_values_answer_signature_does_not_match(
    paired: PairedDevice, emulator: EmulatorHandle, content_type: str, acl: str | None
) -> None:
    asset = create_basic(paired, 1000)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    response = put(paired.http, urls[0], os.urandom(1000), content_type=content_type, acl=acl)
    assert response.status_code == 403
    assert s3_error(response)[0] == "SignatureDoesNotMatch"
    assert emulator.asset(str(asset["id"]))["parts"][0]["stored"] is False


@pytest.mark.parametrize(
    "tamper",
    [
        {"X-Amz-Signature": "0" * 64},
        {"X-Amz-Expires": str(7 * 24 * 3600)},  # extend the lifetime
        {"x-amz-meta-generation": "7"},
        {"x-amz-meta-part_count": "9"},
    ],
)
def test_tampered_url_answers_signature_does_not_match(
    paired: PairedDevice, emulator: EmulatorHandle, tamper: dict[str, str]
) -> None:
    asset = create_basic(paired, 1000)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    response = put(paired.http, with_query(urls[0], **tamper), os.urandom(1000))
    assert response.status_code == 403
    assert s3_error(response)[0] == "SignatureDoesNotMatch"


def test_a_url_for_another_part_path_does_not_verify(paired: PairedDevice) -> None:
    asset = create_basic(paired, 12 * MiB, parts=2)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    swapped = urls[0].replace("/1?", "/2?")  # part 1's signature on part 2's path
    response = put(paired.http, swapped, os.urandom(6 * MiB))
    assert response.status_code == 403
    assert s3_error(response)[0] == "SignatureDoesNotMatch"


def test_expired_url_answers_access_denied(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    asset = create_basic(paired, 1000)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.advance(24 * 3600 - 60)
    assert put(paired.http, urls[0], os.urandom(1000)).status_code == 200  # still valid
    emulator.advance(60 + 1)
    response = put(paired.http, urls[0], os.urandom(1000))
    assert response.status_code == 403
    assert s3_error(response) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize("delta", [-1, +1, -(5 * MiB)])
def test_wrong_body_length_answers_incomplete_body(
    paired: PairedDevice, emulator: EmulatorHandle, delta: int
) -> None:
    data = os.urandom(12 * MiB)
    asset = create_basic(paired, len(data), parts=2)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    first, second = chunks(data, 2)
    response = put(paired.http, urls[0], os.urandom(len(first) + delta))
    assert response.status_code == 400
    assert s3_error(response)[0] == "IncompleteBody"
    assert emulator.asset(str(asset["id"]))["parts"][0]["stored"] is False
    # The same connection and URL then take the right body.
    assert put(paired.http, urls[0], first).status_code == 200
    assert put(paired.http, urls[1], second).status_code == 200
    assert_complete(emulator, str(asset["id"]), data)


def test_reuploading_a_part_replaces_it(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    data = os.urandom(12 * MiB)
    asset = create_basic(paired, len(data), parts=2)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    first, second = chunks(data, 2)
    assert put(paired.http, urls[0], os.urandom(len(first))).status_code == 200  # stale bytes
    assert put(paired.http, urls[0], first).status_code == 200  # replaced
    assert put(paired.http, urls[1], second).status_code == 200
    assert_complete(emulator, str(asset["id"]), data)
    assert emulator.asset(str(asset["id"]))["parts"][0]["attempts"] == 2


def test_url_of_a_forgotten_asset_answers_no_such_upload(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    asset = create_basic(paired, 2 * MiB)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.reset()
    response = put(paired.http, urls[0], os.urandom(2 * MiB))
    assert response.status_code == 404
    assert s3_error(response)[0] == "NoSuchUpload"
    # The body was read, so the connection stays usable.
    assert paired.http.get("/health").json() == {"ok": True}


# ------------------------------------------------- real-time (docs/rulings.md#realtime-upload)
def test_realtime_upload_flow(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    response = paired.create_asset(
        name="C2C_TEST_CLIP.mp4", filetype=FILETYPE, is_realtime_upload=True
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == {"id", "name"}
    assert created["name"] == "C2C_TEST_CLIP.mp4"
    asset_id = created["id"]
    data = os.urandom(2 * 5 * MiB + 12345)
    first, second, last = data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]

    # Parts may be requested and uploaded in any order; numbers may skip.
    response = paired.realtime_parts(
        asset_id, parts=[{"number": 1, "size": len(first), "is_final": False}]
    )
    assert response.status_code == 200, response.text
    (url1,) = response.json()["upload_urls"]
    response = paired.realtime_parts(
        asset_id,
        parts=[{"number": 3, "size": len(second), "is_final": False}],
        asset_filesize=None,
        asset_name=None,
    )
    (url3,) = response.json()["upload_urls"]
    assert put(paired.http, url3, second).status_code == 200
    assert put(paired.http, url1, first).status_code == 200
    assert emulator.asset(asset_id)["complete"] is False

    response = paired.realtime_parts(
        asset_id,
        parts=[{"number": 7, "size": len(last), "is_final": True}],
        asset_filesize=len(data),
    )
    assert response.status_code == 200, response.text
    (url7,) = response.json()["upload_urls"]
    assert emulator.asset(asset_id)["complete"] is False
    assert put(paired.http, url7, last).status_code == 200
    assert_complete(emulator, asset_id, data)
    assert emulator.asset(asset_id)["filesize"] == len(data)


def test_realtime_several_parts_in_one_request_keep_their_order(paired: PairedDevice) -> None:
    created = paired.create_asset(name="a.wav", filetype="audio/wav", is_realtime_upload=True)
    specs = [
        {"number": 2, "size": 5 * MiB, "is_final": False},
        {"number": 1, "size": 5 * MiB, "is_final": False},
    ]
    response = paired.realtime_parts(created.json()["id"], parts=specs)
    urls = response.json()["upload_urls"]
    numbers = [dict(parse_qsl(urlsplit(u).query))["x-amz-meta-part_number"] for u in urls]
    assert numbers == ["2", "1"]


def test_realtime_extension_only_name(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    created = paired.create_asset(filetype=FILETYPE, extension=".mp4", is_realtime_upload=True)
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "[new file].mp4"
    response = paired.realtime_parts(
        created.json()["id"],
        parts=[{"number": 1, "size": 100, "is_final": True}],
        asset_filesize=100,
        asset_name="A001C002.mp4",
    )
    assert response.status_code == 200, response.text
    assert emulator.asset(created.json()["id"])["name"] == "A001C002.mp4"


def test_realtime_create_requires_json(paired: PairedDevice) -> None:
    response = paired.http.post(
        "/v2/devices/assets",
        data={"name": "a.mp4", "filetype": FILETYPE, "is_realtime_upload": "true"},
        headers=paired.auth,
    )
    assert response.status_code == 400


def test_realtime_non_final_part_under_5_mib_is_rejected(paired: PairedDevice) -> None:
    created = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    response = paired.realtime_parts(
        created.json()["id"], parts=[{"number": 1, "size": 5 * MiB - 1, "is_final": False}]
    )
    assert response.status_code == 400
    assert "5 MiB" in response.json()["errors"][0]["detail"]


def test_realtime_final_part_requires_asset_filesize(paired: PairedDevice) -> None:
    created = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    response = paired.realtime_parts(
        created.json()["id"], parts=[{"number": 1, "size": 1000, "is_final": True}]
    )
    assert response.status_code == 400
    assert "asset_filesize" in response.json()["errors"][0]["detail"]


def test_realtime_sizes_that_do_not_sum_to_asset_filesize_never_complete(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    created = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    asset_id = created.json()["id"]
    response = paired.realtime_parts(
        asset_id, parts=[{"number": 1, "size": 1000, "is_final": True}], asset_filesize=2000
    )
    (url,) = response.json()["upload_urls"]
    assert put(paired.http, url, os.urandom(1000)).status_code == 200
    assert emulator.asset(asset_id)["complete"] is False


def test_realtime_rerequested_part_gets_a_fresh_url_and_the_latest_wins(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    created = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    asset_id = created.json()["id"]
    spec = [{"number": 1, "size": 4096, "is_final": True}]
    (old,) = paired.realtime_parts(asset_id, parts=spec, asset_filesize=4096).json()["upload_urls"]
    (new,) = paired.realtime_parts(asset_id, parts=spec, asset_filesize=4096).json()["upload_urls"]
    assert new != old
    newer, stale = os.urandom(4096), os.urandom(4096)
    assert put(paired.http, new, newer).status_code == 200
    assert_complete(emulator, asset_id, newer)
    # A retry still in flight on the old URL lands late: it must not replace the newer upload.
    assert put(paired.http, old, stale).status_code == 200
    assert emulator.asset_content(asset_id) == newer
    assert emulator.asset(asset_id)["sha256"] == hashlib.sha256(newer).hexdigest()


def test_realtime_expired_url_is_renewed_by_requesting_the_part_again(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    created = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    asset_id = created.json()["id"]
    spec = [{"number": 1, "size": 4096, "is_final": True}]
    (old,) = paired.realtime_parts(asset_id, parts=spec, asset_filesize=4096).json()["upload_urls"]
    emulator.advance(24 * 3600 + 1)
    data = os.urandom(4096)
    response = put(paired.http, old, data)
    assert response.status_code == 403
    assert s3_error(response) == ("AccessDenied", "Request has expired")
    paired.refresh(emulator)  # the 8 h access token expired too
    (fresh,) = paired.realtime_parts(asset_id, parts=spec, asset_filesize=4096).json()[
        "upload_urls"
    ]
    assert put(paired.http, fresh, data).status_code == 200
    assert_complete(emulator, asset_id, data)


# ---------------------------------------------------------------------------------------- faults
def test_slow_down_twice_then_success(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    data = os.urandom(256 * 1024)
    asset = create_basic(paired, len(data))
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", code="SlowDown", count=2)
    for _ in range(2):
        response = put(paired.http, urls[0], data)
        assert response.status_code == 503
        assert s3_error(response) == ("SlowDown", "Please reduce your request rate.")
    assert put(paired.http, urls[0], data).status_code == 200
    assert_complete(emulator, str(asset["id"]), data)
    assert emulator.asset(str(asset["id"]))["parts"][0]["attempts"] == 3


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalError", 500), ("RequestTimeout", 400), ("ServiceUnavailable", 503)],
)
def test_injected_s3_errors(
    paired: PairedDevice, emulator: EmulatorHandle, code: str, status: int
) -> None:
    data = os.urandom(1000)
    asset = create_basic(paired, len(data))
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", code=code)
    response = put(paired.http, urls[0], data)
    assert response.status_code == status
    assert s3_error(response)[0] == code
    assert emulator.asset(str(asset["id"]))["parts"][0]["stored"] is False
    assert put(paired.http, urls[0], data).status_code == 200


def test_fault_for_one_part_number_leaves_the_others(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    data = os.urandom(12 * MiB)
    asset = create_basic(paired, len(data), parts=2)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", code="InternalError", asset_id=asset["id"], part_number=2)
    first, second = chunks(data, 2)
    assert put(paired.http, urls[0], first).status_code == 200
    assert put(paired.http, urls[1], second).status_code == 500
    assert put(paired.http, urls[1], second).status_code == 200
    assert_complete(emulator, str(asset["id"]), data)


def test_reset_drops_the_connection_mid_body(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    data = os.urandom(8 * MiB)
    asset = create_basic(paired, len(data))
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", kind="reset")
    with pytest.raises(httpx.TransportError):
        put(paired.http, urls[0], data)
    part = emulator.asset(str(asset["id"]))["parts"][0]
    assert part["stored"] is False
    assert part["attempts"] == 1
    # The retry (on a new connection) succeeds.
    assert put(paired.http, urls[0], data).status_code == 200
    assert_complete(emulator, str(asset["id"]), data)


def test_stall_delays_the_answer(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    data = os.urandom(1000)
    asset = create_basic(paired, len(data))
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", kind="stall", seconds=0.4)
    started = time.monotonic()
    assert put(paired.http, urls[0], data).status_code == 200
    assert time.monotonic() - started >= 0.4
    assert_complete(emulator, str(asset["id"]), data)


def test_stall_longer_than_the_client_timeout(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    data = os.urandom(1000)
    asset = create_basic(paired, len(data))
    urls = asset["upload_urls"]
    assert isinstance(urls, list)
    emulator.fault("part", kind="stall", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        put(paired.http, urls[0], data, timeout=0.3)
    assert put(paired.http, urls[0], data).status_code == 200


# ------------------------------------------------------------------------------- rate limit
def test_sixth_asset_create_within_a_second_is_rate_limited(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    # A busy machine may take longer than the window for six calls: then the window is let
    # pass (on the emulator's clock) and the six are tried again.
    for _ in range(10):
        emulator.advance(2)  # an empty window
        started = time.monotonic()
        for expected_remaining in range(4, -1, -1):
            response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=100)
            assert response.status_code == 200, response.text
            assert response.headers["x-ratelimit-limit"] == "5"
            assert response.headers["x-ratelimit-remaining"] == str(expected_remaining)
            assert response.headers["x-ratelimit-window"] == "1000"
        response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=100)
        if time.monotonic() - started < 0.9:
            break
    else:
        pytest.skip("the machine was too slow, ten times, to make six calls inside one window")
    assert response.status_code == 429
    assert response.headers["x-ratelimit-limit"] == "5"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-window"] == "1000"
    assert "retry-after" not in response.headers
    assert response.json()["code"] == 429
    emulator.advance(1.0)
    assert paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=100).status_code == 200


def test_other_calls_carry_rate_limit_headers(paired: PairedDevice) -> None:
    response = paired.http.get("/v2/devices/me", headers=paired.auth)
    assert response.status_code == 200
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-window"):
        assert name in response.headers


# ---------------------------------------------------- pause (docs/rulings.md#pause-windows)
def test_create_while_paused_answers_channel_paused(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    emulator.pause()
    response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, offset=0)
    assert response.status_code == 409
    assert response.json() == PAUSED_BODY
    realtime = paired.create_asset(name="a.mp4", filetype=FILETYPE, is_realtime_upload=True)
    assert realtime.status_code == 409


def test_pause_windows_judge_capture_time_not_upload_time(
    paired: PairedDevice, emulator: EmulatorHandle
) -> None:
    emulator.pause()  # window opens at T0
    emulator.advance(60)  # now T0 + 60
    # Captured at T0 - 60 (before the window): uploads normally, even while paused.
    data = os.urandom(1000)
    asset_id = upload_basic(paired, data, offset=120)
    assert_complete(emulator, asset_id, data)
    # Captured at T0 + 30 (inside the window): refused.
    inside = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, offset=30)
    assert inside.status_code == 409
    emulator.advance(60)
    emulator.resume()  # window closes at T0 + 120
    emulator.advance(10)  # now T0 + 130
    # New media uploads again ...
    after = upload_basic(paired, data, offset=0)
    assert_complete(emulator, after, data)
    # ... but media captured during the window (T0 + 70) is still refused.
    during = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, offset=60)
    assert during.status_code == 409
    assert during.json() == PAUSED_BODY


def test_pausing_one_channel(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    me = paired.http.get("/v2/devices/me", headers=paired.auth).json()
    (primary,) = me["channels"]
    emulator.pause(channel_id=primary["id"])
    response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, channel=0)
    assert response.status_code == 409
    emulator.resume(channel_id=primary["id"])
    response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, channel=0)
    assert response.status_code == 200


# ------------------------------------------------- channels (docs/rulings.md#asset-channel)
@pytest.mark.parametrize("channel", [0, "0"])
def test_create_on_the_primary_channel(paired: PairedDevice, channel: int | str) -> None:
    asset = create_basic(paired, 1000, channel=channel)
    assert asset["upload_urls"]


@pytest.mark.parametrize("channel", [1, 3, "7"])
def test_create_on_a_channel_not_connected_answers_422(
    paired: PairedDevice, channel: int | str
) -> None:
    response = paired.create_asset(name="a.mp4", filetype=FILETYPE, filesize=1000, channel=channel)
    assert response.status_code == 422
    assert response.json()["errors"][0]["status"] == 422


# ------------------------------------------------------------------------------------ memory
def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        return False
    return _rss_kib("VmHWM") <= _rss_kib("VmRSS") + 1024


def test_a_200_mib_part_streams_to_disk(paired: PairedDevice, emulator: EmulatorHandle) -> None:
    """The emulator (in this process) never holds a part in memory: peak RSS grows < 64 MiB.

    The client streams the same 1 MiB block 200 times, so it adds nothing either.
    """
    if not Path("/proc/self/status").exists() or not _reset_peak_rss():
        pytest.skip("needs Linux /proc peak-RSS reset")
    size = 200 * MiB
    block = os.urandom(MiB)
    asset = create_basic(paired, size, parts=1)
    urls = asset["upload_urls"]
    assert isinstance(urls, list)

    def body() -> Iterator[bytes]:
        for _ in range(size // MiB):
            yield block

    before = _rss_kib("VmRSS")
    response = paired.http.put(
        urls[0],
        content=body(),
        headers={"Content-Type": FILETYPE, "x-amz-acl": "private", "Content-Length": str(size)},
    )
    assert response.status_code == 200, response.text
    peak = _rss_kib("VmHWM")
    assert (peak - before) * 1024 < 64 * MiB, f"peak RSS grew by {(peak - before) // 1024} MiB"
    expected = hashlib.sha256()
    for _ in range(size // MiB):
        expected.update(block)
    assert emulator.asset(str(asset["id"]))["sha256"] == expected.hexdigest()
