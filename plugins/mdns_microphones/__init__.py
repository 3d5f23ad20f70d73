"""First-party plugin: network microphones discovered over mDNS (``_c2cmic._tcp.local.``).

It is written the way a third party would write one: a module with one ``@hookimpl`` that
registers a source; the hub runs the source in its own thread and event loop. The wire
protocol is :mod:`c2c_hub_plugins.mdns_microphones.protocol` (``docs/mic-protocol.md``); an
emulated microphone to test
against is :mod:`c2c_hub_plugins.mdns_microphones.emulated`.

Its one name is its entry point's, ``mdns_microphones``: its options table, its loggers
(``c2c_hub.plugins.mdns_microphones``), its line in ``c2c-hub plugins``.

Options (``[plugins.options.mdns_microphones]``; durations in seconds or as ``"1.5s"``), see
:class:`~c2c_hub_plugins.mdns_microphones.options.Options`:

``interfaces`` (list of IPv4 addresses, default ``["127.0.0.1"]``)
    where to browse; a recorder sets the address it has on its microphone network.
``stream_timeout_s`` (default 2.0)
    no frame (or no hello) for this long and the stream counts as lost; the hub reconnects.
``vanish_timeout_s`` (default 5.0)
    a lost stream not back within this long detaches the microphone ("vanished").
``reconnect_max_s`` (default 2.0)
    the cap of the reconnect backoff.
"""

from __future__ import annotations

from collections.abc import Callable

from c2c_hub import kit
from c2c_hub_plugins.mdns_microphones.options import Options, OptionsError
from c2c_hub_plugins.mdns_microphones.source import MdnsMicrophoneSource

__all__ = ["MdnsMicrophoneSource", "Options", "OptionsError", "register_sources"]


@kit.hookimpl
def register_sources(register: Callable[[kit.DeviceSource], None]) -> None:
    register(MdnsMicrophoneSource())
