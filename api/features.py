"""The feature catalog and the caller's feature checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import CurrentPrincipal, features_doc, require
from api.schemas.auth import (
    Feature,
    FeatureCatalog,
    FeatureCheck,
    FeatureCheckBody,
    Module,
)
from engine import modules
from engine.auth.features import granted_features
from engine.auth.schemas import Principal

router = APIRouter(tags=["Authentication & Accounts"])


# ---------------------------------------------------------------- features


@router.get(
    "/auth/features",
    summary="List declared features",
    response_model=FeatureCatalog,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def list_features(_: Annotated[Principal, Depends(require("auth.acl.manage"))]) -> FeatureCatalog:
    """Every feature the modules declare, with the module it comes from."""
    return FeatureCatalog(
        items=[Feature(id=f.id, title=f.title, module=m.id) for m, f in modules.all_features()],
        modules=[Module(id=m.id, title=m.title) for m in modules.MODULES],
    )


@router.post("/auth/feature-check", summary="Check feature grants for the caller", response_model=FeatureCheck)
async def feature_check(principal: CurrentPrincipal, body: FeatureCheckBody) -> FeatureCheck:
    granted = granted_features(principal.features, body.features, super_admin=principal.is_super_admin)
    return FeatureCheck(ok=len(granted) == len(body.features), granted=granted, userId=str(principal.id))
