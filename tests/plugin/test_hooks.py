"""The typed hook facade: each plugin's hook called on its own, what it registers checked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from c2c_hub.plugin.manager import PluginError, PluginHost, route_file
from c2c_hub.plugin.spec import hookimpl
from c2c_hub.subdevices import DeviceSource, QueuedFile, SubDevice
from tests.plugin.fakes import MicSource, Plugin, mic


class RaisesMidway:
    """Registers one source, then its hook raises."""

    @hookimpl
    def register_sources(self, register: Callable[[DeviceSource], None]) -> None:
        register(MicSource("first", ["R-1"]))
        raise KeyError("options")


def test_a_hook_that_raises_costs_only_that_plugin(caplog: pytest.LogCaptureFixture) -> None:
    host = PluginHost()
    host.register_object(RaisesMidway(), "midway")
    host.register_object(Plugin(MicSource("ok", ["OK-1"])), "fine")
    assert [(plugin, source.name) for plugin, source in host.sources()] == [("fine", "ok")]
    (record, _) = host.records()
    assert record.errors == [
        "register_sources raised KeyError: 'options'; its registrations are dropped"
    ]
    assert "plugin midway: register_sources raised KeyError" in caplog.text


class SyncRun:
    name = "sync"

    def run(self, ctx: Any) -> None:
        pass


class NoRun:
    name = "norun"


class NoName:
    async def run(self, ctx: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (NoRun(), "'norun' has no run method"),
        (SyncRun(), "'sync': run must be a coroutine function (async def)"),
        (NoName(), "has no name (a non-empty str attribute `name`)"),
        (MicSource("ok", []), "'ok': this plugin already registered a source of that name"),
    ],
)
def test_a_source_the_host_cannot_run_is_refused_by_name(
    bad: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = PluginHost()
    good = MicSource("ok", ["G-1"])
    host.register_object(Plugin(good, bad), "picky")
    assert host.sources() == [("picky", good)]  # the good one still comes
    (error,) = host.records()[0].errors
    assert error.startswith("register_sources: source ") and error.endswith(problem)
    assert "plugin picky: register_sources: source" in caplog.text


def test_register_is_only_good_during_the_hook() -> None:
    kept: list[Callable[[DeviceSource], None]] = []

    class Keeps:
        @hookimpl
        def register_sources(self, register: Callable[[DeviceSource], None]) -> None:
            kept.append(register)

    host = PluginHost()
    host.register_object(Keeps(), "keeps")
    assert host.sources() == []
    with pytest.raises(PluginError, match="called after the hook returned"):
        kept[0](MicSource("late", []))


def test_a_plugin_without_a_hook_registers_nothing() -> None:
    host = PluginHost()
    host.register_object(object(), "empty")
    assert host.sources() == [] and host.routes() == []


class ByPrefix:
    def __init__(self, name: str, prefix: str, serial: str | None) -> None:
        self.name = name
        self.prefix = prefix
        self.serial = serial

    def route(self, file: QueuedFile, attached: Mapping[str, SubDevice]) -> str | None:
        return self.serial if file.name.startswith(self.prefix) else None


class Explodes:
    name = "explodes"

    def route(self, file: QueuedFile, attached: Mapping[str, SubDevice]) -> str | None:
        raise ZeroDivisionError


class AsyncRoute:
    name = "async"

    async def route(self, file: QueuedFile, attached: Mapping[str, SubDevice]) -> str | None:
        return None


def test_routes_are_checked_and_asked_in_order_the_first_attached_serial_wins() -> None:
    host = PluginHost()
    rules = [
        Explodes(),
        ByPrefix("gone", "boom", "NOT-ATTACHED"),
        ByPrefix("boom", "boom", "MIC-1"),
        ByPrefix("late", "boom", "MIC-2"),
    ]
    host.register_object(Plugin(routes=[*rules, AsyncRoute()]), "router")
    routes = host.routes()
    assert [rule.name for _, rule in routes] == ["explodes", "gone", "boom", "late"]
    (error,) = host.records()[0].errors
    assert "'async': route must be a plain function, not async" in error

    attached = {"MIC-1": mic("MIC-1"), "MIC-2": mic("MIC-2")}
    wav = QueuedFile("/takes/boom_01.wav", "boom_01.wav", "audio/wav")
    assert route_file(routes, wav, attached) == ("router:boom", "MIC-1")
    other = QueuedFile("/takes/lav_01.wav", "lav_01.wav", "audio/wav")
    assert route_file(routes, other, attached) is None
