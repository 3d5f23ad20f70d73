"""CPU and memory of processes, read from ``/proc`` (Linux): a process and its descendants, or
a set of processes by role. What a benchmark needs to say whose cost a figure is when several
processes share the machine (:mod:`bench.recorder`)."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def parent_and_cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds: user + system) of ``pid``, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def memory_bytes(pid: int, key: str = "VmHWM") -> int:
    """Resident memory of ``pid``: its peak (``VmHWM``) or now (``VmRSS``); 0 if it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_cpu(root: int, exclude: Iterable[int] = ()) -> dict[int, float]:
    """The CPU seconds, by pid, of ``root`` and of every descendant not under an ``exclude``
    process."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := parent_and_cpu(int(entry))) is not None:
            parents[int(entry)], cpu[int(entry)] = found
    excluded = set(exclude)
    tree: dict[int, float] = {}
    for pid in cpu:
        at = pid
        while at > 1 and at != root and at not in excluded:
            at = parents.get(at, 0)
        if at == root:
            tree[pid] = cpu[pid]
    return tree


@dataclass
class TreeCpu:
    """CPU of a process tree (``root``, this process by default, and its descendants not under
    an ``exclude`` process) between :meth:`mark` and :meth:`read`; children reaped meanwhile
    count too (``RUSAGE_CHILDREN``)."""

    exclude: set[int] = field(default_factory=set)
    root: int = field(default_factory=os.getpid)
    _start: dict[int, float] = field(default_factory=dict)
    _reaped: float = 0.0
    _wall: float = 0.0

    @staticmethod
    def _reaped_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def mark(self) -> None:
        self._start = tree_cpu(self.root, self.exclude)
        self._reaped = self._reaped_now()
        self._wall = time.monotonic()

    def read(self) -> dict[str, Any]:
        end = tree_cpu(self.root, self.exclude)
        wall = time.monotonic() - self._wall
        own = end.get(self.root, 0.0) - self._start.get(self.root, 0.0)
        children = sum(c - self._start.get(pid, 0.0) for pid, c in end.items() if pid != self.root)
        reaped = self._reaped_now() - self._reaped  # children that ended meanwhile
        return {
            "wall_s": wall,
            "own_s": own,
            "children_s": children + reaped,
            "children": sorted(pid for pid in end if pid != self.root),
            "pct": 100 * (own + children + reaped) / wall,
        }


@dataclass
class ProcessesCpu:
    """CPU of each of ``pids`` (by role) between :meth:`mark` and :meth:`read`, as a share of
    one core: how busy the machine was with what is not the process measured."""

    pids: dict[str, int]
    _start: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0

    def _now(self) -> dict[str, float]:
        return {name: found[1] for name, pid in self.pids.items() if (found := parent_and_cpu(pid))}

    def mark(self) -> None:
        self._start, self._wall = self._now(), time.monotonic()

    def read(self) -> dict[str, float]:
        wall = time.monotonic() - self._wall
        return {
            name: round(100 * (cpu - self._start.get(name, 0.0)) / wall, 1)
            for name, cpu in self._now().items()
        }
