"""``c2c-hub upload | queue | cancel | retry | start | mode | parallel | pause | resume``,
``priority``: the upload queue of the running hub.

These drive the running hub (``c2c-hub run``) through its control socket
(:mod:`c2c_hub.ui.control`): the queue has one writer, the hub, and these commands only ask it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from c2c_hub.settings import HubSettings
from c2c_hub.ui.control import SOCKET_NAME
from c2c_hub.ui.errors import UIError

FINAL = {"done", "failed", "cancelled", "corrupt", "skipped_paused"}


class HubNotRunning(UIError):
    pass


def control_client(settings: HubSettings) -> httpx.AsyncClient:
    """A client on the hub's Unix socket (local only: the URL's scheme and host are unused)."""
    path = settings.storage.data_dir / SOCKET_NAME
    if not path.exists():
        raise HubNotRunning(f"no hub is running (no {path}); start it with 'c2c-hub run'")
    transport = httpx.AsyncHTTPTransport(uds=str(path))
    return httpx.AsyncClient(transport=transport, base_url="http://hub.local", timeout=30)


async def call(settings: HubSettings, method: str, path: str, body: Any = None) -> Any:
    async with control_client(settings) as client:
        try:
            response = await client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise HubNotRunning(f"the hub does not answer on its control socket ({exc})") from None
    data = response.json()
    if response.status_code >= 400:
        raise ValueError(data.get("error", response.text))
    return data


def _human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_queue(data: dict[str, Any], console: Console) -> None:
    snap = data["snapshot"]
    table = Table(title="Upload queue")
    for column in ("id", "file", "state", "progress", "priority", "reason"):
        table.add_column(column)
    current = {c["id"]: c for c in snap.get("current", [])}
    for item in data["files"]:
        progress = "-"
        size = item.get("size")
        done = current.get(item["id"], {}).get("bytes_done", item.get("bytes_acked"))
        if size:
            progress = f"{100 * (done or 0) / size:.0f}% of {_human(size)}"
        table.add_row(
            str(item["id"]),
            item["name"],
            item["state"],
            progress,
            str(item.get("priority", "")),
            item.get("reason") or "",
        )
    console.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(snap.get("counts", {}).items()) if v)
    console.print(
        f"mode {snap.get('mode')}, parallel {'on' if snap.get('parallel') else 'off'}; "
        f"{snap.get('files_remaining', 0)} files / {_human(snap.get('bytes_remaining'))} "
        f"remaining; {_human(snap.get('throughput_bps'))}/s; {counts or 'empty'}"
    )
    if snap.get("paused"):
        console.print(f"[yellow]paused: {snap.get('paused_reason')}[/]")


async def _wait_with_progress(settings: HubSettings, ids: list[int], console: Console) -> int:
    """Show progress bars until every one of ``ids`` is final; 0 if all done."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[state]}"),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[int, Any] = {}
        while True:
            data = await call(settings, "GET", "/uploads")
            current = {c["id"]: c for c in data["snapshot"].get("current", [])}
            states = {}
            for item in data["files"]:
                if item["id"] not in ids:
                    continue
                states[item["id"]] = item["state"]
                size = item.get("size") or 0
                done = current.get(item["id"], {}).get("bytes_done", item.get("bytes_acked", 0))
                if item["id"] not in tasks:
                    tasks[item["id"]] = progress.add_task(item["name"], total=size, state="")
                if item["state"] == "done":
                    done = size
                progress.update(tasks[item["id"]], completed=done or 0, state=item["state"])
            if states and all(state in FINAL for state in states.values()):
                break
            await asyncio.sleep(0.5)
    failed = {i: s for i, s in states.items() if s != "done"}
    for item in data["files"]:
        if item["id"] in failed:
            console.print(f"[red]{item['name']}: {item['state']}[/] {item.get('reason') or ''}")
    return 0 if not failed else 1


def _run(settings: HubSettings, args: argparse.Namespace) -> int:
    console = Console()
    if args.upload_command == "upload":
        args.paths = [str(Path(p).resolve()) for p in args.files]
        missing = [p for p in args.paths if not Path(p).is_file()]
        if missing:
            print(f"c2c-hub: no such file: {', '.join(missing)}", file=sys.stderr)
            return 2
    try:
        return asyncio.run(_dispatch(settings, args, console))
    except HubNotRunning as exc:
        print(f"c2c-hub: {exc}", file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"c2c-hub: {exc}", file=sys.stderr)
        return 2


