"""Our report descriptor parser against hid-tools (GPL: a test oracle only), on the report
descriptors of real devices (tests/plugins/hid_remotes/descriptors.py) and on random reports."""

from __future__ import annotations

import hidtools.hid as hidtools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from c2c_hub_plugins.hid_remotes.descriptor import (
    CONSUMER_PAGE,
    KEYBOARD_PAGE,
    DescriptorError,
    ReportError,
    Usage,
    parse,
)
from tests.plugins.hid_remotes.descriptors import (
    ALL,
    CLICKER,
    CONSUMER_16BIT,
    MEDIA_REMOTE,
    MI_REMOTE,
    SHUTTER,
)

VOLUME_UP = (CONSUMER_PAGE, 0xE9)
VOLUME_DOWN = (CONSUMER_PAGE, 0xEA)
PLAY_PAUSE = (CONSUMER_PAGE, 0xCD)
ENTER = (KEYBOARD_PAGE, 0x28)
PAGE_DOWN = (KEYBOARD_PAGE, 0x4E)
LEFT_SHIFT = (KEYBOARD_PAGE, 0xE1)


def oracle(descriptor: bytes, report: bytes) -> list[Usage]:
    """The usages down in ``report`` as hid-tools reads the fields (same rule for "down")."""
    rd = hidtools.ReportDescriptor.from_bytes(list(descriptor))
    uses_ids = any(rid != 0 for rid in rd.input_reports) or bool(rd.input_reports.get(-1))
    rid = report[0] if uses_ids else -1
    hid_report = rd.input_reports[rid] if rid in rd.input_reports else rd.get(rid, len(report))
    assert hid_report is not None
    out: dict[Usage, None] = {}
    for f in hid_report.fields:
        if f.is_const:
            continue
        values = f.get_values(list(report))
        if f.is_array:
            assert f.usages is not None
            for v in values:
                assert isinstance(v, int)
                if not f.logical_min <= v <= f.logical_max or v - f.logical_min >= len(f.usages):
                    continue
                u = f.usages[v - f.logical_min]
                usage = (u >> 16, u & 0xFFFF)
                if usage[1] == 0 or (usage[0] == KEYBOARD_PAGE and usage[1] <= 3):
                    continue
                out.setdefault(usage, None)
        elif f.size == 1 or (f.logical_min == 0 and f.logical_max == 1):
            if values[0]:
                out.setdefault((f.usage >> 16, f.usage & 0xFFFF), None)
    return list(out)


@pytest.mark.parametrize(
    ("descriptor", "report", "down"),
    [
        (SHUTTER, bytes.fromhex("01 00 00 28 00 00 00 00 00"), [ENTER]),
        (SHUTTER, bytes.fromhex("01 02 00 28 00 00 00 00 00"), [LEFT_SHIFT, ENTER]),
        (SHUTTER, bytes.fromhex("02 01"), [VOLUME_UP]),
        (SHUTTER, bytes.fromhex("02 02"), [VOLUME_DOWN]),
        (SHUTTER, bytes.fromhex("02 00"), []),
        (SHUTTER, bytes.fromhex("03 E9 00"), [VOLUME_UP]),
        (SHUTTER, bytes.fromhex("03 CD 00"), [PLAY_PAUSE]),
        (SHUTTER, bytes.fromhex("03 00 00"), []),
        (MI_REMOTE, bytes.fromhex("02 E9 00"), [VOLUME_UP]),
        (MI_REMOTE, bytes.fromhex("01 00 00 4E 00 00 00 00 00"), [PAGE_DOWN]),
        (MEDIA_REMOTE, bytes.fromhex("05 20 00"), [VOLUME_UP]),  # bit 5: the 6th usage
        (MEDIA_REMOTE, bytes.fromhex("05 01 00"), [PLAY_PAUSE]),
        (MEDIA_REMOTE, bytes.fromhex("05 00 00"), []),
        (CLICKER, bytes.fromhex("00 00 4E 00 00 00 00 00"), [PAGE_DOWN]),
        (CONSUMER_16BIT, bytes.fromhex("03 E9 00"), [VOLUME_UP]),
        (CONSUMER_16BIT, bytes.fromhex("03 CD 00"), [PLAY_PAUSE]),
        (CONSUMER_16BIT, bytes.fromhex("03 00 00"), []),  # below its logical minimum
        (CONSUMER_16BIT, bytes.fromhex("03 8D 02"), []),  # above its logical maximum
        (CLICKER, bytes.fromhex("00 00 01 01 01 01 01 01"), []),  # ErrorRollOver: nothing
    ],
)
def test_reports_of_real_devices_decode_as_hid_tools_reads_them(
    descriptor: bytes, report: bytes, down: list[Usage]
) -> None:
    _, usages = parse(descriptor).decode(report)
    assert usages == down
    assert oracle(descriptor, report) == down


