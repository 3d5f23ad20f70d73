"""The uploader: a durable queue of files on their way to Frame.io, and the workers that send them.

Modules, one responsibility each:

- :mod:`~hub.uploader.queue` the durable queue (SQLite, WAL, one writer): files, parts, states;
- :mod:`~hub.uploader.policy` the one place that decides retry-or-not for every failure;
- :mod:`~hub.uploader.transfer` streaming part PUTs, bounded concurrency, create pacing;
- :mod:`~hub.uploader.engine` :class:`Uploader`: workers, controls, progress;
- :mod:`~hub.uploader.realtime` growing files uploaded while they are recorded;
- :mod:`~hub.uploader.progress` events and throughput; :mod:`~hub.uploader.pause` pause sources.

``python -m hub.uploader`` runs a standalone uploader (see ``docs/uploader.md``).
"""

from hub.uploader.engine import UploadConfig, Uploader, guess_filetype
from hub.uploader.errors import FileProblem, NothingToSend, S3Error, UploadError
from hub.uploader.pause import FlagPause, PauseSource
from hub.uploader.policy import Action, RetryPolicy, Verdict, classify
from hub.uploader.queue import FINAL_STATES, FileRecord, FileState, PartState, UploadQueue

__all__ = [
    "FINAL_STATES",
    "Action",
    "FileProblem",
    "FileRecord",
    "FileState",
    "FlagPause",
    "NothingToSend",
    "PartState",
    "PauseSource",
    "RetryPolicy",
    "S3Error",
    "UploadConfig",
    "UploadError",
    "UploadQueue",
    "Uploader",
    "Verdict",
    "classify",
    "guess_filetype",
]
