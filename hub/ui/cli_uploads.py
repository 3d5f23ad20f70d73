"""``c2c-hub upload | queue | cancel | retry | start | mode | parallel | pause | resume |
priority``: the upload queue of the running hub.

These drive the running hub (``c2c-hub run``) through its control socket
(:mod:`c2c_hub.ui.control`, client in :mod:`c2c_hub.ui.client`): the queue has one writer, the
hub, and these commands only ask it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# The control API's client lived here; kept importable from here for existing callers.
from c2c_hub.ui import status_text
from c2c_hub.ui.cli_kit import (
    EXIT_FAILED,
    EXIT_NO_HUB,
    EXIT_REFUSED,
    EXIT_USAGE,
    CommandFailed,
    ask,
    config_option,
    console,
    emit,
    json_option,
    load,
    say,
)
from c2c_hub.ui.client import HubNotRunning, HubRefused, call, control_client

if TYPE_CHECKING:
    from rich.console import Console

    from c2c_hub.settings import HubSettings

FINAL = {"done", "failed", "cancelled", "corrupt", "skipped_paused"}


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def human_rate(bytes_per_s: float | None) -> str:
    return "-" if not bytes_per_s else f"{bytes_per_s * 8 / 1e6:.1f} Mbit/s"


def render_queue(data: dict[str, Any], out: Console) -> None:
    from rich.table import Table

    snap = data["snapshot"]
    if not data["files"]:
        out.print("The upload queue is empty.")
    else:
        table = Table(title="Upload queue", title_justify="left")
        for column in ("id", "file", "kind", "state", "progress", "priority", "reason"):
            table.add_column(column)
        current = {c["id"]: c for c in snap.get("current", [])}
        for item in data["files"]:
            progress = "-"
            size = item.get("size")
            done = current.get(item["id"], {}).get("bytes_done", item.get("bytes_acked"))
            if size:
                progress = f"{100 * (done or 0) / size:.0f}% of {human_bytes(size)}"
            table.add_row(
                str(item["id"]),
                item["name"],
                item.get("kind") or "-",
                item["state"],
                progress,
                str(item.get("priority", "")),
                item.get("reason") or "",
            )
        out.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(snap.get("counts", {}).items()) if v)
    out.print(
        f"Mode {snap.get('mode')}, parallel {'on' if snap.get('parallel') else 'off'}; "
        f"{snap.get('files_remaining', 0)} files, {human_bytes(snap.get('bytes_remaining'))} "
        f"to send; {human_rate(snap.get('throughput_bps'))}; {counts or 'nothing queued'}",
        highlight=False,
    )
    streams = status_text.part_streams(snap.get("part_streams"))
    if streams:
        out.print(f"Part streams: {streams}", highlight=False)
    cc = status_text.congestion(snap.get("congestion_control"))
    if cc:
        out.print(f"Congestion control: {cc}", highlight=False)
    if snap.get("paused"):
        out.print(f"[yellow]Paused: {snap.get('paused_reason')}[/]")


async def _wait_with_progress(
    settings: HubSettings, ids: list[int], out: Console, as_json: bool
) -> dict[int, dict[str, Any]]:
    """Progress bars (or, with ``--json``, nothing) until every one of ``ids`` is final."""
    import asyncio

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[state]}"),
    )
    final: dict[int, dict[str, Any]] = {}
    with Progress(*columns, console=out, disable=as_json or not out.is_terminal) as progress:
        tasks: dict[int, Any] = {}
        while True:
            data = await call(settings, "GET", "/uploads")
            current = {c["id"]: c for c in data["snapshot"].get("current", [])}
            mine = {item["id"]: item for item in data["files"] if item["id"] in ids}
            for file_id, item in mine.items():
                size = item.get("size") or 0
                done = current.get(file_id, {}).get("bytes_done", item.get("bytes_acked", 0))
                if file_id not in tasks:
                    tasks[file_id] = progress.add_task(item["name"], total=size, state="")
                if item["state"] == "done":
                    done = size
                progress.update(tasks[file_id], completed=done or 0, state=item["state"])
            if mine and all(item["state"] in FINAL for item in mine.values()):
                final = mine
                break
            await asyncio.sleep(0.5)
    return final


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--priority", type=int, default=0, show_default=True, help="Higher goes first.")
@click.option(
    "--channel",
    type=int,
    default=0,
    show_default=True,
    help="The Frame.io channel's external_index (0: the hub's own).",
)
@click.option("--type", "filetype", metavar="MIME", help="MIME type (else guessed from the name).")
@click.option("--wait", is_flag=True, help="Show progress and wait until every file is done.")
@config_option
@json_option
def upload(
    files: tuple[str, ...],
    priority: int,
    channel: int,
    filetype: str | None,
    wait: bool,
    config: str | None,
    as_json: bool,
) -> int:
    """Queue FILES for upload; the running hub uploads them (they stay where they are).

    With --wait, exits 0 when every file is done, 1 when any ended otherwise.
    """
    import asyncio

    paths = [str(Path(p).resolve()) for p in files]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise CommandFailed(f"no such file: {', '.join(missing)}", EXIT_USAGE, as_json=as_json)
    settings = load(config, as_json=as_json)
    body: dict[str, Any] = {"paths": paths, "priority": priority, "channel": channel}
    if filetype:
        body["filetype"] = filetype
    ids = ask(settings, "POST", "/uploads", body, as_json=as_json)["ids"]
    if not wait:
        emit({"ids": ids}, as_json, say(f"Queued: file {', '.join(map(str, ids))}."))
        return 0
    out = console()
    if not as_json:
        out.print(f"Queued: file {', '.join(map(str, ids))}.", highlight=False)
    try:
        final = asyncio.run(_wait_with_progress(settings, ids, out, as_json))
    except HubNotRunning as exc:
        raise CommandFailed(str(exc), EXIT_NO_HUB, as_json=as_json) from None
    failed = [item for item in final.values() if item["state"] != "done"]
    if as_json:
        click.echo(json.dumps({"ids": ids, "files": list(final.values())}, indent=2))
    else:
        for item in failed:
            out.print(f"[red]{item['name']}: {item['state']}[/] {item.get('reason') or ''}")
        if not failed:
            out.print("Every file is uploaded.")
    return EXIT_FAILED if failed else 0


@click.command()
@config_option
@json_option
def queue(config: str | None, as_json: bool) -> None:
    """List the upload queue: each file's state, progress, priority and reason."""
    settings = load(config, as_json=as_json)
    emit(ask(settings, "GET", "/uploads", as_json=as_json), as_json, render_queue)


