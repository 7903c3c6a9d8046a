"""Response bodies of eSIMs and the 1Global webhook (field names as in the contract)."""

from __future__ import annotations

from api.schemas.common import Body
from engine.clock import iso, iso_or_none
from engine.db.models import EsimRow
from engine.esims.service import UsageDay, UsageSummary, usage_percent


class EsimCreated(Body):
    id: str
    status: str


class AdminEsim(Body):
    id: str
    name: str
    status: str
    iccid: str | None
    consumerProfileId: str
    consumerEmail: str | None
    qrCodeUrl: str | None
    oneGlobalOrderId: str | None
    oneGlobalSubscriptionId: str | None
    isThrottled: bool
    createdAt: str

    @classmethod
    def of(cls, row: EsimRow) -> AdminEsim:
        return cls(
            id=str(row.id),
            name=row.name,
            status=row.status,
            iccid=row.iccid,
            consumerProfileId=str(row.consumer_profile_id),
            consumerEmail=row.consumer_email,
            qrCodeUrl=row.qr_code_url,
            oneGlobalOrderId=row.one_global_order_id,
            oneGlobalSubscriptionId=row.one_global_subscription_id,
            isThrottled=row.is_throttled,
            createdAt=iso(row.created_at),
        )


class MyEsim(Body):
    id: str
    name: str
    iccid: str | None
    status: str
    phoneNumber: str | None
    countryCode: str | None
    usedBytes: int
    totalBytes: int
    dataLimitBytes: int | None
    usagePercent: float | None
    homeZoneDisabled: bool

    @classmethod
    def of(cls, row: EsimRow) -> MyEsim:
        return cls(
            id=str(row.id),
            name=row.name,
            iccid=row.iccid,
            status=row.status,
            phoneNumber=row.phone_number,
            countryCode=row.country_code,
            usedBytes=row.used_bytes,
            totalBytes=row.total_bytes,
            dataLimitBytes=row.data_limit_bytes,
            usagePercent=usage_percent(row.used_bytes, row.total_bytes),
            homeZoneDisabled=row.home_zone_disabled,
        )


class MyEsims(Body):
    esims: list[MyEsim]
    total: int
    totalPages: int


class EsimUsageSummary(Body):
    totalUsedBytes: int
    totalAvailableBytes: int | None
    dataLimitBytes: int | None
    activeEsimCount: int

    @classmethod
    def of(cls, summary: UsageSummary) -> EsimUsageSummary:
        return cls(
            totalUsedBytes=summary.total_used_bytes,
            totalAvailableBytes=summary.total_available_bytes,
            dataLimitBytes=summary.data_limit_bytes,
            activeEsimCount=summary.active_esim_count,
        )


class EsimDetail(Body):
    """Everything needed to install the eSIM: the LPA activation code, its matching id and a QR code."""

    id: str
    iccid: str | None
    qrCodeUrl: str | None
    activationCode: str | None
    matchingId: str | None
    status: str
    phoneNumber: str | None
    countryCode: str | None
    usedBytes: int
    totalBytes: int
    dataLimitBytes: int | None
    expiresAt: str | None
    homeZoneDisabled: bool
    isThrottled: bool

    @classmethod
    def of(cls, row: EsimRow) -> EsimDetail:
        return cls(
            id=str(row.id),
            iccid=row.iccid,
            qrCodeUrl=row.qr_code_url,
            activationCode=row.activation_code,
            matchingId=row.matching_id,
            status=row.status,
            phoneNumber=row.phone_number,
            countryCode=row.country_code,
            usedBytes=row.used_bytes,
            totalBytes=row.total_bytes,
            dataLimitBytes=row.data_limit_bytes,
            expiresAt=iso_or_none(row.expires_at),
            homeZoneDisabled=row.home_zone_disabled,
            isThrottled=row.is_throttled,
        )


class HomeZone(Body):
    id: str
    homeZoneDisabled: bool


class TimelineDay(Body):
    """`usageBytes` used that day; `totalBytes` used in all by the end of that day."""

    date: str
    usageBytes: int
    totalBytes: int

    @classmethod
    def of(cls, day: UsageDay) -> TimelineDay:
        return cls(date=day.date.isoformat(), usageBytes=day.usage_bytes, totalBytes=day.total_bytes)


class EsimUsage(Body):
    usedBytes: int
    totalBytes: int
    dataLimitBytes: int | None
    usagePercent: float | None
    timeline: list[TimelineDay]


class WebhookAck(Body):
    """An empty object: the event is stored (or was already)."""
