"""The systemd units the hub ships (``c2c-hub.service`` for the system, ``c2c-hub-user.service``
for a user), rendered with the path of the installed command.

The hub side of the unit's ``Type=notify`` and ``WatchdogSec=`` is :mod:`c2c_hub.sdnotify`;
where it finds its settings and keeps its state under ``ConfigurationDirectory=`` and
``StateDirectory=`` is :mod:`c2c_hub.locations`.
"""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from pathlib import Path

SYSTEM_UNIT = "c2c-hub.service"
USER_UNIT = "c2c-hub-user.service"


def command_path() -> Path:
    """The installed ``c2c-hub`` beside this interpreter, else the one on ``$PATH``."""
    beside = Path(sys.executable).parent / "c2c-hub"
    if beside.is_file():
        return beside
    found = shutil.which("c2c-hub")
    return Path(found) if found else beside


def render_unit(
    *, user: bool, executable: Path | None = None, account: str = "c2c-hub", group: str = ""
) -> str:
    """The unit's text; ``account`` (and ``group``, default the same) run a system service."""
    name = USER_UNIT if user else SYSTEM_UNIT
    text = files(__name__).joinpath(name).read_text(encoding="utf-8")
    return (
        text.replace("@EXEC@", str(executable or command_path()))
        .replace("@USER@", account)
        .replace("@GROUP@", group or account)
    )
