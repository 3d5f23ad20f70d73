"""The aes67 source end to end: emulated senders on loopback multicast, announced by SAP or
by SDP files, become one microphone per channel, with every sample at its place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from c2c_hub_plugins.aes67 import MODEL_ID
from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender
from c2c_hub_plugins.aes67.sdp import parse_sdp
from c2c_hub_plugins.aes67.source import channel_serial
from c2c_hub_plugins.aes67.timeline import MediaTimeline

from .conftest import FakeSourceContext

Senders = Callable[..., EmulatedAes67Sender]


def serials(sender: EmulatedAes67Sender) -> list[str]:
    session = parse_sdp(sender.sdp)
    media = session.streams[0]
    return [channel_serial(session, media, c) for c in range(media.channels)]


def assert_exact(ctx: FakeSourceContext, sender: EmulatedAes67Sender, channel: int) -> int:
    """Every sample received on the channel is the sender's at that place; returns how many."""
    serial = serials(sender)[channel]
    first, got = ctx.span(serial)
    timeline = MediaTimeline(sender.format.sample_rate)
    # the index of the first received sample: positions are index - midnight, so search it
    # by the sender's own first index (the sender started before the source received)
    assert sender.first_index is not None
    base = sender.first_index - timeline.position(sender.first_index)
    expected = sender.expected(base + first, got.size)[:, channel].astype(np.int64)
    assert np.array_equal(got, expected), "samples differ from the sender's at their place"
    return int(got.size)


async def test_a_sap_announced_stream_becomes_one_microphone_per_channel(
    run_source: Any, senders: Senders
) -> None:
    sender = senders(channels=4, labels=["Boom", "Lav 1", "Lav 2", "Plant"])
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("4 channels", lambda: len(ctx.attached()) == 4)
    devices = {c.args[0].serial: c.args[0] for c in ctx.of_kind("attach")}
    assert set(devices) == set(serials(sender))
    names = [devices[s].name for s in serials(sender)]
    assert names == ["Boom", "Lav 1", "Lav 2", "Plant"]
    assert {d.model_id for d in devices.values()} == {MODEL_ID}
    assert all(d.audio is not None and d.audio.bits == 24 for d in devices.values())
    for serial in serials(sender):
        await ctx.wait_for(f"0.5 s of {serial}", lambda s=serial: ctx.frames(s) >= 24000)
    for channel in range(4):
        assert assert_exact(ctx, sender, channel) >= 24000
    counters = run.source.streams()[0]
    assert counters["lost"] == 0 and counters["malformed"] == 0
    assert ctx.of_kind("refused") == [] and ctx.of_kind("bad-audio") == []


async def test_a_sap_deletion_detaches_the_channels(run_source: Any, senders: Senders) -> None:
    sender = senders(channels=2)
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2)
    sender.stop()  # sends the SAP deletion
    await ctx.wait_for("detached", lambda: not ctx.attached())
    reasons = {c.args[1] for c in ctx.of_kind("detach")}
    assert reasons == {"no longer announced"}


async def test_re_announcements_keep_the_same_identity(run_source: Any, senders: Senders) -> None:
    """Repeated announcements attach once; the serials come from the SDP origin, so a
    second source run (a restart of the hub) finds the same ones."""
    sender = senders(channels=2)
    first = await run_source()
    await first.ctx.wait_for("2 channels", lambda: len(first.ctx.attached()) == 2)
    await first.ctx.wait_for("4 announcements", lambda: sender.announcements_sent >= 4)
    assert len(first.ctx.of_kind("attach")) == 2
    await first.stop()
    second = await run_source()
    await second.ctx.wait_for("2 channels", lambda: len(second.ctx.attached()) == 2)
    assert second.ctx.attached() == set(serials(sender))


