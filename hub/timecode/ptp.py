"""PTP time: the system clock disciplined by linuxptp, and the state ``pmc`` reports of it.

With the PTP source the hub's timecode is the system clock's time of day, as with the system
source; what differs is that ``ptp4l`` keeps a PTP hardware clock on the network's grandmaster
and ``phc2sys`` steers the system clock to it, so every AES67 stream's RTP timestamps and the
hub's clock count the same time. The hub does not run them (the system does); it shows their
state:

- ``ptp4l``: asked through its management socket with ``pmc -u -b 0 'GET TIME_STATUS_NP'
  'GET PORT_DATA_SET'``: port state (``SLAVE`` when following a grandmaster, ``MASTER`` when
  this machine is it), grandmaster present and its identity, offset from it in nanoseconds;
- ``phc2sys``: whether the process runs (it has no management socket of its own).

:func:`parse_pmc` reads ``pmc``'s text output; :class:`PtpMonitor` polls it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from c2c_hub.clock import Clock

log = logging.getLogger(__name__)

PMC = "pmc"
QUERY = ("GET TIME_STATUS_NP", "GET PORT_DATA_SET")
LOCKED_NS = 1_000_000  # offset from the grandmaster under which the clock counts as locked

_RESPONSE = re.compile(r"^\s*(\S+)\s+seq\s+\d+\s+RESPONSE\s+MANAGEMENT\s+(\S+)")
_FIELD = re.compile(r"^\s+(\S+)\s+(.*?)\s*$")


def parse_pmc(text: str) -> dict[str, dict[str, str]]:
    """``pmc``'s output as ``{dataset: {field: value}}`` (the first response of each)."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        match = _RESPONSE.match(line)
        if match is not None:
            name = match.group(2)
            current = None if name in out else out.setdefault(name, {})
            continue
        if line.startswith("sending:"):
            current = None
            continue
        field = _FIELD.match(line)
        if field is not None and current is not None:
            current[field.group(1)] = field.group(2)
    return out


@dataclass(frozen=True)
class PtpState:
    """What ``pmc`` said (``ptp4l`` is None when it did not answer)."""

    ptp4l: bool
    phc2sys: bool
    port_state: str | None = None
    gm_present: bool | None = None
    gm_identity: str | None = None
    master_offset_ns: int | None = None
    error: str | None = None

    @property
    def locked(self) -> bool:
        """Following a grandmaster closely, or being the grandmaster."""
        if not self.ptp4l:
            return False
        if self.port_state == "MASTER" or self.port_state == "GRAND_MASTER":
            return True
        return (
            self.port_state == "SLAVE"
            and bool(self.gm_present)
            and self.master_offset_ns is not None
            and abs(self.master_offset_ns) < LOCKED_NS
        )

    def describe(self) -> str:
        if not self.ptp4l:
            return f"ptp4l not answering{f' ({self.error})' if self.error else ''}"
        if self.port_state in ("MASTER", "GRAND_MASTER"):
            text = f"ptp4l {self.port_state}: this machine is the grandmaster"
        else:
            offset = "" if self.master_offset_ns is None else f", offset {self.master_offset_ns} ns"
            gm = self.gm_identity if self.gm_present else "no grandmaster"
            text = f"ptp4l {self.port_state or '?'} ({gm}{offset})"
        return f"{text}; phc2sys {'running' if self.phc2sys else 'not running'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ptp4l": self.ptp4l,
            "phc2sys": self.phc2sys,
            "port_state": self.port_state,
            "gm_present": self.gm_present,
            "gm_identity": self.gm_identity,
            "master_offset_ns": self.master_offset_ns,
            "locked": self.locked,
            "summary": self.describe(),
        }


def state_from_pmc(text: str, *, phc2sys: bool) -> PtpState:
    """A :class:`PtpState` from ``pmc``'s output (no response: ptp4l is not answering)."""
    sets = parse_pmc(text)
    status = sets.get("TIME_STATUS_NP")
    port = sets.get("PORT_DATA_SET")
    if status is None and port is None:
        return PtpState(ptp4l=False, phc2sys=phc2sys, error="no response")
    offset: int | None = None
    gm_present: bool | None = None
    gm_identity: str | None = None
    if status is not None:
        try:
            offset = int(status.get("master_offset", ""))
        except ValueError:
            offset = None
        gm_present = status.get("gmPresent") == "true"
        gm_identity = status.get("gmIdentity")
    return PtpState(
        ptp4l=True,
        phc2sys=phc2sys,
        port_state=port.get("portState") if port is not None else None,
        gm_present=gm_present,
        gm_identity=gm_identity,
        master_offset_ns=offset,
    )


def process_running(name: str, proc: Path = Path("/proc")) -> bool:
    """Whether a process whose command name is ``name`` runs (read from ``/proc``)."""
    try:
        entries = list(proc.iterdir())
    except OSError:
        return False
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def query(uds: str | None = None, *, timeout_s: float = 3.0) -> PtpState:
    """Ask ``ptp4l`` now (blocking: call it in a thread)."""
    command = [PMC, "-u", "-b", "0"]
    if uds:
        command += ["-s", uds, "-i", f"{uds}.c2c-hub-pmc.{os.getpid()}"]
    command += list(QUERY)
    phc2sys = process_running("phc2sys")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        return PtpState(ptp4l=False, phc2sys=phc2sys, error="pmc is not installed (linuxptp)")
    except subprocess.TimeoutExpired:
        return PtpState(ptp4l=False, phc2sys=phc2sys, error="pmc timed out")
    return state_from_pmc(done.stdout, phc2sys=phc2sys)


class PtpMonitor:
    """Polls :func:`query` every ``interval_s``; :attr:`state` is the last answer."""

    def __init__(self, clock: Clock, *, uds: str | None = None, interval_s: float = 2.0) -> None:
        self.clock = clock
        self.uds = uds
        self.interval_s = interval_s
        self.state: PtpState | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="timecode-ptp")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def poll_once(self) -> PtpState:
        state = await asyncio.to_thread(query, self.uds)
        if self.state is None or state.locked != self.state.locked:
            log.info("PTP: %s", state.describe())
        self.state = state
        return state

    async def _poll(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:
                log.exception("PTP: asking ptp4l failed")
            await self.clock.sleep(self.interval_s)


__all__ = ["PtpMonitor", "PtpState", "parse_pmc", "process_running", "query", "state_from_pmc"]
