"""A HID report descriptor parser, and the decoding of input reports into pressed usages.

Small on purpose (the remotes the hub cares about describe a keyboard, a consumer control or
a few buttons), written from the HID specification (Device Class Definition for HID 1.11,
§6.2.2, "Report Descriptor") and checked in the tests against ``hid-tools`` (GPL, so only a
test oracle here) on real descriptors and on random reports.

What it understands:

- **main items**: Input (Constant, Data; Array or Variable), Output and Feature (skipped:
  they take no room in an input report), Collection, End Collection;
- **global items**: Usage Page, Logical Minimum and Maximum, Report Size, Report ID, Report
  Count, Push, Pop (physical ranges and units are read and ignored);
- **local items**: Usage (16-bit, or 32-bit "extended" with its page), Usage Minimum and
  Maximum (others are read and ignored);
- long items are skipped.

A usage is ``(page, id)``, e.g. ``(0x0C, 0xE9)`` for Volume Up, ``(0x07, 0x28)`` for Enter.
An input report is decoded into the usages it says are down: for a Variable field of one
bit (or of a 0..1 logical range) each non-zero item; for an Array field each item's value
looked up in the field's usages (0 and values outside the logical range: nothing; on the
keyboard page the error codes 1-3 too).

Nothing here raises anything but :class:`DescriptorError` (a descriptor that cannot be used)
and :class:`ReportError` (a report that does not fit it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from c2c_hub.kit import HubError

KEYBOARD_PAGE = 0x07
CONSUMER_PAGE = 0x0C
BUTTON_PAGE = 0x09

Usage = tuple[int, int]

_MAIN, _GLOBAL, _LOCAL = 0, 1, 2
_INPUT, _OUTPUT, _FEATURE, _COLLECTION, _END_COLLECTION = 0x8, 0x9, 0xB, 0xA, 0xC
_USAGE_PAGE, _LOGICAL_MIN, _LOGICAL_MAX = 0x0, 0x1, 0x2
_REPORT_SIZE, _REPORT_ID, _REPORT_COUNT, _PUSH, _POP = 0x7, 0x8, 0x9, 0xA, 0xB
_USAGE, _USAGE_MIN, _USAGE_MAX = 0x0, 0x1, 0x2
_CONSTANT, _VARIABLE = 0x01, 0x02
_LONG_ITEM = 0xFE
_MAX_REPORT_BITS = 8 * 4096
_MAX_RANGE = 0x10000
_MAX_DEPTH = 32


class DescriptorError(HubError, ValueError):
    """A report descriptor that cannot be used; the message says where and why."""


class ReportError(HubError, ValueError):
    """An input report that does not fit the descriptor (unknown id, too short)."""


@dataclass(frozen=True)
class InputField:
    """One Input main item: ``count`` items of ``size`` bits from ``offset`` (bits, counted
    after the report id byte, if the descriptor uses ids)."""

    report_id: int
    offset: int
    size: int
    count: int
    flags: int
    logical_min: int
    logical_max: int
    usages: tuple[Usage, ...]

    @property
    def constant(self) -> bool:
        return bool(self.flags & _CONSTANT)

    @property
    def variable(self) -> bool:
        return bool(self.flags & _VARIABLE)

    @property
    def signed(self) -> bool:
        return self.logical_min < 0

    def values(self, data: bytes) -> list[int]:
        """The field's ``count`` raw values in ``data`` (the report without its id byte)."""
        number = int.from_bytes(data, "little")
        mask = (1 << self.size) - 1
        out = []
        for i in range(self.count):
            value = (number >> (self.offset + i * self.size)) & mask
            if self.signed and value >> (self.size - 1):
                value -= 1 << self.size
            out.append(value)
        return out

    def usage_of(self, value: int) -> Usage | None:
        """An Array field's item value as the usage it names (None: no usage)."""
        if not self.logical_min <= value <= self.logical_max:
            return None
        index = value - self.logical_min
        if index >= len(self.usages):
            return None
        usage = self.usages[index]
        if usage[1] == 0 or (usage[0] == KEYBOARD_PAGE and usage[1] <= 3):
            return None  # "no event", and the keyboard's ErrorRollOver/POSTFail/ErrorUndefined
        return usage

    def pressed(self, data: bytes) -> Iterator[Usage]:
        if self.constant or not self.usages:
            return
        values = self.values(data)
        if self.variable:
            if not (self.size == 1 or (self.logical_min == 0 and self.logical_max == 1)):
                return  # an axis or a level, not a button
            for i, value in enumerate(values):
                if value:
                    yield self.usages[min(i, len(self.usages) - 1)]
        else:
            for value in values:
                usage = self.usage_of(value)
                if usage is not None:
                    yield usage