async def test_an_sdp_file_in_the_folder_starts_and_stops_a_stream(
    run_source: Any, senders: Senders, tmp_path: Path
) -> None:
    sender = senders(channels=2, sap=False, encoding="L16")
    run = await run_source(sap=False, sdp_folder=str(tmp_path))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("the folder watched", lambda: ctx.last_report is not None)
    path = tmp_path / "dante-flow.sdp"
    path.write_text(sender.sdp)
    await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2)
    await ctx.wait_for("audio", lambda: ctx.frames(serials(sender)[1]) >= 4800)
    assert assert_exact(ctx, sender, 1) >= 4800
    path.unlink()
    await ctx.wait_for("detached", lambda: not ctx.attached())


async def test_a_bad_sdp_file_is_reported_by_line_and_the_others_carry_on(
    run_source: Any, senders: Senders, tmp_path: Path
) -> None:
    good = senders(channels=1, sap=False)
    (tmp_path / "good.sdp").write_text(good.sdp)
    (tmp_path / "bad.sdp").write_text(good.sdp.replace("L24/48000/1", "L24/48000/65"))
    run = await run_source(sap=False, sdp_folder=str(tmp_path))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("the good channel", lambda: len(ctx.attached()) == 1)
    await ctx.wait_for("the report", lambda: ctx.last_report and "ignored" in ctx.last_report[1])
    assert ctx.last_report is not None
    healthy, detail = ctx.last_report
    assert not healthy
    assert "bad.sdp" in detail and "channel count '65'" in detail and "line 9" in detail


async def test_a_stream_that_stops_is_reported_silent(run_source: Any, senders: Senders) -> None:
    sender = senders(channels=1)
    run = await run_source(stream_timeout_s=0.5)
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("attached", lambda: len(ctx.attached()) == 1)
    sender.stop_audio()  # the RTP stops; SAP goes on announcing the stream
    await ctx.wait_for("silent", lambda: ctx.last_report and "silent" in ctx.last_report[1])
    assert run.source.streams()[0]["state"] == "silent"
    assert len(ctx.attached()) == 1  # still announced: the channel stays
    (serial,) = serials(sender)
    details = ctx.registry.get(serial).device.details  # type: ignore[union-attr]
    assert details["warning"] == "no packet for 0.5 s (still announced)"  # on its status
    # ... and where the operator reads it: the terminal view and `c2c-hub devices`
    shown = _shown(ctx.registry.snapshot())
    assert f"⚠ {serial} no packet for 0.5 s (still announced)" in shown["live"]
    assert "no packet for 0.5 s (still announced)" in shown["cli"]
    assert f"({serial}): no packet for 0.5 s (still announced)" in shown["plain"]


def _shown(devices: list[dict[str, Any]]) -> dict[str, str]:
    """The devices as status["devices"] has them, on the terminal view's devices panel and in
    ``c2c-hub devices``'s human output."""
    import io

    from rich.console import Console

    from c2c_hub.ui.cli_devices import render_devices
    from c2c_hub.ui.live.devices import devices_section
    from c2c_hub.ui.live.plain import PlainLog

    out = io.StringIO()
    render_devices({"devices": devices, "channels": {}}, Console(file=out, width=200))
    section = devices_section({"devices": devices, "channels": {}})
    assert section is not None
    live = io.StringIO()
    console = Console(file=live, width=160)
    for row in section.rows:
        console.print(*(row if isinstance(row, tuple) else (row,)))
    lines: list[str] = []
    PlainLog(lines.append).observe({"devices": devices}, 0.0)  # `c2c-hub run` without a tty
    return {"cli": out.getvalue(), "live": live.getvalue(), "plain": "\n".join(lines)}


async def test_a_folder_that_goes_away_stops_its_streams_and_is_waited_for(
    run_source: Any, senders: Senders, tmp_path: Path
) -> None:
    sender = senders(channels=1, sap=False)
    folder = tmp_path / "sdp"
    run = await run_source(sap=False, sdp_folder=str(folder))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for(
        "missing", lambda: ctx.last_report and "does not exist" in ctx.last_report[1]
    )
    folder.mkdir()
    (folder / "a.sdp").write_text(sender.sdp)
    await ctx.wait_for("attached", lambda: len(ctx.attached()) == 1)
    (folder / "a.sdp").unlink()
    folder.rmdir()
    await ctx.wait_for("detached", lambda: not ctx.attached())
    folder.mkdir()
    (folder / "a.sdp").write_text(sender.sdp)
    await ctx.wait_for("attached again", lambda: len(ctx.attached()) == 1)


