"""The CALL_WEBHOOK rule action's activity: the SSRF guard of workers/workflows/http.py, no
redirects, and errors classified for Temporal's retries (network trouble, 5xx and 429 retry;
other 4xx, redirects and refused targets do not)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.rules.activities import CALL_WEBHOOK
from engine.rules.schemas import WebhookRequest, WebhookResult
from engine.settings import Settings
from workers.workflows.errors import ActivityConfigError, NonRetryable
from workers.workflows.http import check_url


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
        await check_url(request.url, allow_private=self.allow_private)
        headers = {"Content-Type": "application/json", **request.headers}
        headers.setdefault("Idempotency-Key", request.idempotency_key)
        body = request.body
        content = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
            try:
                response = await http.request(method, request.url, headers=headers, content=content)
            except httpx.HTTPError as exc:
                raise ApplicationError(f"Request to {request.url} failed: {exc}")  # retryable
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
