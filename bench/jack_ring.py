"""What the JACK ring's eventfds cost the process callback, per period.

The capture process's callback (:mod:`c2c_hub_plugins.jack_inputs.capture`) writes each period
into :class:`~c2c_hub_plugins.jack_inputs.ring.InputRing` and publishes it with one
``eventfd_write``; it reads the ``freed`` eventfd only when its own count says the ring is
full. Measured here, in one run so that the machine's load weighs alike on each:

- **write**: :meth:`InputRing.write` for a period of 16 inputs x 256 frames, as the callback
  calls it (cffi ``memmove`` from raw pointers), with a consumer draining the ring every 8
  periods (its reads not timed): the whole per-period cost, the eventfd included;
- **publish**: ``os.eventfd_write`` alone, what every period adds;
- **freed, empty** and **freed, a value**: one non-blocking ``os.eventfd_read`` finding
  nothing (``EAGAIN``, a Python exception) and finding a count: what a period that finds the
  ring full by its own count adds (about once a ring's length, ~2 s, when the hub keeps up).

Each figure is the median over ``--repeats`` batches of ``--calls`` calls, in microseconds a
call, with the load average beside it. ``write - publish`` is the write without the eventfd
(the ring's cost before). Run: ``python -m bench.jack_ring`` (prints JSON), or :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jack
import numpy as np

from c2c_hub_plugins.jack_inputs.ring import InputRing, signals

INPUTS = 16
PERIOD = 256


def _per_call_us(batch: Callable[[int], None], calls: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        batch(calls)
        times.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(times)


def run(calls: int = 20000, repeats: int = 7) -> dict[str, Any]:
    ffi = jack._ffi
    ring = InputRing(INPUTS, 8192 * 12, cycles=4096)  # the capture's shape at 48 kHz, 2 s
    ring.samples.fill(0.0)
    whole = ffi.from_buffer(ring.samples)
    base = [ffi.cast("char *", whole) + row * ring.capacity * 4 for row in range(INPUTS)]
    ports = [np.full(PERIOD, row / INPUTS, np.float32) for row in range(INPUTS)]
    pointers = [ffi.cast("float *", ffi.from_buffer(port)) for port in ports]
    memmove = ffi.memmove

    def writes(count: int) -> float:
        """``count`` periods written; their time a period, the consumer's reads left out."""
        write, read, reading = ring.write, ring.read, 0
        start = time.perf_counter_ns()
        for n in range(count):
            write(n * PERIOD, PERIOD, pointers, memmove, base)
            if n % 8 == 7:
                paused = time.perf_counter_ns()
                read()
                reading += time.perf_counter_ns() - paused
        return (time.perf_counter_ns() - start - reading) / count / 1000

    published, freed = signals()
    try:

        def publishes(count: int) -> None:
            post = os.eventfd_write
            for _ in range(count):
                post(published, 1)
            os.eventfd_read(published)

        def empty_reads(count: int) -> None:
            read = os.eventfd_read
            for _ in range(count):
                with contextlib.suppress(BlockingIOError):
                    read(freed)

        def value_reads(count: int) -> None:
            read, post = os.eventfd_read, os.eventfd_write
            for _ in range(count):
                post(freed, 1)  # the consumer's part, timed too: halved below
                read(freed)

        write_us = [writes(calls) for _ in range(repeats)]
        result = {
            "inputs": INPUTS,
            "period_frames": PERIOD,
            "write_us": round(statistics.median(write_us), 2),
            "publish_us": round(_per_call_us(publishes, calls, repeats), 2),
            "freed_empty_us": round(_per_call_us(empty_reads, calls, repeats), 2),
            "freed_value_us": round(_per_call_us(value_reads, calls, repeats) / 2, 2),
            "overruns": ring.overruns,
            "load_average": os.getloadavg()[0],
        }
    finally:
        os.close(published)
        os.close(freed)
    result["write_without_eventfd_us"] = round(result["write_us"] - result["publish_us"], 2)
    result["period_us"] = round(PERIOD / 48000 * 1e6)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jack_ring")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(
        f"jack ring: the eventfds' cost a period ({INPUTS} inputs x {PERIOD} frames), "
        f"{args.repeats} x {args.calls} calls"
    )
    print(json.dumps({"bench": "jack_ring", **run(args.calls, args.repeats)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
