"""Default routes from the kernel's tables, IPv4 and IPv6, and the one health verdict."""

from __future__ import annotations

from pathlib import Path

from c2c_hub.network.health import verdict
from c2c_hub.network.model import band_of, security_of
from c2c_hub.network.routes import ipv4_default_routes, ipv6_default_routes

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wwan0\t00000000\t0100000A\t0003\t0\t0\t700\t00000000\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0
eth9\t00000000\t0102A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0
"""
ROUTE6 = (
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     wlan0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000003 00000000 00000003     wlan0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)


def test_ipv4_default_routes_best_metric_first_and_only_those_up(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(ROUTE)
    found = [(r.interface, r.gateway, r.metric) for r in ipv4_default_routes(route)]
    assert found == [("wlan0", "192.168.1.1", 600), ("wwan0", "10.0.0.1", 700)]


def test_ipv6_default_routes_skip_the_kernels_unreachable_route(tmp_path: Path) -> None:
    route6 = tmp_path / "ipv6_route"
    route6.write_text(ROUTE6)
    found = [(r.interface, r.gateway, r.metric) for r in ipv6_default_routes(route6)]
    assert found == [("wlan0", "fe80::1", 1024)]
    assert ipv6_default_routes(tmp_path / "missing") == []


def test_the_verdict_names_the_first_problem_an_operator_would_fix() -> None:
    routes = {"ipv4": [{"interface": "wlan0"}], "ipv6": []}
    wifi = {"kind": "wifi", "ssid": "StudioNet", "name": "StudioNet", "signal": 80}
    good = {"frameio_reachable": True, "health_rtt_ms": 40.0, "upload_mbps": 20.0}
    assert verdict(good, {"ipv4": [], "ipv6": []}, wifi, True, None)["verdict"] == "offline"
    assert verdict(good, routes, None, True, None) == {
        "verdict": "offline",
        "reason": "NetworkManager has no connection up",
    }
    down = {**good, "frameio_reachable": False, "last_error": "GET /health: no answer"}
    assert "no answer" in verdict(down, routes, wifi, True, None)["reason"]
    assert verdict({**good, "frameio_reachable": None}, routes, wifi, True, None)["verdict"] == (
        "unknown"
    )
    weak = verdict(good, routes, {**wifi, "signal": 12}, True, None)
    assert weak == {"verdict": "degraded", "reason": "weak signal (12%) over wifi StudioNet"}
    slow = {**good, "upload_mbps": 0.4}
    assert verdict(slow, routes, wifi, True, 30.0)["verdict"] == "degraded"
    assert verdict(slow, routes, wifi, True, 3600.0)["verdict"] == "good"  # stale: not judged
    ok = verdict(good, routes, wifi, True, 10.0)
    assert ok == {"verdict": "good", "reason": "Frame.io reachable in 40 ms over wifi StudioNet"}
    assert verdict(good, routes, None, False, None)["verdict"] == "good"  # no NetworkManager


def test_security_and_band_are_named_as_an_operator_reads_them() -> None:
    assert security_of(0x1, 0x188, 0x188) == "WPA2"
    assert security_of(0x1, 0, 0x588) == "WPA2/WPA3"
    assert security_of(0x1, 0, 0x400) == "WPA3"
    assert security_of(0x1, 0, 0x200) == "enterprise"
    assert security_of(0x0, 0, 0) == "open"
    assert (band_of(2412), band_of(5180), band_of(5955)) == ("2.4 GHz", "5 GHz", "6 GHz")
