"""The control API's request bodies, as typed models: a bad value is a 400 naming its field.

Every model forbids unknown fields; numbers are strict (``true`` is not 1, ``1e308`` is not a
priority) and bounded, strings are bounded, so nothing a caller sends reaches the uploader or
the database as something it cannot hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

PRIORITY_LIMIT = 1_000_000
Priority = Annotated[StrictInt, Field(ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT)]
FileId = Annotated[StrictInt, Field(ge=1, le=2**62)]
PathText = Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Enqueue(Body):
    paths: list[PathText] = Field(min_length=1, max_length=1000)
    priority: Priority = 0
    channel: Annotated[StrictInt, Field(ge=0, le=2**31)] = 0
    filetype: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None


class StartFiles(Body):
    ids: list[FileId] = Field(max_length=10_000)


class SetPriority(Body):
    priority: Priority


class TypePriority(Body):
    key: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    priority: Priority


class Mode(Body):
    mode: Literal["auto", "manual"]


class Switch(Body):
    on: StrictBool


class TakeStart(Body):
    scene: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    take: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    # Start even with no source attached (a take of no tracks); refused otherwise.
    force: StrictBool = False


class Login(Body):
    code: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None
    token: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None


def describe(error: ValidationError) -> str:
    """One line per bad field: ``priority: Input should be less than or equal to 1000000``."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)
