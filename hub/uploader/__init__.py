"""The uploader: a durable queue of files on their way to Frame.io, and what sends them.

Callers use one class, :class:`Uploader` (:mod:`~c2c_hub.uploader.facade`): enqueue, begin and
end recording, controls, snapshot and events. Behind it, parts that never call back into it;
each gets, when it is built, the few others it needs (an arrow reads "is given"):

::

    Uploader (facade)       builds and wires everything below; holds no upload logic
      │
      ├── Workers (workers)             ─► StartGate, ChannelRouter, FailurePolicy,
      │     the claim loops                 BasicUploads, RealtimeUploads.finish
      ├── RealtimeUploads (realtime)    ─► SendSteps, FailurePolicy, StartGate,
      │     growing files: parts while      ChannelRouter, recovery.reconcile, verify
      │     recording, durable bytes only, the header last
      ├── BasicUploads (basic)          ─► SendSteps, ChannelRouter
      │     a finished file to an asset of its size; re-created when URLs expire
      │
      ├── SendSteps (steps)             ─► FailurePolicy, transfer.PartSender, transfer.Pacer
      │     create an asset, request part URLs, send a part, gather parts
      ├── FailurePolicy (failures)      ─► StartGate, policy.classify
      │     retry with backoff, or end the file: failed / corrupt / skipped / held
      ├── ChannelRouter (routing)           which channel, which files may go now
      ├── StartGate (gate)                  may uploads start: held, paused, not paired
      ├── BackgroundTasks (c2c_hub.tasks)   named tasks, cancelled at stop; its spawn is
      │                                     given to FailurePolicy and RealtimeUploads
      └── Ledger (ledger)                   given to every part above: the queue, the
                                            event stream, bytes in flight; stored, then told

Modules, one responsibility each:

- :mod:`~c2c_hub.uploader.facade` :class:`Uploader`, the public surface;
- :mod:`~c2c_hub.uploader.workers` the claim loops and the file each one sends;
- :mod:`~c2c_hub.uploader.basic` uploads of finished files;
- :mod:`~c2c_hub.uploader.realtime` growing files uploaded while they are recorded;
- :mod:`~c2c_hub.uploader.recovery` after a restart: acknowledged parts held against the disk;
- :mod:`~c2c_hub.uploader.verify` the real-time part layout and changed-bytes checks;
- :mod:`~c2c_hub.uploader.steps` the send steps both upload paths are given;
- :mod:`~c2c_hub.uploader.failures` retry-or-end for every step, and how a file ends;
- :mod:`~c2c_hub.uploader.policy` the one place that decides what every failure means;
- :mod:`~c2c_hub.uploader.routing` channels of sub-devices' files;
- :mod:`~c2c_hub.uploader.gate` whether new uploads may start, and why not;
- :mod:`~c2c_hub.uploader.ledger` the queue, events and in-flight bytes every part shares;
- :mod:`~c2c_hub.uploader.queue` the durable queue (SQLite, WAL, one writer): files, parts;
- :mod:`~c2c_hub.uploader.transfer` streaming part PUTs, bounded concurrency, create pacing;
- :mod:`~c2c_hub.uploader.direct` part bodies from a thread per stream on blocking TLS sockets;
- :mod:`~c2c_hub.uploader.streams` how many part PUTs at once: adaptive or pinned;
- :mod:`~c2c_hub.uploader.tcpinfo` what the kernel says of each part stream's connection;
- :mod:`~c2c_hub.uploader.progress` events and throughput; :mod:`~c2c_hub.uploader.pause`
  pause sources; :mod:`~c2c_hub.uploader.config` the knobs;
  :mod:`~c2c_hub.uploader.filetypes` MIME types; :mod:`~c2c_hub.uploader.errors` errors.

``python -m c2c_hub.uploader`` runs a standalone uploader (see ``docs/uploader.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from c2c_hub.uploader.config import UploadConfig
    from c2c_hub.uploader.errors import FileProblem, NothingToSend, S3Error, UploadError
    from c2c_hub.uploader.facade import Uploader
    from c2c_hub.uploader.filetypes import guess_filetype
    from c2c_hub.uploader.pause import FlagPause, PauseSource
    from c2c_hub.uploader.policy import Action, RetryPolicy, Verdict, classify
    from c2c_hub.uploader.queue import (
        FINAL_STATES,
        FileRecord,
        FileState,
        PartState,
        UploadQueue,
    )

#: Where each public name lives. They are imported when first used (PEP 562), not with the
#: package: ``python -m c2c_hub.uploader`` imports this package before its ``__main__``, which
#: must come first to keep the process's start-up lean (see ``__main__``).
_HOMES = {
    "UploadConfig": "config",
    "FileProblem": "errors",
    "NothingToSend": "errors",
    "S3Error": "errors",
    "UploadError": "errors",
    "Uploader": "facade",
    "guess_filetype": "filetypes",
    "FlagPause": "pause",
    "PauseSource": "pause",
    "Action": "policy",
    "RetryPolicy": "policy",
    "Verdict": "policy",
    "classify": "policy",
    "FINAL_STATES": "queue",
    "FileRecord": "queue",
    "FileState": "queue",
    "PartState": "queue",
    "UploadQueue": "queue",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
