"""Loading plugins from real entry points: each import isolated, each problem named."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from c2c_hub.devices import DeviceRegistry
from c2c_hub.plugin.manager import TRACE, PluginError, PluginHost, format_plugins
from c2c_hub.settings import PluginSettings
from tests.plugin.conftest import FAST, Changes, PluginSite
from tests.plugin.fakes import MicSource, Plugin, wait_until

GOOD = """
from c2c_hub.plugin.spec import hookimpl
from tests.plugin.fakes import MicSource

@hookimpl
def register_sources(register):
    register(MicSource("mics", ["EP-1", "EP-2"]))
"""

BROKEN = """
raise RuntimeError("no BLE adapter")
"""

HUNG = """
from tests.plugin import fakes

fakes.IMPORT_GATE.wait(10)
"""

EXITS = """
import sys

sys.exit(3)
"""

MISSPELLED = """
from c2c_hub.plugin.spec import hookimpl

@hookimpl
def register_source(register):
    pass
"""

WRONG_ARGS = """
from c2c_hub.plugin.spec import hookimpl

@hookimpl
def register_sources(register, settings):
    pass
"""


def host_for(site: PluginSite, **settings: object) -> PluginHost:
    return PluginHost(PluginSettings.model_validate(settings), group=site.group)


async def test_a_plugin_raising_at_import_is_reported_while_another_loads_and_attaches(
    plugin_site: PluginSite,
    registry: DeviceRegistry,
    changes: Changes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = plugin_site.add("broken", BROKEN)
    plugin_site.add("good", GOOD, version="2.5.1")
    host = host_for(plugin_site)
    with caplog.at_level(logging.DEBUG, logger="c2c_hub.plugin.manager"):
        records = {r.name: r for r in host.load()}

    assert records["broken"].state == "failed"
    assert records["broken"].reason == "failed at import: RuntimeError: no BLE adapter"
    line = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "broken" in line.getMessage() and broken in line.getMessage()
    assert "RuntimeError: no BLE adapter" in line.getMessage()
    assert any(r.exc_info and r.levelno == logging.DEBUG for r in caplog.records)  # traceback

    assert records["good"].state == "loaded"
    assert records["good"].version == "2.5.1"
    await host.start_all(registry, policy=FAST)
    try:
        await wait_until(lambda: len(registry) == 2, what="the good plugin's mics")
        assert {a.source for a in registry} == {"good:mics"}
    finally:
        await host.stop_all()
    assert len(registry) == 0
    assert changes.kinds("EP-1") == ["attached", "detached"]


def test_a_plugin_hung_at_import_is_skipped_in_time_and_the_rest_load(
    plugin_site: PluginSite,
) -> None:
    plugin_site.add("hung", HUNG)
    plugin_site.add("good", GOOD)
    host = PluginHost(PluginSettings(), group=plugin_site.group, import_timeout=0.3)
    began = time.monotonic()
    records = {r.name: r for r in host.load()}
    assert time.monotonic() - began < 5.0  # the hung import never ends: the timeout did
    assert records["hung"].state == "failed"
    assert records["hung"].reason.startswith("hung at import")
    assert records["good"].state == "loaded"
    assert host.pm.get_plugin("hung") is None


def test_a_plugin_calling_sys_exit_at_import_does_not_end_the_hub(
    plugin_site: PluginSite,
) -> None:
    plugin_site.add("exits", EXITS)
    (record,) = host_for(plugin_site).load()
    assert record.state == "failed"
    assert record.reason == "failed at import: SystemExit: 3"


def test_allow_list_then_block_list(plugin_site: PluginSite) -> None:
    modules = {name: plugin_site.add(name, GOOD) for name in ("alpha", "beta", "gamma")}
    host = host_for(plugin_site, allow=["alpha", "beta", "missing"], block=["beta"])
    states = {r.name: (r.state, r.reason) for r in host.load()}
    assert states == {
        "alpha": ("loaded", ""),
        "beta": ("blocked", "in plugins.block"),
        "gamma": ("not allowed", "not in plugins.allow"),
    }
    # neither the blocked nor the not-allowed one was even imported
    assert modules["alpha"] in sys.modules
    assert modules["beta"] not in sys.modules and modules["gamma"] not in sys.modules


def test_the_block_list_also_applies_to_registered_objects() -> None:
    host = PluginHost(PluginSettings(block=["nope"]))
    record = host.register_object(Plugin(MicSource("m", ["X"])), "nope")
    assert record.state == "blocked"
    assert host.sources() == []


def test_load_is_idempotent_and_picks_up_new_plugins(plugin_site: PluginSite) -> None:
    plugin_site.add("alpha", GOOD)
    host = host_for(plugin_site)
    first = host.load()
    again = host.load()
    assert [r.name for r in again] == ["alpha"] and again[0] is first[0]
    assert len(host.pm.get_plugins()) == 1

    plugin_site.add("beta", GOOD)
    assert [r.name for r in host.load()] == ["alpha", "beta"]
    assert len(host.pm.get_plugins()) == 2


def test_a_misspelled_hook_fails_that_plugin_loudly_and_only_that_plugin(
    plugin_site: PluginSite, caplog: pytest.LogCaptureFixture
) -> None:
    plugin_site.add("typo", MISSPELLED)
    plugin_site.add("good", GOOD)
    host = host_for(plugin_site)
    records = {r.name: r for r in host.load()}
    assert records["typo"].state == "failed"
    assert records["typo"].reason == (
        "unknown hook 'register_source' (did you mean register_sources?)"
    )
    assert "typo" in caplog.text and "register_source" in caplog.text
    assert host.pm.get_plugin("typo") is None  # unregistered
    host.pm.check_pending()  # and nothing pending is left behind
    assert records["good"].state == "loaded"
    assert [(p, s.name) for p, s in host.sources()] == [("good", "mics")]


def test_a_hookimpl_with_arguments_the_spec_lacks_is_refused(plugin_site: PluginSite) -> None:
    plugin_site.add("wrong", WRONG_ARGS)
    (record,) = host_for(plugin_site).load()
    assert record.state == "failed"
    assert "refused by the plugin manager" in record.reason and "settings" in record.reason


def test_registering_two_plugins_under_one_name_is_refused() -> None:
    host = PluginHost()
    host.register_object(Plugin(), "same")
    with pytest.raises(PluginError, match="already loaded"):
        host.register_object(Plugin(), "same")


def test_the_trace_switch_logs_every_hook_call_and_what_it_registered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    traced = PluginHost(PluginSettings(trace=True))
    traced.register_object(Plugin(MicSource("mics", ["A"])), "p")
    with caplog.at_level(logging.INFO, logger="c2c_hub.plugin.manager"):
        traced.sources()
        traced.routes()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(TRACE)]
    assert f"{TRACE} register_sources(register) -> p" in lines
    assert f"{TRACE} register_sources: plugin p registered source 'mics'" in lines
    assert f"{TRACE} register_sources returned []" in lines
    assert f"{TRACE} register_routes(register) -> p" in lines

    caplog.clear()
    quiet = PluginHost(PluginSettings(trace=False))
    quiet.register_object(Plugin(MicSource("mics", ["A"])), "p")
    with caplog.at_level(logging.INFO, logger="c2c_hub.plugin.manager"):
        quiet.sources()
    assert TRACE not in caplog.text


async def test_snapshot_and_the_plugins_table(
    plugin_site: PluginSite, registry: DeviceRegistry
) -> None:
    plugin_site.add("broken", BROKEN)
    plugin_site.add("good", GOOD, version="2.5.1")
    plugin_site.add("off", GOOD)
    host = host_for(plugin_site, block=["off"])
    host.load()
    await host.start_all(registry, policy=FAST)
    try:
        await wait_until(lambda: len(registry) == 2)
        await wait_until(
            lambda: (
                host.supervisor is not None
                and all(r.reported is not None for r in host.supervisor.runners)
            )
        )
        snapshot = {p["name"]: p for p in host.snapshot()}
        assert snapshot["broken"]["state"] == "failed"
        assert snapshot["off"]["state"] == "blocked"
        good = snapshot["good"]
        assert good["version"] == "2.5.1" and good["distribution"].startswith("c2c_test_good")
        (source,) = good["sources"]
        assert source["state"] == "running" and source["devices"] == 2
        assert source["reported"]["detail"] == "2 mics"
        table = format_plugins(host.snapshot())
    finally:
        await host.stop_all()
    assert "failed at import: RuntimeError: no BLE adapter" in table
    assert "source mics" in table and "running" in table and "2 device(s)" in table
    assert "blocked" in table and "2.5.1" in table
    after = {p["name"]: p for p in host.snapshot()}
    assert after["good"]["sources"][0]["state"] == "stopped"
    assert format_plugins([]).startswith("no plugins installed")
