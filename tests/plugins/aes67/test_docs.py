"""The sound teams' page documents every option the plugin takes (docs that cannot rot)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from c2c_hub_plugins.aes67.options import Options, OptionsError

PAGE = Path(__file__).resolve().parents[3] / "docs" / "aes67.md"


@pytest.mark.parametrize("name", [f.name for f in fields(Options)])
def test_every_option_is_in_the_options_table(name: str) -> None:
    assert f"| `{name}` |" in PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"interfaces": ["10.0.0.1"]}, "unknown option(s) ['interfaces']"),
        ({"interface": "eth0"}, "interface: not an IPv4 address"),
        ({"sap_groups": ["10.0.0.1"]}, "is not a multicast group"),
        ({"sap": "yes"}, "sap: expected true or false"),
        ({"latency_ms": -1}, "latency_ms: expected a number"),
        ({"sdp_folder": ""}, "sdp_folder: expected a folder path"),
    ],
)
def test_a_bad_option_is_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=re.escape(message)):
        Options.from_mapping(raw)
