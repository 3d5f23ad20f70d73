"""The uploader: a durable queue of files on their way to Frame.io, and the workers that send them.

Modules, one responsibility each:

- :mod:`~c2c_hub.uploader.queue` the durable queue (SQLite, WAL, one writer): files, parts, states;
- :mod:`~c2c_hub.uploader.policy` the one place that decides retry-or-not for every failure;
- :mod:`~c2c_hub.uploader.transfer` streaming part PUTs, bounded concurrency, create pacing;
- :mod:`~c2c_hub.uploader.engine` :class:`Uploader`: workers, controls, progress;
- :mod:`~c2c_hub.uploader.realtime` growing files uploaded while they are recorded;
- :mod:`~c2c_hub.uploader.progress` events and throughput; :mod:`~c2c_hub.uploader.pause` pause
sources.

``python -m c2c_hub.uploader`` runs a standalone uploader (see ``docs/uploader.md``).
"""

from c2c_hub.uploader.engine import UploadConfig, Uploader, guess_filetype
from c2c_hub.uploader.errors import FileProblem, NothingToSend, S3Error, UploadError
from c2c_hub.uploader.pause import FlagPause, PauseSource
from c2c_hub.uploader.policy import Action, RetryPolicy, Verdict, classify
from c2c_hub.uploader.queue import FINAL_STATES, FileRecord, FileState, PartState, UploadQueue

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
