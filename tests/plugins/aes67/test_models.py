"""Device models matched by rules in their files (``[discovery.sdp]``): the session name, the
origin's username, ``i=``, ``a=tool``, the channel count and a RAVENNA session's TXT record.
A new model is a new file; the most specific match wins; no match is the plugin's own model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import c2c_hub_plugins.aes67 as aes67_plugin
from c2c_hub import kit
from c2c_hub.device_models import DeviceModelError, DeviceModelRegistry, load_device_models
from c2c_hub_plugins.aes67 import MODEL_ID
from c2c_hub_plugins.aes67.models import match_model
from c2c_hub_plugins.aes67.sdp import parse_sdp

from .conftest import FakeSourceContext, models
from .test_source import serials

WIRELESS = "5f0c1e1a-8d2b-4c59-9a71-3b6e2f4d8c10"
VENDOR = "6a1d2f2b-9e3c-4d6a-8b82-4c7f3a5e9d21"

SDP = """v=0
o=ulxd-rx 1311 4 IN IP4 10.0.0.21
s=ULXD4Q-Stage : 32
i=4 channels: Boom, Lav 1, Lav 2, Plant
c=IN IP4 239.69.3.4/32
t=0 0
a=tool:Dante AES67 1.2
m=audio 5004 RTP/AVP 97
a=rtpmap:97 L24/48000/4
a=ptime:1
a=mediaclk:direct=0
"""


def model_file(folder: Path, name: str, model_id: str, rules: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(
        f"""[model]
id = "{model_id}"
name = "{name}"
kind = "microphone"
asset_type = "audio"

[discovery.sdp]
{rules}
"""
    )


def registry_with(folder: Path) -> DeviceModelRegistry:
    registry = models()
    registry.add(load_device_models(folder), origin="test")
    return registry


def test_the_most_specific_matching_model_wins(tmp_path: Path) -> None:
    model_file(tmp_path, "Any Dante receiver", VENDOR, 'tool = "^Dante"')
    model_file(
        tmp_path,
        "ULX-D quad receiver channel",
        WIRELESS,
        'session_name = "^ULXD4Q"\nusername = "ulxd"\ninfo = "boom"\nchannels = [2, 4]',
    )
    registry = registry_with(tmp_path)
    session = parse_sdp(SDP)
    (media,) = session.streams
    assert match_model(registry, session, media).id == WIRELESS  # type: ignore[union-attr]
    eight = parse_sdp(SDP.replace("L24/48000/4", "L24/48000/8"))
    assert match_model(registry, eight, eight.streams[0]).id == VENDOR  # type: ignore[union-attr]
    other = parse_sdp(
        SDP.replace("a=tool:Dante AES67 1.2", "a=tool:GStreamer").replace("ULXD4Q", "Console")
    )
    assert match_model(registry, other, other.streams[0]) is None


def test_a_ravenna_txt_rule_needs_the_record(tmp_path: Path) -> None:
    model_file(tmp_path, "Stage box", WIRELESS, 'txt = { vendor = "acme", model = "sb-32" }')
    registry = registry_with(tmp_path)
    session = parse_sdp(SDP)
    media = session.streams[0]
    assert match_model(registry, session, media) is None
    found = match_model(registry, session, media, {"vendor": "acme", "model": "sb-32"})
    assert found is not None and found.id == WIRELESS


def test_bad_rules_are_refused_with_the_field_named(tmp_path: Path) -> None:
    model_file(tmp_path, "Broken", WIRELESS, 'session_name = "(unclosed"')
    with pytest.raises(DeviceModelError, match=r"discovery\.sdp\.session_name"):
        load_device_models(tmp_path)


async def test_a_stream_attaches_under_the_model_its_rules_match(
    run_source: Any, senders: Any, tmp_path: Path
) -> None:
    model_file(tmp_path / "models", "Emulated wireless", WIRELESS, 'session_name = "^Wireless"')
    matched = senders(channels=2, name="Wireless rack")
    plain = senders(channels=1, name="Console")
    ctx_models = registry_with(tmp_path / "models")
    run = await run_source(models=ctx_models)
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("3 channels", lambda: len(ctx.attached()) == 3)
    by_serial = {a.device.serial: a.device.model_id for a in ctx.registry}
    assert {by_serial[s] for s in serials(matched)} == {WIRELESS}
    assert {by_serial[s] for s in serials(plain)} == {MODEL_ID}
    assert kit.package_models(aes67_plugin.__file__).is_dir()
