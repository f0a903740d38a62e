"""The calls' desk fixture, for the notification tests."""

from tests.calls.conftest import desk

__all__ = ["desk"]
