"""The device models the plugins ship, for the emulated Frame.io to declare.

Frame.io refuses a channel of a device model the integration has not declared
(docs/rulings.md#unknown-device-model). For
a real integration a plugin's models are declared in Frame.io's developer console; for the
emulator, :func:`plugin_device_models` reads them as the hub would (the installed plugins, or
the plugins given, through the host) and the caller declares them
(``EmulatorState.declare_model``, or ``EmulatorHandle.declare_device_model``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from c2c_hub.device_kinds import BUILT_IN
from c2c_hub.device_models import DeviceModel, DeviceModelRegistry
from c2c_hub.plugin import PluginHost
from c2c_hub.settings import PluginSettings


def plugin_device_models(
    settings: PluginSettings, models_dir: Path, plugins: Mapping[str, object] | None = None
) -> list[tuple[str, DeviceModel]]:
    """(plugin, model) for every device model the plugins ship, beside the hub's own.

    The installed plugins load unless ``settings.allow`` is empty; ``plugins`` (name: plugin
    object) are registered too. A plugin whose models are refused is left out (its record
    says why, as in the hub).
    """
    host = PluginHost(settings)
    if settings.allow != []:
        host.load()
    for name, plugin in (plugins or {}).items():
        host.register_object(plugin, name)
    models = DeviceModelRegistry.load(models_dir)
    host.add_device_models(models)
    return [
        (origin, model)
        for model in models
        if (origin := models.origin(model.id)) not in (None, BUILT_IN)
    ]
