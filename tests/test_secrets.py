"""Secrets stay secret through a whole session: pairing, refresh, presence, a dropped socket,
unpair. Everything logged at DEBUG, by the hub and its libraries, is grepped for every secret;
every file the hub wrote (data directory, recordings, the token key's folder outside the data
directory) is grepped for the client secret and the tokens, and checked for loose permissions."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
from pathlib import Path

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import DeviceCode
from c2c_hub.logs import RedactingFilter
from c2c_hub.presence import PresenceState
from c2c_hub.runtime import Hub
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings, HubSettings
from c2c_hub.ui.control import attach_control


async def _until(check: object, within: float = 10.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_no_secret_in_any_log_line_or_world_readable_file(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    secrets: set[str] = {emulator.client_secret}
    data_dir = tmp_path / "state"
    recordings = tmp_path / "recordings"
    settings = HubSettings(
        frameio=frameio_settings,
        storage={"data_dir": data_dir},
        recorder={"directory": recordings},
        control={"port": 0},
    )
    try:
        async with Hub(settings) as hub:
            attach_control(hub)
            original = hub.client.request_device_code

            async def capture(*args: object, **kwargs: object) -> DeviceCode:
                code = await original(*args, **kwargs)  # type: ignore[arg-type]
                secrets.add(code.device_code.get_secret_value())
                return code

            hub.client.request_device_code = capture  # type: ignore[method-assign]

            def remember(session: Session) -> None:
                if session.credentials is not None:
                    secrets.add(session.credentials.access_token)
                    secrets.add(session.credentials.refresh_token)

            hub.session.on_change(remember)
            await hub.start()
            await hub.recorder.start_take("1")  # a take folder, as on set
            await hub.recorder.stop_take()
            pairing = hub.pairing().start()
            await _until(lambda: emulator.pending_pairings())
            emulator.approve(emulator.pending_pairings()[0]["user_code"])
            await asyncio.wait_for(pairing, 10)
            await _until(lambda: hub.presence.state is PresenceState.JOINED)
            await hub.session.refresh()
            emulator.drop_sockets()
            await asyncio.sleep(0.05)
            await _until(lambda: hub.presence.state is PresenceState.JOINED)
            logging.getLogger("test").debug("token in a message: %s", hub.session.credentials)
            await hub.session.unpair()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    assert len(secrets) >= 6, "client secret, device code, two generations of tokens"
    text = stream.getvalue()
    assert "websocket" in text.lower() or "presence" in text.lower(), "the log saw the session"
    for secret in secrets:
        assert secret not in text, "a secret reached the log"

    # Every file the hub wrote: its data directory, the recordings, the token key's folder.
    key_files = Path(os.environ["XDG_CONFIG_HOME"]) / "c2c-hub"
    written = [p for root in (data_dir, recordings, key_files) for p in root.rglob("*")]
    assert any(p.parent == recordings for p in written), "the take's folder is in the grep"
    assert any(p.suffix == ".key" for p in written), "the token key file is in the grep"
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o007 == 0, f"{path} is readable by others ({oct(mode)})"
        if path.is_relative_to(data_dir):
            assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
        if path.is_file():
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, f"{path} holds a plaintext secret"
