"""A private D-Bus for the mocks: a ``dbus-daemon`` in a temporary folder, one helper thread.

:class:`~c2c_hub.emulation.bluez.BlueZMock` and
:class:`~c2c_hub.emulation.networkmanager.NetworkManagerMock` both stand a service up on a bus
of their own, so nothing touches the machine's system bus and two tests never meet on one. This
is the part they share::

    bus = PrivateBus(name="bluez-mock", error=BlueZMockError, what="the BlueZ mock")
    bus.start()                                     # the daemon; DBUS_SYSTEM_BUS_ADDRESS set
    bus.call(bus.spawn_mock, "bluez5", "org.bluez", timeout=START_CALL_TIMEOUT_S)
    bus.call(some_function_using_bus_connection, arg)   # on the helper thread
    bus.stop()                                      # the mocks, the daemon, the folder, the env

- **One helper thread** makes every call on the dbus-python connection
  (:attr:`PrivateBus.connection`), so the owner's methods are synchronous and safe to call
  from any thread, an event loop's included. :meth:`~PrivateBus.call` turns a D-Bus error or a
  call with no answer into the owner's error type, named for the function that failed.
- **Starting takes its time**: a loaded machine can take seconds to start the daemon and a
  Python interpreter for each mock, so a mock has :data:`START_TIMEOUT_S` to claim its name, and
  a call that starts one :data:`START_CALL_TIMEOUT_S` (that deadline, and then some).
- **Nothing is left behind**: the daemon and every mock started by :meth:`~PrivateBus.spawn_mock`
  are killed by :meth:`~PrivateBus.stop`, at exit, and when the helper thread that started them
  ends (``PR_SET_PDEATHSIG``), so a crashed test run leaves no process.
- The socket's folder goes under the temporary folder, unless that path is too long for a Unix
  socket (a test's own folder under pytest-xdist, a user's ``TMPDIR``): then under ``/tmp``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from c2c_hub.emulation.errors import EmulationError

try:
    import dbus  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - a test dependency, not the hub's
    raise ImportError(
        "c2c_hub.emulation needs dbus-python and python-dbusmock for its D-Bus mocks (pip "
        "install dbus-python python-dbusmock; dbus-python builds against libdbus-1-dev and "
        "libglib2.0-dev)"
    ) from exc

#: How long one call to a mock may take.
CALL_TIMEOUT_S = 10.0
#: How long a mock's Python interpreter may take to claim its name on the bus.
START_TIMEOUT_S = 30.0
#: How long a call that starts the bus or a mock may take: that deadline, and then some.
START_CALL_TIMEOUT_S = START_TIMEOUT_S + 10.0

_PR_SET_PDEATHSIG = 1
#: A Unix socket's path holds at most 107 bytes (``sun_path``); dbus-daemon exits at once,
#: printing nothing, when its listening socket's path is longer.
_SUN_PATH_MAX = 107
_DIR_PREFIX = "c2c-bluez-"

T = TypeVar("T")

_DAEMON_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _socket_parent() -> str:
    """Where the private bus's folder goes: the temporary folder, unless its path is so long
    that the socket's would not fit."""
    parent = tempfile.gettempdir()
    room = len(parent) + len(f"/{_DIR_PREFIX}xxxxxxxx/system_bus_socket")
    return parent if room <= _SUN_PATH_MAX else "/tmp"


