"""A child process for the kill tests: a press log taking a burst of presses at a steady rate.

``python -m tests.press_burst DATA_DIR RATE SECONDS`` opens ``DATA_DIR/presses.sqlite3`` the
way the hub does, attaches one remote (no channel: nothing is sent) and hands the log ``RATE``
presses a second (``PressLog.submit``, what the registry's press listener calls). Each press's
acknowledgement (its write is durable) is printed the moment it comes, flushed, as
``ack <id> <input> <pressed_at> <presses submitted so far>``; ``ready`` first. The parent kills
this process with SIGKILL mid-burst and checks that every acknowledged press is in the database.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from c2c_hub.clock import SystemClock
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry, Press
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.presses import DB_FILE, PressLog, PressRecord
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.subdevices import SubDevice
from c2c_hub.timecode import FrameRate, TimecodeClock
from c2c_hub.tokens import TokenStore

REMOTE_MODEL = "d4e6f8a0-2c4e-4a6b-9d1f-3e5a7c9e1f24"


class NoChannel:
    """The remote's channel is not there (yet): presses are only written."""

    def channel_id_of(self, serial: str) -> str | None:
        return None


async def main(data_dir: Path, rate: float, seconds: float) -> None:
    settings = FrameioSettings()
    async with make_http_client(settings) as http:
        session = Session(
            FrameioClient.from_settings(settings, http), TokenStore(data_dir), settings
        )
        registry = DeviceRegistry(DeviceModelRegistry.load(shipped_models_dir()), time.time)
        registry.attach("burst", SubDevice("BR-1", REMOTE_MODEL, "Remote"))
        timecode = TimecodeClock(SystemClock(), FrameRate.parse("25"))
        presses = PressLog(
            data_dir / DB_FILE, session, registry, NoChannel(), timecode, clock=SystemClock()
        )
        await presses.start()
        out = sys.stdout

        submitted = [0]

        def acked(done: asyncio.Future[PressRecord]) -> None:
            if not done.cancelled():
                record = done.result()
                out.write(
                    f"ack {record.id} {record.input_index} {record.pressed_at!r} {submitted[0]}\n"
                )
                out.flush()

        out.write("ready\n")
        out.flush()
        started = time.monotonic()
        n = 0
        submitted = [0]
        while time.monotonic() - started < seconds:
            due = started + n / rate
            while n < (time.monotonic() - started) * rate:
                presses.submit(Press("BR-1", n % 3, time.time())).add_done_callback(acked)
                n += 1
                submitted[0] = n
            await asyncio.sleep(max(0.0, due + 1 / rate - time.monotonic()))
        await presses.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
