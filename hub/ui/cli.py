"""The ``c2c-hub`` command line (click).

The commands live in command modules, ``hub/ui/cli_<area>.py``, listed in
:data:`COMMAND_MODULES`: adding a module of commands is one line there. A module offers its
commands as module-level click commands or groups (a group's own subcommands come with it);
an optional ``commands`` list says exactly which, in which order. Other distributions add
commands through the entry-point group :data:`COMMANDS_GROUP` (the emulation zone's ``emulator``
and ``demo`` come in that way, so the product never imports the test doubles); an entry point
names a click command, a list of them, or a module as above.

Modules are imported only when a command is looked up or the help lists them, and each imports
its heavy parts (rich, httpx, the hub) only when it runs, so ``c2c-hub --version`` and
``--help`` are fast. Exit codes are in :mod:`c2c_hub.ui.cli_kit` and docs/cli.md.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
from types import ModuleType
from typing import Any

import click

from c2c_hub.version import __version__

#: The command modules, in the order the help lists their commands' names (alphabetical).
COMMAND_MODULES = [
    "c2c_hub.ui.cli_hub",
    "c2c_hub.ui.cli_uploads",
    "c2c_hub.ui.cli_devices",
    "c2c_hub.ui.cli_service",
    "c2c_hub.ui.cli_mix",
    "c2c_hub.ui.cli_timecode",
    "c2c_hub.ui.cli_net",
]

#: Entry-point group for other distributions' ``c2c-hub`` commands.
COMMANDS_GROUP = "c2c_hub.commands"


def commands_of(found: Any) -> list[click.Command]:
    """The top-level click commands a module (or an entry point's object) offers."""
    if isinstance(found, click.Command):
        return [found]
    if isinstance(found, list | tuple):
        return [c for c in found if isinstance(c, click.Command)]
    if not isinstance(found, ModuleType):
        return []
    listed = getattr(found, "commands", None)
    if isinstance(listed, list | tuple):
        return [c for c in listed if isinstance(c, click.Command)]
    every = [v for v in vars(found).values() if isinstance(v, click.Command)]
    nested = {id(sub) for v in every if isinstance(v, click.Group) for sub in v.commands.values()}
    return [c for c in every if id(c) not in nested]


class HubCommands(click.Group):
    """The root group: its commands are found in the command modules, on first need."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded = False
        self._extended = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name in COMMAND_MODULES:
            for command in commands_of(importlib.import_module(name)):
                self.add_command(command)

    def _load_extensions(self) -> None:
        """Other distributions' commands (scanning the installed metadata costs tens of ms,
        so only when the list is wanted or a name is not one of ours)."""
        if self._extended:
            return
        self._extended = True
        from importlib.metadata import entry_points

        for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
            try:
                found = commands_of(entry.load())
            except Exception as exc:  # a broken extension must not take the CLI down
                click.echo(f"c2c-hub: ignoring commands from {entry.value}: {exc}", err=True)
                continue
            for command in found:
                if command.name not in self.commands:
                    self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        self._load_extensions()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        if cmd_name not in self.commands:
            self._load_extensions()
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=HubCommands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 done, 1 failed, 2 usage or settings, 3 no hub running, "
    "4 refused, 130 interrupted. Every command takes --json. See docs/cli.md.",
)
@click.version_option(
    __version__, "--version", "-V", prog_name="c2c-hub", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Frame.io Camera to Cloud hub for multitrack sound recorders.

    Pair once ('c2c-hub pair'), then run the hub ('c2c-hub run'); the other commands ask the
    running hub through its control socket.
    """


#: How long a finished command waits for threads it left running before it exits without them.
STRAGGLERS_S = 10.0


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (never raises). Called with ``argv`` (in process, as the
    tests do) it never exits the interpreter; as the process's own command (``argv`` None)
    it ends the process even if a thread it started is still running (see
    :func:`_leave_no_straggler`)."""
    code = _main(argv)
    if argv is None:
        _leave_no_straggler(code)
    return code


def _leave_no_straggler(code: int) -> None:
    """A command that has finished must end its process: a thread left running (a database
    connection's worker that a stop cut short did not close) would keep Python waiting for it
    at exit for ever, and a service manager would have to kill the hub. Such threads get
    ``STRAGGLERS_S`` to end; then they are named on stderr and the process ends without them."""
    deadline = time.monotonic() + STRAGGLERS_S
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if not left:
        return
    print(
        f"c2c-hub: ending with {len(left)} thread(s) still running: {', '.join(left)}",
        file=sys.stderr,
    )
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    from c2c_hub.ui.cli_kit import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_REFUSED

    args = sys.argv[1:] if argv is None else argv
    try:
        try:
            result = cli.main(args=args, prog_name="c2c-hub", standalone_mode=False)
        except click.exceptions.Exit as exc:
            return int(exc.exit_code)
        except SystemExit as exc:
            # click's own answer to a closed pipe (it quiets stdout, then exits 1): ours is 141,
            # as a shell reports a command killed by SIGPIPE.
            pacified = type(sys.stdout).__name__ == "_PacifyFlushWrapper"
            return EXIT_BROKEN_PIPE if pacified else int(exc.code or 0)
        except click.ClickException as exc:
            exc.show()
            return int(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Interrupted.", err=True)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            return EXIT_INTERRUPTED
        except Exception as exc:
            from c2c_hub.datadir import DataDirBusy

            if isinstance(exc, DataDirBusy):
                click.echo(f"c2c-hub: {exc}", err=True)
                return EXIT_REFUSED
            raise
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`c2c-hub devices --json | head`): say nothing more; keep
        # Python from complaining at exit when it flushes stdout again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return result if isinstance(result, int) else 0


def _run_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _run_main()