async def _dispatch(settings: HubSettings, args: argparse.Namespace, console: Console) -> int:
    command = args.upload_command
    if command == "upload":
        body = {"paths": args.paths, "priority": args.priority, "channel": args.channel}
        if args.type:
            body["filetype"] = args.type
        ids = (await call(settings, "POST", "/uploads", body))["ids"]
        console.print(f"queued: {', '.join(map(str, ids))}")
        return await _wait_with_progress(settings, ids, console) if args.wait else 0
    if command == "queue":
        data = await call(settings, "GET", "/uploads")
        if args.json:
            print(json.dumps(data, indent=2, sort_keys=True))
        else:
            render_queue(data, console)
        return 0
    if command == "cancel":
        if args.all:
            result = await call(settings, "POST", "/uploads/cancel-all")
        else:
            result = [await call(settings, "POST", f"/uploads/{i}/cancel") for i in args.ids]
        console.print(result)
        return 0
    if command == "retry":
        if args.failed:
            result = await call(settings, "POST", "/uploads/retry-failed")
        else:
            result = [await call(settings, "POST", f"/uploads/{i}/retry") for i in args.ids]
        console.print(result)
        return 0
    if command == "start":
        console.print(await call(settings, "POST", "/uploads/start", {"ids": args.ids}))
        return 0
    if command == "mode":
        console.print(await call(settings, "PUT", "/uploads/mode", {"mode": args.mode}))
        return 0
    if command == "parallel":
        on = args.state == "on"
        console.print(await call(settings, "PUT", "/uploads/parallel", {"on": on}))
        return 0
    if command in ("pause", "resume"):
        answer = await call(settings, "PUT", "/uploads/paused", {"on": command == "pause"})
        console.print("uploading paused" if answer["paused"] else "uploading resumed")
        return 0
    if command == "priority":
        if args.type:
            body = {"key": args.target, "priority": args.priority}
            console.print(await call(settings, "PUT", "/uploads/type-priority", body))
        else:
            path = f"/uploads/{int(args.target)}/priority"
            console.print(await call(settings, "PUT", path, {"priority": args.priority}))
        return 0
    raise ValueError(f"unknown command {command}")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Any,
    settings_of: Any,
) -> None:
    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = with_config(sub.add_parser(name, help=help_text))

        def run(args: argparse.Namespace) -> int:
            settings = settings_of(args)
            return 2 if settings is None else _run(settings, args)

        parser.set_defaults(func=run, upload_command=name)
        return parser

    upload = add("upload", "queue files for upload (the running hub uploads them)")
    upload.add_argument("files", nargs="+", help="media files (left where they are)")
    upload.add_argument("--priority", type=int, default=0, help="higher goes first")
    upload.add_argument("--channel", type=int, default=0, help="the channel's external_index")
    upload.add_argument("--type", help="MIME type (guessed from the name otherwise)")
    upload.add_argument("--wait", action="store_true", help="show progress until done")
    queue = add("queue", "list the upload queue")
    queue.add_argument("--json", action="store_true")
    cancel = add("cancel", "cancel uploads")
    cancel.add_argument("ids", nargs="*", type=int)
    cancel.add_argument("--all", action="store_true")
    retry = add("retry", "retry uploads")
    retry.add_argument("ids", nargs="*", type=int)
    retry.add_argument("--failed", action="store_true", help="every failed upload")
    start = add("start", "manual mode: upload these files now")
    start.add_argument("ids", nargs="+", type=int)
    mode = add("mode", "automatic or manual uploads")
    mode.add_argument("mode", choices=["auto", "manual"])
    parallel = add("parallel", "several files at once, or one at a time")
    parallel.add_argument("state", choices=["on", "off"])
    add("pause", "pause uploading (no new part starts; parts in flight finish)")
    add("resume", "resume uploading after 'c2c-hub pause'")
    priority = add("priority", "set a file's priority, or a file type's (--type)")
    priority.add_argument("target", help="file id, or with --type: .wav, audio/*, ...")
    priority.add_argument("priority", type=int)
    priority.add_argument("--type", action="store_true", help="target is a file type")