async def test_a_broken_part_of_the_source_fails_the_run_for_the_hub_to_restart(
    run_source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c2c_hub_plugins.aes67 import source as source_module

    async def broken_tick(self: object) -> None:
        raise RuntimeError("the delivery loop broke")

    monkeypatch.setattr(source_module._Discovery, "_tick", broken_tick)
    run = await run_source(sap=False, ravenna=False)
    with pytest.raises(RuntimeError, match="the delivery loop broke"):
        async with asyncio.timeout(10):
            await run.task


async def test_a_session_whose_format_changes_restarts_its_stream(
    run_source: Any, senders: Senders, tmp_path: Path
) -> None:
    """Same SDP origin, new format (two channels become four, on another group): the old
    stream stops, the new one starts, and channels 1 and 2 keep their serials."""
    two = senders(channels=2, sap=False)
    four = senders(channels=4, sap=False, session_id=two.session_id, encoding="L16")
    path = tmp_path / "console.sdp"
    path.write_text(two.sdp)
    run = await run_source(sap=False, sdp_folder=str(tmp_path))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2)
    path.write_text(four.sdp)
    await ctx.wait_for("4 channels", lambda: len(ctx.attached()) == 4)
    assert serials(four)[:2] == serials(two)
    assert {c.args[1] for c in ctx.of_kind("detach")} == {"its SDP changed format"}
    await ctx.wait_for("audio of the new format", lambda: ctx.frames(serials(four)[3]) >= 4800)
    assert assert_exact(ctx, four, 3) >= 4800
    (stream,) = run.source.streams()
    assert stream["format"] == "L16/48000/4" and stream["malformed"] == 0


async def test_renamed_channels_are_renamed_not_reconnected(
    run_source: Any, senders: Senders
) -> None:
    """A new version of the session (new labels, a new SAP hash): the same channels, renamed;
    nothing detaches and the audio goes on."""
    sender = senders(channels=2, labels=["Boom", "Lav"])
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2)
    sender.relabel(["Boom A", "Lav Bob"])
    await ctx.wait_for(
        "renamed", lambda: {a.device.name for a in ctx.registry} == {"Boom A", "Lav Bob"}
    )
    assert ctx.of_kind("detach") == []
    frames = ctx.frames(serials(sender)[1])
    await ctx.wait_for("more audio", lambda: ctx.frames(serials(sender)[1]) > frames + 4800)
    assert assert_exact(ctx, sender, 1) > 4800


async def test_a_source_filter_joins_source_specific_and_refuses_other_senders(
    run_source: Any, senders: Senders, tmp_path: Path
) -> None:
    """``a=source-filter: incl``: the group is joined for the named source only (SSM), so a
    stream from anyone else on the same group and port never reaches the channels."""
    ours = senders(channels=1, sap=False, source_filter=True)  # names 127.0.0.1
    (tmp_path / "ours.sdp").write_text(ours.sdp)
    impostor = ours.sdp.replace(f"{ours.address} 127.0.0.1\r\n", f"{ours.address} 127.0.0.2\r\n")
    impostor = impostor.replace(f"o=- {ours.session_id} ", f"o=- {ours.session_id + 1} ")
    assert f"incl IN IP4 {ours.address} 127.0.0.2" in impostor
    (tmp_path / "other.sdp").write_text(impostor)  # same group and port, another source
    run = await run_source(sap=False, sdp_folder=str(tmp_path))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("our channel", lambda: len(ctx.attached()) == 1)
    await ctx.wait_for("audio", lambda: ctx.frames(serials(ours)[0]) >= 9600)
    assert ctx.attached() == set(serials(ours))  # the one filtered to 127.0.0.2 hears nothing
    states = {s["stream"].split()[1]: (s["state"], s["received"]) for s in run.source.streams()}
    assert states[str(ours.session_id + 1)] == ("waiting", 0)
    assert assert_exact(ctx, ours, 0) >= 9600


