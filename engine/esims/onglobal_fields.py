"""Every 1Global field name and path we use, in one place (research notes §1, §4).

Names marked [C] are confirmed by public 1Global documentation; names marked [I] are inferred and
must be checked against the partner OpenAPI file (`docs.connect-api.1global.com/spec/...`). When the
real schema is known, this module is the one edit: the HTTP client (`workers/onglobal/client.py`)
and the simulator (`workers/onglobal/simulator.py`) both build and read payloads through it.

Pure: no I/O, importable by workflows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from engine.esims.schemas import VendorOrder, VendorSubscription, VendorUsageItem
from engine.esims.state_machine import Transition

API_VERSION = "2026-02-05"  # [C] third-party 2026 client
SMDP_ADDRESS = "rsp.truphone.com"  # [C]

# ---------------------------------------------------------------- paths
ORDERS = "/orders"  # [C] Enterprise / 2026
ACCOUNTS = "/accounts"  # [C]
SUBSCRIBERS = "/subscribers"  # [C] list; [I] email filter and POST create
SUBSCRIPTIONS = "/subscriptions"  # [C]
USAGE_ITEMS = "/usage/items"  # [C] Enterprise usage recipe
SUBSCRIBER_EMAIL_FILTER = "email"  # [I]


def order_path(order_id: str) -> str:
    return f"{ORDERS}/{order_id}"


def account_path(account_id: str) -> str:
    return f"{ACCOUNTS}/{account_id}"


def subscription_path(subscription_id: str) -> str:
    return f"{SUBSCRIPTIONS}/{subscription_id}"


def home_zone_path(subscription_id: str) -> str:
    return f"{SUBSCRIPTIONS}/{subscription_id}/home-zone"  # [I] no public source at all


# ---------------------------------------------------------------- requests


def activate_order_body(
    *, account_id: str, subscriber_id: str, email: str, first_name: str, last_name: str, product_offering_id: str
) -> dict[str, Any]:
    return {
        "type": "activate_subscription",  # [C]
        "account_id": account_id,  # [C]
        "subscriber_id": subscriber_id,  # [I] Enterprise embeds the subscriber only
        "subscriber": {"first_name": first_name, "last_name": last_name, "email": email},  # [C]
        "product_offering_id": product_offering_id,  # [I] Enterprise says template_id
        "sim_profile": {"sim_type": "esim", "delivery": {"type": "api"}},  # [C]
    }


def subscriber_body(*, email: str, first_name: str, last_name: str, account_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "first_name": first_name, "last_name": last_name, "email": email}  # [I]


def home_zone_body(disabled: bool) -> dict[str, Any]:
    return {"disabled": disabled}  # [I]


def usage_query(from_date: str, to_date: str, cursor: str | None, limit: int = 100) -> dict[str, str]:
    query = {"from-date": from_date, "to-date": to_date, "limit": str(limit)}  # [C]
    if cursor:
        query["cursor"] = cursor  # [C] cursor pagination
    return query


# ---------------------------------------------------------------- responses


def _dig(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def id_of(payload: Any) -> str | None:
    return _text(_dig(payload, "id"))


def page_items(payload: Any, collection: str) -> list[dict[str, Any]]:
    """HAL collections keep their items in `_embedded.<collection>` [C]."""
    items = _dig(payload, "_embedded", collection)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def next_cursor(payload: Any) -> str | None:
    href = _text(_dig(payload, "_links", "next", "href"))  # [C] HAL next link
    if not href:
        return None
    found = re.search(r"[?&]cursor=([^&]+)", href)
    return found.group(1) if found else None


def lpa_code(smdp: str, matching_id: str) -> str:
    """The canonical activation code `LPA:1$<smdp>$<matching id>` [C]."""
    return f"LPA:1${smdp}${matching_id}"


def parse_order(payload: dict[str, Any]) -> VendorOrder:
    matching_id = _text(_dig(payload, "sim_profile", "matching_id"))  # [I] v2: output.matching_id
    smdp = _text(_dig(payload, "sim_profile", "smdp_address")) or SMDP_ADDRESS  # [I]
    return VendorOrder(
        id=_text(payload.get("id")) or "",
        status=str(payload.get("status") or "").lower(),  # [C] pending | completed | canceled
        iccid=_text(_dig(payload, "sim_profile", "iccid")),  # [I] v2: output.iccid
        matching_id=matching_id,
        activation_code=lpa_code(smdp, matching_id) if matching_id else None,
        qr_code_url=_text(_dig(payload, "_embedded", "_links", "qrcode", "href")),  # [C] 2026
        subscription_id=_text(payload.get("subscription_id")),  # [I] v2: output.subscription_id
        reason=_text(payload.get("status_reason")),  # [I]
    )


# v2 subscription statuses [C]
SUBSCRIPTION_DEPLETED = "DEPLETED"
SUBSCRIPTION_EXPIRED = "EXPIRED"


def parse_subscription(payload: dict[str, Any]) -> VendorSubscription:
    total = _int(payload.get("initial_balance"))  # [C] v2, bytes
    remaining = _int(payload.get("current_balance"))  # [C] v2
    used = _int(payload.get("spend_balance"))  # [C] v2
    if used is None and total is not None and remaining is not None:
        used = max(total - remaining, 0)
    return VendorSubscription(
        id=_text(payload.get("id")) or "",
        status=str(payload.get("status") or "").upper(),  # [C] PENDING|PENDING_USAGE|ACTIVE|DEPLETED|EXPIRED
        iccid=_text(payload.get("sim_id")),  # [C] v2
        total_bytes=total,
        used_bytes=used,
        expires_at=_when(payload.get("expiry_date")),  # [C] v2
        phone_number=_text(payload.get("phone_number")),  # [I] Enterprise has a /phone-numbers sub-resource
        country_code=_text(payload.get("country_code")),  # [I]
        home_zone_disabled=bool(payload.get("home_zone_disabled", False)),  # [I]
    )


def parse_usage_item(payload: dict[str, Any]) -> VendorUsageItem | None:
    """Data items only; the subscription comes from the item's HAL link [C]."""
    if str(payload.get("type") or "").lower() != "data":  # [C] data | sms | voice
        return None
    href = _text(_dig(payload, "_links", "subscription", "href")) or ""
    started = _when(payload.get("started_at"))  # [C]
    quantity = _int(payload.get("quantity"))  # [C] bytes for data
    if not payload.get("id") or started is None or quantity is None:
        return None
    return VendorUsageItem(
        id=str(payload["id"]),
        subscription_id=href.rstrip("/").rsplit("/", 1)[-1] or None,
        bytes=quantity,
        started_at=started,
    )


