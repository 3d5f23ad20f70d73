"""The screen's layout: titled sections of one-line rows, shown with as many rows as the
screen allows (:func:`allocate` hands rows out so every section gets its share)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

Row = Text | tuple[RenderableType, ...]


@dataclass
class Column:
    justify: str = "left"
    ratio: int | None = None
    min_width: int | None = None
    max_width: int | None = None
    style: str = ""


@dataclass
class Section:
    """A titled list of one-line rows; shown with as many rows as the screen allows."""

    title: Text
    rows: list[Row] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    empty: str | None = None

    @property
    def want(self) -> int:
        return len(self.rows) or (1 if self.empty else 0)

    def draw(self, n: int) -> RenderableType:
        parts: list[RenderableType] = [Rule(self.title, align="left", style="dim")]
        rows = list(self.rows)
        if not rows and self.empty:
            rows = [Text(self.empty, style="dim")]
        if len(rows) > n:
            hidden = len(rows) - max(0, n - 1)
            rows = [*rows[: max(0, n - 1)], Text(f"  … and {hidden} more", style="dim")]
        table: Table | None = None
        for row in rows:
            if isinstance(row, Text):
                table = None
                row.no_wrap = True
                row.overflow = "ellipsis"
                parts.append(row)
                continue
            if table is None:
                table = Table.grid(padding=(0, 1), expand=True)
                for col in self.columns:
                    table.add_column(
                        justify=col.justify,  # type: ignore[arg-type]
                        ratio=col.ratio,
                        min_width=col.min_width,
                        max_width=col.max_width,
                        no_wrap=True,
                        overflow="ellipsis",
                        style=col.style,
                    )
                parts.append(table)
            table.add_row(*row)
        return Group(*parts)


@dataclass
class Pair:
    """Two sections side by side (on wide screens), sharing their rows."""

    left: Section
    right: Section

    @property
    def want(self) -> int:
        return max(self.left.want, self.right.want)

    def draw(self, n: int) -> RenderableType:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(self.left.draw(n), self.right.draw(n))
        return grid


Block = Section | Pair


def allocate(blocks: Sequence[Block], budget: int) -> list[int]:
    """Rows per block (-1: not shown). Each shown block costs its title line; rows are then
    handed out one at a time, in order, so every section gets its share."""
    shown = [-1] * len(blocks)
    left = budget
    for i, block in enumerate(blocks):
        need = 1 + min(1, block.want)
        if left < need:
            break
        shown[i] = min(1, block.want)
        left -= need
    while left > 0:
        gave = False
        for i, block in enumerate(blocks):
            if shown[i] >= 0 and shown[i] < block.want and left > 0:
                shown[i] += 1
                left -= 1
                gave = True
        if not gave:
            break
    return shown


def one_line(*parts: str | tuple[str, str] | Text) -> Text:
    text = Text.assemble(*parts)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def label(name: str) -> tuple[str, str]:
    return (f"{name:<9}", "bold")
