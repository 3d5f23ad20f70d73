"""The standalone uploader process, ``python -m c2c_hub.uploader --data-dir DIR [FILE...]``
(entered through :mod:`c2c_hub.uploader.__main__`, which keeps its start-up lean).

Reads the hub's settings from the environment (``C2C_HUB_FRAMEIO__API_BASE_URL``,
``__CA_FILE``, ``__CLIENT_SECRET``, ``__CLIENT_ID``, ``C2C_HUB_STORAGE__DATA_DIR``, as
``c2c-hub`` does) and the credentials ``c2c-hub pair`` stored in the data directory. No presence
socket: a 409 "Channel Paused" is confirmed with ``GET /v2/devices/me`` instead.

Queues the given files (idempotently: a file already queued with the same path, size and mtime
is not queued again), or with no files resumes the queue; runs until every file is in a final
state. Prints one JSON object per line on stdout for every progress event, then a final
``{"type": "summary", ...}`` line. Exit status: 0 when every file is done, 1 when some ended
otherwise (failed, corrupt, skipped, cancelled), 2 when the uploader cannot run (settings, not
paired, a hub running on the same data directory: it holds the directory's lock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from c2c_hub.datadir import DataDirBusy, DataDirLock
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.frameio.congestion import choose as choose_congestion
from c2c_hub.identity import resolve_client_id
from c2c_hub.session import Session
from c2c_hub.settings import HubSettings, SettingsError, load_settings
from c2c_hub.tokens import PairingState, TokenStoreError, ensure_private_dir, open_token_store
from c2c_hub.uploader.config import from_settings as upload_config
from c2c_hub.uploader.facade import Uploader
from c2c_hub.uploader.queue import QUEUE_FILE, FileState

log = logging.getLogger("c2c_hub.uploader")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m c2c_hub.uploader", description="Upload files to Frame.io through the queue."
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="files to upload")
    parser.add_argument("--data-dir", type=Path, help="the hub's data directory (credentials)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="part PUTs in flight, pinned (default: adaptive, uploads.part_streams)",
    )
    parser.add_argument(
        "--files-in-parallel", type=int, default=None, help="files sent at once (default 2)"
    )
    parser.add_argument("--channel", type=int, default=0, help="channel external_index (0)")
    parser.add_argument("--filetype", default=None, help="MIME type (default: from the name)")
    parser.add_argument(
        "--part-size", type=int, default=None, help="ask for basic parts of this many bytes"
    )
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    return parser.parse_args(argv)


def _print(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["storage"] = {"data_dir": args.data_dir}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:  # one writer of the data directory: not beside a running hub
        with DataDirLock(settings.storage.data_dir):
            return await _run_locked(resolve_client_id(settings), args)
    except DataDirBusy as exc:
        print(str(exc), file=sys.stderr)
        return 2


async def _run_locked(settings: HubSettings, args: argparse.Namespace) -> int:
    data_dir = ensure_private_dir(settings.storage.data_dir)
    changes: dict[str, Any] = {"basic_part_size": args.part_size}
    if args.concurrency:
        changes["max_in_flight"] = args.concurrency
    if args.files_in_parallel:
        changes["files_in_parallel"] = args.files_in_parallel
    config = upload_config(settings.uploads, **changes)
    congestion = choose_congestion(settings.uploads.congestion_control)
    async with make_http_client(settings.frameio, congestion) as http:
        client = FrameioClient.from_settings(settings.frameio, http)
        storage = settings.storage
        try:
            store = open_token_store(data_dir, storage.key_provider, storage.key_file)
        except TokenStoreError as exc:
            print(f"cannot read the credentials: {exc}", file=sys.stderr)
            return 2
        session = Session(client, store, settings.frameio)
        try:
            await session.start()
        except TokenStoreError as exc:
            print(f"cannot read the credentials: {exc}", file=sys.stderr)
            return 2
        try:
            if session.state in (PairingState.UNPAIRED, PairingState.NEEDS_PAIRING):
                print(f"not paired ({session.state.value}): run `c2c-hub pair`", file=sys.stderr)
                return 2
            uploader = Uploader(
                data_dir / QUEUE_FILE, session, http, config=config, congestion=congestion
            )
            if not args.quiet:
                uploader.on_event(_print)
            await uploader.start()
            _started()
            try:
                return await _upload(uploader, args)
            finally:
                await uploader.stop()
        finally:
            await session.stop()


def _started() -> None:
    """Start-up is over: if ``__main__`` turned the cyclic garbage collector off for it, it
    goes back on, and what start-up built (modules, classes: they live as long as the process)
    is moved out of its sight, so no later collection traverses it again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


async def _upload(uploader: Uploader, args: argparse.Namespace) -> int:
    wanted = []
    for path in args.files:
        try:
            wanted.append(
                await uploader.enqueue(path, filetype=args.filetype, channel=args.channel)
            )
        except OSError as exc:
            print(f"cannot queue {path}: {exc}", file=sys.stderr)
            return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    idle = asyncio.create_task(uploader.wait_idle(), name="uploader-idle")
    stopper = asyncio.create_task(stop.wait(), name="uploader-signal")
    await asyncio.wait({idle, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (idle, stopper):
        task.cancel()
    await asyncio.gather(idle, stopper, return_exceptions=True)
    files = uploader.files()
    ids = set(wanted) if wanted else {f["id"] for f in files}
    mine = [f for f in files if f["id"] in ids]
    ok = bool(mine) and all(f["state"] == FileState.DONE for f in mine)
    _print(
        {
            "type": "summary",
            "ok": ok,
            "interrupted": stop.is_set(),
            "snapshot": uploader.snapshot(),
            "files": mine,
        }
    )
    if stop.is_set():
        return 130
    return 0 if ok or not mine else 1


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
