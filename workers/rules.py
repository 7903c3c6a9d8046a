"""The CALL_WEBHOOK rule action's activity: sent through workers/workflows/http.py (SSRF guard,
no redirects), and errors classified for Temporal's retries (network trouble, 5xx and 429 retry;
other 4xx, redirects and refused targets do not)."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.rules.activities import CALL_WEBHOOK
from engine.rules.schemas import WebhookRequest, WebhookResult
from engine.settings import Settings
from workers.workflows.errors import ActivityConfigError, NonRetryable
from workers.workflows.http import send


class RuleActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def allow_private(self) -> bool:
        return self.settings.workflows_allow_private_urls and self.settings.environment != "production"

    @activity.defn(name=CALL_WEBHOOK)
    async def call_webhook(self, request: WebhookRequest) -> WebhookResult:
        method = request.method.upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ActivityConfigError(f"CALL_WEBHOOK method {method} is not supported")
        headers = {"Content-Type": "application/json", **request.headers}
        headers.setdefault("Idempotency-Key", request.idempotency_key)
        response = await send(method, request.url, allow_private=self.allow_private, headers=headers, body=request.body)
        if 300 <= response.status_code < 400:
            raise NonRetryable(f"Webhook answered a redirect ({response.status_code}); redirects are not followed")
        if response.status_code >= 400:
            error = f"Webhook request failed with status {response.status_code}: {response.text[:500]}"
            if response.status_code < 500 and response.status_code != 429:
                raise NonRetryable(error)
            raise ApplicationError(error)
        return WebhookResult(status=response.status_code, status_text=response.reason_phrase, body=_decode(response))


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:10_000]
