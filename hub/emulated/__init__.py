"""Emulated sub-devices on real protocols, for tests, the demo and plugin authors.

- :mod:`hub.emulated.microphone`: a network microphone announced over mDNS on loopback that
  streams the protocol of :mod:`hub.micstream` (``python -m hub.emulated.microphone --count 4``).
- :mod:`hub.emulated.bluez`: BlueZ on a private D-Bus, for button remotes over bleak.

Modules are imported by name (``from hub.emulated.microphone import EmulatedMicrophone``) so
``python -m`` can run them without importing them twice.
"""
