"""The inputs' page documents every option, and a bad option is named (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from c2c_hub_plugins.jack_inputs.options import Options, OptionsError

PAGE = Path(__file__).resolve().parents[3] / "docs" / "inputs.md"


@pytest.mark.parametrize("name", sorted(Options.model_fields))
def test_every_option_is_in_the_options_table(name: str) -> None:
    assert f"| `{name}` |" in PAGE.read_text(encoding="utf-8")


def test_a_number_of_inputs_names_them_and_serials_are_stable() -> None:
    options = Options.parse({"inputs": 3, "client_name": "rec"}, plugin="jack_inputs")
    assert [i.name for i in options.inputs] == ["in_1", "in_2", "in_3"]
    assert options.serial(options.inputs[0]) == "jack-rec-in_1"
    one = Options.parse({"inputs": [{"name": "Lav 1", "connect": "system:capture_2"}]}, plugin="j")
    assert one.inputs[0].connect == ("system:capture_2",)
    assert one.serial(one.inputs[0]) == "jack-c2c-hub-Lav-1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"input": 2}, "plugin jack_inputs: unknown option(s) ['input']"),
        ({"inputs": [{"name": "a:b"}]}, "no ':'"),
        ({"inputs": [{"name": "Boom"}, {"name": "Boom"}]}, "twice: ['Boom']"),
        ({"inputs": [{"name": "Boom", "connect": ["capture_1"]}]}, "like 'system:capture_1'"),
        ({"inputs": 500}, "expected 0 to 128 inputs"),
        ({"ring_s": 0.01}, "ring_s: Input should be greater than or equal to 0.2"),
        ({"reconnect_s": "soon"}, "reconnect_s: expected a duration"),
    ],
)
def test_a_bad_option_is_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=re.escape(message)):
        Options.parse(raw, plugin="jack_inputs")
