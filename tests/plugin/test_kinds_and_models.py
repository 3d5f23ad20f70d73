"""A plugin's own kinds of device and device models, and the one name a plugin has everywhere.

Plugins here are objects registered with the host (``register_object``); their device model
files are real TOML files in the test's temporary directory, read as the hub reads its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from c2c_hub import kit
from c2c_hub.device_models import DeviceModelRegistry, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.plugin import PluginHost, PluginSettingsError, format_plugins
from c2c_hub.settings import PluginSettings
from tests.plugin.fakes import MicSource, wait_until

RECEIVER = kit.DeviceKind("wireless_receiver", "a receiver: one track per channel", audio=True)
RX_MODEL = """
[model]
id = "0c2a1e3f-5b7d-4e9f-8a1c-3e5f7a9b1d20"
name = "Test Receiver"
kind = "wireless_receiver"
asset_type = "audio"
"""
CLASHING_ID = """
[model]
id = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
name = "Not The Network Microphone"
kind = "microphone"
asset_type = "audio"
"""


class ModelsPlugin:
    """A plugin that declares kinds, ships model files and runs sources."""

    def __init__(
        self,
        kinds: list[kit.DeviceKind],
        models: list[Path],
        sources: list[object] = (),  # type: ignore[assignment]
    ) -> None:
        self.kinds, self.models, self.sources = kinds, models, list(sources)

    @kit.hookimpl
    def register_device_kinds(self, register: Callable[[kit.DeviceKind], None]) -> None:
        for kind in self.kinds:
            register(kind)

    @kit.hookimpl
    def register_device_models(self, register: Callable[[Path], None]) -> None:
        for path in self.models:
            register(path)

    @kit.hookimpl
    def register_sources(self, register: Callable[[kit.DeviceSource], None]) -> None:
        for source in self.sources:
            register(source)  # type: ignore[arg-type]


def folder(tmp_path: Path, name: str, **files: str) -> Path:
    where = tmp_path / name
    where.mkdir()
    for file, text in files.items():
        (where / f"{file}.toml").write_text(text)
    return where


def hub_models() -> DeviceModelRegistry:
    return DeviceModelRegistry.load(shipped_models_dir())


def test_a_plugin_ships_its_kind_and_model_and_the_hub_knows_them(tmp_path: Path) -> None:
    models = hub_models()
    host = PluginHost(PluginSettings(allow=[]))
    host.register_object(ModelsPlugin([RECEIVER], [folder(tmp_path, "rx", rx=RX_MODEL)]), "rx")
    host.add_device_models(models)
    (record,) = host.records()
    assert record.state == "loaded", record.reason
    model = models.get("0c2a1e3f-5b7d-4e9f-8a1c-3e5f7a9b1d20")
    assert model is not None and model.name == "Test Receiver"
    assert models.kind_of(model) == RECEIVER and models.kind_of(model).audio
    assert models.origin(model.id) == "rx" and models.kinds.origin("wireless_receiver") == "rx"
    assert len(models) == 4  # the hub's three, and the plugin's
    assert (record.kinds, record.models) == (["wireless_receiver"], ["Test Receiver"])
    table = " ".join(format_plugins(host.snapshot(), width=200).split())
    assert "ships kind wireless_receiver, model Test Receiver" in table


@pytest.mark.parametrize(
    ("files", "kinds", "problem"),
    [
        ({"rx": "[model\n"}, [RECEIVER], "rx.toml: not valid TOML"),
        ({"rx": RX_MODEL}, [], "rx.toml: model.kind: unknown kind 'wireless_receiver'"),
        ({"mic": CLASHING_ID}, [], "mic.toml: model.id: a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13 is"),
        (
            {"rx": RX_MODEL},
            [kit.DeviceKind("microphone", presses=True), RECEIVER],
            "kind 'microphone' is already declared by the hub",
        ),
    ],
)
async def test_a_bad_or_clashing_model_fails_that_plugin_alone_naming_it_and_the_file(
    tmp_path: Path, files: dict[str, str], kinds: list[kit.DeviceKind], problem: str
) -> None:
    models = hub_models()
    registry = DeviceRegistry(models, lambda: 0.0)
    host = PluginHost(PluginSettings(allow=[]))
    bad = ModelsPlugin(kinds, [folder(tmp_path, "bad", **files)], (MicSource("m", ["BAD-1"]),))
    good = ModelsPlugin([], [], (MicSource("m", ["GOOD-1"]),))
    host.register_object(bad, "bad_plugin")
    host.register_object(good, "good_plugin")
    host.add_device_models(models)
    records = {r.name: r for r in host.records()}
    assert records["bad_plugin"].state == "failed"
    assert problem in records["bad_plugin"].reason
    if ".toml" in problem:
        assert str(tmp_path / "bad") in records["bad_plugin"].reason  # the file, by its path
    assert records["good_plugin"].state == "loaded"
    assert len(models) == 3 and models.get("0c2a1e3f-5b7d-4e9f-8a1c-3e5f7a9b1d20") is None
    await host.start_all(registry)
    try:
        await wait_until(lambda: registry.get("GOOD-1") is not None, what="the good plugin")
        assert [p for p, _ in host.sources()] == ["good_plugin"]
    finally:
        await host.stop_all()


def test_a_relative_model_path_is_refused_with_the_way_to_write_it(tmp_path: Path) -> None:
    host = PluginHost(PluginSettings(allow=[]))
    host.register_object(ModelsPlugin([], [Path("device_models")]), "rel")
    assert host.device_model_paths() == []
    (record,) = host.records()
    assert any("must be an absolute path" in e for e in record.errors), record.errors


def test_two_plugins_may_not_declare_one_kind_differently(tmp_path: Path) -> None:
    models = hub_models()
    host = PluginHost(PluginSettings(allow=[]))
    host.register_object(ModelsPlugin([RECEIVER], [folder(tmp_path, "a", rx=RX_MODEL)]), "a")
    other = kit.DeviceKind("wireless_receiver", presses=True)
    host.register_object(ModelsPlugin([other], []), "b")
    host.add_device_models(models)
    records = {r.name: r for r in host.records()}
    assert records["a"].state == "loaded"
    assert records["b"].state == "failed"
    assert "kind 'wireless_receiver' is already declared by a" in records["b"].reason


def test_options_must_name_an_installed_plugin_by_its_one_name() -> None:
    host = PluginHost(PluginSettings(allow=[]))
    host.register_object(ModelsPlugin([], []), "ble_remotes")
    host.check_options({"ble_remotes": {"radio": "emulated"}})  # its name: fine
    with pytest.raises(PluginSettingsError) as refused:
        host.check_options({"ble-remotes": {"radio": "emulated"}, "nothing_like_it": {}})
    message = str(refused.value)
    assert "[plugins.options.ble-remotes] names no installed plugin" in message
    assert "(did you mean [plugins.options.ble_remotes]?)" in message
    assert "[plugins.options.nothing_like_it] names no installed plugin" in message
    assert "Installed plugins (entry-point names): ble_remotes" in message
