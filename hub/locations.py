"""Where the hub looks for its settings and keeps its state, with nothing given.

Run by systemd as a system service (the unit shipped in :mod:`c2c_hub.service`), the unit's
``ConfigurationDirectory=`` and ``StateDirectory=`` say it: ``$CONFIGURATION_DIRECTORY`` (e.g.
``/etc/c2c-hub``) and ``$STATE_DIRECTORY`` (``/var/lib/c2c-hub``). Otherwise the user's own
folders, then the system-wide ones, as platformdirs names them on this platform (on Linux
``~/.config/c2c-hub``, ``/etc/xdg/c2c-hub`` and ``~/.local/state/c2c-hub``). ``C2C_HUB_CONFIG``
and ``C2C_HUB_STORAGE__DATA_DIR`` override them (docs/service.md#where-things-are).
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "c2c-hub"
CONFIG_NAME = "config.toml"


def config_candidates() -> list[Path]:
    """The config files looked for, first found wins: systemd's, the user's, the system's."""
    import platformdirs

    found: list[Path] = []
    systemd = os.environ.get("CONFIGURATION_DIRECTORY")
    if systemd:
        found += [Path(d) / CONFIG_NAME for d in systemd.split(":") if d]
    found.append(platformdirs.user_config_path(APP) / CONFIG_NAME)
    site = platformdirs.site_config_path(APP, multipath=True)
    found += [Path(d) / CONFIG_NAME for d in str(site).split(os.pathsep) if d]
    return found


def default_config_file() -> Path | None:
    """The first config file of :func:`config_candidates` that exists, or None."""
    return next((path for path in config_candidates() if path.is_file()), None)


def default_data_dir() -> Path:
    """The state folder (tokens, queue, press log): systemd's, else the user's."""
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME")
    if base:  # honoured as platformdirs does on Linux, also where it would not look
        return Path(base) / APP
    import platformdirs

    return platformdirs.user_state_path(APP)
