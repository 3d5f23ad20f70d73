"""The plugin's options: the ``[plugins.options.mdns_microphones]`` table of the settings."""

from __future__ import annotations

import ipaddress
from typing import Any

from c2c_hub import kit

OptionsError = kit.OptionsError


class Options(kit.PluginOptions):
    """``interfaces``: the IPv4 addresses to browse on. The default is loopback only; a
    recorder sets the address it has on its microphone network (never every interface).

    ``stream_timeout_s``: no frame for this long (or no hello this long after connecting)
    and the stream counts as lost; the hub reconnects.

    ``vanish_timeout_s``: a lost stream that does not come back within this long detaches the
    microphone ("vanished"), even though its mDNS record is still cached.

    ``reconnect_max_s``: the cap of the reconnect backoff (it starts at about 50 ms).

    Durations are seconds, or strings with a unit (``"1.5s"``, ``"200ms"``).
    """

    interfaces: tuple[str, ...] = ("127.0.0.1",)
    stream_timeout_s: kit.Duration = 2.0
    vanish_timeout_s: kit.Duration = 5.0
    reconnect_max_s: kit.Duration = 2.0

    @kit.field_validator("interfaces", mode="before")
    @classmethod
    def _interfaces(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise ValueError(f"expected a non-empty list of IPv4 addresses, got {value!r}")
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.IPv4Address(item)))
            except (ipaddress.AddressValueError, ValueError):
                raise ValueError(f"not an IPv4 address: {item!r}") from None
        return tuple(out)
