"""Device models: one TOML file per Frame.io device model, read by the hub and the emulator alike.

A file declares the Frame.io ``device_model_id``, a name, the kind of device (a name in the
:class:`~c2c_hub.device_kinds.DeviceKindRegistry`: the hub's own kinds, or one a plugin declares),
the channel's asset type, how the device is discovered (mDNS service type and TXT rules; BLE name,
service UUID, manufacturer id; a network audio stream's SDP fields and RAVENNA TXT record) and,
for real-time-logging-capable models, their inputs (buttons).

The hub's own models ship in ``device_models/``; a plugin ships its own in its package
(the ``register_device_models`` hook), added to the same registry at start
(:meth:`DeviceModelRegistry.add`). Errors name the file and the field, and for a plugin's file
the plugin (:class:`DeviceModelError`).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from c2c_hub.device_kinds import (
    BUILT_IN,
    KIND_NAME_RE,
    DeviceKind,
    DeviceKindError,
    DeviceKindRegistry,
)
from c2c_hub.errors import HubError

__all__ = [
    "SHIPPED_MODELS_PACKAGE",
    "DeviceKind",
    "DeviceKindError",
    "DeviceKindRegistry",
    "DeviceModel",
    "DeviceModelError",
    "DeviceModelRegistry",
    "Input",
    "load_device_model",
    "load_device_models",
    "shipped_models_dir",
]

#: The package that holds the device models shipped with the hub (the repository's
#: ``device_models/`` folder, installed as package data).
SHIPPED_MODELS_PACKAGE = "c2c_hub.device_models_data"


def shipped_models_dir() -> Path:
    """The folder of the device models shipped with the hub, installed or in a checkout."""
    spec = importlib.util.find_spec(SHIPPED_MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise DeviceModelError(
            f"the hub's own device models ({SHIPPED_MODELS_PACKAGE}) are missing"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class DeviceModelError(HubError, ValueError):
    """A device model file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MdnsMatcher(_Strict):
    service_type: str
    txt: dict[str, str] = Field(default_factory=dict)

    @field_validator("service_type")
    @classmethod
    def _service_type(cls, value: str) -> str:
        if not (value.startswith("_") and value.endswith(("._tcp.local.", "._udp.local."))):
            raise ValueError(f"must look like _name._tcp.local., got {value!r}")
        return value


class BleMatcher(_Strict):
    name_prefix: str | None = None
    service_uuid: str | None = None
    manufacturer_id: int | None = Field(default=None, ge=0, le=0xFFFF)
    # The GATT characteristic whose notifications carry the presses (see docs/ble-remotes.md).
    button_characteristic: str | None = None

    @field_validator("service_uuid", "button_characteristic")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        return None if value is None else str(uuid.UUID(value))

    @model_validator(mode="after")
    def _something(self) -> BleMatcher:
        if self.name_prefix is None and self.service_uuid is None and self.manufacturer_id is None:
            raise ValueError("needs at least one of name_prefix, service_uuid, manufacturer_id")
        return self


class SdpMatcher(_Strict):
    """A network audio stream (AES67, RAVENNA, Dante in AES67 mode) by its session
    description: each field given must match (regular expressions are searched,
    case-insensitively), and the most specific model that matches wins.

    ``session_name``: the ``s=`` line; ``username``: the ``o=`` line's username; ``info``: an
    ``i=`` line (the session's or the stream's: channel labels are often there); ``tool``: the
    ``a=tool`` attribute (the sender's software); ``channels``: the stream's channel count is
    one of these; ``txt``: the RAVENNA session's mDNS TXT record holds these keys with exactly
    these values."""

    session_name: str | None = None
    username: str | None = None
    info: str | None = None
    tool: str | None = None
    channels: tuple[int, ...] = ()
    txt: dict[str, str] = Field(default_factory=dict)

    @field_validator("session_name", "username", "info", "tool")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc}): {value!r}") from None
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= n <= 64 for n in value):
            raise ValueError(f"channel counts are 1 to 64, got {list(value)}")
        return value

    @property
    def rules(self) -> int:
        """How many rules it has (the more, the more specific)."""
        named = [self.session_name, self.username, self.info, self.tool]
        return sum(x is not None for x in named) + bool(self.channels) + len(self.txt)


class EvdevMatcher(_Strict):
    """A Linux input device the kernel owns (``/dev/input/event*``), by what it says it is."""

    name_prefix: str | None = None
    vendor_id: int | None = Field(default=None, ge=0, le=0xFFFF)
    product_id: int | None = Field(default=None, ge=0, le=0xFFFF)

    @model_validator(mode="after")
    def _something(self) -> EvdevMatcher:
        if self.name_prefix is None and self.vendor_id is None and self.product_id is None:
            raise ValueError("needs at least one of name_prefix, vendor_id, product_id")
        return self


