"""The hub assembled from its parts: settings → HTTPS client → session, connectivity, presence.

:class:`Hub` is what ``c2c-hub run`` (and the CLI's other commands, and tests) build. It owns the
one ``httpx.AsyncClient``; ``async with Hub(settings) as hub`` closes everything on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from hub.clock import Clock, SystemClock
from hub.connectivity import ConnectivityMonitor
from hub.control import SOCKET_NAME as CONTROL_SOCKET
from hub.control import ControlServer
from hub.frameio import FrameioClient, make_http_client
from hub.logs import register_secret
from hub.pairing import Pairing
from hub.presence import Presence
from hub.session import Session
from hub.settings import HubSettings
from hub.status import build_status, write_status
from hub.tasks import cancel_and_wait
from hub.tokens import TokenStore, ensure_private_dir, write_private
from hub.uploader import Uploader

log = logging.getLogger(__name__)

CLIENT_ID_FILE = "client-id"
QUEUE_FILE = "queue.sqlite3"
STATUS_INTERVAL_S = 2.0


def resolve_client_id(settings: HubSettings) -> HubSettings:
    """This unit's client_id: the configured one, or a UUID generated once and persisted."""
    if settings.frameio.client_id:
        return settings
    directory = ensure_private_dir(settings.storage.data_dir)
    path: Path = directory / CLIENT_ID_FILE
    try:
        client_id = path.read_text().strip()
    except FileNotFoundError:
        client_id = ""
    if not client_id:
        client_id = f"c2c-hub-{uuid.uuid4()}"
        write_private(path, client_id.encode())
    frameio = settings.frameio.model_copy(update={"client_id": client_id})
    return settings.model_copy(update={"frameio": frameio})


class Hub:
    def __init__(self, settings: HubSettings, *, clock: Clock | None = None) -> None:
        self.settings = resolve_client_id(settings)
        self.clock: Clock = clock or SystemClock()
        register_secret(self.settings.frameio.client_secret.get_secret_value())
        self.data_dir = ensure_private_dir(self.settings.storage.data_dir)
        self.http = make_http_client(self.settings.frameio)
        self.client = FrameioClient.from_settings(self.settings.frameio, self.http)
        self.store = TokenStore(self.data_dir / "credentials")
        self.session = Session(self.client, self.store, self.settings.frameio, clock=self.clock)
        self.connectivity = ConnectivityMonitor(self.client, clock=self.clock)
        self.presence = Presence(self.session, self.settings.frameio, clock=self.clock)
        self.connectivity.on_change(lambda reason: self.presence.network_changed())
        self.uploader = Uploader(
            self.data_dir / QUEUE_FILE,
            self.session,
            self.http,
            clock=self.clock,
            pause=self.presence,
            connectivity=self.connectivity,
        )
        self._status_task: asyncio.Task[None] | None = None
        self.control: ControlServer | None = None
        self.running = False

    def pairing(self) -> Pairing:
        return Pairing(self.client, self.session, self.settings.frameio, clock=self.clock)

    async def start(
        self, *, presence: bool = True, status_file: bool = True, control: bool = False
    ) -> None:
        """Load credentials and start the background parts."""
        await self.session.start()
        self.connectivity.start()
        if presence:
            await self.presence.start()
        await self.uploader.start()
        if control:
            self.control = ControlServer(self, self.data_dir / CONTROL_SOCKET)
            await self.control.start()
        if status_file:
            self._status_task = asyncio.create_task(self._publish_status(), name="hub-status")
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await cancel_and_wait(self._status_task)
        self._status_task = None
        if self.control is not None:
            await self.control.stop()
            self.control = None
        await self.uploader.stop()
        await self.presence.stop()
        await self.connectivity.stop()
        await self.session.stop()

    def status(self) -> dict[str, Any]:
        presence = self.presence.snapshot()
        status = build_status(
            self.session,
            self.connectivity.status,
            firmware_version=self.settings.frameio.firmware_version,
            socket=presence,
            paused=presence.get("paused"),
            running=self.running,
        )
        status["uploads"] = self.uploader.snapshot()
        return status

    async def _publish_status(self) -> None:
        while True:
            try:
                write_status(self.data_dir, self.status())
            except OSError as exc:
                log.warning("could not write the status file: %s", exc)
            await self.clock.sleep(STATUS_INTERVAL_S)

    async def aclose(self) -> None:
        await self.stop()
        await self.http.aclose()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
