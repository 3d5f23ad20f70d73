"""The root of every error the hub raises on purpose, and the tree that hangs from it.

``except HubError`` catches whatever the hub, its edge, its test doubles or a first-party plugin
refuses; each zone has a root of its own beneath it, so a caller can also catch one zone only.
Many errors keep the built-in base they had (``ValueError``, ``RuntimeError``) so that an
``except`` written for that base still catches them. The tree::

    HubError                        c2c_hub.errors: the core's root (the core's errors hang here)
    ├── SettingsError (ValueError)       settings.py: bad settings, every problem by field
    ├── DeviceModelError (ValueError)    device_models.py: a device model file we cannot use
    ├── DeviceKindError (ValueError)     device_kinds.py: a kind of sub-device we cannot use
    ├── DataDirBusy (RuntimeError)       datadir.py: another hub holds this data directory
    ├── TokenStoreError                  tokens.py: stored credentials unreadable (key, tamper)
    ├── KeyUnavailable                   keys.py: a provider of the token key is not there
    ├── UploadPathRefused (ValueError)   upload_paths.py: a path the hub will not upload, and why
    ├── NeedsPairing                     session.py: no usable credentials; a person must pair
    ├── PairingDenied                    pairing.py: the user declined the device
    ├── PairingCancelled                 pairing.py: pairing was cancelled here
    ├── PresenceError                    presence.py: the Phoenix socket was lost
    │   ├── ReplyTimeout                     no reply in time: the socket is dead
    │   │   ├── HeartbeatTimeout                 ... to a Phoenix heartbeat
    │   │   └── JoinTimeout                      ... to phx_join
    │   ├── JoinRefused                      the device channel's join was refused
    │   ├── ChannelClosed                    the server closed the device channel
    │   └── SocketClosed                     the socket itself closed
    ├── FrameioError                     frameio/errors.py: the Frame.io client (its own tree)
    ├── UploadError                      uploader/errors.py: S3Error, FileProblem, NothingToSend,
    │                                    Withdrawn
    ├── Outcome                          uploader/failures.py: ends one file's attempt with a
    │                                    verdict (inside the uploader only; never escapes it)
    ├── QueueClosed (RuntimeError)       uploader/queue.py: the upload queue is not open
    ├── SubDeviceError (ValueError)      subdevices.py: a sub-device description we cannot use
    ├── PluginError (RuntimeError)       plugin/manager.py: what a plugin registered is unusable
    │   └── PluginSettingsError              options for a plugin that is not installed
    ├── OptionsError (ValueError)        kit/options.py: a plugin's options refused (the key named)
    ├── TakeError (RuntimeError)         recorder/takes.py: a take command not possible now
    ├── WavFormatError (ValueError)      recorder/wav/: not a WAV we can read
    ├── LtcUnavailable (RuntimeError)    timecode/ltc.py: libltc (or cffi) is not installed
    ├── NetworkError                     network/errors.py: the network controls refused
    │   ├── NetworkUnavailable               no NetworkManager to drive (and why)
    │   │   └── BusCallError                     network/bus.py: a D-Bus call answered an error
    │   ├── NetworkRefused (ValueError)      bad input, refused before anything changed
    │   └── ConnectFailed                    NetworkManager failed; previous network kept
    │
    ├── UIError                     c2c_hub.ui.errors: the edge's root
    │   ├── HubNotRunning                ui/client.py: no running hub answers
    │   ├── HubRefused (ValueError)      ui/client.py: the running hub refused a call (status)
    │   ├── CommandFailed                ui/cli_kit.py: a command failed, with its exit code
    │   ├── BodyTooLarge                 ui/access.py: a request body over the cap (413)
    │   ├── ControlRefused               ui/control.py: the control API refused (with a status)
    │   ├── MixRefused                   ui/control_mix.py: a mix route refused (with a status)
    │   └── NetRouteRefused              ui/control_net.py: a network route refused (a status)
    │
    ├── EmulationError              c2c_hub.emulation.errors: the test doubles' root
    │   ├── ControlError (RuntimeError)  emulation/frameio/handle.py: the emulator's control
    │   │                                API refused a call
    │   ├── ContractViolation            emulation/frameio/contract.py: a request breaks
    │   │                                Frame.io's documented contract (strict mode)
    │   ├── ApiProblem                   emulation/frameio/errors.py: answer in Frame.io's
    │   │                                detailed error shape
    │   ├── OAuthProblem                 emulation/frameio/errors.py: answer {"error": code}
    │   ├── BlueZMockError (RuntimeError)  emulation/bluez.py: the BlueZ D-Bus mock failed
    │   ├── NetworkMockError (RuntimeError)  emulation/networkmanager.py: the NetworkManager
    │   │                                D-Bus mock failed
    │   └── LocalInputsError (RuntimeError)  emulation/demo_inputs.py: the demo's JACK server
    │                                    or its player could not start
    │
    └── (plugins: each plugin's errors derive from HubError, which the kit exports)
        ├── aes67: SdpError (ValueError), SapError (ValueError), RtspError (ValueError),
        │   Malformed (ValueError: an RTP packet we cannot use)
        ├── ble_remotes: OptionsError (the kit's), PayloadError (ValueError), Refused,
        │   RadioError > RadioUnavailable, ConnectFailed > DeviceGone
        └── hid_remotes: DescriptorError (ValueError), ReportError (ValueError), Refused,
            NoIdentity, HidRadioError > RadioUnavailable, ConnectFailed > NotHid

``tests/test_errors.py`` keeps this true: every exception class in ``c2c_hub`` and
``c2c_hub_plugins`` derives from its zone's root and is named here (or, for the Frame.io client
and the uploader, in its own module's tree).
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose; the core's errors derive from it directly.

    The edge (:class:`c2c_hub.ui.errors.UIError`) and the test doubles
    (:class:`c2c_hub.emulation.errors.EmulationError`) have roots of their own beneath it.
    """
