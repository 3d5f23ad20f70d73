"""One verdict on the network, with its reason: ``good``, ``degraded``, ``offline`` or
``unknown``. The first problem found wins, in the order an operator would fix them."""

from __future__ import annotations

from typing import Any

WEAK_SIGNAL = 30  # percent
SLOW_RTT_MS = 1500.0
SLOW_UPLOAD_MBPS = 1.0
FRESH_UPLOAD_S = 300.0


def verdict(
    network: dict[str, Any],
    routes: dict[str, list[Any]],
    in_use: dict[str, Any] | None,
    nm_available: bool,
    upload_age_s: float | None,
) -> dict[str, str]:
    def say(state: str, reason: str) -> dict[str, str]:
        return {"verdict": state, "reason": reason}

    if not routes.get("ipv4") and not routes.get("ipv6"):
        return say("offline", "no default route: the hub is on no network")
    if nm_available and in_use is None:
        return say("offline", "NetworkManager has no connection up")
    reachable = network.get("frameio_reachable")
    if reachable is False:
        return say("offline", f"Frame.io is unreachable: {network.get('last_error')}")
    if reachable is None:
        return say("unknown", "Frame.io not checked yet")
    over = ""
    if in_use is not None:
        label = in_use.get("ssid") or in_use.get("operator") or in_use.get("name")
        over = f" over {in_use.get('kind')} {label}"
        signal = in_use.get("signal")
        if signal is not None and signal < WEAK_SIGNAL:
            return say("degraded", f"weak signal ({signal}%){over}")
    rtt = network.get("health_rtt_ms")
    if rtt is not None and rtt > SLOW_RTT_MS:
        return say("degraded", f"Frame.io answers slowly ({rtt:.0f} ms){over}")
    mbps = network.get("upload_mbps")
    if mbps is not None and upload_age_s is not None and upload_age_s < FRESH_UPLOAD_S:
        if mbps < SLOW_UPLOAD_MBPS:
            return say("degraded", f"uploads run at {mbps:.2f} Mbit/s{over}")
    rtt_text = f" in {rtt:.0f} ms" if rtt is not None else ""
    return say("good", f"Frame.io reachable{rtt_text}{over}")
