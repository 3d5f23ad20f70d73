"""How Frame.io's answers map onto the error tree, and transport failures kept apart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from c2c_hub.frameio import (
    AccessDenied,
    ApiError,
    AuthError,
    AuthorizationPending,
    ChannelPaused,
    ConflictError,
    ErrorShape,
    ExpiredToken,
    FrameioClient,
    FrameioError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    MalformedResponse,
    NotFoundError,
    OAuthError,
    PartRequest,
    RateLimited,
    ServerError,
    SlowDown,
    TransportError,
    TransportTimeout,
    UnprocessableError,
)
from tests.frameio.conftest import BASE_URL, VERSION
from tests.frameio.fakes import FakeFrameio, detailed

# ---- behaviour of the fake that Frame.io documents ------------------------------------------


async def test_wrong_client_secret_is_invalid_client(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    with pytest.raises(InvalidClient) as caught:
        await client.request_device_code(fake.client_id, "not-the-secret")
    err = caught.value
    assert (err.status, err.shape, err.error) == (400, ErrorShape.SIMPLE, "invalid_client")
    assert "POST /v2/auth/device/code" in str(err) and "invalid_client" in str(err)


async def test_declined_pairing_is_access_denied_and_unknown_code_invalid_grant(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    code = await client.request_device_code(fake.client_id, fake.client_secret)
    fake.decline(code.device_code.get_secret_value())
    with pytest.raises(AccessDenied):
        await client.poll_device_token(fake.client_id, fake.client_secret, code.device_code)
    with pytest.raises(InvalidGrant):
        await client.poll_device_token(fake.client_id, fake.client_secret, "dc_unknown")


async def test_bad_token_is_auth_error_with_the_detailed_fields(client: FrameioClient) -> None:
    with pytest.raises(AuthError) as caught:
        await client.me("at_not_issued")
    err = caught.value
    assert (err.status, err.code, err.shape) == (401, 401, ErrorShape.DETAILED)
    assert err.title == "Not Authorized" and err.message == "Not Authorized"
    assert err.detail == "You are not allowed to access that"
    assert err.errors[0].status == 401
    assert not isinstance(err, OAuthError)


async def test_paused_channel_and_already_exists_are_different_409s(
    client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    await client.connect_channel(token, "mic-1", "model-mic")
    with pytest.raises(ConflictError) as conflict:
        await client.connect_channel(token, "mic-1", "model-mic")
    assert conflict.value.title == "Already Exists"
    assert not isinstance(conflict.value, ChannelPaused)

    fake.paused = True
    with pytest.raises(ChannelPaused) as paused:
        await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)
    assert paused.value.status == 409
    assert not isinstance(paused.value, ConflictError)


async def test_unknown_model_and_primary_disconnect_are_unprocessable(
    client: FrameioClient, token: str
) -> None:
    with pytest.raises(UnprocessableError):
        await client.connect_channel(token, "mic-1", "model-not-declared")
    with pytest.raises(UnprocessableError):
        await client.disconnect_channel(token, "chan-primary")
    with pytest.raises(NotFoundError):
        await client.disconnect_channel(token, "chan-nope")


async def test_over_the_asset_rate_limit_is_rate_limited_with_the_figures(
    client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    fake.asset_create_limit = 2
    for _ in range(2):
        await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)
    with pytest.raises(RateLimited) as caught:
        await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)
    err = caught.value
    assert (err.limit, err.remaining, err.window_ms) == (2, 0, 1000)
    assert client.last_rate_limit == err.rate_limit


# ---- every mapping, through canned answers ---------------------------------------------------

MAPPINGS: list[tuple[int, Any, type[ApiError]]] = [
    (400, {"error": "authorization_pending"}, AuthorizationPending),
    (400, {"error": "slow_down"}, SlowDown),
    (400, {"error": "expired_token"}, ExpiredToken),
    (400, {"error": "access_denied"}, AccessDenied),
    (400, {"error": "invalid_grant"}, InvalidGrant),
    (400, {"error": "invalid_client"}, InvalidClient),
    (400, {"error": "invalid_request"}, InvalidRequest),
    (400, {"error": "something_new"}, OAuthError),
    (401, {"error": "invalid_client"}, InvalidClient),
    (400, detailed(400, "Bad Request", "nope"), ApiError),
    (401, detailed(401, "Not Authorized", "expired"), AuthError),
    (403, detailed(403, "Forbidden", "scope"), AuthError),
    (404, None, NotFoundError),
    (409, detailed(409, "Channel Paused", "paused"), ChannelPaused),
    (409, detailed(409, "Already Exists", "exists"), ConflictError),
    (422, detailed(422, "Invalid", "bad channel"), UnprocessableError),
    (429, detailed(429, "Too Many Requests", "slow"), RateLimited),
    (500, detailed(500, "Internal Server Error", "oops"), ServerError),
    (502, None, ServerError),
    (402, detailed(402, "Payment Required", "plan"), ApiError),
]


@pytest.mark.parametrize(("status", "body", "expected"), MAPPINGS)
async def test_status_and_body_map_to_the_error_class(
    client: FrameioClient,
    fake: FakeFrameio,
    status: int,
    body: Any,
    expected: type[ApiError],
) -> None:
    if body is None:
        fake.script("POST", "/v2/auth/token", status, content=b"<html>Bad Gateway</html>")
    else:
        fake.script("POST", "/v2/auth/token", status, json_body=body)
    with pytest.raises(ApiError) as caught:
        await client.poll_device_token(fake.client_id, fake.client_secret, "dc_x")
    err = caught.value
    assert type(err) is expected
    assert err.status == status and err.endpoint == "POST /v2/auth/token"
    assert err.rate_limit is not None and err.rate_limit.limit == 40
    if body is None:
        assert err.shape is ErrorShape.OTHER and "<html>" not in str(err)


# ---- malformed successes ----------------------------------------------------------------------


async def test_non_json_success_is_malformed_naming_the_endpoint(
    client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    fake.script(
        "GET", "/v2/devices/me", 200, content=b"<html/>", headers={"content-type": "text/html"}
    )
    with pytest.raises(MalformedResponse) as caught:
        await client.me(token)
    message = str(caught.value)
    assert message.startswith("GET /v2/devices/me answered 200")
    assert "not JSON (text/html, 7 bytes)" in message
    assert not isinstance(caught.value, ApiError)


async def test_missing_and_mistyped_fields_are_named(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    fake.script(
        "POST",
        "/v2/auth/token",
        200,
        json_body={"access_token": "at_x", "refresh_token": "rt_x", "expires_in": "soon"},
    )
    with pytest.raises(MalformedResponse) as caught:
        await client.refresh_token(fake.client_id, fake.client_secret, "rt_old")
    message = str(caught.value)
    assert "POST /v2/auth/token answered 200 but the body is not a TokenSet" in message
    assert "expires_in: Input should be a valid integer" in message

    fake.script("POST", "/v2/auth/device/code", 200, json_body=["not", "an", "object"])
    with pytest.raises(MalformedResponse, match=r"not a DeviceCode: \(body\)"):
        await client.request_device_code(fake.client_id, fake.client_secret)


async def test_http_upload_url_in_an_answer_is_malformed(
    client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    fake.script(
        "POST",
        "/v2/devices/assets",
        200,
        json_body={"id": "a", "upload_urls": ["https://s3/1", "http://s3/2"]},
    )
    with pytest.raises(MalformedResponse, match=r"upload_urls: .*URL #1 is not https://"):
        await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)


async def test_wrong_number_of_realtime_urls_is_malformed(
    client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    asset = await client.create_realtime_asset(token, "audio/wav", 0, 0, name="A.wav")
    path = f"/v2/devices/assets/{asset.id}/realtime_upload/parts"
    fake.script("POST", path, 200, json_body={"upload_urls": ["https://s3/1"]})
    parts = [PartRequest(number=1, size=6_000_000), PartRequest(number=2, size=6_000_000)]
    with pytest.raises(MalformedResponse, match="1 upload URLs for 2 parts"):
        await client.realtime_part_urls(token, asset.id, parts)


async def test_revoke_answer_must_be_success(client: FrameioClient, fake: FakeFrameio) -> None:
    fake.script("POST", "/v2/auth/revoke", 200, json_body={"success": False})
    with pytest.raises(MalformedResponse, match="revoke"):
        await client.revoke(fake.client_id, fake.client_secret, "at_x")
    fake.script("POST", "/v2/auth/revoke", 200, json_body={})  # older spec: {} is fine
    await client.revoke(fake.client_id, fake.client_secret, "at_x")


# ---- transport errors -------------------------------------------------------------------------


def _failing_client(exc: Exception) -> FrameioClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return FrameioClient(http, client_version=VERSION, base_url=BASE_URL)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("connection refused"), TransportError),
        (httpx.RemoteProtocolError("peer closed"), TransportError),
        (httpx.ReadTimeout("read timed out"), TransportTimeout),
        (httpx.ConnectTimeout("connect timed out"), TransportTimeout),
    ],
)
async def test_transport_failures_are_not_api_errors(
    exc: Exception, expected: type[TransportError]
) -> None:
    client = _failing_client(exc)
    with pytest.raises(TransportError) as caught:
        await client.health()
    assert type(caught.value) is expected
    assert isinstance(caught.value, FrameioError) and not isinstance(caught.value, ApiError)
    assert caught.value.endpoint == "GET /health"
    assert type(exc).__name__ in str(caught.value)
