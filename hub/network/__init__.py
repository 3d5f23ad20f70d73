"""The hub's networks: Wi-Fi, Ethernet and cellular through NetworkManager and ModemManager.

| module | what |
|---|---|
| ``control.py`` | :class:`NetworkControl`: the view, the operator's controls, falling back |
| ``nm.py`` | NetworkManager's D-Bus API: read a view, write connection profiles |
| ``modem.py`` | ModemManager: operator, access technology, signal |
| ``model.py`` | the values (networks in range, saved networks, devices, addressing) |
| ``routes.py`` | IPv4 and IPv6 default routes from the kernel |
| ``health.py`` | one verdict on the network, with its reason |
| ``bus.py`` | the seam over dbus-fast (``GetAll``, raw ``AddMatch``) |
"""

from c2c_hub.network.control import NetworkControl
from c2c_hub.network.errors import (
    ConnectFailed,
    NetworkError,
    NetworkRefused,
    NetworkUnavailable,
)
from c2c_hub.network.model import Addressing

__all__ = [
    "Addressing",
    "ConnectFailed",
    "NetworkControl",
    "NetworkError",
    "NetworkRefused",
    "NetworkUnavailable",
]
