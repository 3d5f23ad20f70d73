"""The plugin's options: the ``[plugins.options.mdns-microphones]`` table of the settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from c2c_hub.errors import HubError


class OptionsError(HubError, ValueError):
    """An option the plugin cannot use; the message names it."""


@dataclass(frozen=True)
class Options:
    """``interfaces``: the IPv4 addresses to browse on. The default is loopback only; a
    recorder sets the address it has on its microphone network (never every interface).

    ``stream_timeout_s``: no frame for this long (or no hello this long after connecting)
    and the stream counts as lost; the hub reconnects.

    ``vanish_timeout_s``: a lost stream that does not come back within this long detaches the
    microphone ("vanished"), even though its mDNS record is still cached.

    ``reconnect_max_s``: the cap of the reconnect backoff (it starts at about 50 ms).
    """

    interfaces: tuple[str, ...] = ("127.0.0.1",)
    stream_timeout_s: float = 2.0
    vanish_timeout_s: float = 5.0
    reconnect_max_s: float = 2.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Options:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise OptionsError(f"unknown option(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        if "interfaces" in raw:
            values["interfaces"] = _interfaces(raw["interfaces"])
        for name in ("stream_timeout_s", "vanish_timeout_s", "reconnect_max_s"):
            if name in raw:
                values[name] = _seconds(name, raw[name])
        return cls(**values)


def _interfaces(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise OptionsError(
            f"interfaces: expected a non-empty list of IPv4 addresses, got {value!r}"
        )
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.IPv4Address(item)))
        except (ipaddress.AddressValueError, ValueError):
            raise OptionsError(f"interfaces: not an IPv4 address: {item!r}") from None
    return tuple(out)


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise OptionsError(f"{name}: expected seconds in (0, 3600], got {value!r}")
    return float(value)
