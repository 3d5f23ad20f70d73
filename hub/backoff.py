"""Backoff delays from tenacity's wait strategies, outside a tenacity retry loop.

The hub's retry loops are its own (they are cut short by events, and the uploader persists its
attempts), but the policy is tenacity's: this asks a wait strategy for the delay before the
next try after ``attempt`` failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from tenacity import RetryCallState
    from tenacity.wait import wait_base


class _Attempt:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    def __init__(self, attempt: int) -> None:
        self.attempt_number = attempt


def backoff_delay(wait: wait_base, attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure (counted from 1)."""
    return float(wait(cast("RetryCallState", _Attempt(max(1, attempt)))))
