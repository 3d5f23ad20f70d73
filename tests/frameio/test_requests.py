"""What the client sends, and what it makes of Frame.io's answers (the happy paths)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from c2c_hub.frameio import (
    AuthorizationPending,
    FrameioClient,
    InvalidRequest,
    LogTrigger,
    NotFoundError,
    PartRequest,
    Rate,
    SmpteTime,
    plan_parts,
)
from tests.frameio.conftest import VERSION
from tests.frameio.fakes import FakeFrameio

Call = Callable[[FrameioClient, FakeFrameio, str], Awaitable[Any]]


def _secret(fake: FakeFrameio) -> str:
    return fake.client_secret


async def _device_code(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    return await c.request_device_code(f.client_id, _secret(f))


async def _poll(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    code = await c.request_device_code(f.client_id, _secret(f))
    f.approve(code.device_code.get_secret_value())
    return await c.poll_device_token(f.client_id, _secret(f), code.device_code)


async def _refresh(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    f.refresh_tokens.add("rt_known")
    return await c.refresh_token(f.client_id, _secret(f), "rt_known")


async def _revoke(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    return await c.revoke(f.client_id, _secret(f), t)


async def _create_asset(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    return await c.create_asset(t, "A001.wav", "audio/wav", 1000, 5, 0)


async def _realtime(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    asset = await c.create_realtime_asset(t, "audio/wav", 0, 0, extension=".wav")
    return await c.realtime_part_urls(t, asset.id, [PartRequest(number=1, size=10)])


async def _comment(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    asset = await c.create_asset(t, "A001.wav", "audio/wav", 1000, 5, 0)
    return await c.create_comment(t, asset.id, "good take")


async def _trigger(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    channel = await c.connect_channel(t, "mic-1", "model-mic")
    return await c.trigger_input(t, channel.id, 0)


async def _disconnect(c: FrameioClient, f: FakeFrameio, t: str) -> Any:
    channel = await c.connect_channel(t, "mic-1", "model-mic")
    return await c.disconnect_channel(t, channel.id)


CALLS: dict[str, Call] = {
    "request_device_code": _device_code,
    "poll_device_token": _poll,
    "refresh_token": _refresh,
    "revoke": _revoke,
    "me": lambda c, f, t: c.me(t),
    "heartbeat": lambda c, f, t: c.heartbeat(t),
    "health": lambda c, f, t: c.health(),
    "connect_channel": lambda c, f, t: c.connect_channel(t, "mic-1", "model-mic"),
    "disconnect_channel": _disconnect,
    "disconnect_all_channels": lambda c, f, t: c.disconnect_all_channels(t),
    "create_asset": _create_asset,
    "realtime": _realtime,
    "create_comment": _comment,
    "trigger_input": _trigger,
}

AUTH_PATHS = {"/v2/auth/device/code", "/v2/auth/token", "/v2/auth/revoke"}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_every_request_carries_the_version_and_the_right_auth_and_encoding(
    name: str, client: FrameioClient, fake: FakeFrameio, token: str
) -> None:
    await CALLS[name](client, fake, token)

    assert fake.requests, "nothing was sent"
    for request in fake.requests:
        path = request.url.path
        assert request.headers["x-client-version"] == VERSION, path
        content_type = request.headers.get("content-type", "")
        if path in AUTH_PATHS:
            assert "authorization" not in request.headers, path
            assert content_type.startswith("multipart/form-data; boundary="), path
        elif path == "/health":
            assert "authorization" not in request.headers
        else:
            assert request.headers["authorization"] == f"Bearer {token}", path
            if request.content:
                assert content_type == "application/json", path
                json.loads(request.content)


async def test_pairing_flow_polls_until_the_user_approves(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    code = await client.request_device_code(fake.client_id, SecretStr(fake.client_secret))
    assert len(code.user_code) == 6 and code.user_code.isdigit()
    assert code.expires_in == 120 and code.interval == 5
    assert code.verification_uri_complete is None  # URL pairing not asked for

    with pytest.raises(AuthorizationPending):
        await client.poll_device_token(fake.client_id, fake.client_secret, code.device_code)
    fake.approve(code.device_code.get_secret_value())
    tokens = await client.poll_device_token(fake.client_id, fake.client_secret, code.device_code)

    assert tokens.expires_in == 28800 and tokens.token_type == "bearer"
    device = await client.me(tokens.access_token)
    assert device.project is not None and device.project.name == "Testbed"


async def test_multipart_form_fields_are_the_documented_ones(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    await client.request_device_code(fake.client_id, fake.client_secret, url_pairing=True)
    form = fake._multipart(fake.requests[-1])
    assert form == {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "scope": "asset_create offline",
    }
    assert fake.requests[-1].headers["x-client-platypus-enabled"] == "true"


async def test_url_pairing_header_is_only_sent_when_asked(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    plain = await client.request_device_code(fake.client_id, fake.client_secret)
    assert "x-client-platypus-enabled" not in fake.requests[-1].headers
    with_url = await client.request_device_code(
        fake.client_id, fake.client_secret, url_pairing=True
    )
    assert plain.verification_uri_complete is None
    assert with_url.verification_uri_complete == f"https://next.frame.io/pair/{with_url.user_code}"


async def test_refresh_rotates_and_a_reused_refresh_token_is_refused(
    client: FrameioClient, fake: FakeFrameio
) -> None:
    fake.refresh_tokens.add("rt_first")
    fresh = await client.refresh_token(fake.client_id, fake.client_secret, "rt_first")
    assert fake._multipart(fake.requests[-1]) == {
        "grant_type": "refresh_token",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": "rt_first",
    }
    assert fresh.refresh_token.get_secret_value() != "rt_first"
    with pytest.raises(InvalidRequest):
        await client.refresh_token(fake.client_id, fake.client_secret, "rt_first")


async def test_me_parses_project_authorization_and_channels_ignoring_unknown_fields(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    fake.paused = True
    device = await client.me(token)
    assert device.paused
    assert device.authorization is not None and device.authorization.creator is not None
    assert device.authorization.creator.name == "Harry Potter"
    assert device.authorization.scopes is not None and device.authorization.scopes.asset_create
    assert [c.external_index for c in device.channels] == [0]
    assert device.channels[0].inserted_at is not None


async def test_channel_connect_posts_json_and_returns_the_channel(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    channel = await client.connect_channel(token, "mic-7", "model-mic")
    assert json.loads(fake.requests[-1].content) == {
        "client_id": "mic-7",
        "device_model_id": "model-mic",
    }
    assert fake.requests[-1].url.path == "/v2/devices/channels/connect"
    assert channel.external_index == 1 and channel.real_time_logging_capable

    await client.connect_channel(token, "mic-8", "model-mic", path="/v2/devices/channels")
    assert fake.requests[-1].url.path == "/v2/devices/channels"
    await client.disconnect_all_channels(token)
    assert [c.external_index for c in (await client.me(token)).channels] == [0]


async def test_basic_asset_create_sends_the_fields_and_gets_upload_urls(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    asset = await client.create_asset(
        token, "C2C_TEST_CLIP.mp4", "video/mp4", 21_136_250, 10, 0, auto_version_id="v-1"
    )
    assert json.loads(fake.requests[-1].content) == {
        "name": "C2C_TEST_CLIP.mp4",
        "filetype": "video/mp4",
        "filesize": 21_136_250,
        "offset": 10,
        "channel": 0,
        "auto_version_id": "v-1",
    }
    assert len(asset.upload_urls) == 2  # the docs' sample size gets two URLs
    assert plan_parts(asset.filesize or 0, len(asset.upload_urls)) == [
        (0, 10_568_125),
        (10_568_125, 10_568_125),
    ]
    await client.create_asset(token, "B.wav", "audio/wav", 100, 0, 0, parts=3)
    assert json.loads(fake.requests[-1].content)["parts"] == 3


async def test_realtime_asset_and_part_urls(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    asset = await client.create_realtime_asset(token, "audio/wav", 0, 3, extension=".wav")
    assert json.loads(fake.requests[-1].content) == {
        "filetype": "audio/wav",
        "is_realtime_upload": True,
        "offset": 3,
        "channel": 0,
        "extension": ".wav",
    }
    assert asset.name == "[new file].wav" and asset.upload_urls == []

    parts = [PartRequest(number=1, size=6_000_000), PartRequest(number=2, size=10, is_final=True)]
    urls = await client.realtime_part_urls(token, asset.id, parts, asset_filesize=6_000_010)
    assert json.loads(fake.requests[-1].content) == {
        "parts": [
            {"number": 1, "size": 6_000_000, "is_final": False},
            {"number": 2, "size": 10, "is_final": True},
        ],
        "asset_filesize": 6_000_010,
        "asset_name": None,
    }
    assert urls.upload_urls == [
        f"https://s3.example/{asset.id}/1",
        f"https://s3.example/{asset.id}/2",
    ]


async def test_realtime_arguments_are_checked_before_sending(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    with pytest.raises(ValueError, match="name or an extension"):
        await client.create_realtime_asset(token, "audio/wav", 0, 0)
    with pytest.raises(ValueError, match="asset_filesize"):
        await client.realtime_part_urls(token, "a", [PartRequest(number=1, size=1, is_final=True)])
    assert fake.requests == []


async def test_comment_omits_a_missing_timestamp(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    asset = await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)
    comment = await client.create_comment(token, asset.id, "whole asset")
    assert json.loads(fake.requests[-1].content) == {"text": "whole asset"}
    assert comment.text == "whole asset" and comment.timestamp is None
    framed = await client.create_comment(token, asset.id, "at frame 12", timestamp=12)
    assert framed.timestamp == 12


async def test_trigger_sends_only_the_fields_set(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    channel = await client.connect_channel(token, "remote-1", "model-mic")
    rate = Rate(playback=(24000, 1001), ntsc="non_drop")
    body = LogTrigger(
        action_type="single_press", start=SmpteTime(smpte_timecode="01:00:00:00", rate=rate)
    )
    await client.trigger_input(token, channel.id, 2, body)
    request = fake.requests[-1]
    assert request.url.path == f"/v2/devices/channels/{channel.id}/inputs/2/trigger"
    assert json.loads(request.content) == {
        "action_type": "single_press",
        "start": {
            "smpte_timecode": "01:00:00:00",
            "rate": {"playback": [24000, 1001], "ntsc": "non_drop"},
        },
    }
    await client.trigger_input(token, channel.id, 0)
    assert json.loads(fake.requests[-1].content) == {}


async def test_ids_cannot_add_path_segments(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    with pytest.raises(NotFoundError):  # no such channel; the point is the path sent
        await client.disconnect_channel(token, "../../auth/revoke")
    assert (
        fake.requests[-1].url.raw_path == b"/v2/devices/channels/..%2F..%2Fauth%2Frevoke/disconnect"
    )


async def test_health_revoke_and_heartbeat(
    client: FrameioClient, token: str, fake: FakeFrameio
) -> None:
    assert (await client.health()).healthy
    await client.heartbeat(token)
    await client.revoke(fake.client_id, fake.client_secret, token)
    assert token not in fake.access_tokens
    assert fake._multipart(fake.requests[-1]) == {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "token": token,
    }


async def test_rate_limit_figures_of_the_last_response_are_exposed(
    client: FrameioClient, token: str
) -> None:
    assert client.last_rate_limit is None
    await client.me(token)
    assert client.last_rate_limit is not None
    assert (client.last_rate_limit.limit, client.last_rate_limit.window_ms) == (40, 60000)
    await client.create_asset(token, "A.wav", "audio/wav", 10, 0, 0)
    assert client.last_rate_limit == type(client.last_rate_limit)(5, 4, 1000)
