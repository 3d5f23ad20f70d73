"""Where ``c2c-hub run`` 's log lines go: to journald when systemd runs it, else to a rotating
file in the data directory (as well as stderr, which the live view mutes while it is up).

journald is recognised as systemd documents it: ``$JOURNAL_STREAM`` names the device and inode
of the stream stderr is connected to. There each line carries its syslog priority (``<4>``), so
``journalctl -p warning`` works, and no timestamp (the journal has its own).
Every handler redacts secrets (:class:`c2c_hub.logs.RedactingFilter`).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

from c2c_hub.logs import RedactingFilter, configure_logging

LOG_DIR = "logs"
LOG_FILE = "hub.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def journald_stream(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stderr) is connected to the journal (``$JOURNAL_STREAM``)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in expected:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    device, _, inode = expected.partition(":")
    return f"{st.st_dev}:{st.st_ino}" == f"{device}:{inode}"


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message``, the form journald reads from a stream."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        level = max((lv for lv in _PRIORITY if lv <= record.levelno), default=logging.DEBUG)
        text = super().format(record).replace("\n", "\n" + f"<{_PRIORITY[level]}>")
        return f"<{_PRIORITY[level]}>{text}"


def configure_run_logging(level: str, data_dir: Path) -> Path | None:
    """The hub's log outputs; the log file's path, or None when the journal has the lines."""
    if journald_stream():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter())
        handler.addFilter(RedactingFilter())
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(level)
        return None
    configure_logging(level)
    folder = data_dir / LOG_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / LOG_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # redacted, but still the hub's own business
    rotating = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    rotating.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    rotating.addFilter(RedactingFilter())
    logging.getLogger().addHandler(rotating)
    return path
