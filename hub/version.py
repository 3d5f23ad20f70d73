"""The hub's own version, also sent as the default ``x-client-version`` firmware header."""

__version__ = "0.1.0"
