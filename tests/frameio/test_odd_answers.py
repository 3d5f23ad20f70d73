"""Frame.io's odd answers, from the emulator over real HTTPS: an answer cut off mid-body, a body
that is not JSON, a body far larger than any Frame.io sends. Each is a clear, specific error;
the client reads no more than its cap; the next call works as if nothing happened."""

from __future__ import annotations

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import (
    MAX_RESPONSE_BYTES,
    AnswerCutOff,
    FrameioClient,
    MalformedResponse,
    ResponseTooLarge,
    TransportError,
)
from c2c_hub.session import Session

Paired = tuple[Session, FrameioClient, ManualClock]
MiB = 1024 * 1024


async def test_a_huge_answer_is_refused_after_the_cap_and_the_next_call_works(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, client, _ = paired_session
    token = await session.token()
    emulator.fault("api", "huge", size=64 * MiB, path_prefix="/v2/devices/me")
    with pytest.raises(ResponseTooLarge) as caught:
        await client.me(token)
    assert caught.value.limit == MAX_RESPONSE_BYTES
    assert "GET /v2/devices/me" in str(caught.value)
    assert f"more than {MAX_RESPONSE_BYTES} bytes" in str(caught.value)
    assert token not in str(caught.value)
    assert (await client.me(token)).id == session.identity.id  # type: ignore[union-attr]


async def test_a_padded_answer_under_the_cap_is_still_read(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, client, _ = paired_session
    emulator.fault("api", "huge", size=1 * MiB, path_prefix="/v2/devices/me")
    me = await client.me(await session.token())
    assert me.project.id


async def test_a_body_that_is_not_json_is_a_malformed_response(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, client, _ = paired_session
    emulator.fault("api", "malformed", path_prefix="/v2/devices/me")
    with pytest.raises(MalformedResponse) as caught:
        await client.me(await session.token())
    assert not isinstance(caught.value, ResponseTooLarge)
    assert "not JSON" in str(caught.value)
    assert caught.value.status == 200


async def test_an_answer_cut_off_mid_body_is_an_answer_lost_not_a_refusal(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, client, _ = paired_session
    token = await session.token()
    emulator.fault("api", "reset", path_prefix="/v2/devices/assets")
    with pytest.raises(AnswerCutOff) as caught:
        await client.create_asset(token, "take.wav", "audio/wav", 1000, 0, 0)
    assert isinstance(caught.value, TransportError)  # retry logic treats it as an answer lost
    assert caught.value.status == 200
    assert "cut off" in str(caught.value) and "may have taken effect" in str(caught.value)
    # The request did take effect: Frame.io made the asset whose answer was lost.
    assert [a["name"] for a in emulator.assets()] == ["take.wav"]
    again = await client.create_asset(token, "take2.wav", "audio/wav", 1000, 0, 0)
    assert again.upload_urls


async def test_every_outcome_is_told_to_listeners(
    paired_session: Paired, emulator: EmulatorHandle
) -> None:
    session, client, _ = paired_session
    heard: list[tuple[str, str | None]] = []
    unsubscribe = client.on_outcome(
        lambda endpoint, error: heard.append((endpoint, type(error).__name__ if error else None))
    )
    emulator.fault("api", "malformed", path_prefix="/v2/devices/me")
    with pytest.raises(MalformedResponse):
        await client.me(await session.token())
    await client.health()
    unsubscribe()
    await client.health()
    assert heard == [("GET /v2/devices/me", "MalformedResponse"), ("GET /health", None)]
