"""The plugin API and its host.

- :mod:`c2c_hub.plugin.spec`: the hooks a plugin implements (``register_sources``,
  ``register_routes``, ``register_device_kinds``, ``register_device_models``) and the
  ``hookimpl`` marker;
- :mod:`c2c_hub.plugin.manager`: :class:`PluginHost`, which loads plugins from the entry-point group
  ``c2c_hub`` and hands out what they register, checked;
- :mod:`c2c_hub.plugin.runner`: :class:`SourceRunner`, each source in its own thread and event loop,
  restarted with backoff when it fails.

A plugin imports none of this: everything it needs is in :mod:`c2c_hub.kit`, its one import.
The guide is ``docs/plugins/``.
"""

from c2c_hub.plugin.manager import (
    PluginError,
    PluginHost,
    PluginRecord,
    PluginSettingsError,
    format_plugins,
    route_file,
)
from c2c_hub.plugin.runner import Health, RestartPolicy, SourceRunner, SourceSupervisor
from c2c_hub.plugin.spec import ENTRY_POINT_GROUP, hookimpl, hookspec

__all__ = [
    "ENTRY_POINT_GROUP",
    "Health",
    "PluginError",
    "PluginHost",
    "PluginRecord",
    "PluginSettingsError",
    "RestartPolicy",
    "SourceRunner",
    "SourceSupervisor",
    "format_plugins",
    "hookimpl",
    "hookspec",
    "route_file",
]
