"""A request's writes are committed before its response leaves, so a client that acts on the
response (or a failed commit) never sees a 2xx for data that is not there."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from engine.db.models import User
from engine.settings import Settings
from tests.conftest import Account

Message = MutableMapping[str, Any]


async def test_created_user_is_committed_when_the_response_starts(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], admin: Account
) -> None:
    app = create_app(settings)
    email = f"committed-{uuid.uuid4().hex[:8]}@covo.test"
    visible_at_response: list[bool] = []

    async def probing_app(scope: Message, receive: Any, send: Any) -> None:
        async def probing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                async with sessionmaker() as other_connection:
                    found = await other_connection.scalar(select(User.id).where(User.email == email))
                visible_at_response.append(found is not None)
            await send(message)

        await app(scope, receive, probing_send)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=probing_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/api/auth/users", json={"email": email}, headers=admin.headers)
    assert response.status_code == 201
    assert visible_at_response == [True]
