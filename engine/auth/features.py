"""Feature-based access control: modules declare their features in code; roles and users hold
grants, where `module.*` (or `*`) satisfies every feature under that prefix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feature:
    id: str
    title: str


@dataclass(frozen=True)
class ModuleFeatures:
    id: str
    title: str
    features: tuple[Feature, ...]
    # Grants each seeded role receives for this module (role name -> feature ids or wildcards).
    default_grants: dict[str, tuple[str, ...]] = field(default_factory=dict)


def grant_satisfies(grant: str, feature: str) -> bool:
    if grant == feature or grant == "*":
        return True
    return grant.endswith(".*") and feature.startswith(grant[:-1])


def has_feature(grants: Iterable[str], feature: str) -> bool:
    return any(grant_satisfies(grant, feature) for grant in grants)


def granted_features(grants: Iterable[str], requested: Iterable[str], *, super_admin: bool) -> list[str]:
    grants = list(grants)
    return [f for f in requested if super_admin or has_feature(grants, f)]
