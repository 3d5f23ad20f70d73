"""A plugin's options, typed: a pydantic model with unknown keys refused and durations parsed once.

A plugin declares its ``[plugins.options.<plugin>]`` table as a subclass of
:class:`PluginOptions`; :meth:`PluginOptions.load` reads ``ctx.options``, and on a bad table
reports the source unhealthy (``bad options: ...``) and raises :class:`OptionsError`, whose
message names the plugin and every option that is wrong::

    class Options(PluginOptions):
        interfaces: tuple[IPv4Address, ...] = (IPv4Address("127.0.0.1"),)
        stream_timeout_s: Duration = 2.0

    options = Options.load(ctx)

:data:`Duration` reads ``2``, ``1.5``, ``"1.5s"``, ``"200ms"``, ``"2min"`` or ``"1h"`` and gives
seconds (a float in (0, 3600]); :data:`DurationOrZero` also takes 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Protocol, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from c2c_hub.errors import HubError

MAX_DURATION_S = 3600.0
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


class OptionsError(HubError, ValueError):
    """A plugin's options table that it cannot use; the message names the plugin and the keys."""


def parse_duration(value: Any, *, zero: bool = False) -> float:
    """Seconds from a number of seconds or a string with a unit (``"1.5s"``, ``"200ms"``)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration (seconds, or a string like '1.5s'), got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match[1]) * _UNIT_S[match[2]]
    else:
        raise ValueError(
            f"expected a duration (seconds, or a string like '1.5s', '200ms'), got {value!r}"
        )
    if not (0 < seconds <= MAX_DURATION_S or (zero and seconds == 0)):
        low = "[0" if zero else "(0"
        raise ValueError(f"expected seconds in {low}, {MAX_DURATION_S:g}], got {value!r}")
    return seconds


def _duration(value: Any) -> float:
    return parse_duration(value)


def _duration_or_zero(value: Any) -> float:
    return parse_duration(value, zero=True)


#: Seconds in (0, 3600]: ``2``, ``0.5``, ``"1.5s"``, ``"200ms"``, ``"2min"``.
Duration = Annotated[float, BeforeValidator(_duration)]
#: Seconds in [0, 3600] (a jitter, say).
DurationOrZero = Annotated[float, BeforeValidator(_duration_or_zero)]


class _Context(Protocol):
    @property
    def plugin(self) -> str: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    def report(self, healthy: bool, detail: str) -> None: ...


class PluginOptions(BaseModel):
    """The base of a plugin's options: frozen, unknown keys refused, errors that name the key."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, plugin: str) -> Self:
        """The options of ``raw`` (a ``[plugins.options.<plugin>]`` table); or OptionsError."""
        if not isinstance(raw, Mapping):
            raise OptionsError(
                f"plugin {plugin}: [plugins.options.{plugin}] must be a table, "
                f"got {type(raw).__name__}"
            )
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            raise OptionsError(f"plugin {plugin}: {cls._describe(exc)}") from None

    @classmethod
    def load(cls, ctx: _Context) -> Self:
        """``ctx.options`` parsed; on a bad table, report the source unhealthy and raise."""
        try:
            return cls.parse(ctx.options, plugin=ctx.plugin)
        except OptionsError as exc:
            ctx.report(False, f"bad options: {exc}")
            raise

    @classmethod
    def _describe(cls, exc: ValidationError) -> str:
        unknown: list[str] = []
        problems: list[str] = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                unknown.append(where)
                continue
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] != "value_error" and "input" in error:
                message += f", got {error['input']!r}"
            problems.append(f"{where}: {message}" if where else message)
        if unknown:
            known = sorted(cls.model_fields)
            problems.insert(0, f"unknown option(s) {sorted(unknown)}; known: {known}")
        return "; ".join(problems)
