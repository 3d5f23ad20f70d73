"""The sound teams' page documents every option the plugin takes (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from c2c_hub_plugins.aes67.options import Options, OptionsError

PAGE = Path(__file__).resolve().parents[3] / "docs" / "aes67.md"


@pytest.mark.parametrize("name", sorted(Options.model_fields))
def test_every_option_is_in_the_options_table(name: str) -> None:
    assert f"| `{name}` |" in PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"interfaces": ["10.0.0.1"]}, "plugin aes67: unknown option(s) ['interfaces']"),
        ({"interface": "eth0"}, "interface: not an IPv4 address: 'eth0'"),
        ({"sap_groups": ["10.0.0.1"]}, "sap_groups: 10.0.0.1 is not a multicast group"),
        ({"sap": "yes"}, "sap: Input should be a valid boolean, got 'yes'"),
        ({"latency_ms": -1}, "latency_ms: Input should be greater than or equal to 0"),
        ({"sdp_folder": ""}, "sdp_folder: expected a folder path"),
        ({"stream_timeout_s": "soon"}, "stream_timeout_s: expected a duration"),
        ({"ravenna_service": "_x._tcp.local."}, "ravenna_service: expected <subtype>._sub."),
    ],
)
def test_a_bad_option_is_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=re.escape(message)):
        Options.parse(raw, plugin="aes67")
