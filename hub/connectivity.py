"""Connectivity: is the link up, which network is it, and is Frame.io itself reachable?

"The network is up" is not enough on a film set: a hotel Wi-Fi with a captive portal, or a
cellular modem with no backhaul, has a link and an address but no Frame.io. So the monitor
tracks three things separately:

- the link: the interface carrying the default route, its kind (ethernet, wifi, cellular,
  loopback, other), whether it is up, and its addresses (read from the kernel via ``/proc`` and
  ``/sys``, and ``ifaddr``);
- Frame.io: ``GET /health`` answered ``{"ok": true}`` (with the round-trip time), **and** its API
  calls are being answered: a green ``/health`` while asset creates fail (no answer, 5xx, a
  garbled body) is not "reachable". Every call of the shared client is counted
  (:meth:`~c2c_hub.frameio.client.FrameioClient.on_outcome`): ``api_failure_threshold``
  failures in a row make Frame.io unreachable until a call is answered again;
- the uplink: the recent upload speed the uploader reports (:meth:`record_upload`).

When the addresses or the route change (a network switch), listeners are told
``"network_changed"``; when Frame.io becomes reachable again, ``"frameio_back"``. Only the first
means the hub's connections may be bound to a network that went away: a flapping ``/health``
says nothing about a joined socket, which its own heartbeats vouch for.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ifaddr

from c2c_hub.clock import Clock, SystemClock
from c2c_hub.frameio import (
    ApiError,
    FrameioClient,
    FrameioError,
    MalformedResponse,
    ServerError,
    TransportError,
)
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake

log = logging.getLogger(__name__)

SYS_NET = Path("/sys/class/net")
PROC_ROUTE = Path("/proc/net/route")


@dataclass(frozen=True)
class LinkInfo:
    interface: str | None
    kind: str  # ethernet | wifi | cellular | loopback | other | none
    up: bool
    addresses: tuple[str, ...] = ()


def default_route_interface(route_file: Path = PROC_ROUTE) -> str | None:
    """The interface of the IPv4 default route, from ``/proc/net/route``."""
    try:
        lines = route_file.read_text().splitlines()[1:]
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) >= 8 and parts[1] == "00000000" and parts[7] == "00000000":
            metric = int(parts[6]) if parts[6].isdigit() else 0
            if best is None or metric < best[0]:
                best = (metric, parts[0])
    return best[1] if best else None


def interface_kind(name: str, sys_net: Path = SYS_NET) -> str:
    base = sys_net / name
    if name == "lo":
        return "loopback"
    if (base / "wireless").exists() or (base / "phy80211").exists():
        return "wifi"
    if name.startswith(("wwan", "wwp", "rmnet", "ppp", "usb")):
        return "cellular"  # modems, and phones tethered over USB
    try:
        if (base / "type").read_text().strip() == "1":
            return "ethernet" if (base / "device").exists() else "other"
    except OSError:
        pass
    return "other"


def interface_up(name: str, sys_net: Path = SYS_NET) -> bool:
    try:
        state = (sys_net / name / "operstate").read_text().strip()
    except OSError:
        return False
    # Loopback and some virtual links report "unknown" while working.
    return state in {"up", "unknown"}


def addresses_of(name: str) -> tuple[str, ...]:
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        if adapter.nice_name == name:
            for ip in adapter.ips:
                found.append(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return tuple(sorted(found))


def read_link(interface: str | None = None) -> LinkInfo:
    """The link the hub uploads over (``interface``, or the default route's)."""
    name = interface or default_route_interface()
    if name is None:
        return LinkInfo(None, "none", False)
    return LinkInfo(name, interface_kind(name), interface_up(name), addresses_of(name))


@dataclass
class NetworkStatus:
    link: LinkInfo
    frameio_reachable: bool | None = None  # None: not checked yet
    health_rtt_ms: float | None = None
    last_health_at: float | None = None
    last_error: str | None = None
    upload_mbps: float | None = None
    upload_measured_at: float | None = None  # when the last transfer behind upload_mbps ended
    changes: int = 0
    health_ok: bool | None = None  # what /health alone said
    api_failures: int = 0  # API calls in a row that got no usable answer
    last_api_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["link"] = asdict(self.link)
        data["link"]["addresses"] = list(self.link.addresses)
        return data


@dataclass
class _Sample:
    at: float
    nbytes: int
    seconds: float


Listener = Callable[[str], None]  # reason: "address_changed" | "frameio_back" | ...


@dataclass
class ConnectivityMonitor:
    client: FrameioClient
    clock: Clock = field(default_factory=SystemClock)
    interface: str | None = None
    interval: float = 10.0
    speed_window: float = 60.0
    link_reader: Callable[[str | None], LinkInfo] = read_link
    api_failure_threshold: int = 2

    def __post_init__(self) -> None:
        self.status = NetworkStatus(link=self.link_reader(self.interface))
        self._listeners: list[Listener] = []
        self._unsubscribe = self.client.on_outcome(self._api_outcome)
        self._samples: collections.deque[_Sample] = collections.deque(maxlen=256)
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self._health_error: str | None = None

    def on_change(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _tell(self, reason: str) -> None:
        self.status.changes += 1
        for listener in list(self._listeners):
            try:
                listener(reason)
            except Exception:
                log.exception("connectivity listener failed")

    def record_upload(self, nbytes: int, seconds: float) -> None:
        """The uploader reports each finished transfer; the speed is over the last minute."""
        now = self.clock.now()
        self._samples.append(_Sample(now, nbytes, seconds))
        recent = [s for s in self._samples if now - s.at <= self.speed_window]
        total_s = sum(s.seconds for s in recent)
        if total_s > 0:
            self.status.upload_mbps = sum(s.nbytes for s in recent) * 8 / total_s / 1e6
            self.status.upload_measured_at = now

    async def check(self) -> NetworkStatus:
        """Read the link and ask Frame.io's /health once."""
        link = self.link_reader(self.interface)
        previous = self.status.link
        self.status.link = link
        if (link.interface, link.addresses, link.up) != (
            previous.interface,
            previous.addresses,
            previous.up,
        ):
            log.info("network changed: %s -> %s", _describe(previous), _describe(link))
            self._tell("network_changed")
        started = time.perf_counter()
        try:
            health = await self.client.health()
            self.status.health_ok = health.healthy
            self._health_error = None if health.healthy else "Frame.io /health says not ok"
        except FrameioError as exc:
            self.status.health_ok = False
            self._health_error = str(exc)
        self.status.health_rtt_ms = round((time.perf_counter() - started) * 1000, 1)
        self.status.last_health_at = self.clock.now()
        self._judge()
        return self.status

    @property
    def api_failing(self) -> bool:
        return self.status.api_failures >= self.api_failure_threshold

    def _api_outcome(self, endpoint: str, error: FrameioError | None) -> None:
        """The client's word on each call: answered, or not (no answer, 5xx, garbled)."""
        if endpoint.endswith(" /health"):
            return  # check() reads it
        failed = isinstance(error, (TransportError, ServerError, MalformedResponse))
        if not failed and not (error is None or isinstance(error, ApiError)):
            return  # refused before sending (an http:// URL, ...): says nothing of Frame.io
        if failed:
            self.status.api_failures += 1
            self.status.last_api_error = str(error)
        elif self.status.api_failures:
            self.status.api_failures = 0
        else:
            return
        self._judge()

    def _judge(self) -> None:
        """Reachable: /health is well and API calls are answered; tell listeners of a change."""
        was = self.status.frameio_reachable
        if self.status.health_ok is False:
            reachable: bool | None = False
            self.status.last_error = self._health_error
        elif self.api_failing:
            reachable = False
            self.status.last_error = (
                f"{self.status.api_failures} Frame.io API calls in a row failed"
                f"{' (/health answers fine)' if self.status.health_ok else ''}: "
                f"{self.status.last_api_error}"
            )
        else:
            reachable = self.status.health_ok
            self.status.last_error = None
        self.status.frameio_reachable = reachable
        if reachable and was is False:
            log.info("Frame.io is reachable again")
            self._tell("frameio_back")
        elif reachable is False and was is not False:
            log.warning("Frame.io unreachable: %s", self.status.last_error)

    def poke(self) -> None:
        """Check now (e.g. after a transfer failed)."""
        self._poke.set()

    async def _run(self) -> None:
        while True:
            await self.check()
            self._poke.clear()
            await sleep_or_wake(self.clock, self.interval, self._poke)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="connectivity-monitor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def close(self) -> None:
        """Stop hearing of the client's calls (stop() leaves it listening for a restart)."""
        self._unsubscribe()


def _describe(link: LinkInfo) -> str:
    if link.interface is None:
        return "no route"
    state = "up" if link.up else "down"
    return f"{link.interface} ({link.kind}, {state}, {', '.join(link.addresses) or 'no address'})"
