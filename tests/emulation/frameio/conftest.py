"""Fixtures for the emulator's upload tests: a device paired over raw HTTPS, no hub code involved.

The fixture is called ``paired`` (the other emulator tests build their own devices from
:mod:`tests.helpers`, as this one does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from tests.helpers import bearer, frameio_client, pair_raw, refresh


@dataclass
class PairedDevice:
    """An httpx client on the emulator's Frame.io surface, with a paired device's tokens."""

    http: httpx.Client
    client_id: str
    device_id: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.access_token)

    def create_asset(self, **body: Any) -> httpx.Response:
        return self.http.post("/v2/devices/assets", json=body, headers=self.auth)

    def realtime_parts(self, asset_id: str, **body: Any) -> httpx.Response:
        return self.http.post(
            f"/v2/devices/assets/{asset_id}/realtime_upload/parts", json=body, headers=self.auth
        )

    def refresh(self, emulator: EmulatorHandle) -> None:
        """Swap the refresh token for a new pair (after the clock moved past 8 h)."""
        response = refresh(self.http, emulator, self.client_id, self.refresh_token)
        assert response.status_code == 200, response.text
        self.access_token = response.json()["access_token"]
        self.refresh_token = response.json()["refresh_token"]


@pytest.fixture
def paired(emulator: EmulatorHandle) -> Iterator[PairedDevice]:
    """A device paired with the emulator (primary channel 0 connected), and its HTTPS client."""
    tokens = pair_raw(emulator)
    with frameio_client(emulator) as http:
        yield PairedDevice(
            http,
            tokens["client_id"],
            tokens["device_id"],
            tokens["access_token"],
            tokens["refresh_token"],
        )
