"""The hub's status: one snapshot with everything the integrator checklist's basics ask for.

The running hub writes it to ``<data_dir>/status.json`` (owner-only, atomically) every few
seconds; ``c2c-hub status`` reads it, and fills in what it can check itself when no hub is
running. Never a token, never the client secret.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from c2c_hub.connectivity import NetworkStatus
from c2c_hub.datadir import holder
from c2c_hub.session import Session
from c2c_hub.tokens import PairingState, write_private

STATUS_FILE = "status.json"
FRESH_FOR_S = 15.0


def pairing_status(session: Session) -> dict[str, Any]:
    creds = session.credentials
    identity = session.identity
    authorized_by = None
    if identity is not None and identity.authorization and identity.authorization.creator:
        authorized_by = identity.authorization.creator.name
    return {
        "state": session.state.value,
        "reason": creds.reason if creds else None,
        "client_id": session.settings.client_id,
        "project_id": identity.project.id if identity else (creds.project_id if creds else None),
        "project_name": (
            identity.project.name if identity else (creds.project_name if creds else None)
        ),
        "authorized_by": authorized_by,
        "authorization_expires_at": (
            identity.authorization.expires_at.isoformat()
            if identity and identity.authorization and identity.authorization.expires_at
            else None
        ),
        "device_id": identity.id if identity else (creds.device_id if creds else None),
        "device_name": identity.name if identity else None,
        "device_status": identity.status if identity else None,
        "access_expires_at": creds.access_expires_at if creds else None,
        "refresh_due_at": session.refresh_due_at(),
        "refreshes": session.refreshes,
        "last_error": session.last_error,
        # GET /v2/devices/me: calls made, asks answered from the last answer, calls for news
        "identity_calls": session.identity_gate.snapshot(),
    }


def build_status(
    session: Session,
    network: NetworkStatus,
    *,
    firmware_version: str,
    socket: dict[str, Any] | None = None,
    paused: bool | None = None,
    running: bool = True,
) -> dict[str, Any]:
    return {
        "generated_at": time.time(),
        "firmware_version": firmware_version,
        "hub": {"running": running},
        "pairing": pairing_status(session),
        "socket": socket,
        "paused": paused,
        "network": network.to_json(),
    }


def write_status(directory: Path, status: dict[str, Any]) -> None:
    write_private(directory / STATUS_FILE, json.dumps(status, indent=2).encode())


def read_status(directory: Path) -> dict[str, Any] | None:
    """The running hub's last snapshot, if it is fresh and its hub still holds the data
    directory (else the hub is not running: a hub killed a second ago left a fresh file)."""
    if holder(directory) is None:
        return None
    try:
        data: dict[str, Any] = json.loads((directory / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if time.time() - float(data.get("generated_at", 0)) > FRESH_FOR_S:
        return None
    return data


__all__ = ["PairingState", "build_status", "pairing_status", "read_status", "write_status"]
