from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from engine.auth.features import granted_features, has_feature


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user or an API key, resolved fresh on every request so revoked
    sessions, deleted keys and role changes apply at once."""

    kind: str  # "user" | "api_key"
    id: uuid.UUID
    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None
    features: tuple[str, ...]
    is_super_admin: bool
    role_ids: tuple[uuid.UUID, ...] = ()
    role_names: tuple[str, ...] = ()
    email: str | None = None
    session_id: uuid.UUID | None = None
    # Organizations the grants are restricted to; None means every organization of the tenant.
    organizations: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.id if self.kind == "user" else None

    def can(self, feature: str) -> bool:
        return self.is_super_admin or has_feature(self.features, feature)

    def missing(self, required: list[str]) -> list[str]:
        granted = set(granted_features(self.features, required, super_admin=self.is_super_admin))
        return [f for f in required if f not in granted]