class Discovery(_Strict):
    mdns: MdnsMatcher | None = None
    ble: BleMatcher | None = None
    sdp: SdpMatcher | None = None
    evdev: EvdevMatcher | None = None


_HID_USAGE_RE = re.compile(r"^0x([0-9a-fA-F]{1,4}):0x([0-9a-fA-F]{1,4})$")
_EVDEV_KEY_RE = re.compile(r"^(KEY|BTN)_[A-Z0-9_]+$")


def parse_hid_usage(text: str) -> tuple[int, int]:
    """``"0x0c:0x00e9"`` (usage page : usage id, hexadecimal) as ``(0x0C, 0xE9)``."""
    match = _HID_USAGE_RE.match(text)
    if match is None:
        raise ValueError(f"a HID usage is written page:id in hex, e.g. 0x0c:0x00e9, got {text!r}")
    return int(match.group(1), 16), int(match.group(2), 16)


class Input(_Strict):
    """One physical button of a real-time-logging-capable model (indexed from 0)."""

    index: int = Field(ge=0)
    name: str = Field(min_length=1)
    code: int | None = Field(default=None, ge=0, le=255)  # the button's code in a notification
    #: HID usages (``"0x0c:0x00e9"``, page:id) that press this input, for HID remotes
    hid_usages: tuple[str, ...] = ()
    #: Linux key names (``"KEY_VOLUMEUP"``) that press this input, for evdev devices
    evdev_keys: tuple[str, ...] = ()
    action: Literal["single_press"] = "single_press"
    colour: str | None = None
    default_event: Literal["comment", "status"] = "comment"
    default_comment: str | None = None
    default_status: Literal["in_progress", "needs_review", "approved"] | None = None

    @field_validator("hid_usages")
    @classmethod
    def _hid_usages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for text in value:
            page, usage = parse_hid_usage(text)
            out.append(f"0x{page:02x}:0x{usage:04x}")
        return tuple(out)

    @field_validator("evdev_keys")
    @classmethod
    def _evdev_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            if not _EVDEV_KEY_RE.match(text):
                raise ValueError(f"a Linux key name like KEY_ENTER or BTN_0, got {text!r}")
        return value


class ModelInfo(_Strict):
    id: str
    name: str = Field(min_length=1, max_length=255)
    #: The name of a kind of the :class:`~c2c_hub.device_kinds.DeviceKindRegistry`.
    kind: str
    asset_type: Literal["audio", "video", "data"]
    real_time_logging_capable: bool = False

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return str(uuid.UUID(value))

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if not KIND_NAME_RE.match(value):
            raise ValueError(f"must be a kind's name (lower case, digits and _), got {value!r}")
        return value


class DeviceModel(_Strict):
    """A validated device model file."""

    model: ModelInfo
    discovery: Discovery = Field(default_factory=Discovery)
    inputs: tuple[Input, ...] = ()
    source: Path | None = Field(default=None, exclude=True)

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def kind(self) -> str:
        """The name of its kind (:meth:`DeviceModelRegistry.kind_of` gives its capabilities)."""
        return self.model.kind

    @model_validator(mode="after")
    def _inputs_consistent(self) -> DeviceModel:
        indexes = [i.index for i in self.inputs]
        if len(set(indexes)) != len(indexes):
            raise ValueError("inputs: input indexes must be unique")
        if self.inputs and not self.model.real_time_logging_capable:
            raise ValueError("inputs: only a real_time_logging_capable model may declare inputs")
        if self.model.real_time_logging_capable and not self.inputs:
            raise ValueError("inputs: a real_time_logging_capable model must declare its inputs")
        codes = [i.code for i in self.inputs if i.code is not None]
        if len(set(codes)) != len(codes):
            raise ValueError("inputs: input codes must be unique")
        for what in ("hid_usages", "evdev_keys"):
            every = [u for i in self.inputs for u in getattr(i, what)]
            if len(set(every)) != len(every):
                raise ValueError(f"inputs: {what} must each press one input only")
        return self

    def input_by_code(self, code: int) -> Input | None:
        """The input a button code (from a remote's notification) stands for."""
        return next((i for i in self.inputs if i.code == code), None)

    def input_by_hid_usage(self, page: int, usage: int) -> Input | None:
        """The input a HID usage (page, id) presses."""
        text = f"0x{page:02x}:0x{usage:04x}"
        return next((i for i in self.inputs if text in i.hid_usages), None)

    def input_by_evdev_key(self, name: str) -> Input | None:
        """The input a Linux key (``"KEY_ENTER"``) presses."""
        return next((i for i in self.inputs if name in i.evdev_keys), None)

    def input(self, index: int) -> Input | None:
        return next((i for i in self.inputs if i.index == index), None)


