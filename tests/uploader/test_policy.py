"""The one place that decides retry-or-not: every failure class maps to its action."""

from __future__ import annotations

import pytest

from c2c_hub.frameio import (
    AuthError,
    ChannelPaused,
    ErrorShape,
    RateLimited,
    ServerError,
    TransportError,
    TransportTimeout,
    UnprocessableError,
)
from c2c_hub.session import NeedsPairing
from c2c_hub.uploader import Action, FileProblem, NothingToSend, RetryPolicy, S3Error, classify

EXPIRED = (
    b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
    b"<Message>Request has expired</Message></Error>"
)


def api(cls: type, status: int) -> Exception:
    error: Exception = cls(
        f"HTTP {status}", endpoint="POST /v2/devices/assets", status=status, shape=ErrorShape.OTHER
    )
    return error


@pytest.mark.parametrize(
    ("exc", "action"),
    [
        (TransportError("reset", endpoint="PUT x"), Action.RETRY),
        (TransportTimeout("slow", endpoint="PUT x"), Action.RETRY),
        (api(ServerError, 502), Action.RETRY),
        (api(RateLimited, 429), Action.RETRY),
        (S3Error(503, "SlowDown", "Please reduce your request rate."), Action.RETRY),
        (S3Error(400, "RequestTimeout", "not read"), Action.RETRY),
        (S3Error(500, "InternalError", "oops"), Action.RETRY),
        (S3Error(503, "ServiceUnavailable", "busy"), Action.RETRY),
        (S3Error.from_response(403, EXPIRED), Action.NEW_URL),
        (S3Error(403, "SignatureDoesNotMatch", "bad"), Action.FAIL),
        (api(AuthError, 401), Action.REFRESH),
        (api(AuthError, 403), Action.FAIL),
        (api(ChannelPaused, 409), Action.SKIP_PAUSED),
        (api(UnprocessableError, 422), Action.FAIL),
        (FileProblem("truncated"), Action.CORRUPT),
        (NothingToSend("empty"), Action.FAIL),
        (NeedsPairing("not paired"), Action.HOLD),
        (RuntimeError("??"), Action.FAIL),
    ],
)
def test_every_failure_has_one_action(exc: Exception, action: Action) -> None:
    assert classify(exc).action is action


def test_429_waits_at_least_a_second_and_backoff_is_capped() -> None:
    policy = RetryPolicy(initial=0.01, max=2.0, jitter=0.0)
    verdict = classify(api(RateLimited, 429))
    assert policy.delay(1, verdict) >= 1.0
    assert policy.delay(50) == 2.0
    assert not policy.gives_up(classify(S3Error(503, "SlowDown", "")), 1000)


def test_the_signature_bug_is_reported_as_a_bug() -> None:
    verdict = classify(S3Error(403, "SignatureDoesNotMatch", "bad"))
    assert "bug" in verdict.reason
