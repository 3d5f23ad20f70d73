"""The operator's view: what ``c2c-hub run`` (and ``make demo``) shows while the hub works.

On set nobody reads logs. In a terminal, :class:`LiveView` keeps one screen up to date (4 times
a second, and at once on a press, a channel or a take): the pairing code in large digits with
its QR code while pairing; then the project, who authorized it, the socket, Frame.io's pause
and the operator's, the network; the upload queue with a bar per current file; the take being
recorded (or the next take); the sub-devices and their channels; the recent logging events;
and the hub's recent warnings. It fits 80x24 and uses more rows when there are more.

Not attached to a terminal (``stdout`` not a TTY, or ``TERM=dumb``) it prints one plain line
per meaningful change instead (:class:`PlainLog`): never the full screen, never an escape.

Everything it shows is built from :meth:`Hub.status` (which holds no token, no client secret and
no device code), the pairing flow's public part (the user code and its URLs) and log records
that already went through :class:`~c2c_hub.logs.RedactingFilter`. :func:`render` is pure: a status
dict and a time in, a renderable out, so tests draw crafted states.

One module per part: :mod:`~c2c_hub.ui.live.view` (the loop), :mod:`~c2c_hub.ui.live.screen`
(the whole screen), one module per panel (``pairing``, ``header``, ``network``, ``uploads``,
``take``, ``devices``, ``presses``, ``messages``), :mod:`~c2c_hub.ui.live.layout` (sections and
how rows are shared out), :mod:`~c2c_hub.ui.live.format` (the small formatters) and
:mod:`~c2c_hub.ui.live.plain` (the plain-lines fallback).
"""

from c2c_hub.ui.live.format import clean
from c2c_hub.ui.live.plain import PlainLog
from c2c_hub.ui.live.screen import render
from c2c_hub.ui.live.view import LiveView, wants_plain

__all__ = [
    "LiveView",
    "PlainLog",
    "clean",
    "render",
    "wants_plain",
]
