"""ModemManager: each cellular modem's operator, access technology and signal quality."""

from __future__ import annotations

from c2c_hub.network.bus import SystemBus, unwrap
from c2c_hub.network.model import Modem, access_technology

MM = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MODEM_IFACE = "org.freedesktop.ModemManager1.Modem"
MODEM_3GPP_IFACE = "org.freedesktop.ModemManager1.Modem.Modem3gpp"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
# MMModemState
STATES = {
    -1: "failed",
    0: "unknown",
    1: "initializing",
    2: "locked",
    3: "disabled",
    4: "disabling",
    5: "enabling",
    6: "enabled",
    7: "searching",
    8: "registered",
    9: "disconnecting",
    10: "connecting",
    11: "connected",
}


async def read_modems(bus: SystemBus) -> list[Modem]:
    """Every modem ModemManager manages; none when ModemManager is not running."""
    if not await bus.name_has_owner(MM):
        return []
    body = await bus.call(MM, MM_PATH, OBJECT_MANAGER, "GetManagedObjects")
    modems: list[Modem] = []
    for _path, interfaces in sorted(unwrap(body[0]).items()):
        modem = interfaces.get(MODEM_IFACE)
        if modem is None:
            continue
        gpp = interfaces.get(MODEM_3GPP_IFACE) or {}
        quality = modem.get("SignalQuality") or [None, False]
        modems.append(
            Modem(
                operator=str(gpp.get("OperatorName") or "") or None,
                technology=access_technology(int(modem.get("AccessTechnologies", 0))),
                signal=int(quality[0]) if quality[0] is not None else None,
                state=STATES.get(int(modem.get("State", 0)), "unknown"),
            )
        )
    return modems
