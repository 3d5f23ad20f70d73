"""Frame.io's rate-limit figures, read from the ``x-ratelimit-*`` headers of a response.

Every Frame.io response carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and
``x-ratelimit-window`` (milliseconds); there is no ``Retry-After`` (docs/rulings.md#rate-limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LIMIT_HEADER = "x-ratelimit-limit"
REMAINING_HEADER = "x-ratelimit-remaining"
WINDOW_HEADER = "x-ratelimit-window"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The rate-limit figures of one response; a figure the server left out (or garbled) is None."""

    limit: int | None
    remaining: int | None
    window_ms: int | None


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """The figures in ``headers`` (case-insensitive mapping), or None when none of them is there."""
    figures = RateLimit(
        limit=_int_or_none(headers.get(LIMIT_HEADER)),
        remaining=_int_or_none(headers.get(REMAINING_HEADER)),
        window_ms=_int_or_none(headers.get(WINDOW_HEADER)),
    )
    if figures == RateLimit(None, None, None):
        return None
    return figures