@dataclass(frozen=True)
class ReportDescriptor:
    """A parsed report descriptor: its input fields, and the size of each input report."""

    fields: tuple[InputField, ...]
    uses_report_ids: bool
    #: bits of each input report's data (after the id byte), by report id (0: no ids)
    report_bits: dict[int, int] = field(default_factory=dict)

    @property
    def report_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.report_bits))

    def report_length(self, report_id: int) -> int:
        """The input report's length in bytes, its id byte included when there are ids."""
        bits = self.report_bits.get(report_id)
        if bits is None:
            raise ReportError(f"no input report {report_id} in the descriptor")
        return (bits + 7) // 8 + (1 if self.uses_report_ids else 0)

    def usages(self) -> set[Usage]:
        """Every usage an input report of this descriptor can report as down."""
        out: set[Usage] = set()
        for f in self.fields:
            if f.constant:
                continue
            if f.variable:
                if f.size == 1 or (f.logical_min == 0 and f.logical_max == 1):
                    out.update(f.usages[: f.count] if f.count <= len(f.usages) else f.usages)
            else:
                out.update(
                    u for u in f.usages if u[1] != 0 and not (u[0] == KEYBOARD_PAGE and u[1] <= 3)
                )
        return out

    def split(self, report: bytes) -> tuple[int, bytes]:
        """``(report id, data)``: the id byte taken off when the descriptor uses ids."""
        if not report:
            raise ReportError("an empty report")
        if not self.uses_report_ids:
            return 0, report
        return report[0], report[1:]

    def decode(self, report: bytes) -> tuple[int, list[Usage]]:
        """The usages down in ``report`` (its id byte first, when the descriptor uses ids),
        in the order of the descriptor, without repeats; and the report's id.

        :class:`ReportError` for an unknown report id or a report shorter than its fields.
        A longer one is read as far as its fields go (some devices pad their reports).
        """
        report_id, data = self.split(report)
        bits = self.report_bits.get(report_id)
        if bits is None:
            known = ", ".join(str(i) for i in self.report_ids) or "none"
            raise ReportError(f"report id {report_id} is no input report here (ids: {known})")
        if len(data) * 8 < bits:
            raise ReportError(
                f"report {report_id}: {len(data)} byte{'' if len(data) == 1 else 's'} of data, "
                f"its fields need {(bits + 7) // 8}"
            )
        seen: dict[Usage, None] = {}
        for f in self.fields:
            if f.report_id == report_id:
                for usage in f.pressed(data):
                    seen.setdefault(usage, None)
        return report_id, list(seen)


@dataclass
class _Globals:
    usage_page: int = 0
    logical_min: int = 0
    logical_max: int = 0
    logical_max_raw: bytes = b""
    report_size: int = 0
    report_count: int = 0
    report_id: int = 0

    def copy(self) -> _Globals:
        return _Globals(**self.__dict__)


def _items(descriptor: bytes) -> Iterator[tuple[int, int, int, bytes, int]]:
    """``(type, tag, size, data, position)`` for each short item; long items skipped."""
    i = 0
    n = len(descriptor)
    while i < n:
        prefix = descriptor[i]
        if prefix == _LONG_ITEM:
            if i + 2 >= n:
                raise DescriptorError(f"byte {i}: a long item cut short")
            size = descriptor[i + 1]
            i += 3 + size
            if i > n:
                raise DescriptorError("a long item runs past the end")
            continue
        size = (0, 1, 2, 4)[prefix & 0x3]
        if i + 1 + size > n:
            raise DescriptorError(
                f"byte {i}: item 0x{prefix:02x} needs {size} data byte(s), "
                f"{n - i - 1} left: the descriptor is cut short"
            )
        yield (prefix >> 2) & 0x3, prefix >> 4, size, descriptor[i + 1 : i + 1 + size], i
        i += 1 + size


