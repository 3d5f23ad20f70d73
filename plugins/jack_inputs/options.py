"""The plugin's options: the ``[plugins.options.jack_inputs]`` table of the settings (on the
kit's :class:`~c2c_hub.kit.PluginOptions`: unknown keys refused, every bad key named)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from c2c_hub import kit

OptionsError = kit.OptionsError

#: A JACK port's short name: no ``:`` (it separates the client's name), printable, 1-64 long.
_PORT_RE = re.compile(r"^[^:\x00-\x1f]{1,64}$")
_SERIAL_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class InputOption(BaseModel):
    """One input: its name (the track's name and the JACK port's short name) and the ports
    connected to it (``"system:capture_1"``; several are mixed by JACK)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    connect: tuple[str, ...] = ()

    @kit.field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not _PORT_RE.match(value):
            raise ValueError(f"an input's name is 1-64 printable characters, no ':'; got {value!r}")
        return value

    @kit.field_validator("connect", mode="before")
    @classmethod
    def _connect(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of JACK port names, got {value!r}")
        for port in value:
            if not isinstance(port, str) or port.count(":") < 1 or port.startswith(":"):
                raise ValueError(f"expected a full port name like 'system:capture_1', got {port!r}")
        return tuple(value)


class Options(kit.PluginOptions):
    """``server``: the JACK server's name (default: ``$JACK_DEFAULT_SERVER``, else JACK's
    ``default``). The hub never starts a server: it waits for one, and reconnects.

    ``client_name``: the hub's JACK client name (its ports are ``<client_name>:<input name>``).

    ``inputs``: the inputs, in track order: a table each, ``{ name = "Boom", connect =
    ["system:capture_1"] }``; or a number ``n`` for ``in_1`` ... ``in_n``, connected by hand.

    ``ring_s``: how much audio the real-time thread may get ahead of the hub (the buffer
    between JACK's process callback and the thread that hands blocks to the hub).

    ``deliver_s``: how often blocks are handed to the hub.

    ``reconnect_s``: how often to look for a server that is not (or no longer) there.

    ``capture_timeout_s``: how long the capture process (the JACK client's own process) may
    stay silent before the hub takes it for stuck, kills it and starts another.
    """

    server: str | None = None
    client_name: str = kit.Field(default="c2c-hub", min_length=1, max_length=60)
    inputs: tuple[InputOption, ...] = ()
    ring_s: float = kit.Field(default=2.0, ge=0.2, le=30.0)
    deliver_s: kit.Duration = 0.02
    reconnect_s: kit.Duration = 1.0
    capture_timeout_s: float = kit.Field(default=10.0, ge=1.0, le=300.0)

    @kit.field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= 128:
                raise ValueError(f"expected 0 to 128 inputs, got {value}")
            return tuple({"name": f"in_{i + 1}"} for i in range(value))
        return value

    @kit.model_validator(mode="after")
    def _unique(self) -> Options:
        names = [i.name for i in self.inputs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"inputs: each input needs a name of its own; twice: {twice}")
        serials = [self.serial(i) for i in self.inputs]
        if len(set(serials)) != len(serials):
            raise ValueError("inputs: two names give the same serial; rename one")
        return self

    def serial(self, item: InputOption) -> str:
        """An input's stable serial: the client's and the input's names (both settings)."""
        base = _SERIAL_UNSAFE.sub("-", f"{self.client_name}-{item.name}").strip("-.")
        return f"jack-{base}"[:128]
