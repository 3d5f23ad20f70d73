"""The ``networks`` key of the hub's status: what is in use and why, how well it works, and the
operator's controls (or why there are none). Never a PSK."""

from __future__ import annotations

from typing import Any

from c2c_hub.clock import Clock
from c2c_hub.connectivity import NetworkStatus
from c2c_hub.network.control import NetworkControl
from c2c_hub.network.health import verdict
from c2c_hub.network.routes import default_routes


def network_summary(
    control: NetworkControl, network: NetworkStatus, clock: Clock
) -> dict[str, Any]:
    summary = control.snapshot()
    routes = default_routes()
    link = network.link
    using = summary["in_use"]
    if using is None and not control.available:  # the kernel's word, as before NetworkManager
        using = (
            {
                "name": link.interface,
                "kind": link.kind,
                "interface": link.interface,
                "ssid": None,
                "signal": None,
                "link_rate_mbps": None,
                "why": "the interface of the default route (read from the kernel)",
            }
            if link.interface
            else None
        )
        summary["in_use"] = using
    age = None
    if network.upload_measured_at is not None:
        age = max(0.0, clock.now() - network.upload_measured_at)
    summary["upload"] = {"mbps": network.upload_mbps, "age_s": age}
    summary["frameio"] = {
        "reachable": network.frameio_reachable,
        "rtt_ms": network.health_rtt_ms,
        "last_error": network.last_error,
    }
    summary["routes"] = routes
    summary["health"] = verdict(network.to_json(), routes, using, control.available, age)
    return summary
