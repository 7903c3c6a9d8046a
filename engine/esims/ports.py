"""The calls we make to 1Global (research notes §4). The HTTP implementation is
`workers.onglobal.client.OneGlobalClient`; tests and `make run` point it at the simulator."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from engine.esims.schemas import VendorOrder, VendorSubscription, VendorUsageItem


class OneGlobalRefused(Exception):
    """A 4xx other than 429: retrying cannot help. `message` is the vendor's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"1Global answered {status}: {message}")
        self.status = status
        self.message = message


class OneGlobalUnavailable(Exception):
    """429, 5xx or a transport error that outlived the client's own retries: retry later."""


class OneGlobal(Protocol):
    async def token(self) -> str: ...

    async def get_account(self, account_id: str) -> dict[str, object]: ...

    async def find_subscriber(self, email: str) -> str | None: ...

    async def create_subscriber(self, *, email: str, first_name: str, last_name: str, idempotency_key: str) -> str: ...

    async def activate_subscription(
        self,
        *,
        subscriber_id: str,
        email: str,
        first_name: str,
        last_name: str,
        product_offering_id: str,
        idempotency_key: str,
    ) -> VendorOrder: ...

    async def get_order(self, order_id: str) -> VendorOrder: ...

    async def get_subscription(self, subscription_id: str) -> VendorSubscription: ...

    async def usage_items(self, from_date: date, to_date: date) -> list[VendorUsageItem]: ...

    async def set_home_zone(self, subscription_id: str, disabled: bool, *, idempotency_key: str) -> None: ...
