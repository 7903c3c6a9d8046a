"""The consumer fixtures, shared with tests/consumers, and an app that requires invite codes."""

from collections.abc import AsyncIterator

import httpx
import pytest

from engine.settings import Settings
from tests.conftest import _lifespan_client
from tests.consumers.conftest import signup

__all__ = ["signup", "strict_client"]


@pytest.fixture(scope="session")
async def strict_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API of a deployment with INVITE_CODES_REQUIRED: sign-ups start inactive."""
    async for client in _lifespan_client(settings.model_copy(update={"invite_codes_required": True})):
        yield client
