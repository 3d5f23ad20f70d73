"""``c2c-hub doctor``: checks each part the hub depends on, and says what to fix.

One small function per check, each returning a :class:`Check` (``ok``, ``warn`` or ``fail``, what
was found, and the fix). ``fail`` is something the hub's main job cannot do without (Frame.io out
of reach, no room to record, a data directory others can read); ``warn`` is a part only some
set-ups need (BlueZ for remotes, JACK for the recorder's own inputs, PTP for AES67) or a risk
(a clock not synchronised). No check changes anything, takes the data directory's lock or
refreshes a token.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import email.utils
import glob
import os
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from c2c_hub.settings import HubSettings

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_SKEW_WARN_S = 2.0
#: Room to record: this many tracks at the configured rate, 24-bit, for recorder.min_free_minutes.
TRACKS_ASSUMED = 8


@dataclass
class Check:
    name: str
    state: str  # ok | warn | fail
    found: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------- Frame.io
async def frameio(settings: HubSettings) -> tuple[Check, float | None]:
    """``GET /health`` at the configured Frame.io, and how far our clock is from its ``Date``."""
    import httpx

    from c2c_hub.frameio import make_http_client

    url = str(settings.frameio.api_base_url).rstrip("/")
    try:
        async with make_http_client(settings.frameio) as http:
            started = time.time()
            response = await http.get(f"{url}/health", timeout=10)
            ended = time.time()
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return (
            Check(
                "frameio",
                FAIL,
                f"{url} not reachable: {reason}",
                "check the network and DNS, a proxy or firewall in the way (HTTPS, port 443), "
                "and frameio.ca_file if a private CA is used",
            ),
            None,
        )
    skew = None
    date = response.headers.get("date")
    if date:
        try:
            theirs = email.utils.parsedate_to_datetime(date).timestamp()
            skew = (started + ended) / 2 - theirs
        except (TypeError, ValueError):
            skew = None
    if response.status_code != 200:
        return (
            Check(
                "frameio",
                FAIL,
                f"{url}/health answered {response.status_code}",
                "Frame.io is not well or the URL is wrong (frameio.api_base_url)",
            ),
            skew,
        )
    rtt = (ended - started) * 1000
    return Check("frameio", OK, f"{url} reachable ({rtt:.0f} ms)"), skew


def clock(skew_s: float | None) -> Check:
    """Is the system clock synchronised (the kernel's NTP state), and close to Frame.io's?"""
    synced = _kernel_clock_synced()
    notes = []
    if synced is True:
        notes.append("synchronised (kernel NTP state)")
    elif synced is False:
        notes.append("NOT synchronised (kernel NTP state)")
    else:
        notes.append("synchronisation unknown")
    if skew_s is not None:
        notes.append(f"{skew_s:+.1f} s from Frame.io's clock")
    far = skew_s is not None and abs(skew_s) > CLOCK_SKEW_WARN_S
    state = WARN if (synced is False or far) else OK
    fix = ""
    if state == WARN:
        fix = (
            "run a time synchronisation service (systemd-timesyncd, chrony) or ptp4l + phc2sys; "
            "timecode, token expiry and upload URLs all depend on the clock"
        )
    return Check("clock", state, "; ".join(notes), fix)


def _kernel_clock_synced() -> bool | None:
    """adjtimex(2) without changing anything: TIME_ERROR (5) means not synchronised."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(buffer)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return bool(state != 5)


# ---------------------------------------------------------------------------------- storage
def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_space(settings: HubSettings) -> Check:
    """Room for recorder.min_free_minutes of TRACKS_ASSUMED tracks, where takes are written."""
    rec = settings.recorder
    where = _existing(Path(rec.directory))
    free = shutil.disk_usage(where).free
    per_minute = rec.sample_rate * 3 * TRACKS_ASSUMED * 60
    minutes = free / per_minute
    found = f"{free / 2**30:.1f} GiB free at {where}: {minutes:.0f} min of {TRACKS_ASSUMED} tracks"
    need = rec.min_free_minutes
    if need and minutes < need:
        return Check(
            "free_space",
            FAIL,
            found,
            f"free some space or point recorder.directory elsewhere (a take needs {need} min)",
        )
    if minutes < max(60, 6 * need):
        return Check("free_space", WARN, found, "less than an hour of recording left")
    return Check("free_space", OK, found)


def permissions(settings: HubSettings) -> Check:
    """The data directory owner-only and writable; the recordings folder writable."""
    problems = []
    data = Path(settings.storage.data_dir)
    if data.exists():
        mode = stat.S_IMODE(data.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{data} is readable by others (mode {mode:o}): chmod 700 {data}")
        if not os.access(data, os.W_OK | os.X_OK):
            problems.append(f"{data} is not writable by this user: chown it to the hub's user")
    recordings = _existing(Path(settings.recorder.directory))
    if not os.access(recordings, os.W_OK | os.X_OK):
        problems.append(f"{recordings} is not writable by this user (recorder.directory)")
    secret = settings.frameio.client_secret_file
    if secret is not None and Path(secret).exists():
        mode = stat.S_IMODE(Path(secret).stat().st_mode)
        if mode & 0o077:
            problems.append(f"{secret} is readable by others: chmod 600 {secret}")
    if problems:
        return Check("permissions", FAIL, "; ".join(problems), "as said for each")
    return Check("permissions", OK, f"{data} owner-only; {recordings} writable")


# ---------------------------------------------------------------------------------- services
async def _bus_has(name: str) -> tuple[bool | None, str]:
    """Is ``name`` owned on the system D-Bus? (None, why) when the bus cannot be asked."""
    try:
        from dbus_fast import BusType, Message
        from dbus_fast.aio import MessageBus
    except ImportError:
        return None, "dbus-fast is not installed"
    try:
        bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 5)
    except (TimeoutError, OSError, Exception) as exc:
        return None, f"no system D-Bus ({exc or type(exc).__name__})"
    try:
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=[name],
                )
            ),
            5,
        )
    finally:
        bus.disconnect()
    if reply is None or not reply.body:
        return None, "the system D-Bus did not answer"
    return bool(reply.body[0]), ""


