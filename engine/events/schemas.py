from __future__ import annotations

import uuid

from pydantic import BaseModel


class DispatchEvent(BaseModel):
    event_id: uuid.UUID


class DispatchResult(BaseModel):
    handled: dict[str, int] = {}
