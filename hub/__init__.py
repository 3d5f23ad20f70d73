"""c2c-hub: a Frame.io Camera to Cloud hub for sound recorders and their sub-devices."""

from c2c_hub.version import __version__

__all__ = ["__version__"]
