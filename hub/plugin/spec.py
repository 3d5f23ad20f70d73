"""The hooks a plugin implements: few, typed, and each one only *registers* things.

pluggy aborts a whole hook call when one implementation raises, so no hook here does work: a
plugin hands the hub long-lived objects through a ``register`` callable, and the hub runs each
one under its own supervision (:mod:`c2c_hub.plugin.runner`). One broken plugin never stops another.

A plugin is a module (or object) with functions marked ``@hookimpl``, published under the
entry-point group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points.c2c_hub]
    my_plugin = "my_package.plugin"

Every hook is documented in ``docs/plugins/hooks.md`` (a test fails when one is not).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from c2c_hub.device_kinds import DeviceKind
    from c2c_hub.subdevices import DeviceSource, RouteRule

PROJECT = "c2c_hub"
ENTRY_POINT_GROUP = "c2c_hub"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_sources(register: Callable[[DeviceSource], None]) -> None:
    """Register the plugin's sub-device sources.

    :param register: call it once per :class:`~c2c_hub.subdevices.DeviceSource`. The hub checks
        what it receives (a ``name`` and an async ``run``) and runs each source in its own thread
        and event loop, restarting it with backoff when it fails.
    """


@hookspec
def register_routes(register: Callable[[RouteRule], None]) -> None:
    """Register file routing rules: which sub-device's channel a queued file is uploaded on.

    :param register: call it once per :class:`~c2c_hub.subdevices.RouteRule`. Rules are asked in
        registration order for files queued with ``c2c-hub upload``; the first that names an
        attached sub-device wins, and a rule that raises is reported and skipped.
    """


@hookspec
def register_device_kinds(register: Callable[[DeviceKind], None]) -> None:
    """Declare the plugin's own kinds of device (a wireless receiver, a timecode box, ...).

    :param register: call it once per :class:`~c2c_hub.device_kinds.DeviceKind`. Its
        capabilities (``audio``, ``presses``, ``primary_channel``) say what the hub does with
        sub-devices of that kind. Asked before the device models are read, so the plugin's
        models may name them. A kind whose name is taken by a different kind fails the plugin
        (and only it).
    """


@hookspec
def register_device_models(register: Callable[[Path], None]) -> None:
    """Ship the plugin's own device models: TOML files in the plugin's package.

    :param register: call it with a folder (every ``*.toml`` in it) or one file. The files are
        read like the hub's own ``device_models/*.toml`` and added to the same registry before
        any source runs. A bad file, or a model whose id is already declared, fails the plugin
        with an error that names the plugin and the file; the hub and the other plugins go on.
    """
