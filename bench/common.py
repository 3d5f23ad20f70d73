"""What the hub-side benchmarks share: settings for an emulator, and a paired session."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from c2c_hub.frameio import AuthorizationPending, FrameioClient, SlowDown
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import TokenStore


def bench_settings(emulator: Any) -> FrameioSettings:
    info = emulator.info
    return FrameioSettings(
        api_base_url=info["base_url"],
        client_id=f"bench-{uuid.uuid4()}",
        client_secret=SecretStr(info["client_secret"]),
        ca_file=Path(info["ca_file"]),
        firmware_version="1.0.0",
    )


async def paired_session(
    client: FrameioClient, settings: FrameioSettings, emulator: Any, store_dir: Path
) -> Session:
    """Pair through the device-code flow (the emulated user approves at once)."""
    session = Session(client, TokenStore(store_dir), settings)
    code = await client.request_device_code(settings.client_id, settings.client_secret)
    await asyncio.to_thread(emulator.handle.approve, code.user_code)
    interval = code.interval
    while True:
        await asyncio.sleep(interval)
        try:
            tokens = await client.poll_device_token(
                settings.client_id, settings.client_secret, code.device_code
            )
            break
        except AuthorizationPending:
            continue
        except SlowDown:
            interval += 5
    await session.adopt(tokens)
    return session
