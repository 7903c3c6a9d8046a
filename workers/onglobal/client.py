"""The 1Global Connect HTTP client (the `engine.esims.ports.OneGlobal` port).

- OAuth2 client credentials: the token is cached until shortly before it expires, and one refresh
  at a time (concurrent callers wait for the same refresh).
- Every request carries `Api-Version`, an `X-Correlation-ID`, and (for writes) an
  `Idempotency-Key` chosen by the caller from our own ids, so a retried activity cannot place a
  second order.
- 429 and 5xx (and transport errors) are retried a few times, honouring `Retry-After`; after that
  `OneGlobalUnavailable` lets Temporal retry the activity. Other 4xx raise `OneGlobalRefused` with
  the vendor's message, which is not retried.

Field names and paths come from `engine.esims.onglobal_fields` only."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.esims import onglobal_fields as f
from engine.esims.ports import OneGlobalRefused, OneGlobalUnavailable
from engine.esims.schemas import VendorOrder, VendorSubscription, VendorUsageItem
from engine.settings import Settings

log = logging.getLogger("covo.onglobal")

TOKEN_MARGIN_SECONDS = 30.0  # refresh this long before `expires_in` runs out
MAX_RETRY_AFTER_SECONDS = 30.0  # a longer wait is Temporal's job (activity retry), not ours


def retry_after(response: httpx.Response, attempt: int) -> float:
    """`Retry-After` in seconds or as an HTTP date; without it, a short exponential backoff."""
    value = response.headers.get("retry-after")
    delay: float
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                moment = parsedate_to_datetime(value)
                delay = (moment - datetime.now(moment.tzinfo)).total_seconds()
            except (TypeError, ValueError):
                delay = 0.0
        return float(min(max(delay, 0.0), MAX_RETRY_AFTER_SECONDS))
    return float(min(0.2 * 2**attempt, 5.0))


class OneGlobalClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base_url = settings.oneglobal_base_url.rstrip("/")
        self.token_url = settings.oneglobal_token_url or f"{self.base_url}/oauth/token"
        self.http = http or httpx.AsyncClient(timeout=settings.oneglobal_timeout_seconds)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------ auth

    async def token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        async with self._token_lock:  # one refresh at a time; the others reuse its result
            if self._token and time.monotonic() < self._token_expires:
                return self._token
            data = {
                "grant_type": "client_credentials",
                "client_id": self.settings.oneglobal_client_id or "",
                "client_secret": self.settings.oneglobal_client_secret or "",
            }
            response = await self._send("POST", self.token_url, data=data, authenticated=False)
            payload = response.json()
            self._token = str(payload["access_token"])
            lifetime = float(payload.get("expires_in", 300))
            self._token_expires = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
            return self._token

    # ------------------------------------------------------------ transport

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        correlation_id = str(uuid.uuid4())
        attempts = self.settings.oneglobal_max_attempts
        for attempt in range(attempts):
            headers = {
                "Api-Version": f.API_VERSION,
                "Accept": "application/hal+json, application/json",
                "X-Correlation-ID": correlation_id,
            }
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            if authenticated:
                headers["Authorization"] = f"Bearer {await self.token()}"
            try:
                response = await self.http.request(method, url, json=json, data=data, params=params, headers=headers)
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise OneGlobalUnavailable(f"1Global unreachable: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
                continue
            if response.status_code == 401 and authenticated and attempt + 1 < attempts:
                self._token = None  # revoked or expired early: fetch a new one once
                continue
            if response.status_code == 429 or response.status_code >= 500:
                message = f.error_message(_json(response), response.status_code)
                log.warning(
                    "1Global %s %s -> %s (%s), correlation %s",
                    method,
                    url,
                    response.status_code,
                    message,
                    correlation_id,
                )
                if attempt + 1 >= attempts:
                    raise OneGlobalUnavailable(f"1Global answered {response.status_code}: {message}")
                await asyncio.sleep(retry_after(response, attempt))
                continue
            if response.status_code >= 400:
                message = f.error_message(_json(response), response.status_code)
                log.warning("1Global %s %s refused: %s, correlation %s", method, url, message, correlation_id)
                raise OneGlobalRefused(response.status_code, message)
            return response
        raise OneGlobalUnavailable("1Global: no attempt left")  # pragma: no cover (loop always returns/raises)

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, self.base_url + path, **kwargs)
        payload = _json(response)
        return payload if isinstance(payload, dict) else {}

    # ------------------------------------------------------------ the port

    async def get_account(self, account_id: str) -> dict[str, object]:
        return await self._json("GET", f.account_path(account_id))

    async def find_subscriber(self, email: str) -> str | None:
        payload = await self._json("GET", f.SUBSCRIBERS, params={f.SUBSCRIBER_EMAIL_FILTER: email, "limit": "1"})
        items = f.page_items(payload, "subscribers")
        return f.id_of(items[0]) if items else None

    async def create_subscriber(self, *, email: str, first_name: str, last_name: str, idempotency_key: str) -> str:
        body = f.subscriber_body(
            email=email, first_name=first_name, last_name=last_name, account_id=self.settings.oneglobal_account_id
        )
        payload = await self._json("POST", f.SUBSCRIBERS, json=body, idempotency_key=idempotency_key)
        return f.id_of(payload) or ""

    async def activate_subscription(
        self,
        *,
        subscriber_id: str,
        email: str,
        first_name: str,
        last_name: str,
        product_offering_id: str,
        idempotency_key: str,
    ) -> VendorOrder:
        body = f.activate_order_body(
            account_id=self.settings.oneglobal_account_id,
            subscriber_id=subscriber_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
            product_offering_id=product_offering_id,
        )
        return f.parse_order(await self._json("POST", f.ORDERS, json=body, idempotency_key=idempotency_key))

    async def get_order(self, order_id: str) -> VendorOrder:
        return f.parse_order(await self._json("GET", f.order_path(order_id)))

    async def get_subscription(self, subscription_id: str) -> VendorSubscription:
        return f.parse_subscription(await self._json("GET", f.subscription_path(subscription_id)))

    async def usage_items(self, from_date: date, to_date: date) -> list[VendorUsageItem]:
        items: list[VendorUsageItem] = []
        cursor: str | None = None
        while True:
            query = f.usage_query(from_date.isoformat(), to_date.isoformat(), cursor)
            payload = await self._json("GET", f.USAGE_ITEMS, params=query)
            items += [item for raw in f.page_items(payload, "usage_items") if (item := f.parse_usage_item(raw))]
            cursor = f.next_cursor(payload)
            if cursor is None:
                return items

    async def set_home_zone(self, subscription_id: str, disabled: bool, *, idempotency_key: str) -> None:
        await self._json(
            "PUT", f.home_zone_path(subscription_id), json=f.home_zone_body(disabled), idempotency_key=idempotency_key
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
