from __future__ import annotations

import uuid

from pydantic import BaseModel


class DeliverMailInput(BaseModel):
    outbox_id: uuid.UUID


class DeliverMailResult(BaseModel):
    status: str
