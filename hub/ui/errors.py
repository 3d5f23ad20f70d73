"""The edge's root error: the CLI, the control API and its client, the terminal view.

``UIError`` derives from :class:`c2c_hub.errors.HubError`; the whole tree is drawn in
:mod:`c2c_hub.errors`::

    UIError
    ├── HubNotRunning    ui/client.py: no running hub answers on its control socket
    ├── HubRefused       ui/client.py: the running hub refused a call (its HTTP status kept)
    ├── CommandFailed    ui/cli_kit.py: a command failed; carries its exit code (docs/cli.md)
    └── ControlRefused   ui/control.py: the control API refused a call (``status``, message)
"""

from __future__ import annotations

from c2c_hub.errors import HubError


class UIError(HubError):
    """Base of the edge's errors (the user interface: CLI, control API, terminal view)."""
