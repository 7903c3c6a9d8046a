from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Account
from tests.scheduler.helpers import delete_job


@pytest.fixture
async def jobs(client: httpx.AsyncClient, admin: Account) -> AsyncIterator[list[str]]:
    """Jobs a test lets fire; deleted afterwards so their schedules stop firing."""
    created: list[str] = []
    yield created
    for job_id in created:
        await delete_job(client, admin, job_id)
