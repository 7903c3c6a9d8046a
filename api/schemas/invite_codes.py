"""Request bodies and answers of the invite-code routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Body
from engine.db.models import InviteCodeRow
from engine.invite_codes.service import ListedCode
from engine.workflows.interpreter_logic import iso_timestamp


def _iso(value: datetime | None) -> str | None:
    return iso_timestamp(value) if value is not None else None


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=100)


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str


class AdminGenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expiresAt: datetime | None = None
    maxUses: int = Field(default=1, ge=1, le=100_000)
    consumerId: str | None = Field(default=None, description="Hand the code to this consumer")


class GeneratedCode(Body):
    id: str
    code: str
    createdAt: str
    expiresAt: str | None

    @classmethod
    def of(cls, row: InviteCodeRow) -> GeneratedCode:
        return cls(
            id=str(row.id), code=row.code, createdAt=iso_timestamp(row.created_at), expiresAt=_iso(row.expires_at)
        )


class OwnCode(Body):
    id: str
    code: str
    status: str
    usedAt: str | None
    createdAt: str
    expiresAt: str | None

    @classmethod
    def of(cls, listed: ListedCode) -> OwnCode:
        row = listed.row
        return cls(
            id=str(row.id),
            code=row.code,
            status=listed.status,
            usedAt=_iso(row.used_at),
            createdAt=iso_timestamp(row.created_at),
            expiresAt=_iso(row.expires_at),
        )


class OwnCodes(Body):
    items: list[OwnCode]


class AdminCode(Body):
    id: str
    code: str
    status: str
    createdByUserId: str | None
    createdByName: str | None
    createdByEmail: str | None
    usedByConsumerId: str | None
    usedByName: str | None
    usedByEmail: str | None
    usedAt: str | None
    createdAt: str
    expiresAt: str | None
    revokedAt: str | None

    @classmethod
    def of(cls, listed: ListedCode) -> AdminCode:
        row = listed.row
        return cls(
            id=str(row.id),
            code=row.code,
            status=listed.status,
            createdByUserId=str(row.created_by_user_id) if row.created_by_user_id else None,
            createdByName=listed.creator_name,
            createdByEmail=listed.creator_email,
            usedByConsumerId=str(row.used_by_consumer_id) if row.used_by_consumer_id else None,
            usedByName=listed.redeemer_name,
            usedByEmail=listed.redeemer_email,
            usedAt=_iso(row.used_at),
            createdAt=iso_timestamp(row.created_at),
            expiresAt=_iso(row.expires_at),
            revokedAt=_iso(row.revoked_at),
        )


class Verified(Body):
    valid: bool
    type: str = Field(description="admin or consumer: who generated the code")


class Activated(Body):
    activated: bool
