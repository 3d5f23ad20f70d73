"""Secrets (client_secret, tokens, device codes) never appear in errors, reprs or logs."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable

import httpx
import pytest

from c2c_hub.frameio import (
    AuthError,
    FrameioClient,
    FrameioError,
    InsecureURLError,
    InvalidClient,
    InvalidGrant,
    MalformedResponse,
    OAuthError,
    ServerError,
    TokenSet,
    TransportError,
    UnexpectedRedirect,
)
from tests.frameio.conftest import BASE_URL, VERSION
from tests.frameio.fakes import FakeFrameio, detailed

CLIENT_SECRET = "cs_SECRET_5e1f0c2b9a"
TOKEN = "at_SECRET_77aa01bc"
DEVICE_CODE = "dc_SECRET_3b4c5d6e"
REFRESH = "rt_SECRET_9f8e7d6c"
NEW_TOKEN = "at_SECRET_NEW_0a0b0c"  # in a (malformed) answer: the client never knew it
SECRETS = [CLIENT_SECRET, TOKEN, DEVICE_CODE, REFRESH, NEW_TOKEN]

Scenario = Callable[[FrameioClient, FakeFrameio], Awaitable[object]]


async def _wrong_client_secret(c: FrameioClient, f: FakeFrameio) -> object:
    return await c.request_device_code(f.client_id, CLIENT_SECRET)


async def _unknown_device_code(c: FrameioClient, f: FakeFrameio) -> object:
    return await c.poll_device_token(f.client_id, f.client_secret, DEVICE_CODE)


async def _unknown_refresh_token(c: FrameioClient, f: FakeFrameio) -> object:
    return await c.refresh_token(f.client_id, f.client_secret, REFRESH)


async def _bad_access_token(c: FrameioClient, f: FakeFrameio) -> object:
    return await c.me(TOKEN)


async def _server_echoes_token_in_detail(c: FrameioClient, f: FakeFrameio) -> object:
    f.access_tokens.add(TOKEN)
    f.script("GET", "/v2/devices/me", 500, json_body=detailed(500, "Oops", f"bad token {TOKEN}"))
    return await c.me(TOKEN)


async def _server_echoes_secret_in_oauth_code(c: FrameioClient, f: FakeFrameio) -> object:
    f.script("POST", "/v2/auth/token", 400, json_body={"error": f"bad:{CLIENT_SECRET}"})
    return await c.refresh_token(f.client_id, CLIENT_SECRET, REFRESH)


async def _malformed_token_answer(c: FrameioClient, f: FakeFrameio) -> object:
    body = {"access_token": [NEW_TOKEN], "refresh_token": REFRESH, "expires_in": "x"}
    f.script("POST", "/v2/auth/token", 200, json_body=body)
    return await c.poll_device_token(f.client_id, f.client_secret, DEVICE_CODE)


async def _non_json_answer_with_secrets(c: FrameioClient, f: FakeFrameio) -> object:
    content = f"access_token={NEW_TOKEN}&refresh_token={REFRESH}".encode()
    f.script("POST", "/v2/auth/token", 200, content=content)
    return await c.refresh_token(f.client_id, f.client_secret, REFRESH)


async def _redirect_with_token_in_query(c: FrameioClient, f: FakeFrameio) -> object:
    token = f.issue_token()
    f.script("GET", "/v2/devices/me", 302, headers={"location": f"https://x.example/?t={TOKEN}"})
    return await c.me(token)


async def _redirect_to_http_with_token_in_query(c: FrameioClient, f: FakeFrameio) -> object:
    f.script("POST", "/v2/auth/revoke", 307, headers={"location": f"http://x.example/?t={TOKEN}"})
    await c.revoke(f.client_id, CLIENT_SECRET, TOKEN)
    return None


async def _http_url_with_token_in_query(c: FrameioClient, f: FakeFrameio) -> object:
    return await c.connect_channel(TOKEN, "mic", "model", path=f"http://x.example/?t={TOKEN}")


SCENARIOS: dict[str, tuple[Scenario, type[FrameioError]]] = {
    "wrong client secret": (_wrong_client_secret, InvalidClient),
    "unknown device code": (_unknown_device_code, InvalidGrant),
    "unknown refresh token": (_unknown_refresh_token, InvalidGrant),
    "bad access token": (_bad_access_token, AuthError),
    "server echoes token in detail": (_server_echoes_token_in_detail, ServerError),
    "server echoes secret in oauth code": (_server_echoes_secret_in_oauth_code, OAuthError),
    "malformed token answer": (_malformed_token_answer, MalformedResponse),
    "non-JSON answer with secrets": (_non_json_answer_with_secrets, MalformedResponse),
    "redirect with token in query": (_redirect_with_token_in_query, UnexpectedRedirect),
    "redirect to http with token": (_redirect_to_http_with_token_in_query, InsecureURLError),
    "http URL with token in query": (_http_url_with_token_in_query, InsecureURLError),
}


def _assert_no_secret(text: str, extra: list[str]) -> None:
    for secret in SECRETS + extra:
        assert secret not in text


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_no_secret_in_message_repr_traceback_or_logs(
    name: str, client: FrameioClient, fake: FakeFrameio, caplog: pytest.LogCaptureFixture
) -> None:
    scenario, expected = SCENARIOS[name]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FrameioError) as caught:
        await scenario(client, fake)
    exc = caught.value
    assert isinstance(exc, expected)
    logging.getLogger("test.caller").exception("the call failed: %s", exc, exc_info=exc)

    issued = sorted(fake.access_tokens | fake.refresh_tokens)  # whatever the fake handed out
    _assert_no_secret(str(exc), issued)
    _assert_no_secret(repr(exc), issued)
    _assert_no_secret("".join(traceback.format_exception(exc)), issued)
    _assert_no_secret(repr(vars(exc)), issued)
    _assert_no_secret(caplog.text, issued)
    assert "the call failed" in caplog.text  # the log really was captured


async def test_transport_error_text_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy refused {request.headers['authorization']}")

    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = FrameioClient(http, client_version=VERSION, base_url=BASE_URL)
        with pytest.raises(TransportError) as caught:
            await client.me(TOKEN)
    exc = caught.value
    logging.getLogger("test.caller").exception("failed", exc_info=exc)
    assert "proxy refused Bearer [redacted]" in str(exc)
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc)), caplog.text):
        assert TOKEN not in text


def test_token_and_device_code_models_hide_their_secrets() -> None:
    tokens = TokenSet.model_validate(
        {"access_token": TOKEN, "refresh_token": REFRESH, "expires_in": 28800}
    )
    for text in (repr(tokens), str(tokens), str(tokens.model_dump())):
        assert TOKEN not in text and REFRESH not in text
    assert tokens.access_token.get_secret_value() == TOKEN


async def test_successful_calls_log_nothing_secret(
    client: FrameioClient, fake: FakeFrameio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await client.request_device_code(fake.client_id, fake.client_secret)
    fake.approve(code.device_code.get_secret_value())
    tokens = await client.poll_device_token(fake.client_id, fake.client_secret, code.device_code)
    await client.me(tokens.access_token)
    assert "POST /v2/auth/token -> 200" in caplog.text
    for secret in (
        fake.client_secret,
        code.device_code.get_secret_value(),
        tokens.access_token.get_secret_value(),
        tokens.refresh_token.get_secret_value(),
    ):
        assert secret not in caplog.text
        assert secret not in repr(code) + repr(tokens)
