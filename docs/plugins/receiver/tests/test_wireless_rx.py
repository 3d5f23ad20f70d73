"""The wireless_rx plugin on the pytest plugin's fake context: its kind, its model, its audio."""

from __future__ import annotations

import asyncio

import pytest
from c2c_hub import kit
from c2c_hub.emulation.testing import FakeSourceContext

import c2c_hub_wireless_rx as rx

OPTIONS = {"block_s": "10ms", "receivers": [{"serial": "RX-1", "name": "Bag", "channels": 2}]}


def context(options: dict[str, object]) -> FakeSourceContext:
    return FakeSourceContext(
        options=options,
        plugin="wireless_rx",
        source="receivers",
        kinds=[rx.RECEIVER],
        model_files=[kit.package_models(rx.__file__)],
    )


async def test_each_channel_is_a_sub_device_of_the_new_kind_and_streams_audio() -> None:
    ctx = context(OPTIONS)
    task = asyncio.create_task(rx.ReceiverSource().run(ctx))
    try:
        for serial in ("RX-1-CH1", "RX-1-CH2"):
            call = await ctx.wait_attached(serial, within=5)
            assert call.args[0].name == f"Bag ch {serial[-1]}"
            attached = ctx.registry.get(serial)
            assert attached is not None and attached.kind == rx.RECEIVER and attached.kind.audio
            await ctx.wait_frames(serial, 4800, within=5)
        assert ctx.of_kind("bad-audio") == [] and ctx.of_kind("refused") == []
        assert ctx.last_report == (True, "1 receiver(s), 2 channel(s)")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(ctx.detaches("RX-1-CH1")) == 1 and len(ctx.registry) == 0


async def test_bad_options_are_named() -> None:
    ctx = context({"receivers": [{"serial": "RX-1", "channels": 9}], "block": 1})
    with pytest.raises(kit.OptionsError) as refused:
        await rx.ReceiverSource().run(ctx)
    assert "plugin wireless_rx: unknown option(s) ['block']" in str(refused.value)
    assert "receivers.0.channels: Input should be less than or equal to 8" in str(refused.value)
