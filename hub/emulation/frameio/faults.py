"""Faults a test or the demo injects: the next N part PUTs or API calls misbehave.

Kinds:

- ``status``: answer an error (parts: S3 XML with ``code``; API: Frame.io's detailed shape, or
  with ``oauth_error`` the auth endpoints' ``{"error": ...}``, e.g. ``slow_down``).
- ``reset``: parts: read about half of the body, then drop the connection. API: the call takes
  effect, then the answer is cut off: about half of its body is sent and the connection dropped.
- ``stall``: read the body, then wait ``seconds`` before answering (clients time out).
- ``slow`` (parts): read the body at ``rate`` bytes a second, a slow uplink seen from the
  server: the PUT stays in flight, most of its body not yet handed over, for a test to act on.
- ``malformed`` (API): the call takes effect, but the 200 answer's body is not JSON (what a
  confused proxy or a truncated gateway reply looks like).
- ``huge`` (API): the call takes effect, and the answer's body is padded with whitespace to
  ``size`` bytes (still valid JSON): a client that reads without a cap reads it all.

Socket drops are not queued here: they act at once (``SocketHub.drop``).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

Target = Literal["part", "api"]
Kind = Literal["status", "reset", "stall", "slow", "malformed", "huge"]
KINDS = ("status", "reset", "stall", "slow", "malformed", "huge")
API_ONLY = ("malformed", "huge")
PART_ONLY = ("slow",)
HUGE_DEFAULT = 64 * 1024 * 1024

S3_MESSAGES = {
    # What an expired URL answers (docs/rulings.md#upload-url-expiry).
    "AccessDenied": (403, "Request has expired"),
    "SlowDown": (503, "Please reduce your request rate."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "RequestTimeout": (
        400,
        "Your socket connection to the server was not read from or written to within the "
        "timeout period.",
    ),
}


@dataclass
class Fault:
    target: Target
    kind: Kind
    count: int = 1
    status: int = 500
    code: str = "InternalError"
    seconds: float = 30.0
    asset_id: str | None = None
    part_number: int | None = None
    path_prefix: str = "/v2/"
    oauth_error: str | None = None  # api faults: answer 400 {"error": oauth_error} instead
    size: int = HUGE_DEFAULT  # huge: the padded body's length in bytes
    rate: int = 1 << 20  # slow: bytes a second the body is read at

    def matches(self, target: Target, ctx: dict[str, Any]) -> bool:
        if self.target != target or self.count <= 0:
            return False
        if target == "part":
            if self.asset_id is not None and ctx.get("asset_id") != self.asset_id:
                return False
            if self.part_number is not None and ctx.get("part_number") != self.part_number:
                return False
            return True
        return str(ctx.get("path", "")).startswith(self.path_prefix)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.fired: list[dict[str, Any]] = []

    @staticmethod
    def build(spec: dict[str, Any]) -> Fault:
        """Validate a control-API fault description."""
        target = spec.get("target")
        kind = spec.get("kind", "status")
        if target not in ("part", "api"):
            raise ValueError("target must be 'part' or 'api'")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if target == "part" and kind in API_ONLY:
            raise ValueError(f"kind {kind!r} applies to API calls only")
        if target == "api" and kind in PART_ONLY:
            raise ValueError(f"kind {kind!r} applies to part uploads only")
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(target=target, kind=kind, count=count)
        if "code" in spec:
            code = str(spec["code"])
            if target == "part" and code not in S3_MESSAGES:
                raise ValueError(f"code must be one of {sorted(S3_MESSAGES)}")
            fault.code = code
            if target == "part":
                fault.status = S3_MESSAGES[code][0]
        if "status" in spec:
            fault.status = int(spec["status"])
            if not 400 <= fault.status <= 599:
                raise ValueError("status must be 4xx or 5xx")
        if "seconds" in spec:
            fault.seconds = float(spec["seconds"])
        if "size" in spec:
            if kind != "huge":
                raise ValueError("size applies to huge faults only")
            fault.size = int(spec["size"])
            if not 1 <= fault.size <= 1 << 31:
                raise ValueError("size must be between 1 byte and 2 GiB")
        if "rate" in spec:
            if kind != "slow":
                raise ValueError("rate applies to slow faults only")
            fault.rate = int(spec["rate"])
            if not 1024 <= fault.rate <= 1 << 30:
                raise ValueError("rate must be between 1 KiB/s and 1 GiB/s")
        if "asset_id" in spec:
            fault.asset_id = str(spec["asset_id"])
        if "part_number" in spec:
            fault.part_number = int(spec["part_number"])
        if "path_prefix" in spec:
            fault.path_prefix = str(spec["path_prefix"])
        if "oauth_error" in spec:
            if target != "api" or kind != "status":
                raise ValueError("oauth_error applies to api status faults only")
            fault.oauth_error = str(spec["oauth_error"])
            fault.status = int(spec.get("status", 400))
        return fault

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def take(self, target: Target, **ctx: Any) -> Fault | None:
        """The first pending fault for this request, consumed by one."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(target, ctx):
                    fault.count -= 1
                    if fault.count == 0:
                        self._queue.remove(fault)
                    self.fired.append({**asdict(fault), **ctx})
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.fired.clear()