async def bluez(settings: HubSettings) -> Check:
    found, why = await _bus_has("org.bluez")
    if found:
        return Check("bluez", OK, "BlueZ (org.bluez) on the system D-Bus")
    return Check(
        "bluez",
        WARN,
        why or "BlueZ is not running (org.bluez not on the system D-Bus)",
        "only needed for BLE remotes: install and start bluez (systemctl enable --now bluetooth)",
    )


async def network_manager(settings: HubSettings) -> Check:
    found, why = await _bus_has("org.freedesktop.NetworkManager")
    if found:
        return Check("network_manager", OK, "NetworkManager on the system D-Bus")
    return Check(
        "network_manager",
        WARN,
        why or "NetworkManager is not running",
        "only needed to see and switch networks from the hub: systemctl enable --now "
        "NetworkManager",
    )


def jack(settings: HubSettings) -> Check:
    """A JACK server of this user (its socket in /dev/shm), for the recorder's own inputs."""
    uid = os.getuid()
    sockets = glob.glob(f"/dev/shm/jack_*_{uid}_*") + glob.glob(f"/dev/shm/jack-{uid}/*")
    if sockets:
        return Check("jack", OK, f"a JACK server runs ({Path(sockets[0]).name})")
    return Check(
        "jack",
        WARN,
        "no JACK server of this user is running",
        "only needed for the recorder's own inputs: start jackd (e.g. jackd -d alsa)",
    )


def ptp(settings: HubSettings) -> Check:
    """ptp4l's management socket (linuxptp), for AES67 media clocks."""
    candidates = ["/var/run/ptp4l", "/run/ptp4l"]
    for path in candidates:
        if Path(path).exists():
            return Check("ptp", OK, f"ptp4l is running ({path})")
    return Check(
        "ptp",
        WARN,
        "ptp4l is not running",
        "only needed for AES67 network audio: install linuxptp and run ptp4l on the audio "
        "network's interface",
    )


# ---------------------------------------------------------------------------------- all
async def run_checks(settings: HubSettings) -> list[Check]:
    """Every check, in the order people read them."""
    reach, skew = await frameio(settings)
    checks = [reach, clock(skew)]
    local: list[Callable[[HubSettings], Check]] = [free_space, permissions, jack, ptp]
    for check in local:
        checks.append(_safely(check.__name__, lambda c=check: c(settings)))  # type: ignore[misc]
    buses: list[Callable[[HubSettings], Awaitable[Check]]] = [bluez, network_manager]
    for bus_check in buses:
        try:
            checks.append(await bus_check(settings))
        except Exception as exc:  # a check never takes the doctor down
            checks.append(Check(bus_check.__name__, WARN, f"could not check: {exc}"))
    order = ["frameio", "clock", "free_space", "permissions", "bluez", "jack", "network_manager"]
    return sorted(checks, key=lambda c: order.index(c.name) if c.name in order else len(order))


def _safely(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as exc:
        return Check(name, WARN, f"could not check: {exc}")