def _each(
    settings: HubSettings, ids: tuple[int, ...], action: str, key: str, as_json: bool
) -> list[dict[str, Any]]:
    """``action`` each file id; one result a file, a refusal (unknown id) kept as its error."""
    results: list[dict[str, Any]] = []
    for file_id in ids:
        try:
            answer = ask(settings, "POST", f"/uploads/{file_id}/{action}", as_json=as_json)
            results.append({"id": file_id, key: bool(answer[key])})
        except CommandFailed as exc:
            if exc.exit_code != EXIT_REFUSED:
                raise
            results.append({"id": file_id, key: False, "error": exc.message})
    return results


def _report_each(
    results: list[dict[str, Any]], key: str, verb: str, why: str, as_json: bool
) -> int:
    """Print one line per file; exit 4 when any file was refused or nothing happened to it."""
    refused = [r for r in results if not r[key]]
    if as_json:
        answer: dict[str, Any] = {"files": results}
        if refused:
            answer["error"] = f"not {verb}: file {', '.join(str(r['id']) for r in refused)}"
            answer["exit_code"] = EXIT_REFUSED
        click.echo(json.dumps(answer, indent=2))
    else:
        for r in results:
            if r[key]:
                click.echo(f"File {r['id']}: {verb}.")
            else:
                reason = r.get("error", why).removeprefix("the hub refused: ")
                click.echo(f"File {r['id']}: not {verb}: {reason}", err=True)
    return EXIT_REFUSED if refused else 0


ids_argument = click.argument("ids", nargs=-1, type=int)


@click.command()
@ids_argument
@click.option("--all", "every", is_flag=True, help="Cancel every file not yet done.")
@config_option
@json_option
def cancel(ids: tuple[int, ...], every: bool, config: str | None, as_json: bool) -> int:
    """Cancel uploads by file id (a part in flight is aborted); or --all.

    Exits 4 when a file is unknown or had already ended.
    """
    if not ids and not every:
        raise click.UsageError("give file ids, or --all")
    settings = load(config, as_json=as_json)
    if every:
        count = ask(settings, "POST", "/uploads/cancel-all", as_json=as_json)["cancelled"]
        emit({"cancelled": count}, as_json, say(f"Cancelled {count} files."))
        return 0
    results = _each(settings, ids, "cancel", "cancelled", as_json)
    return _report_each(results, "cancelled", "cancelled", "it had already ended", as_json)


