"""The plugin's options (``[plugins.options.ble_remotes]``) and its backoff policy, as data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from tenacity import wait_exponential_jitter

from c2c_hub import kit
from c2c_hub_plugins.ble_remotes.radio import ConnectFailed

RadioKind = Literal["bleak", "emulated"]
_ADAPTER_RE = re.compile(r"^hci[0-9]{1,3}$")

OptionsError = kit.OptionsError


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
        return kit.backoff_delay(wait, failures)

    def after(self, error: ConnectFailed, failures: int) -> float | None:
        """The delay before retrying after ``error``; None: do not retry until the remote
        advertises again (the radio lost the device, or it lacks the characteristic)."""
        return self.delay(failures) if error.retry else None


class Options(kit.PluginOptions):
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

    Durations are seconds, or strings with a unit (``"1.5s"``, ``"200ms"``).
    """

    radio: RadioKind = "bleak"
    emulated_radio: str = "default"
    adapter: str | None = None
    scanner_watchdog_s: kit.Duration = 30.0
    reconnect_grace_s: kit.Duration = 3.0
    connect_timeout_s: kit.Duration = 10.0
    connect_attempts: int = 4
    backoff_initial_s: kit.Duration = 0.25
    backoff_max_s: kit.Duration = 5.0
    backoff_jitter_s: kit.DurationOrZero = 0.25
    unavailable_retry_s: kit.Duration = 10.0

    @kit.field_validator("radio", mode="before")
    @classmethod
    def _radio(cls, value: Any) -> Any:
        if value not in ("bleak", "emulated"):
            raise ValueError(f"expected 'bleak' or 'emulated', got {value!r}")
        return value

    @kit.field_validator("emulated_radio", mode="before")
    @classmethod
    def _emulated_radio(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a name, got {value!r}")
        return value

    @kit.field_validator("adapter", mode="before")
    @classmethod
    def _adapter(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _ADAPTER_RE.match(value)):
            raise ValueError(f"expected an adapter name like 'hci0', got {value!r}")
        return value

    @kit.field_validator("connect_attempts", mode="before")
    @classmethod
    def _attempts(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value:
            raise ValueError(f"expected an integer >= 1, got {value!r}")
        return value

    @kit.model_validator(mode="after")
    def _backoff_in_order(self) -> Options:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s}) must not exceed "
                f"backoff_max_s ({self.backoff_max_s})"
            )
        return self

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(
            initial_s=self.backoff_initial_s,
            max_s=self.backoff_max_s,
            jitter_s=self.backoff_jitter_s,
        )
