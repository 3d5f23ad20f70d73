"""The test doubles' root error: the Frame.io emulator, the link simulator, the BlueZ mock.

``EmulationError`` derives from :class:`c2c_hub.errors.HubError`; the whole tree is drawn in
:mod:`c2c_hub.errors`::

    EmulationError
    ├── ControlError (RuntimeError)     emulation/frameio/handle.py: the emulator's control API
    │                                   refused a call
    ├── ContractViolation               emulation/frameio/contract.py: a request breaks
    │                                   Frame.io's documented contract (strict mode)
    ├── ApiProblem                      emulation/frameio/errors.py: answer in Frame.io's
    │                                   detailed error shape
    ├── OAuthProblem                    emulation/frameio/errors.py: answer ``{"error": code}``
    ├── BlueZMockError (RuntimeError)   emulation/bluez.py: the BlueZ D-Bus mock failed
    └── LocalInputsError (RuntimeError) emulation/demo_inputs.py: the demo's JACK server or its
                                        player could not start
"""

from __future__ import annotations

from c2c_hub.errors import HubError


class EmulationError(HubError):
    """Base of the errors of the shipped test doubles (never raised by the product)."""