@click.command()
@ids_argument
@click.option("--failed", is_flag=True, help="Retry every failed file.")
@config_option
@json_option
def retry(ids: tuple[int, ...], failed: bool, config: str | None, as_json: bool) -> int:
    """Put failed, corrupt, skipped or cancelled files back in the queue; or --failed.

    Exits 4 when a file is unknown, done, or still in the queue.
    """
    if not ids and not failed:
        raise click.UsageError("give file ids, or --failed")
    settings = load(config, as_json=as_json)
    if failed:
        count = ask(settings, "POST", "/uploads/retry-failed", as_json=as_json)["retried"]
        text = f"Retrying {count} failed files." if count else "No failed file to retry."
        emit({"retried": count}, as_json, say(text))
        return 0
    results = _each(settings, ids, "retry", "retried", as_json)
    why = "it is done or still in the queue"
    return _report_each(results, "retried", "queued again", why, as_json)


@click.command()
@click.argument("ids", nargs=-1, type=int, required=True)
@config_option
@json_option
def start(ids: tuple[int, ...], config: str | None, as_json: bool) -> None:
    """In manual mode: upload these files now (file ids, as 'c2c-hub queue' lists them)."""
    settings = load(config, as_json=as_json)
    answer = ask(settings, "POST", "/uploads/start", {"ids": list(ids)}, as_json=as_json)
    emit(answer, as_json, say(f"Starting file {', '.join(map(str, ids))}."))


@click.command()
@click.argument("mode", type=click.Choice(["auto", "manual"]))
@config_option
@json_option
def mode(mode: str, config: str | None, as_json: bool) -> None:
    """Upload automatically (auto), or only the files you start (manual)."""
    settings = load(config, as_json=as_json)
    answer = ask(settings, "PUT", "/uploads/mode", {"mode": mode}, as_json=as_json)
    emit(answer, as_json, say(f"Upload mode: {mode}."))


@click.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@config_option
@json_option
def parallel(state: str, config: str | None, as_json: bool) -> None:
    """Upload several files at once (on), or one at a time (off)."""
    settings = load(config, as_json=as_json)
    answer = ask(settings, "PUT", "/uploads/parallel", {"on": state == "on"}, as_json=as_json)
    emit(answer, as_json, say(f"Parallel uploads: {state}."))


def _hold(config: str | None, as_json: bool, on: bool) -> None:
    settings = load(config, as_json=as_json)
    answer = ask(settings, "PUT", "/uploads/paused", {"on": on}, as_json=as_json)
    emit(answer, as_json, say("Uploading paused." if answer["paused"] else "Uploading resumed."))


@click.command()
@config_option
@json_option
def pause(config: str | None, as_json: bool) -> None:
    """Pause uploading: no new part starts; parts in flight finish."""
    _hold(config, as_json, True)


@click.command()
@config_option
@json_option
def resume(config: str | None, as_json: bool) -> None:
    """Resume uploading after 'c2c-hub pause'."""
    _hold(config, as_json, False)


@click.command()
@click.argument("target")
@click.argument("value", metavar="PRIORITY", type=int)
@click.option("--type", "by_type", is_flag=True, help="TARGET is a file type: .wav, audio/* ...")
@config_option
@json_option
def priority(target: str, value: int, by_type: bool, config: str | None, as_json: bool) -> None:
    """Set a file's priority (TARGET a file id), or a file type's (--type); higher goes first."""
    settings = load(config, as_json=as_json)
    if by_type:
        body = {"key": target, "priority": value}
        answer = ask(settings, "PUT", "/uploads/type-priority", body, as_json=as_json)
        emit(answer, as_json, say(f"Files of type {target}: priority {value}."))
        return
    try:
        file_id = int(target)
    except ValueError:
        raise click.BadParameter("a file id (or give --type)", param_hint="TARGET") from None
    path = f"/uploads/{file_id}/priority"
    answer = ask(settings, "PUT", path, {"priority": value}, as_json=as_json)
    emit(answer, as_json, say(f"File {file_id}: priority {value}."))


commands = [upload, queue, cancel, retry, start, mode, parallel, pause, resume, priority]

__all__ = [
    "FINAL",
    "HubNotRunning",
    "HubRefused",
    "call",
    "commands",
    "control_client",
    "human_bytes",
    "render_queue",
]
