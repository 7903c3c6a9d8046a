"""Temporal contracts of the eSIM domain (workflow, update, signal and activity payloads) and the
typed answers of the 1Global port. Pure pydantic models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# ---------------------------------------------------------------- what 1Global answers (port)


class VendorOrder(BaseModel):
    id: str
    status: str  # pending | completed | canceled
    iccid: str | None = None
    matching_id: str | None = None
    activation_code: str | None = None
    qr_code_url: str | None = None
    subscription_id: str | None = None
    reason: str | None = None


class VendorSubscription(BaseModel):
    id: str
    status: str
    iccid: str | None = None
    total_bytes: int | None = None
    used_bytes: int | None = None
    expires_at: datetime | None = None
    phone_number: str | None = None
    country_code: str | None = None
    home_zone_disabled: bool = False


class VendorUsageItem(BaseModel):
    id: str
    subscription_id: str | None
    bytes: int
    started_at: datetime


# ---------------------------------------------------------------- the ProvisionEsim workflow


class PollPolicy(BaseModel):
    """The durable polling fallback when no order webhook arrives: every `fast_seconds` during
    `fast_for_seconds`, then every `slow_seconds`, until `deadline_seconds` after the order."""

    fast_seconds: float = 30
    fast_for_seconds: float = 300
    slow_seconds: float = 300
    deadline_seconds: float = 24 * 3600


class NewEsim(BaseModel):
    """What the API knows when it asks for an eSIM; the workflow's first activity writes the row."""

    tenant_id: uuid.UUID
    consumer_profile_id: uuid.UUID
    user_id: uuid.UUID | None
    consumer_email: str | None
    name: str
    product_offering_id: str
    price_cents: int = 0


class ProvisionEsimInput(BaseModel):
    esim_id: uuid.UUID
    new: NewEsim | None = None  # None: resume an existing eSIM (signal-with-start, continue-as-new)
    poll: PollPolicy = Field(default_factory=PollPolicy)
    seen_event_ids: list[str] = Field(default_factory=list)  # carried over continue-as-new
    pending_events: list[EsimSignal] = Field(default_factory=list)


class OrderPlacement(BaseModel):
    """The answer of the `order_placement` update: the API answers 201/422/502 from it."""

    status: str  # placed | refused | insufficient_funds
    message: str | None = None
    order_id: str | None = None


class EsimSignal(BaseModel):
    """A stored 1Global webhook, handed to the eSIM's workflow (fire and forget)."""

    event_id: str
    type: str  # normalised (onglobal_fields.normalise_type)
    payload: dict[str, Any] = Field(default_factory=dict)


ProvisionEsimInput.model_rebuild()


class ProvisionEsimResult(BaseModel):
    status: str


# ---------------------------------------------------------------- activities


class EsimRef(BaseModel):
    esim_id: uuid.UUID


class PrepareEsim(BaseModel):
    esim_id: uuid.UUID
    new: NewEsim | None = None


class EsimState(BaseModel):
    """The row as the workflow needs it."""

    exists: bool
    status: str = "pending"
    order_id: str | None = None
    subscription_id: str | None = None
    price_cents: int = 0
    hold_id: str | None = None


class HoldOutcome(BaseModel):
    held: bool
    message: str | None = None


class PlaceOrderResult(BaseModel):
    order_id: str


class OrderCheck(BaseModel):
    status: str  # pending | completed | canceled


class CompleteOrder(BaseModel):
    esim_id: uuid.UUID
    transition: str  # order_completed | order_canceled
    reason: str | None = None
    source: str = "workflow"
    event_id: str | None = None


class ApplyEvent(BaseModel):
    esim_id: uuid.UUID
    event: EsimSignal


class AppliedEvent(BaseModel):
    status: str
    changed: bool


class HomeZoneInput(BaseModel):
    esim_id: uuid.UUID
    disabled: bool


class UsageSyncInput(BaseModel):
    tenant_id: uuid.UUID | None = None
    days: int = 7


class UsageSyncResult(BaseModel):
    esims: int = 0
    items: int = 0


class SweepWebhooks(BaseModel):
    # Younger events are still being handed over by the request that stored them.
    grace_seconds: float = Field(default=30.0, ge=0)
    # Events that found no eSIM for this long are left alone (stored, never signalled).
    horizon_seconds: float = Field(default=24 * 3600.0, gt=0)
    limit: int = Field(default=1000, ge=1)


class SweepWebhooksResult(BaseModel):
    signalled: int = 0