def kill(proc: subprocess.Popen[Any] | None) -> None:
    """Terminate ``proc`` and wait for it (killed if it does not end within 3 s)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=3)


class PrivateBus:
    """A ``dbus-daemon`` of its own, the mocks on it, and the one thread that talks to them.

    :param name: the helper thread's name prefix (``"bluez-mock"``).
    :param error: the owner's error type: what :meth:`call` and :meth:`start` raise.
    :param what: the owner, for messages (``"the BlueZ mock"``).
    :param set_environment: point ``DBUS_SYSTEM_BUS_ADDRESS`` at the bus while it runs (and
        restore the previous value on :meth:`stop`).
    """

    def __init__(
        self,
        *,
        name: str,
        error: type[EmulationError],
        what: str,
        set_environment: bool = True,
    ) -> None:
        self.name = name
        self.error = error
        self.what = what
        self.set_environment = set_environment
        self.address = ""  # the bus address, once started
        self.directory: Path | None = None  # the socket, the mocks' logs
        #: the dbus-python connection: use it on the helper thread only (through :meth:`call`)
        self.connection: Any = None
        self._daemon: subprocess.Popen[str] | None = None
        self._mocks: list[subprocess.Popen[bytes]] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._saved_env: str | None = None
        self._env_set = False

    @property
    def started(self) -> bool:
        return self._executor is not None

    @property
    def running(self) -> bool:
        """The daemon runs (the mocks are the owner's to check)."""
        return self._daemon is not None and self._daemon.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the helper thread and the daemon, connect; raises the owner's error."""
        if self._executor is not None:
            raise self.error(f"{self.what} was already started")
        if shutil.which("dbus-daemon") is None:
            raise self.error("dbus-daemon is not installed (apt-get install dbus)")
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self.name)
        try:
            self.call(self._start_daemon, timeout=START_CALL_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        if self.set_environment:
            self._saved_env = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
            self._env_set = True

    def stop(self) -> None:
        """Kill the mocks and the daemon, end the thread, remove the folder, restore the
        environment; idempotent, never raises."""
        if self._env_set:
            self._env_set = False
            if os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") != self.address:
                pass  # someone (another mock) changed it since: theirs now
            elif self._saved_env is None:
                os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self._saved_env
        executor, self._executor = self._executor, None
        # Processes first: a call stuck in the helper thread fails as soon as the bus is gone.
        procs: list[subprocess.Popen[Any]] = [*self._mocks, *filter(None, [self._daemon])]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        self._mocks.clear()
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.submit(self._close_connection).result(timeout=CALL_TIMEOUT_S)
            executor.shutdown(wait=True)
        if self._daemon is not None and self._daemon.stdout is not None:
            self._daemon.stdout.close()
        self._daemon = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # ------------------------------------------------------------------ calls
    def call(self, fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT_S) -> T:
        """``fn(*args)`` on the helper thread; a D-Bus error or no answer within ``timeout``
        raises the owner's error, named for ``fn``."""
        executor = self._executor
        if executor is None:
            raise self.error(f"{self.what} is not running")
        name = getattr(fn, "__name__", "call").strip("_")
        try:
            return executor.submit(fn, *args).result(timeout=timeout)
        except dbus.exceptions.DBusException as exc:
            raise self.error(f"{name}: {exc.get_dbus_message()}") from exc
        except concurrent.futures.TimeoutError:
            raise self.error(f"{name}: no answer from the mock") from None

    # ------------------------------------------------------------------ on the helper thread
    def spawn_mock(self, template: str, bus_name: str, *, log_name: str | None = None) -> Any:
        """Start python-dbusmock's ``template`` on the bus and wait until it owns ``bus_name``;
        its log (every call, with its arguments) is ``log_name`` in :attr:`directory`.

        Call it through :meth:`call` (with :data:`START_CALL_TIMEOUT_S`): the mock dies with the
        helper thread. Returns the process (for :func:`kill`).
        """
        assert self.directory is not None
        log_path = self.directory / (log_name or f"{template}.log")
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dbusmock", "--system", "--template", template],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # only a prctl() between fork and exec
            )
        self._mocks.append(proc)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.connection.name_has_owner(bus_name):
            if proc.poll() is not None:
                raise self.error(
                    f"dbusmock {template} exited with {proc.returncode}: {_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                self.kill(proc)
                raise self.error(f"dbusmock {template} did not claim {bus_name}: {_tail(log_path)}")
            time.sleep(0.02)
        return proc

    def kill(self, proc: subprocess.Popen[bytes] | None) -> None:
        """Stop one mock (the bus stays)."""
        if proc is None:
            return
        kill(proc)
        with contextlib.suppress(ValueError):
            self._mocks.remove(proc)

    def _start_daemon(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX, dir=_socket_parent()))
        socket_path = self.directory / "system_bus_socket"
        config = self.directory / "bus.conf"
        config.write_text(_DAEMON_CONFIG.format(socket=socket_path), encoding="utf-8")
        self._daemon = subprocess.Popen(
            [
                "dbus-daemon",
                f"--config-file={config}",
                "--nofork",
                "--nopidfile",
                "--print-address",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # "Failed to set fd limit": harmless
            text=True,
            preexec_fn=_die_with_parent,
        )
        assert self._daemon.stdout is not None
        line = self._daemon.stdout.readline().strip()
        if not line.startswith("unix:"):
            raise self.error(
                f"dbus-daemon did not start (it printed {line!r}; its socket was to be "
                f"{socket_path}, {len(str(socket_path))} characters)"
            )
        self.address = line
        self.connection = dbus.bus.BusConnection(line)

    def _close_connection(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


def _tail(path: Path) -> str:
    if not path.exists():
        return "(no log)"
    return path.read_text(errors="replace")[-2000:] or "(empty log)"
