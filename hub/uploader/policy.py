"""The one place that decides what every failure the uploader sees means, and what to do.

+-----------------------------------------------+-------------------------------------------+
| failure                                       | action                                    |
+===============================================+===========================================+
| no answer: reset, refused, TLS, DNS, timeout  | RETRY with jittered exponential backoff   |
| 5xx from Frame.io; S3 SlowDown, RequestTimeout| RETRY                                     |
| InternalError, ServiceUnavailable, any S3 5xx |                                           |
| 429 (asset create: 5 per second per device)   | RETRY, waiting at least 1 s (no Retry-After)|
| 401 from Frame.io (after Session.call's own   | REFRESH the session, then RETRY           |
| refresh and retry)                            |                                           |
| S3 403 AccessDenied "Request has expired"     | NEW_URL: real-time → re-request the part  |
|                                               | number again; basic → re-create the asset |
| 409 Channel Paused                            | SKIP_PAUSED (never retried on its own)    |
| file unreadable, truncated, changed           | CORRUPT (others go on)                    |
| 0-byte file                                   | FAIL                                      |
| S3 SignatureDoesNotMatch, other 4xx           | FAIL: a bug, shown with the reason        |
| 403 / 400 / 422 / redirects / insecure URL    | FAIL                                      |
| 404, a malformed 2xx (middlebox?)             | RETRY a few times, then FAIL              |
| no usable credentials (NeedsPairing)          | HOLD: back to the queue until re-paired   |
+-----------------------------------------------+-------------------------------------------+

The backoff is data (:class:`RetryPolicy`) read by tenacity's ``wait_exponential_jitter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.frameio import (
    ApiError,
    AuthError,
    ChannelPaused,
    FrameioError,
    InsecureURLError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    ServerError,
    TransportError,
    TransportTimeout,
    UnexpectedRedirect,
)
from c2c_hub.session import NeedsPairing
from c2c_hub.uploader.errors import FileProblem, NothingToSend, S3Error


class Action(StrEnum):
    RETRY = "retry"  # same request again after ``delay``
    REFRESH = "refresh"  # refresh the access token, then retry
    NEW_URL = "new_url"  # the upload URL expired: get a new one (see module doc)
    SKIP_PAUSED = "skip_paused"  # captured while paused: the file is skipped, with the reason
    CORRUPT = "corrupt"  # the file itself is the problem: mark it, go on with the others
    FAIL = "fail"  # give up on this file, with the reason
    HOLD = "hold"  # nothing can be sent now (not paired): back to the queue, wait


S3_RETRYABLE = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    #: Attempts allowed for this kind of failure (None: as many as it takes).
    max_attempts: int | None = None
    #: The shortest wait before the next attempt (429: about a second).
    min_delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff as data: ``initial * 2**(n-1)`` capped at ``max``, plus up to ``jitter`` s."""

    initial: float = 0.5
    max: float = 30.0
    exp_base: float = 2.0
    jitter: float = 0.5
    #: Attempts for failures that may be permanent (404, malformed answers).
    suspicious_attempts: int = 5

    def delay(self, attempt: int, verdict: Verdict | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        wait = wait_exponential_jitter(
            multiplier=self.initial, max=self.max, exp_base=self.exp_base, jitter=self.jitter
        )
        seconds = backoff_delay(wait, attempt)
        if verdict is not None:
            seconds = max(seconds, verdict.min_delay)
        return seconds

    def gives_up(self, verdict: Verdict, attempt: int) -> bool:
        return verdict.max_attempts is not None and attempt >= verdict.max_attempts


def classify(exc: BaseException, *, suspicious_attempts: int = 5) -> Verdict:
    """What ``exc`` (raised while uploading one file) means for that file."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, FileProblem):
        return Verdict(Action.CORRUPT, exc.reason)
    if isinstance(exc, NothingToSend):
        return Verdict(Action.FAIL, reason)
    if isinstance(exc, NeedsPairing):
        return Verdict(Action.HOLD, reason)
    if isinstance(exc, S3Error):
        return _s3(exc, suspicious_attempts)
    if isinstance(exc, (InsecureURLError, UnexpectedRedirect)):
        return Verdict(Action.FAIL, reason)
    if isinstance(exc, TransportTimeout):
        return Verdict(Action.RETRY, f"timed out: {reason}")
    if isinstance(exc, TransportError):
        return Verdict(Action.RETRY, f"network error: {reason}")
    if isinstance(exc, ChannelPaused):
        return Verdict(
            Action.SKIP_PAUSED,
            "Frame.io refused it: captured while the channel was paused (409 Channel Paused)",
        )
    if isinstance(exc, RateLimited):
        return Verdict(Action.RETRY, f"rate limited: {reason}", min_delay=1.0)
    if isinstance(exc, ServerError):
        return Verdict(Action.RETRY, f"Frame.io server error: {reason}")
    if isinstance(exc, AuthError):
        if exc.status == 401:
            return Verdict(Action.REFRESH, f"token refused: {reason}", max_attempts=3)
        return Verdict(Action.FAIL, f"not allowed: {reason}")
    if isinstance(exc, NotFoundError):
        return Verdict(Action.RETRY, reason, max_attempts=suspicious_attempts)
    if isinstance(exc, MalformedResponse):
        return Verdict(Action.RETRY, reason, max_attempts=suspicious_attempts)
    if isinstance(exc, ApiError):
        return Verdict(Action.FAIL, reason)
    if isinstance(exc, FrameioError):
        return Verdict(Action.FAIL, reason)
    return Verdict(Action.FAIL, f"unexpected {type(exc).__name__}: {reason}")


def _s3(exc: S3Error, suspicious_attempts: int) -> Verdict:
    if exc.expired:
        return Verdict(Action.NEW_URL, "upload URL expired", max_attempts=4)
    if exc.code in S3_RETRYABLE or exc.status >= 500:
        return Verdict(Action.RETRY, f"S3 {exc.code} ({exc.status})")
    if exc.code == "SignatureDoesNotMatch":
        return Verdict(
            Action.FAIL,
            "S3 SignatureDoesNotMatch: the part was sent with headers or a URL other than the "
            "ones signed (a bug in the hub; please report it)",
        )
    if exc.code == "NoSuchUpload" or exc.status == 404:
        return Verdict(Action.RETRY, f"S3 {exc.code}: {exc.message}", max_attempts=2)
    return Verdict(Action.FAIL, f"S3 refused the part: {exc.code} ({exc.status}) {exc.message}")
