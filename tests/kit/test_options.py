"""A plugin's typed options: unknown keys refused by name, durations parsed once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from c2c_hub import kit
from c2c_hub.emulation.testing import FakeSourceContext


class Options(kit.PluginOptions):
    poll_s: kit.Duration = 1.0
    jitter_s: kit.DurationOrZero = 0.1
    channels: int = 2


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(2, 2.0), (0.25, 0.25), ("1.5s", 1.5), ("200ms", 0.2), (" 2 min ", 120.0), ("1h", 3600.0)],
)
def test_a_duration_is_seconds_or_a_string_with_a_unit(given: object, seconds: float) -> None:
    assert Options.parse({"poll_s": given}, plugin="p").poll_s == seconds


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (0, "poll_s: expected seconds in (0, 3600], got 0"),
        ("2h", "poll_s: expected seconds in (0, 3600], got '2h'"),
        ("fast", "poll_s: expected a duration (seconds, or a string like '1.5s', '200ms')"),
        (True, "poll_s: expected a duration"),
        ("-1s", "poll_s: expected a duration"),
    ],
)
def test_a_bad_duration_says_which_option_and_why(given: object, problem: str) -> None:
    with pytest.raises(kit.OptionsError) as refused:
        Options.parse({"poll_s": given}, plugin="my_plugin")
    assert str(refused.value).startswith("plugin my_plugin: ")
    assert problem in str(refused.value)


def test_zero_only_where_allowed() -> None:
    assert Options.parse({"jitter_s": 0}, plugin="p").jitter_s == 0.0
    with pytest.raises(kit.OptionsError, match=r"jitter_s: expected seconds in \[0, 3600\]"):
        Options.parse({"jitter_s": -0.1}, plugin="p")


def test_unknown_keys_are_refused_naming_the_plugin_the_keys_and_the_known_ones() -> None:
    with pytest.raises(kit.OptionsError) as refused:
        Options.parse({"pol_s": 1, "chanels": 3, "channels": "x"}, plugin="my_plugin")
    message = str(refused.value)
    assert message.startswith(
        "plugin my_plugin: unknown option(s) ['chanels', 'pol_s']; "
        "known: ['channels', 'jitter_s', 'poll_s']"
    )
    assert "channels: Input should be a valid integer" in message and "got 'x'" in message


def test_not_a_table_is_refused() -> None:
    with pytest.raises(kit.OptionsError, match=r"\[plugins.options.p\] must be a table"):
        Options.parse([1, 2], plugin="p")  # type: ignore[arg-type]


async def test_load_reports_the_source_unhealthy_and_raises() -> None:
    ctx = FakeSourceContext(options={"poll_s": "soon"}, plugin="my_plugin")
    with pytest.raises(kit.OptionsError) as refused:
        Options.load(ctx)
    assert ctx.last_report == (False, f"bad options: {refused.value}")
    good = Options.load(FakeSourceContext(options={"poll_s": "250ms"}, plugin="my_plugin"))
    assert good == Options(poll_s=0.25)


def test_options_are_frozen() -> None:
    options = Options.parse({}, plugin="p")
    with pytest.raises(ValidationError):
        options.poll_s = 3  # type: ignore[misc]
