"""Implementations of the workflow engine's activities: the definition activity types and the
definition lookup for sub-workflows. Each side effect is keyed by the request's idempotency key."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from engine.auth import api_keys
from engine.auth.service import principal_for_user
from engine.clock import now
from engine.db.models import SideEffectRow, User
from engine.errors import DomainError
from engine.events import service as events
from engine.mail import service as mail
from engine.settings import Settings
from engine.workflows import service as workflow_service
from engine.workflows.activities import LOAD_DEFINITION, RUN_ACTIVITY
from engine.workflows.schemas import ActivityRequest, ActivityResult, DefinitionRequest, DefinitionSnapshot
from workers.mail import Mailer
from workers.workflows import commands, functions
from workers.workflows.errors import ActivityConfigError, NonRetryable
from workers.workflows.http import send


def _text(config: dict[str, Any], key: str, activity_type: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise ActivityConfigError(f'{activity_type} requires "{key}"')
    return value


class WorkflowActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: Client,
        mailer: Mailer | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client
        self.mailer = mailer or Mailer(sessionmaker, settings)

    @activity.defn(name=LOAD_DEFINITION)
    async def load_definition(self, request: DefinitionRequest) -> DefinitionSnapshot:
        async with self.sessionmaker() as session:
            return await workflow_service.snapshot(session, request.tenant_id, request.workflow_id, request.version)

    @activity.defn(name=RUN_ACTIVITY)
    async def run_activity(self, request: ActivityRequest) -> ActivityResult:
        handler = {
            "SEND_EMAIL": self.send_email,
            "EMIT_EVENT": self.emit_event,
            "CALL_WEBHOOK": self.call_webhook,
            "CALL_API": self.call_api,
            "EXECUTE_FUNCTION": self.execute_function,
            "UPDATE_ENTITY": self.update_entity,
        }.get(request.activity_type)
        if handler is None:
            raise ActivityConfigError(f"Unknown activity type {request.activity_type}")
        return ActivityResult(output=await handler(request), finished_at=now())

    async def send_email(self, request: ActivityRequest) -> dict[str, Any]:
        config = request.config
        to, subject = config.get("to"), config.get("subject")
        if not to or not subject:
            raise ActivityConfigError('SEND_EMAIL requires "to" and "subject" fields')
        recipients = to if isinstance(to, list) else [to]
        body = config.get("body")
        if body is None:
            template, data = config.get("template"), config.get("templateData") or {}
            body = f"[{template}]\n{json.dumps(data, indent=2, default=str)}" if template else ""
        async with self.sessionmaker() as session, session.begin():
            outbox_ids = [
                await mail.enqueue_once(
                    session, recipient=str(recipient), subject=str(subject), body=str(body),
                    tenant_id=request.tenant_id, idempotency_key=f"{request.idempotency_key}:{i}",
                )
                for i, recipient in enumerate(recipients)
            ]  # fmt: skip
        # Delivered here rather than by a MailDelivery workflow per message: the activity already has
        # the definition's retries, and the outbox row (SENT once) keeps a retry from sending twice.
        for outbox_id in outbox_ids:
            await self.mailer.deliver(outbox_id)
        return {"sent": True, "to": to, "subject": subject, "via": "outbox", "outboxIds": [str(i) for i in outbox_ids]}

    async def emit_event(self, request: ActivityRequest) -> dict[str, Any]:
        name = _text(request.config, "eventName", "EMIT_EVENT")
        payload = request.config.get("payload") or {}
        if not isinstance(payload, dict):
            raise ActivityConfigError("EMIT_EVENT payload must be an object")
        payload = {
            **payload,
            "_workflow": {
                "workflowInstanceId": str(request.instance_id),
                "workflowId": request.workflow_id,
                "tenantId": str(request.tenant_id),
                "organizationId": str(request.organization_id) if request.organization_id else None,
                # Instances this event starts act for the same user (see engine/workflows/triggers.py).
                "initiatedBy": request.initiated_by,
            },
        }
        async with self.sessionmaker() as session, session.begin():
            event_id = await events.store(
                session, tenant_id=request.tenant_id, organization_id=request.organization_id,
                name=name, payload=payload, idempotency_key=request.idempotency_key,
            )  # fmt: skip
        await events.dispatch(self.client, event_id, self.settings.temporal_task_queue)
        return {"emitted": True, "eventName": name, "eventId": str(event_id), "payload": payload}

    async def _http(self, method: str, url: str, headers: dict[str, str], body: Any) -> httpx.Response:
        content = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as http:
            try:
                return await http.request(method, url, headers=headers, content=content)
            except httpx.HTTPError as exc:
                raise ApplicationError(f"Request to {url} failed: {exc}")  # retryable: network trouble

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return response.text

    async def call_webhook(self, request: ActivityRequest) -> dict[str, Any]:
        config = request.config
        url = _text(config, "url", "CALL_WEBHOOK")
        method = str(config.get("method") or "POST").upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ActivityConfigError(f"CALL_WEBHOOK method {method} is not supported")
        headers = {
            "Content-Type": "application/json",
            **{str(k): str(v) for k, v in (config.get("headers") or {}).items()},
        }
        # Receivers can de-duplicate retries with this header.
        headers.setdefault("Idempotency-Key", request.idempotency_key)
        response = await send(
            method,
            url,
            allow_private=self.settings.workflows_allow_private_urls and self.settings.environment != "production",
            headers=headers,
            body=config.get("body"),
        )
        if 300 <= response.status_code < 400:
            raise NonRetryable(f"Webhook answered a redirect ({response.status_code}); redirects are not followed")
        if response.status_code >= 400:
            error = f"Webhook request failed with status {response.status_code}: {response.text[:500]}"
            raise (
                NonRetryable(error)
                if response.status_code < 500 and response.status_code != 429
                else ApplicationError(error)
            )
        return {"status": response.status_code, "statusText": response.reason_phrase, "result": self._decode(response)}

    async def call_api(self, request: ActivityRequest) -> dict[str, Any]:
        """Calls our own API with a short-lived API key carrying the initiator's roles; the key is
        revoked as soon as the call returns."""
        config = request.config
        endpoint = _text(config, "endpoint", "CALL_API")
        base = self.settings.api_base_url.rstrip("/")
        if endpoint.startswith("/"):
            if not endpoint.startswith("/api/"):
                raise ActivityConfigError('CALL_API endpoint must start with "/api/"')
            url = base + endpoint
        elif endpoint.startswith(base + "/api/"):
            url = endpoint
        else:
            raise ActivityConfigError("CALL_API only calls this service's own API")
        user_id = _user_id(request.initiated_by)
        if user_id is None:
            raise ActivityConfigError("CALL_API needs an initiating user whose roles it acts with")
        async with self.sessionmaker() as session, session.begin():
            minted = await api_keys.mint_for_user(
                session, tenant_id=request.tenant_id, organization_id=request.organization_id, user_id=user_id,
                name=f"workflow {request.instance_id}", ttl=timedelta(minutes=5),
            )  # fmt: skip
            if minted is None:
                raise ActivityConfigError("CALL_API: the initiating user has no roles")
            key, secret = minted
        headers = {
            "Authorization": f"apikey {secret}",
            "Content-Type": "application/json",
            "X-Tenant-Id": str(request.tenant_id),
            "X-Workflow-Instance-Id": str(request.instance_id),
            "Idempotency-Key": request.idempotency_key,
            **{str(k): str(v) for k, v in (config.get("headers") or {}).items()},
        }
        try:
            response = await self._http(str(config.get("method") or "GET").upper(), url, headers, config.get("body"))
        finally:
            async with self.sessionmaker() as session, session.begin():
                await api_keys.revoke(session, key.id)
        body = self._decode(response)
        if response.status_code >= 400:
            error = f"API call {endpoint} failed with status {response.status_code}: {response.text[:500]}"
            raise (NonRetryable(error) if response.status_code < 500 else ApplicationError(error))
        return {
            "status": response.status_code,
            "statusText": response.reason_phrase,
            "body": body,
            "authenticated": True,
        }

    async def execute_function(self, request: ActivityRequest) -> dict[str, Any]:
        name = _text(request.config, "functionName", "EXECUTE_FUNCTION")
        function = functions.FUNCTIONS.get(name)
        if function is None:
            raise ActivityConfigError(f'Workflow function "{name}" not registered')
        args = request.config.get("args") or {}
        async with self.sessionmaker() as session, session.begin():
            done = await session.get(SideEffectRow, request.idempotency_key)
            if done is not None:
                return dict(done.result or {})  # an earlier attempt already ran it
            ctx = functions.FunctionContext(
                session=session, idempotency_key=request.idempotency_key, instance_id=str(request.instance_id),
                workflow_id=request.workflow_id, tenant_id=str(request.tenant_id),
                organization_id=str(request.organization_id) if request.organization_id else None, context=request.context,
            )  # fmt: skip
            result = await function(args, ctx)
            output = {"executed": True, "functionName": name, "result": result}
            await session.execute(
                insert(SideEffectRow).values(
                    idempotency_key=request.idempotency_key, kind="EXECUTE_FUNCTION", result=output
                )
            )
        return output

    async def update_entity(self, request: ActivityRequest) -> dict[str, Any]:
        """Runs an allow-listed command (workers/workflows/commands.py) as the initiating user,
        who must hold the command's features, exactly once per idempotency key."""
        command_id = _text(request.config, "commandId", "UPDATE_ENTITY")
        command = commands.COMMANDS.get(command_id)
        if command is None:
            raise ActivityConfigError(f"UPDATE_ENTITY command is not allowed: {command_id}")
        payload = request.config.get("input")
        if not isinstance(payload, dict):
            raise ActivityConfigError('UPDATE_ENTITY requires an "input" object')
        user_id = _user_id(request.initiated_by)
        if user_id is None:
            raise ActivityConfigError(f"UPDATE_ENTITY command {command_id} requires an authenticated workflow user")
        async with self.sessionmaker() as session, session.begin():
            done = await session.get(SideEffectRow, request.idempotency_key)
            if done is not None:
                return dict(done.result or {})  # an earlier attempt already ran it
            user = await session.get(User, user_id)
            if user is None or user.deleted_at is not None or not user.is_active or user.tenant_id != request.tenant_id:
                raise ActivityConfigError(f"UPDATE_ENTITY command {command_id} requires an authenticated workflow user")
            principal = await principal_for_user(session, user, None)
            missing = principal.missing(list(command.required_features))
            if missing:
                raise ActivityConfigError(
                    f"UPDATE_ENTITY command {command_id} is not authorized for the workflow user "
                    f"(missing features: {', '.join(missing)})"
                )
            try:
                result = await command.handler(session, request.tenant_id, request.organization_id, payload, principal)
            except DomainError as exc:
                raise ActivityConfigError(f"UPDATE_ENTITY command {command_id} failed: {exc.message}")
            output = {"executed": True, "commandId": command_id, "result": result}
            await session.execute(
                insert(SideEffectRow).values(
                    idempotency_key=request.idempotency_key, kind="UPDATE_ENTITY", result=output
                )
            )
        return output


def _user_id(initiated_by: str | None) -> uuid.UUID | None:
    """The initiating user's id; None when there is none (or it is a trigger, `trigger:<id>`)."""
    if not initiated_by:
        return None
    try:
        return uuid.UUID(initiated_by)
    except ValueError:
        return None
