"""From a resolved mDNS service to a microphone the hub can use, defensively.

Everything a network sends is suspect: :func:`read_record` turns a service into a
:class:`MicRecord` or raises :class:`RecordError` with the reason, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo

from c2c_hub.kit import DeviceModel, HubError, SubDevice, SubDeviceError
from c2c_hub_plugins.mdns_microphones.protocol import MicTxt, TxtError, decode_txt_rdata, parse_txt


class RecordError(HubError, ValueError):
    """A service record the plugin ignores; the message is the reason, for the log."""


@dataclass(frozen=True)
class MicRecord:
    service: str
    txt: MicTxt
    model: DeviceModel
    host: str
    port: int
    device: SubDevice


def match_model(
    service_type: str, keys: Mapping[str, str], models: Iterable[DeviceModel]
) -> DeviceModel | None:
    """The microphone model whose ``[discovery.mdns]`` rules the TXT keys satisfy (the most
    specific one if several do)."""
    best: DeviceModel | None = None
    best_rules = -1
    for model in models:
        mdns = model.discovery.mdns
        if mdns is None or mdns.service_type != service_type:
            continue
        if (
            all(keys.get(k.lower()) == v for k, v in mdns.txt.items())
            and len(mdns.txt) > best_rules
        ):
            best, best_rules = model, len(mdns.txt)
    return best


def read_record(
    info: AsyncServiceInfo, models: Iterable[DeviceModel], txt_rdata: bytes | None = None
) -> MicRecord:
    """The microphone a resolved service describes; :class:`RecordError` if it is unusable.

    ``txt_rdata`` is the TXT record's wire form, when the caller picked it (the newest one
    cached); otherwise zeroconf's unpacking of ``info``'s TXT is used.
    """
    try:
        properties = decode_txt_rdata(txt_rdata) if txt_rdata is not None else info.properties
        txt = parse_txt(properties)
    except TxtError as exc:
        raise RecordError(str(exc)) from None
    except Exception as exc:  # a TXT record zeroconf itself cannot unpack
        raise RecordError(f"unreadable TXT record: {exc!r}") from None
    model = match_model(info.type, txt.keys, models)
    if model is None:
        raise RecordError(
            f"no microphone device model matches vendor={txt.vendor!r}, model={txt.model!r}"
        )
    addresses = info.parsed_addresses(IPVersion.V4Only)
    if not addresses:
        raise RecordError("no IPv4 address in the record")
    if not info.port:
        raise RecordError("no port in the record")
    host, port = addresses[0], int(info.port)
    name = txt.name or info.get_name()
    try:
        device = SubDevice(
            serial=txt.serial,
            model_id=model.id,
            name=name,
            address=f"{host}:{port}",
            audio=txt.audio,
            details={
                "service": info.name,
                "vendor": txt.vendor or "",
                "model": txt.model or "",
                "protocol": str(txt.proto),
            },
        )
    except SubDeviceError as exc:
        raise RecordError(str(exc)) from None
    return MicRecord(info.name, txt, model, host, port, device)