def error_message(payload: Any, status: int) -> str:
    """The vendor's own words: `{type, messages[]}` [C], or problem+json `title`/`detail` [I]."""
    if isinstance(payload, dict):
        messages = payload.get("messages")
        if isinstance(messages, list) and messages:
            text = "; ".join(str(m.get("message", m) if isinstance(m, dict) else m) for m in messages)
            kind = payload.get("type")
            return f"{kind}: {text}" if kind else text
        for key in ("detail", "message", "title"):
            if payload.get(key):
                return str(payload[key])
    return f"HTTP {status}"


# ---------------------------------------------------------------- webhooks


def normalise_type(value: str) -> str:
    """Case-insensitive, `.` and `_` alike, and the vendor's own misspelling accepted."""
    key = value.strip().lower().replace(".", "_").replace("-", "_")
    return {"subscritpion_end": "subscription_end", "order_cancelled": "order_canceled"}.get(key, key)


ORDER_EVENTS = {"order_completed": Transition.ORDER_COMPLETED, "order_canceled": Transition.ORDER_CANCELED}
ORDER_EVENTS["order_failed"] = Transition.ORDER_CANCELED  # [I]
LIFECYCLE_EVENTS = frozenset(
    {
        "download_progress",  # [C]
        "usage_threshold",  # [C]
        "subscription_end",  # [C]
        "subscription_activated",  # [I]
        "subscription_suspended",  # [I]
        "subscription_resumed",  # [I]
        "subscription_terminated",  # [I]
        "sim_profile_status_changed",  # [I]
    }
)
KNOWN_EVENTS = frozenset(ORDER_EVENTS) | LIFECYCLE_EVENTS


def webhook_order_id(event: dict[str, Any]) -> str | None:
    """Order events carry the order under `data.order` [C] (or a bare `order_id` [I])."""
    return _text(_dig(event, "data", "order", "id")) or _text(event.get("order_id"))


def webhook_subscription_id(event: dict[str, Any]) -> str | None:
    return _text(event.get("subscription_id")) or _text(_dig(event, "data", "subscription", "id"))  # [C] / [I]


def webhook_iccid(event: dict[str, Any]) -> str | None:
    return _text(event.get("iccid")) or _text(_dig(event, "data", "sim_profile", "iccid"))  # [C] / [I]


def download_progress(event: dict[str, Any]) -> tuple[Transition | None, str | None]:
    """`DOWNLOAD_PROGRESS` [C]: the SM-DP+ step and its outcome → (transition, install error)."""
    step = str(event.get("download_progress_step") or "").upper()
    status = str(event.get("notification_status") or "SUCCESS").upper()
    if status != "SUCCESS":
        return None, f"{step or 'download'}: {event.get('notification_point_description') or status}"
    if "INSTALL" in step:
        return Transition.INSTALLED, None
    if "DOWNLOAD" in step:
        return Transition.DOWNLOADED, None
    if step in ("DELETE", "DELETED", "PROFILE_DELETED"):
        return Transition.DELETED, None
    return None, None


SIM_PROFILE_STATUSES = {  # [I] Released / Downloaded / Installed / Unavailable [C] in v1
    "downloaded": Transition.DOWNLOADED,
    "installed": Transition.INSTALLED,
    "enabled": Transition.ACTIVATED,
    "unavailable": Transition.DELETED,
    "deleted": Transition.DELETED,
}
SUBSCRIPTION_EVENTS = {
    "subscription_activated": Transition.ACTIVATED,
    "subscription_suspended": Transition.SUSPENDED,
    "subscription_resumed": Transition.RESUMED,
    "subscription_terminated": Transition.TERMINATED,
}


def sim_profile_status(event: dict[str, Any]) -> str:
    return str(event.get("status") or _dig(event, "data", "sim_profile", "status") or "").lower()  # [I]


def usage_remaining(event: dict[str, Any]) -> int | None:
    return _int(event.get("current_balance"))  # [C] bytes remaining


def event_eid(event: dict[str, Any]) -> str | None:
    return _text(event.get("eid"))  # [C] DOWNLOAD_PROGRESS