def _unsigned(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _signed(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True) if data else 0


def parse(descriptor: bytes | bytearray | Iterable[int]) -> ReportDescriptor:
    """Parse a report descriptor (the bytes of a Report Map, or of ``/sys/.../report_descriptor``).

    :class:`DescriptorError` when it cannot be parsed, or describes no input report.
    """
    raw = bytes(descriptor)
    if not raw:
        raise DescriptorError("an empty report descriptor")
    g = _Globals()
    stack: list[_Globals] = []
    usages: list[Usage] = []
    usage_min: tuple[int, int] | None = None  # (page, id) of a Usage Minimum awaiting its max
    depth = 0
    fields: list[InputField] = []
    bits: dict[int, int] = {}
    uses_ids = False
    for kind, tag, size, data, pos in _items(raw):
        if kind == _MAIN:
            if tag == _INPUT:
                if g.report_size <= 0 or g.report_size > 32:
                    raise DescriptorError(
                        f"byte {pos}: Input with a report size of {g.report_size} bits"
                    )
                offset = bits.get(g.report_id, 0)
                total = offset + g.report_size * g.report_count
                if total > _MAX_REPORT_BITS:
                    raise DescriptorError(f"byte {pos}: report {g.report_id} is too long")
                logical_max = g.logical_max
                if logical_max < g.logical_min and g.logical_min >= 0:
                    logical_max = _unsigned(g.logical_max_raw)  # 25 FF: 255, not -1
                fields.append(
                    InputField(
                        report_id=g.report_id,
                        offset=offset,
                        size=g.report_size,
                        count=g.report_count,
                        flags=_unsigned(data),
                        logical_min=g.logical_min,
                        logical_max=logical_max,
                        usages=tuple(usages),
                    )
                )
                bits[g.report_id] = total
            elif tag == _COLLECTION:
                depth += 1
                if depth > _MAX_DEPTH:
                    raise DescriptorError(f"byte {pos}: collections nested too deep")
            elif tag == _END_COLLECTION:
                if depth == 0:
                    raise DescriptorError(f"byte {pos}: End Collection without a Collection")
                depth -= 1
            elif tag not in (_OUTPUT, _FEATURE):
                raise DescriptorError(f"byte {pos}: unknown main item tag 0x{tag:x}")
            usages = []
            usage_min = None
        elif kind == _GLOBAL:
            if tag == _USAGE_PAGE:
                g.usage_page = _unsigned(data)
            elif tag == _LOGICAL_MIN:
                g.logical_min = _signed(data)
            elif tag == _LOGICAL_MAX:
                g.logical_max = _signed(data)
                g.logical_max_raw = data
            elif tag == _REPORT_SIZE:
                g.report_size = _unsigned(data)
            elif tag == _REPORT_COUNT:
                g.report_count = _unsigned(data)
                if g.report_count > _MAX_REPORT_BITS:
                    raise DescriptorError(f"byte {pos}: a report count of {g.report_count}")
            elif tag == _REPORT_ID:
                g.report_id = _unsigned(data)
                if not 1 <= g.report_id <= 255:
                    raise DescriptorError(f"byte {pos}: report id {g.report_id} (must be 1-255)")
                uses_ids = True
            elif tag == _PUSH:
                stack.append(g.copy())
            elif tag == _POP:
                if not stack:
                    raise DescriptorError(f"byte {pos}: Pop without a Push")
                g = stack.pop()
        elif kind == _LOCAL:
            value = _unsigned(data)
            usage = (value >> 16, value & 0xFFFF) if size == 4 else (g.usage_page, value)
            if tag == _USAGE:
                usages.append(usage)
            elif tag == _USAGE_MIN:
                usage_min = usage
            elif tag == _USAGE_MAX:
                if usage_min is None:
                    raise DescriptorError(f"byte {pos}: Usage Maximum without a Usage Minimum")
                page, first = usage_min
                last = usage[1]
                if last < first or last - first >= _MAX_RANGE:
                    raise DescriptorError(
                        f"byte {pos}: usage range 0x{first:x}-0x{last:x} is not a range"
                    )
                usages.extend((page, u) for u in range(first, last + 1))
                usage_min = None
        # kind 3 (reserved): ignored, as the specification asks
    if uses_ids and 0 in bits:
        raise DescriptorError("an input field before the first Report ID, but ids are used")
    if not fields:
        raise DescriptorError("the descriptor describes no input report")
    return ReportDescriptor(fields=tuple(fields), uses_report_ids=uses_ids, report_bits=bits)


def usage_text(usage: Usage) -> str:
    """``0x0c:0x00e9``, as device models write a usage."""
    return f"0x{usage[0]:02x}:0x{usage[1]:04x}"
