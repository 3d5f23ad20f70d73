"""What every ``c2c-hub`` command shares: exit codes, ``--config`` and ``--json``, settings,
asking the running hub, and printing for people or for programs.

A command module (``hub/ui/cli_<area>.py``) writes click commands with these pieces::

    @click.command()
    @config_option
    @json_option
    def things(config: str | None, as_json: bool) -> None:
        "List the things (one line of help: what it does)."
        settings = load(config)
        data = ask(settings, "GET", "/things", as_json=as_json)
        emit(data, as_json, lambda d, console: console.print(d["things"]))

Failures raise :class:`CommandFailed` with one of the exit codes below (``ask`` does it for
"no hub running" and "refused"); :func:`c2c_hub.ui.cli.main` prints them and exits with the code.
This module, like every command module, imports only click at the top: a command's heavy
imports (rich, httpx, the hub itself) happen when it runs, so ``--help`` and ``--version``
stay fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from c2c_hub.ui.errors import UIError

if TYPE_CHECKING:
    from rich.console import Console

    from c2c_hub.settings import HubSettings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Exit codes (docs/cli.md). 1 is "it ran, and what it did failed" (an upload that ended
#: failed, a pairing declined in Frame.io); 130 is Ctrl-C; 141 output cut by a closed pipe.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_HUB = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class CommandFailed(UIError, click.ClickException):
    """A command's failure, with its exit code; printed as ``c2c-hub <command>: <message>``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, *, as_json: bool = False):
        UIError.__init__(self, message)
        click.ClickException.__init__(self, message)
        # click declares exit_code on the class (UsageError's is 2); ours varies by instance.
        setattr(self, "exit_code", exit_code)  # noqa: B010
        self.as_json = as_json
        ctx = click.get_current_context(silent=True)
        self.command_path = ctx.command_path if ctx is not None else "c2c-hub"

    def show(self, file: Any = None) -> None:
        name = self.command_path
        if self.as_json:  # a program reads stdout: the error is there too, as JSON
            click.echo(json.dumps({"error": self.message, "exit_code": self.exit_code}))
        click.echo(f"{name}: {self.message}", err=True)


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        metavar="FILE",
        envvar="C2C_HUB_CONFIG",
        help="TOML settings file (default: $C2C_HUB_CONFIG, else the user's or the system's "
        "config.toml; see docs/cli.md).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON for programs instead of text for people.",
    )(fn)


def load(config: str | None, *, as_json: bool = False) -> HubSettings:
    """The settings (file, environment); a bad value is a usage error, reported by field."""
    from c2c_hub.settings import SettingsError, load_settings

    try:
        return load_settings(Path(config) if config else None)
    except SettingsError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE, as_json=as_json) from None


def run_async(coro: Awaitable[T]) -> T:
    import asyncio

    async def _main() -> T:
        return await coro

    return asyncio.run(_main())


def ask(
    settings: HubSettings, method: str, path: str, body: Any = None, *, as_json: bool = False
) -> Any:
    """One call to the running hub: exit 3 when none runs, 4 when it refuses."""
    from c2c_hub.ui.client import HubNotRunning, HubRefused, call

    try:
        return run_async(call(settings, method, path, body))
    except HubNotRunning as exc:
        raise CommandFailed(str(exc), EXIT_NO_HUB, as_json=as_json) from None
    except HubRefused as exc:
        code = EXIT_REFUSED if exc.status < 500 else EXIT_FAILED
        raise CommandFailed(f"the hub refused: {exc}", code, as_json=as_json) from None


def console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=not sys.stdout.isatty())


def emit(data: Any, as_json: bool, render: Callable[[Any, Console], None]) -> None:
    """``data`` as JSON (``--json``), else rendered for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        render(data, console())


def say(text: str) -> Callable[[Any, Console], None]:
    """A renderer that prints one sentence (for commands whose answer is a confirmation)."""
    return lambda _data, out: out.print(text, highlight=False)