def test_report_lengths_and_ids_match_hid_tools() -> None:
    for name, descriptor in ALL.items():
        ours = parse(descriptor)
        theirs = hidtools.ReportDescriptor.from_bytes(list(descriptor))
        ids = sorted(theirs.input_reports)
        expected = [i for i in ids if i >= 0] or [0]
        assert list(ours.report_ids) == expected, name
        for rid in ours.report_ids:
            key = rid if ours.uses_report_ids else -1
            # hid-tools' own size rounds down (2 for the media remote's 8 + 15 bits); the end
            # of its last field, rounded up as the kernel does, is the length on the wire.
            end = max(f.start + f.size * f.count for f in theirs.input_reports[key].fields)
            assert ours.report_length(rid) == (end + 7) // 8, name


@st.composite
def reports(draw: st.DrawFn) -> tuple[bytes, bytes]:
    name = draw(st.sampled_from(sorted(ALL)))
    descriptor = ALL[name]
    parsed = parse(descriptor)
    rid = draw(st.sampled_from(parsed.report_ids))
    length = parsed.report_length(rid) - (1 if parsed.uses_report_ids else 0)
    data = draw(st.binary(min_size=length, max_size=length))
    return descriptor, (bytes([rid]) if parsed.uses_report_ids else b"") + data


@settings(max_examples=200, deadline=None, database=None)  # nothing written to the checkout
@given(reports())
def test_random_reports_decode_as_hid_tools_reads_them(case: tuple[bytes, bytes]) -> None:
    descriptor, report = case
    assert parse(descriptor).decode(report)[1] == oracle(descriptor, report)


def test_the_usages_a_descriptor_can_press() -> None:
    usages = parse(MEDIA_REMOTE).usages()
    assert usages == {(CONSUMER_PAGE, u) for u in (0xCD, 0x6F, 0x70, 0xB5, 0xB6, 0xE9, 0xEA)}
    assert ENTER in parse(SHUTTER).usages() and VOLUME_UP in parse(SHUTTER).usages()


@pytest.mark.parametrize(
    ("descriptor", "why"),
    [
        (b"", "empty"),
        (bytes.fromhex("05 01 09 06 A1 01 26 FF"), "cut short"),
        (bytes.fromhex("05 0C A1 01 C0"), "no input report"),
        (bytes.fromhex("05 0C C0"), "without a Collection"),
        (bytes.fromhex("B4"), "Pop without a Push"),
        (bytes.fromhex("29 05"), "without a Usage Minimum"),
        (bytes.fromhex("85 00"), "report id 0"),
        (bytes.fromhex("75 00 95 01 81 02"), "report size of 0"),
        (bytes.fromhex("75 08 95 01 81 02 85 01 75 08 95 01 81 02"), "before the first Report ID"),
    ],
)
def test_a_descriptor_that_cannot_be_used_is_refused_with_a_reason(
    descriptor: bytes, why: str
) -> None:
    with pytest.raises(DescriptorError, match=why):
        parse(descriptor)


def test_a_report_that_does_not_fit_is_refused_with_a_reason() -> None:
    shutter = parse(SHUTTER)
    with pytest.raises(ReportError, match="report 1: 2 bytes of data, its fields need 8"):
        shutter.decode(bytes.fromhex("01 00 28"))
    with pytest.raises(ReportError, match=r"report id 9 is no input report here \(ids: 1, 2, 3\)"):
        shutter.decode(bytes.fromhex("09 00"))
    with pytest.raises(ReportError, match="empty"):
        shutter.decode(b"")
    # Longer than its fields: read as far as they go (devices pad).
    assert shutter.decode(bytes.fromhex("02 01 00 00"))[1] == [VOLUME_UP]


def test_push_pop_and_extended_usages() -> None:
    descriptor = bytes.fromhex(
        "05 0C A1 01 85 04 15 00 25 01 75 01 95 01"
        " A4 05 07 09 28 81 02 B4"  # Push, the keyboard's Enter, Pop
        " 0B E9 00 0C 00 81 02"  # an extended usage: Consumer Volume Up, page in the item
        " 09 EA 81 02 95 05 81 01 C0"  # back on the consumer page after the Pop
    )
    rd = parse(descriptor)
    assert rd.decode(bytes.fromhex("04 07"))[1] == [ENTER, VOLUME_UP, VOLUME_DOWN]
    assert rd.decode(bytes.fromhex("04 07"))[1] == oracle(descriptor, bytes.fromhex("04 07"))