def load_device_model(path: Path) -> DeviceModel:
    """Read and validate one device model file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeviceModelError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DeviceModelError(f"{path}: not valid TOML: {exc}") from None
    try:
        return DeviceModel.model_validate({**raw, "source": path})
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item["loc"]) or "(file)"
            problems.append(f"{path}: {where}: {item['msg'].removeprefix('Value error, ')}")
        raise DeviceModelError("\n".join(problems)) from None


class DeviceModelRegistry:
    """All device models of the integration, keyed by ``device_model_id``.

    :param kinds: the kinds the models may name (default: the hub's own kinds); a model naming
        another kind is refused, its file named.
    """

    def __init__(
        self, models: Iterable[DeviceModel], kinds: DeviceKindRegistry | None = None
    ) -> None:
        self.kinds = kinds if kinds is not None else DeviceKindRegistry()
        self._by_id: dict[str, DeviceModel] = {}
        self._origins: dict[str, str] = {}
        self.add(models, origin=BUILT_IN)

    @classmethod
    def load(cls, directory: Path, kinds: DeviceKindRegistry | None = None) -> DeviceModelRegistry:
        """Load every ``*.toml`` in ``directory``; every bad file is reported at once."""
        return cls(load_device_models(directory), kinds)

    def add(self, models: Iterable[DeviceModel], *, origin: str) -> None:
        """Add ``models`` (all or none); ``origin`` (a plugin's name) is named in every error."""
        models = list(models)
        who = "" if origin == BUILT_IN else f"plugin {origin}: "
        problems: list[str] = []
        batch: dict[str, DeviceModel] = {}
        for model in models:
            if model.kind not in self.kinds:
                problems.append(
                    f"{who}{model.source}: model.kind: unknown kind {model.kind!r} "
                    f"(known: {', '.join(self.kinds.names())})"
                )
            other = self._by_id.get(model.id) or batch.get(model.id)
            if other is not None:
                owner = self._origins.get(model.id, origin)
                by = "" if owner == BUILT_IN else f" (plugin {owner})"
                problems.append(
                    f"{who}{model.source}: model.id: {model.id} is already declared by "
                    f"{other.source}{by}"
                )
            batch[model.id] = model
        if problems:
            raise DeviceModelError("\n".join(problems))
        for model in batch.values():
            self._by_id[model.id] = model
            self._origins[model.id] = origin

    def __iter__(self) -> Iterator[DeviceModel]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, model_id: str) -> DeviceModel | None:
        return self._by_id.get(model_id)

    def origin(self, model_id: str) -> str | None:
        """Who declared the model: ``"the hub"`` or a plugin's name."""
        return self._origins.get(model_id)

    def kind_of(self, model: DeviceModel) -> DeviceKind:
        """The model's kind, with its capabilities (:meth:`add` refuses an unknown kind)."""
        kind = self.kinds.get(model.kind)
        if kind is None:  # pragma: no cover - add() refuses such a model
            raise DeviceModelError(f"{model.source}: model.kind: unknown kind {model.kind!r}")
        return kind

    def of_kind(self, kind: str | DeviceKind) -> list[DeviceModel]:
        name = kind.name if isinstance(kind, DeviceKind) else kind
        return [m for m in self._by_id.values() if m.kind == name]

    def host(self) -> DeviceModel:
        hosts = self.of_kind(DeviceKind.HOST)
        if len(hosts) != 1:
            raise DeviceModelError(f"expected exactly one host device model, found {len(hosts)}")
        return hosts[0]


def load_device_models(where: Path) -> list[DeviceModel]:
    """Every ``*.toml`` of the folder ``where`` (or the one file ``where``), every bad one named."""
    if where.is_file():
        return [load_device_model(where)]
    if not where.is_dir():
        raise DeviceModelError(f"{where}: device model directory does not exist")
    models: list[DeviceModel] = []
    problems: list[str] = []
    for path in sorted(where.glob("*.toml")):
        try:
            models.append(load_device_model(path))
        except DeviceModelError as exc:
            problems.append(str(exc))
    if problems:
        raise DeviceModelError("\n".join(problems))
    return models
