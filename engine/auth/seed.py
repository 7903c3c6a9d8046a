"""First-run bootstrap: a default tenant and organization, the standard roles, and the admin."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.directory import create_tenant, seed_tenant_roles
from engine.auth.security import hash_password
from engine.auth.service import find_user_by_email
from engine.db.models import Organization, Tenant, User, UserRole


@dataclass(frozen=True)
class AdminSeed:
    email: str
    password: str | None  # set only when it was generated now and must be shown once
    created: bool


def admin_password(given: str | None, data_dir: Path) -> tuple[str, bool]:
    """The admin password from the environment, else one generated once into `.data/` (mode 600).
    Returns (password, generated_now)."""
    if given:
        return given, False
    path = data_dir / "admin_password"
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password, True


async def ensure_admin(session: AsyncSession, email: str, password: str) -> bool:
    """Creates the default tenant, its roles and the super-admin user if that e-mail is unknown.
    Returns True when the admin was created."""
    if await find_user_by_email(session, email) is not None:
        return False
    tenant = await session.scalar(
        select(Tenant).where(Tenant.deleted_at.is_(None)).order_by(Tenant.created_at).limit(1)
    )
    if tenant is None:
        tenant = await create_tenant(session, "Default")
    roles = await seed_tenant_roles(session, tenant.id)
    org = await session.scalar(select(Organization).where(Organization.tenant_id == tenant.id).limit(1))
    if org is None:
        org = Organization(id=uuid.uuid4(), tenant_id=tenant.id, name="Headquarters", depth=0)
        org.root_id, org.tree_path = org.id, str(org.id)
        session.add(org)
        await session.flush()
    user = User(
        id=uuid.uuid4(), tenant_id=tenant.id, organization_id=org.id, email=email, password_hash=hash_password(password)
    )
    session.add(user)
    await session.flush()
    session.add_all([UserRole(user_id=user.id, role_id=roles[name].id) for name in ("superadmin", "admin")])
    await session.flush()
    return True
