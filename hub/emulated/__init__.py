"""Emulated sub-devices on real protocols, for tests, the demo and plugin authors.

- :mod:`hub.emulated.microphone`: a network microphone announced over mDNS on loopback that
  streams the protocol of :mod:`hub.micstream` (``python -m hub.emulated.microphone --count 4``).
- :mod:`hub.emulated.bluez`: BlueZ on a private D-Bus (python-dbusmock), with button remotes
  that bleak's real BlueZ backend discovers, connects to and gets notifications from;
- :mod:`hub.emulated.remote`: button remotes on an in-process radio behind the BLE plugin's
  radio seam, for the demo and anywhere no D-Bus is at hand.

Modules are imported by name (``from hub.emulated.microphone import EmulatedMicrophone``) so
``python -m`` can run them without importing them twice.
"""
