"""The plugin's options (``[plugins.options.hid_remotes]``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from c2c_hub import kit

_ADAPTER_RE = re.compile(r"^hci[0-9]{1,3}$")


class Options(kit.PluginOptions):
    """``radio``: ``"bleak"`` (BlueZ, the default), ``"emulated"`` (the in-process radio
    registered as ``emulated_radio``) or ``"off"`` (no BLE scan; evdev only).

    ``evdev``: also read keyboards the kernel owns (``/dev/input``) that a model's
    ``[discovery.evdev]`` matches (default true; nothing happens without python-evdev).

    ``adapter``, ``reconnect_grace_s``, ``connect_timeout_s``, ``retry_s``,
    ``unavailable_retry_s``, ``evdev_rescan_s``: as their names say (seconds).
    """

    radio: Literal["bleak", "emulated", "off"] = "bleak"
    emulated_radio: str = "default"
    adapter: str | None = None
    evdev: bool = True
    reconnect_grace_s: kit.Duration = 3.0
    connect_timeout_s: kit.Duration = 10.0
    retry_s: kit.Duration = 1.0
    unavailable_retry_s: kit.Duration = 10.0
    evdev_rescan_s: kit.Duration = 5.0

    @kit.field_validator("adapter", mode="before")
    @classmethod
    def _adapter(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _ADAPTER_RE.match(value)):
            raise ValueError(f"expected an adapter name like 'hci0', got {value!r}")
        return value
