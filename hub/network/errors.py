"""What the network controls refuse, and why (the tree is drawn in :mod:`c2c_hub.errors`)."""

from __future__ import annotations

from c2c_hub.errors import HubError


class NetworkError(HubError):
    """The root of the network controls' errors; the message is for the operator."""


class NetworkUnavailable(NetworkError):
    """No NetworkManager to drive (no system bus, not running, restarting): controls are off."""


class NetworkRefused(NetworkError, ValueError):
    """Bad input refused before anything changed: an unknown network, a bad address, ..."""


class ConnectFailed(NetworkError):
    """NetworkManager tried and failed (wrong password, out of range, an address clash);
    the previous working network was kept or restored, as the message says."""
