"""What a C2C button remote sends, read defensively (the format is ``docs/ble-remotes.md``).

- **Matching**: an advertisement is a remote of a device model when every rule of the model's
  ``[discovery.ble]`` that is present holds (name prefix, service UUID, manufacturer id).
- **Serial**: the manufacturer data under the model's manufacturer id is the remote's serial,
  1 to 20 ASCII characters of letters, digits and ``-._``; without one, the BLE address is.
- **Notifications** on the button characteristic: exactly 2 bytes, ``[code, counter]``.

Everything here is pure; bad input is a :class:`PayloadError` (or ``None``), never anything else.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from c2c_hub.kit import DeviceModel, HubError
from c2c_hub_plugins.ble_remotes.radio import Advertisement

NOTIFICATION_SIZE = 2
SERIAL_MAX = 20
_SERIAL_RE = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$" % (SERIAL_MAX - 1))


class PayloadError(HubError, ValueError):
    """A notification the plugin ignores; the message is why, for the log."""


@dataclass(frozen=True)
class Notification:
    code: int
    counter: int


def decode_notification(data: bytes) -> Notification:
    """``[code, counter]``; :class:`PayloadError` for anything else."""
    if len(data) != NOTIFICATION_SIZE:
        raise PayloadError(
            f"{len(data)} byte{'' if len(data) == 1 else 's'}, expected {NOTIFICATION_SIZE} "
            "([code, counter])"
        )
    return Notification(code=data[0], counter=data[1])


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def matches(model: DeviceModel, adv: Advertisement) -> bool:
    """Every ``[discovery.ble]`` rule the model declares holds for ``adv``."""
    ble = model.discovery.ble
    if ble is None:
        return False
    if ble.name_prefix is not None and not (adv.name or "").startswith(ble.name_prefix):
        return False
    if ble.service_uuid is not None and ble.service_uuid not in {
        _uuid(u) for u in adv.service_uuids
    }:
        return False
    return ble.manufacturer_id is None or ble.manufacturer_id in adv.manufacturer_data


def match_model(adv: Advertisement, models: Iterable[DeviceModel]) -> DeviceModel | None:
    """The model ``adv`` matches; the one with the most rules when several do."""
    best: DeviceModel | None = None
    best_rules = -1
    for model in models:
        ble = model.discovery.ble
        if ble is None or not matches(model, adv):
            continue
        rules = sum(
            rule is not None for rule in (ble.name_prefix, ble.service_uuid, ble.manufacturer_id)
        )
        if rules > best_rules:
            best, best_rules = model, rules
    return best


def serial_from(adv: Advertisement, model: DeviceModel) -> str | None:
    """The serial in the manufacturer data under the model's manufacturer id, if valid."""
    ble = model.discovery.ble
    if ble is None or ble.manufacturer_id is None:
        return None
    data = adv.manufacturer_data.get(ble.manufacturer_id)
    if data is None or not _SERIAL_RE.match(bytes(data)):
        return None
    return bytes(data).decode("ascii")