@pytest.mark.parametrize("new_version", [False, True], ids=["same-version", "new-version"])
async def test_a_new_ptp_grandmaster_alone_is_noticed_and_the_stream_placed_afresh(
    run_source: Any, senders: Senders, new_version: bool
) -> None:
    """A sender re-announced with only ``a=ts-refclk`` changed (another grandmaster, another
    domain), as the same session version or a new one: the stream's clock reference is the
    new one, its timeline is placed afresh (not continued on the old clock's), a warning names
    both grandmasters, and the channel stays attached with every sample at its place."""
    old, new = "00-1D-C1-FF-FE-00-00-0A", "00-1D-C1-FF-FE-00-00-0B"
    sender = senders(channels=1, grandmaster=old, domain=0)
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    (serial,) = serials(sender)
    await ctx.wait_for("audio", lambda: ctx.frames(serial) >= 4800)

    def details() -> dict[str, str]:
        return ctx.registry.get(serial).device.details  # type: ignore[union-attr]

    assert details()["ptp_grandmaster"] == old and "warning" not in details()
    sender.change_grandmaster(new, 1, new_version=new_version)
    await ctx.wait_for("the new clock", lambda: details()["ptp_grandmaster"] == new)
    assert details()["ptp_domain"] == "1"
    warning = details()["warning"]
    assert f"from {old} (domain 0) to {new} (domain 1)" in warning, warning
    (stream,) = run.source.streams()
    assert (stream["ptp_grandmaster"], stream["ptp_domain"]) == (new, 1)
    assert stream["clock_changes"] == 1  # placed afresh, once
    assert any(old in w and new in w for w in stream["warnings"])
    assert ctx.of_kind("detach") == []
    frames = ctx.frames(serial)
    await ctx.wait_for("more audio", lambda: ctx.frames(serial) > frames + 4800)
    assert assert_exact(ctx, sender, 0) > frames + 4800


async def test_each_streams_ptp_clock_is_shown_and_a_disagreement_warned(
    run_source: Any, senders: Senders
) -> None:
    a = senders(channels=1, grandmaster="00-1D-C1-FF-FE-00-00-01", domain=0)
    b = senders(channels=1, grandmaster="00-1D-C1-FF-FE-00-00-01", domain=0)
    run = await run_source()
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("2 channels", lambda: len(ctx.attached()) == 2)
    details = ctx.registry.get(serials(a)[0]).device.details  # type: ignore[union-attr]
    assert (details["ptp_grandmaster"], details["ptp_domain"]) == ("00-1D-C1-FF-FE-00-00-01", "0")
    assert ctx.last_report is not None and "disagree" not in ctx.last_report[1]
    assert {s["ptp_grandmaster"] for s in run.source.streams()} == {"00-1D-C1-FF-FE-00-00-01"}
    del b
    c = senders(channels=1, grandmaster="00-1D-C1-FF-FE-00-00-02", domain=1)
    await ctx.wait_for("3 channels", lambda: len(ctx.attached()) == 3)
    await ctx.wait_for(
        "the warning",
        lambda: (
            ctx.last_report is not None
            and "disagree on the PTP grandmaster" in ctx.last_report[1]
            and "00-1D-C1-FF-FE-00-00-02" in ctx.last_report[1]
        ),
    )
    details = ctx.registry.get(serials(c)[0]).device.details  # type: ignore[union-attr]
    assert details["ptp_domain"] == "1"
    # Each channel's clock and the disagreement, where the operator reads them.
    shown = _shown(ctx.registry.snapshot())
    plain = shown.pop("plain")
    assert "warning: streams disagree on the PTP grandmaster" in plain
    for text in shown.values():
        assert "PTP gm 00-1D-C1-FF-FE-00-00-02 domain 1" in text
        assert "PTP gm 00-1D-C1-FF-FE-00-00-01 domain 0" in text
        assert (
            "streams disagree on the PTP grandmaster: 00-1D-C1-FF-FE-00-00-01, "
            "00-1D-C1-FF-FE-00-00-02" in text
        )
