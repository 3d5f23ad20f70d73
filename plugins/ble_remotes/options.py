"""The plugin's options (``[plugins.options.ble-remotes]``) and its backoff policy, as data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.errors import HubError
from c2c_hub_plugins.ble_remotes.radio import ConnectFailed

RadioKind = Literal["bleak", "emulated"]
_ADAPTER_RE = re.compile(r"^hci[0-9]{1,3}$")


class OptionsError(HubError, ValueError):
    """An option the plugin cannot use; the message names it."""


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before the next connection attempt (bleak-retry-connector style: the
    policy is data, and one function of the failure decides)."""

    initial_s: float = 0.25
    max_s: float = 5.0
    jitter_s: float = 0.25
    exp_base: float = 2.0

    def delay(self, failures: int) -> float:
        """Seconds after ``failures`` failed attempts in a row (counted from 1): capped,
        jittered exponential, from tenacity's ``wait_exponential_jitter``."""
        wait = wait_exponential_jitter(
            multiplier=self.initial_s, max=self.max_s, exp_base=self.exp_base, jitter=self.jitter_s
        )
        return backoff_delay(wait, failures)

    def after(self, error: ConnectFailed, failures: int) -> float | None:
        """The delay before retrying after ``error``; None: do not retry until the remote
        advertises again (the radio lost the device, or it lacks the characteristic)."""
        return self.delay(failures) if error.retry else None


@dataclass(frozen=True)
class Options:
    """``radio``: ``"bleak"`` (BlueZ through bleak, the default) or ``"emulated"`` (the
    in-process radio of :mod:`c2c_hub_plugins.ble_remotes.emulated` registered as
    ``emulated_radio``).

    ``adapter``: the BlueZ adapter (``"hci0"``); default: the first powered one.

    ``scanner_watchdog_s``: a scan that reports nothing at all for this long is restarted.

    ``reconnect_grace_s``: a remote whose link dropped is detached only if it is not
    reconnected within this long.

    ``connect_timeout_s``, ``connect_attempts``: one attempt's limit, and how many attempts
    (with backoff between them) before waiting for the remote to advertise again.

    ``backoff_initial_s``, ``backoff_max_s``, ``backoff_jitter_s``: the backoff between
    connection attempts (:class:`BackoffPolicy`).

    ``unavailable_retry_s``: with no BlueZ (or no adapter), how often to look again.
    """

    radio: RadioKind = "bleak"
    emulated_radio: str = "default"
    adapter: str | None = None
    scanner_watchdog_s: float = 30.0
    reconnect_grace_s: float = 3.0
    connect_timeout_s: float = 10.0
    connect_attempts: int = 4
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 5.0
    backoff_jitter_s: float = 0.25
    unavailable_retry_s: float = 10.0

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(
            initial_s=self.backoff_initial_s,
            max_s=self.backoff_max_s,
            jitter_s=self.backoff_jitter_s,
        )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Options:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise OptionsError(f"unknown option(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        if "radio" in raw:
            if raw["radio"] not in ("bleak", "emulated"):
                raise OptionsError(f"radio: expected 'bleak' or 'emulated', got {raw['radio']!r}")
            values["radio"] = raw["radio"]
        if "emulated_radio" in raw:
            name = raw["emulated_radio"]
            if not isinstance(name, str) or not name.strip():
                raise OptionsError(f"emulated_radio: expected a name, got {name!r}")
            values["emulated_radio"] = name
        if "adapter" in raw and raw["adapter"] is not None:
            adapter = raw["adapter"]
            if not isinstance(adapter, str) or not _ADAPTER_RE.match(adapter):
                raise OptionsError(
                    f"adapter: expected an adapter name like 'hci0', got {adapter!r}"
                )
            values["adapter"] = adapter
        for name in (
            "scanner_watchdog_s",
            "reconnect_grace_s",
            "connect_timeout_s",
            "backoff_initial_s",
            "backoff_max_s",
            "unavailable_retry_s",
        ):
            if name in raw:
                values[name] = _seconds(name, raw[name])
        if "backoff_jitter_s" in raw:
            values["backoff_jitter_s"] = _seconds(
                "backoff_jitter_s", raw["backoff_jitter_s"], allow_zero=True
            )
        if "connect_attempts" in raw:
            attempts = raw["connect_attempts"]
            if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts:
                raise OptionsError(f"connect_attempts: expected an integer >= 1, got {attempts!r}")
            values["connect_attempts"] = attempts
        options = cls(**values)
        if options.backoff_initial_s > options.backoff_max_s:
            raise OptionsError(
                f"backoff_initial_s ({options.backoff_initial_s}) must not exceed "
                f"backoff_max_s ({options.backoff_max_s})"
            )
        return options


def _seconds(name: str, value: Any, *, allow_zero: bool = False) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (0 < value <= 3600 or (allow_zero and value == 0)):
        low = "[0" if allow_zero else "(0"
        raise OptionsError(f"{name}: expected seconds in {low}, 3600], got {value!r}")
    return float(value)
