"""The call desk of tests/calls: people, a site, a scanner and part of the library."""

from tests.calls.conftest import desk  # noqa: F401 (the fixture, for these tests)
