"""The recorder's tests upload what they record: they share the uploader's fixtures."""

from tests.uploader.conftest import session, uploaders

__all__ = ["session", "uploaders"]
