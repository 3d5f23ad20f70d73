"""Run the emulator: HTTPS only, with its own certificate authority.

:class:`EmulatorServer` serves the Frame.io surface and the control API (each on its own port,
both HTTPS with the same CA) from a background thread with its own event loop, so synchronous
code (curl, Frame.io's threaded uploader) and asynchronous tests can share one emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import trustme
import uvicorn

from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.emulation.frameio.app import build_apps
from c2c_hub.emulation.frameio.clock import Clock
from c2c_hub.emulation.frameio.state import EmulatorConfig, EmulatorState

log = logging.getLogger(__name__)


@dataclass
class TLSFiles:
    ca_file: Path
    cert_file: Path


def make_ca(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TLSFiles:
    """A fresh certificate authority and a server certificate for ``hosts``.

    The CA certificate is world-readable (clients need it); the server key is owner-only.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="c2c-hub emulator")
    cert = ca.issue_cert(*hosts)
    ca_file = directory / "emulator-ca.pem"
    cert_file = directory / "emulator-server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file.touch(mode=0o600)
    cert_file.chmod(0o600)
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    return TLSFiles(ca_file=ca_file, cert_file=cert_file)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@dataclass
class EmulatorServer:
    """A running emulator. ``start()`` returns once both ports accept connections."""

    data_dir: Path
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    models_dir: Path = field(default_factory=shipped_models_dir)
    host: str = "127.0.0.1"
    port: int = 0
    control_port: int = 0
    clock: Clock = field(default_factory=Clock)
    # Where clients reach it, when not directly (e.g. through a link simulator on another port):
    # the host:port put in verification URIs and part URLs (and signed as `host`).
    advertise: str | None = None

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        hosts = tuple(dict.fromkeys(("127.0.0.1", "localhost", self.host)))
        self.tls = make_ca(self.data_dir / "tls", hosts)  # named for where it listens
        self._api_sock = _listen(self.host, self.port)
        self._control_sock = _listen(self.host, self.control_port)
        self.port = self._api_sock.getsockname()[1]
        self.control_port = self._control_sock.getsockname()[1]
        public_host = self.advertise or f"{self.host}:{self.port}"
        self.base_url = f"https://{public_host}"
        self.direct_url = f"https://{self.host}:{self.port}"  # the listening socket itself
        self.control_url = f"https://{self.host}:{self.control_port}"
        self.state = EmulatorState(
            self.config, DeviceModelRegistry.load(self.models_dir), self.data_dir, self.clock
        )
        self.frameio_app, self.control_app = build_apps(self.state, self.base_url, public_host)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[uvicorn.Server] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this emulator's CA."""
        return ssl.create_default_context(cafile=str(self.tls.ca_file))

    def _uvicorn(self, app: object) -> uvicorn.Server:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            ssl_certfile=str(self.tls.cert_file),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            loop="none",
            ws="websockets-sansio",
            ws_ping_interval=None,  # Phoenix's server does not ping; clients heartbeat instead
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        return server

    async def serve(self) -> None:
        """Serve until cancelled (or :meth:`stop`)."""
        self._servers = [self._uvicorn(self.frameio_app), self._uvicorn(self.control_app)]
        tasks = [
            asyncio.create_task(
                self._servers[0].serve(sockets=[self._api_sock]), name="emulator-api"
            ),
            asyncio.create_task(
                self._servers[1].serve(sockets=[self._control_sock]), name="emulator-control"
            ),
        ]
        while not all(s.started for s in self._servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            for server in self._servers:
                server.should_exit = True
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _run(self) -> None:
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            # Requests still in flight (a stalled fault, a slow client) end with the server.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        self._thread = threading.Thread(target=self._run, name="c2c-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the emulator failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: gracefully for a second, then by force (an idle keep-alive client
        never finishes the TLS close uvicorn waits for)."""
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(min(1.0, timeout))
            if self._thread.is_alive():
                for server in self._servers:
                    server.force_exit = True
                self._thread.join(timeout)
            self._thread = None
        for sock in (self._api_sock, self._control_sock):
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
