"""The control API's client: what every command that asks the running hub goes through.

The hub (``c2c-hub run``) answers on ``<data_dir>/control.sock`` (:mod:`c2c_hub.ui.control`).
This module is light to import (httpx is imported when a call is made), so a command that only
prints its help never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from c2c_hub.ui.errors import UIError

if TYPE_CHECKING:
    import httpx

    from c2c_hub.settings import HubSettings

#: The control socket's name in the data directory.
SOCKET_NAME = "control.sock"


class HubNotRunning(UIError):
    """No running hub answers on its control socket."""


class HubRefused(UIError, ValueError):
    """The running hub refused a call (an HTTP 4xx or 5xx from its control API)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def control_client(settings: HubSettings) -> httpx.AsyncClient:
    """A client on the hub's Unix socket (local only: the URL's scheme and host are unused)."""
    import httpx

    path = settings.storage.data_dir / SOCKET_NAME
    if not path.exists():
        raise HubNotRunning(f"no hub is running (no {path}); start it with 'c2c-hub run'")
    transport = httpx.AsyncHTTPTransport(uds=str(path))
    return httpx.AsyncClient(transport=transport, base_url="http://hub.local", timeout=30)


async def call(settings: HubSettings, method: str, path: str, body: Any = None) -> Any:
    """One control API call; the answer's JSON, or :class:`HubRefused` with the hub's reason."""
    import httpx

    async with control_client(settings) as client:
        try:
            response = await client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise HubNotRunning(f"the hub does not answer on its control socket ({exc})") from None
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text}
    if response.status_code >= 400:
        message = data.get("error") if isinstance(data, dict) else None
        raise HubRefused(response.status_code, str(message or response.text))
    return data
