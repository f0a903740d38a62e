"""Fixtures of the webhook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.servers import Hub


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A receiver on 127.0.0.1 recording what it is sent."""
    h = Hub()
    yield h
    h.close()
