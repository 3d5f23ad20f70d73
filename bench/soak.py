"""Soak: one ``c2c-hub run`` for a long real time and many days of Frame.io's time, watched for
leaks.

The hub of :class:`tests.ui.hub_chaos.HubRig` (the emulator behind a shaped link, two emulated
microphones, a button remote, ``c2c-hub run`` as a user runs it) goes round a cycle until
``seconds`` have passed:

- the emulator's clock jumps ``advance_hours`` (12 by default: past the 8 h access token, so the
  next call is refused and the hub refreshes; part URLs expire too), so an hour of real time is
  months of Frame.io's;
- a take of 3 to 8 s with a press burst in it, stopped; its tracks go up;
- a network event in turn: the network drops for 2 to 6 s (every connection reset, new ones
  refused), the uplink switches between 40 and 8 Mbit/s (every connection reset, as when a hub
  moves from Ethernet to a phone), or nothing;
- then the hub's ``status.process`` is sampled (resident memory, open files, threads, asyncio
  tasks), always at the same point of the cycle, so that samples compare like with like.

At the end the hub finishes its work (every press sent, every file done) and is stopped with
SIGTERM, and the run is checked as the chaos run is: every press logged at Frame.io exactly
once, every track byte-identical, no protocol violation. The footprint is reported as start
(the first sample after one cycle's warm-up), end, and max; the verdict is ``flat`` when the
end is within :data:`BOUNDS` of the largest sample of the first fifth of the run (a leak
shows as a climb past it), else ``growing`` with the resources that grew.

Run: ``python -m bench.soak [--seconds S] [--advance-hours H] [--keep DIR]`` (prints JSON), or
:func:`run`. ``make bench`` runs 5 minutes; ``make soak`` an hour.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from tests.ui.hub_chaos import HubChaosResult, HubProcess, HubRig, _check, _settled, keep_or_temp
from tests.ui.hub_chaos import wait_for as _wait_for

RESOURCES = ("rss_bytes", "fds", "threads", "tasks")
BOUNDS: dict[str, tuple[float, float]] = {
    # resource: (relative, absolute) growth allowed over the early maximum
    "rss_bytes": (0.10, 24 * 1024 * 1024),
    "fds": (0.0, 8),
    "threads": (0.0, 4),
    "tasks": (0.0, 16),
}
RATES = (40e6, 8e6)


def _sample(hub: HubProcess, started: float) -> dict[str, Any]:
    status = _wait_for(hub.status, 30, "the hub's status")
    process = status["process"]
    return {
        "t": round(time.monotonic() - started, 1),
        **{name: process[name] for name in RESOURCES},
        "refreshes": status["pairing"].get("refreshes"),
        "pairing": status["pairing"]["state"],
    }


def _cycle(hub: HubProcess, rig: HubRig, rng: random.Random, n: int, advance_s: float) -> str:
    rig.handle.advance(advance_s)
    hub.call("POST", "/takes/start", {"scene": "SOAK"})
    hub.burst(rng.randrange(10, 40), rate=20)
    time.sleep(rng.uniform(3.0, 8.0))
    hub.call("POST", "/takes/stop")
    event = ("offline", "switch", "none")[n % 3]
    if event == "offline":
        rig.link.set_offline(True)
        time.sleep(rng.uniform(2.0, 6.0))
        rig.link.set_offline(False)
    elif event == "switch":
        rig.link.set_rate(RATES[(n // 3) % 2])
        rig.link.cut_all()
    hub.ready()  # every channel back before the sample
    return event


def verdict(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Start, end and max of each resource, and whether the end stayed within the bounds of the
    early maximum (the first fifth of the samples)."""
    early = samples[: max(1, len(samples) // 5)]
    report: dict[str, Any] = {}
    grew = []
    for name in RESOURCES:
        values = [s[name] for s in samples if s[name] is not None]
        if not values:
            continue
        ceiling = max(s[name] for s in early if s[name] is not None)
        relative, absolute = BOUNDS[name]
        bound = ceiling * (1 + relative) + absolute
        report[name] = {
            "start": values[0],
            "end": values[-1],
            "max": max(values),
            "bound": round(bound),
        }
        if values[-1] > bound:
            grew.append(name)
    report["verdict"] = "flat" if not grew else "growing: " + ", ".join(grew)
    return report


def run(
    seconds: float = 300.0,
    advance_hours: float = 12.0,
    keep: Path | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    seed = seed or random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    events: dict[str, int] = {"offline": 0, "switch": 0, "none": 0}
    samples: list[dict[str, Any]] = []
    with keep_or_temp(keep) as work, HubRig(work, mics=2, sample_rate=48000) as rig:
        hub = rig.start()
        try:
            hub.ready()
            emulator_started = rig.handle.advance(0)
            first = _sample(hub, started)
            cycles = 0
            while time.monotonic() - started < seconds:
                events[_cycle(hub, rig, rng, cycles, advance_hours * 3600)] += 1
                cycles += 1
                samples.append(_sample(hub, started))
            _wait_for(lambda: _settled(hub), 600, "every press sent, every file done", 0.5)
            samples.append(_sample(hub, started))
            emulated_s = rig.handle.advance(0) - emulator_started
        finally:
            code = hub.stop()
        checked = HubChaosResult(seed)
        _check(checked, rig, {}, {})
    summary = checked.summary()
    footprint = verdict(samples)
    ok = (
        code == 0
        and footprint["verdict"] == "flat"
        and not (
            checked.presses_twice
            or checked.presses_missing
            or checked.presses_left
            or checked.tracks_wrong
            or checked.violations
        )
        and samples[-1]["pairing"] == "paired"
    )
    return {
        "ok": ok,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
        "cycles": cycles,
        "emulated_days": round(emulated_s / 86400, 1),
        "network_events": events,
        "token_refreshes": samples[-1]["refreshes"],
        "before_first_cycle": {name: first[name] for name in RESOURCES},
        "footprint": footprint,
        "presses_acked": summary["presses_acked"],
        "presses_sent": summary["presses_sent"],
        "presses_unconfirmed": summary["presses_unconfirmed"],
        "presses_delivered": summary["presses_delivered"],
        "presses_delivered_twice": summary["presses_delivered_twice"],
        "tracks_verified": summary["tracks_verified"],
        "tracks_wrong": summary["tracks_wrong"],
        "duplicate_assets": summary["duplicate_assets"],
        "violations": summary["violations"],
        "samples": len(samples),
        "exit_code": code,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0, help="real time (300)")
    parser.add_argument(
        "--advance-hours", type=float, default=12.0, help="emulator time per cycle (12)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the run's files here")
    args = parser.parse_args(argv)
    summary = run(args.seconds, args.advance_hours, args.keep)
    print(json.dumps({"bench": "soak", **summary}))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
