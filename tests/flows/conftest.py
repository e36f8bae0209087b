from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.actionserver import ActionServer, start_action_server


@pytest.fixture(scope="session")
def shop_actions() -> Iterator[ActionServer]:
    """A real rasa-sdk action server with the test actions, shared by the session."""
    server = start_action_server()
    yield server
    server.stop()
