"""This unit's identity at Frame.io: its ``client_id``, configured or generated once and kept."""

from __future__ import annotations

import uuid
from pathlib import Path

from c2c_hub.private_files import ensure_private_dir, write_private
from c2c_hub.settings import HubSettings

#: The file in the data directory that keeps a generated client_id across restarts.
CLIENT_ID_FILE = "client-id"


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
