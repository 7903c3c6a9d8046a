"""A 1Global Connect simulator: a real HTTP server with in-memory state, for `make run` without
1Global credentials, the tests and the benchmark (`covo onglobal-sim`, or
`python -m workers.onglobal.simulator --port 8290 --webhook-url ...`).

It serves the calls of `engine.esims.ports.OneGlobal` with the payloads of
`engine.esims.onglobal_fields` (OAuth2 token, accounts, subscribers, `activate_subscription`
orders with Idempotency-Key, subscriptions, usage items, home zone) and delivers webhooks with
Basic auth to our endpoint after configurable delays: order completed, download progress,
installed, usage threshold, subscription end.

Misbehaviour, globally or for one subscriber e-mail, through `POST /_sim/behaviour`:
`cancel` (the order is canceled), `duplicates` (each webhook sent N extra times), `outOfOrder`
(lifecycle webhooks in reverse), `silent` (no webhooks at all: only polling sees the order),
`completeAfter` / `webhookDelay` (seconds), `refuse` ({status, message}: the order POST is
refused), `install` (send download/install webhooks after completion). `POST /_sim/fail`
({status, count, retryAfter}) answers the next N API calls with 429/5xx. Also: `POST /_sim/usage`,
`POST /_sim/subscriptions/{id}/expire`, `POST /_sim/events` (send any event), `GET /_sim/orders`,
`GET /_sim/stats`, `POST /_sim/reset`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.esims import onglobal_fields as f

log = logging.getLogger("covo.onglobal.sim")

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_BYTES = 1024**3  # a 1 GiB plan


def vendor_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(CROCKFORD) for _ in range(26))


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class Behaviour:
    complete_after: float = 0.5
    webhook_delay: float = 0.05
    cancel: bool = False
    silent: bool = False
    duplicates: int = 0
    out_of_order: bool = False
    install: bool = True
    install_after: float = 0.5  # seconds between the order webhook and the device's first one
    refuse: dict[str, Any] | None = None
    fail_orders: int = 0  # the next N order POSTs answer `fail_status`
    fail_status: int = 503
    retry_after: float | None = None
    order_delay: float = 0.0  # seconds before the order POST is answered

    ALIASES = {
        "completeAfter": "complete_after",
        "webhookDelay": "webhook_delay",
        "outOfOrder": "out_of_order",
        "failOrders": "fail_orders",
        "failStatus": "fail_status",
        "retryAfter": "retry_after",
        "orderDelay": "order_delay",
        "installAfter": "install_after",
    }

    def updated(self, changes: dict[str, Any]) -> Behaviour:
        names = {fl.name for fl in fields(self)}
        values = {self.ALIASES.get(k, k): v for k, v in changes.items()}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        return Behaviour(**{**self.__dict__, **values})


@dataclass
class Failure:
    status: int
    count: int
    retry_after: float | None = None


@dataclass
class State:
    webhook_url: str
    webhook_auth: tuple[str, str]
    behaviour: Behaviour = field(default_factory=Behaviour)
    by_email: dict[str, Behaviour] = field(default_factory=dict)
    failure: Failure | None = None
    tokens: set[str] = field(default_factory=set)
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_email: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, str] = field(default_factory=dict)  # key → resource id
    order_posts: dict[str, int] = field(default_factory=dict)  # per subscriber e-mail
    requests: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0

    def behaviour_for(self, email: str | None) -> Behaviour:
        return self.by_email.get(email or "", self.behaviour)


class Simulator:
    def __init__(self, webhook_url: str, webhook_user: str, webhook_password: str) -> None:
        self.state = State(webhook_url, (webhook_user, webhook_password))
        self.http = httpx.AsyncClient(timeout=10)
        self.tasks: set[asyncio.Task[None]] = set()
        self.app = Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/token", self.token, methods=["POST"]),
            Route(f.ACCOUNTS + "/{id}", self.account, methods=["GET"]),
            Route(f.SUBSCRIBERS, self.subscribers, methods=["GET", "POST"]),
            Route(f.ORDERS, self.create_order, methods=["POST"]),
            Route(f.ORDERS + "/{id}", self.get_order, methods=["GET"]),
            Route(f.SUBSCRIPTIONS + "/{id}", self.get_subscription, methods=["GET"]),
            Route(f.SUBSCRIPTIONS + "/{id}/home-zone", self.home_zone, methods=["PUT"]),
            Route(f.USAGE_ITEMS, self.usage_items, methods=["GET"]),
            Route("/_sim/behaviour", self.set_behaviour, methods=["POST"]),
            Route("/_sim/fail", self.set_failure, methods=["POST"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            Route("/_sim/orders", self.list_orders, methods=["GET"]),
            Route("/_sim/orders/{id}/{action}", self.order_action, methods=["POST"]),
            Route("/_sim/usage", self.add_usage, methods=["POST"]),
            Route("/_sim/subscriptions/{id}/expire", self.expire, methods=["POST"]),
            Route("/_sim/events", self.send_event, methods=["POST"]),
            Route("/_sim/stats", self.stats, methods=["GET"]),
        ]

    # ------------------------------------------------------------ helpers

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.http.aclose()

    def gate(self, request: Request) -> Response | None:
        """Bearer token check, then any injected failure (429/5xx for the next N calls)."""
        self.state.requests += 1
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.state.tokens:
            return error(401, "UNAUTHORISED", "missing or invalid access token")
        if request.headers.get("api-version") != f.API_VERSION:
            return error(400, "INVALID_HTTP_MESSAGE", f"Api-Version must be {f.API_VERSION}")
        failure = self.state.failure
        if failure is not None and failure.count > 0:
            failure.count -= 1
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            kind = "TOO MANY REQUESTS" if failure.status == 429 else "INTERNAL_ERROR"
            return error(failure.status, kind, "injected failure", headers)
        return None

    def replay(self, request: Request, scope: str) -> str | None:
        key = request.headers.get("idempotency-key")
        return self.state.idempotency.get(f"{scope}:{key}") if key else None

    def remember(self, request: Request, scope: str, resource_id: str) -> None:
        key = request.headers.get("idempotency-key")
        if key:
            self.state.idempotency[f"{scope}:{key}"] = resource_id

    # ------------------------------------------------------------ the 1Global API

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = secrets.token_urlsafe(24)
        self.state.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 300})

    async def account(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        account_id = request.path_params["id"]
        return JSONResponse({"id": account_id, "name": "Covo", "status": "active"})

    async def subscribers(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        if request.method == "GET":
            email = request.query_params.get(f.SUBSCRIBER_EMAIL_FILTER)
            found = [s for s in self.state.subscribers.values() if email is None or s["email"] == email]
            return JSONResponse({"_embedded": {"subscribers": found[:1] if email else found}})
        if (known := self.replay(request, "subscribers")) is not None:
            return JSONResponse(self.state.subscribers[known], status_code=201)
        body = await request.json()
        subscriber = {"id": vendor_id("sbr_"), **{k: body.get(k) for k in ("first_name", "last_name", "email")}}
        self.state.subscribers[subscriber["id"]] = subscriber
        self.remember(request, "subscribers", subscriber["id"])
        return JSONResponse(subscriber, status_code=201)

    async def create_order(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return error(400, "INVALID_HTTP_MESSAGE", "body is not JSON")
        email = str((body.get("subscriber") or {}).get("email") or "")
        self.state.order_posts[email] = self.state.order_posts.get(email, 0) + 1
        behaviour = self.state.behaviour_for(email)
        if behaviour.fail_orders > 0:
            behaviour.fail_orders -= 1
            headers = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            kind = "TOO MANY REQUESTS" if behaviour.fail_status == 429 else "INTERNAL_ERROR"
            return error(behaviour.fail_status, kind, "injected failure", headers)
        if (known := self.replay(request, "orders")) is not None:
            return JSONResponse(self.state.orders[known], status_code=201)
        if behaviour.refuse:
            status = int(behaviour.refuse.get("status", 422))
            return error(status, "INVALID_REQUEST_PARAMS", str(behaviour.refuse.get("message", "order refused")))
        if body.get("type") != "activate_subscription" or not body.get("account_id"):
            return error(400, "INVALID_REQUEST_PARAMS", "type activate_subscription and account_id are required")
        order_id = vendor_id("order_")  # created and remembered with no await in between
        order = {
            "id": order_id,
            "type": "activate_subscription",
            "status": "pending",
            "account_id": body["account_id"],
            "created_at": iso(now()),
            "_links": {"self": {"href": f.order_path(order_id)}},
        }
        self.state.orders[order_id] = order
        self.state.order_email[order_id] = email
        self.remember(request, "orders", order_id)
        self.spawn(self.fulfil(order_id, behaviour))
        # A slow answer: the order exists already (a caller that gives up and retries with the
        # same Idempotency-Key gets this same order).
        await asyncio.sleep(behaviour.order_delay)
        return JSONResponse(order, status_code=201)

    async def get_order(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        order = self.state.orders.get(request.path_params["id"])
        if order is None:
            return error(404, "NOT_FOUND", "order not found")
        return JSONResponse(order)

    async def get_subscription(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        subscription = self.state.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return error(404, "NOT_FOUND", "subscription not found")
        return JSONResponse(subscription)

    async def home_zone(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        subscription = self.state.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return error(404, "NOT_FOUND", "subscription not found")
        body = await request.json()
        subscription["home_zone_disabled"] = bool(body.get("disabled"))
        return JSONResponse(subscription)

    async def usage_items(self, request: Request) -> Response:
        if (denied := self.gate(request)) is not None:
            return denied
        start = request.query_params.get("from-date", "0000")
        end = request.query_params.get("to-date", "9999")
        limit = int(request.query_params.get("limit", "100"))
        offset = int(request.query_params.get("cursor") or 0)
        matching = [i for i in self.state.usage if start <= i["started_at"][:10] <= end]
        page = matching[offset : offset + limit]
        links: dict[str, Any] = {}
        if offset + limit < len(matching):
            links["next"] = {"href": f"{f.USAGE_ITEMS}?cursor={offset + limit}"}
        return JSONResponse({"_embedded": {"usage_items": page}, "_links": links})

    # ------------------------------------------------------------ what 1Global does on its own

    async def fulfil(self, order_id: str, behaviour: Behaviour) -> None:
        await asyncio.sleep(behaviour.complete_after)
        order = self.state.orders[order_id]
        if order["status"] != "pending":
            return
        if behaviour.cancel:
            self.cancel(order)
        else:
            self.complete(order)
        await self.announce(order_id)

    def cancel(self, order: dict[str, Any]) -> None:
        order["status"] = "canceled"
        order["status_reason"] = "canceled by 1Global"

    def complete(self, order: dict[str, Any]) -> None:
        iccid = "8944" + "".join(secrets.choice("0123456789") for _ in range(15))
        matching_id = "".join(secrets.choice(CROCKFORD) for _ in range(20))
        subscription_id = vendor_id("sub_")
        subscription: dict[str, Any] = {
            "id": subscription_id,
            "status": "PENDING_USAGE",
            "sim_id": iccid,
            "initial_balance": DEFAULT_BYTES,
            "current_balance": DEFAULT_BYTES,
            "spend_balance": 0,
            "balance_units": "Bytes",
            "expiry_date": iso(now() + timedelta(days=30)),
            "phone_number": "+4475" + "".join(secrets.choice("0123456789") for _ in range(8)),
            "country_code": "GB",
            "home_zone_disabled": False,
        }
        self.state.subscriptions[subscription_id] = subscription
        order.update(
            status="completed",
            subscription_id=subscription_id,
            sim_profile={"iccid": iccid, "matching_id": matching_id, "smdp_address": f.SMDP_ADDRESS},
            _embedded={"_links": {"qrcode": {"href": f"https://qr.sim.1global.test/{matching_id}.png"}}},
        )

    async def announce(self, order_id: str) -> None:
        """The order's webhooks, as the behaviour says (silent, duplicates, out of order)."""
        order = self.state.orders[order_id]
        behaviour = self.state.behaviour_for(self.state.order_email.get(order_id))
        if behaviour.silent:
            return
        kind = "ORDER_COMPLETED" if order["status"] == "completed" else "ORDER_CANCELED"
        events = [event(kind, data={"order": order})]
        lifecycle: list[dict[str, Any]] = []
        if order["status"] == "completed" and behaviour.install:
            iccid = order["sim_profile"]["iccid"]
            eid = "8904" + "".join(secrets.choice("0123456789") for _ in range(28))
            for step in ("BPP_DOWNLOAD", "BPP_INSTALLATION"):
                lifecycle.append(
                    event(
                        "DOWNLOAD_PROGRESS",
                        iccid=iccid,
                        eid=eid,
                        download_progress_step=step,
                        notification_point_description=step.replace("_", " ").title(),
                        notification_status="SUCCESS",
                    )
                )
        if behaviour.out_of_order:
            events = list(reversed(lifecycle)) + events
        else:
            events += lifecycle
        for item in events:
            if item is (lifecycle[0] if lifecycle else None) and not behaviour.out_of_order:
                await asyncio.sleep(behaviour.install_after)  # the user scans the QR code
            for _ in range(1 + behaviour.duplicates):
                await asyncio.sleep(behaviour.webhook_delay)
                await self.deliver(item)

    async def deliver(self, payload: dict[str, Any], attempts: int = 5) -> None:
        """At-least-once, as we assume 1Global delivers: retried on 5xx and transport errors."""
        user, password = self.state.webhook_auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        for attempt in range(attempts):
            try:
                response = await self.http.post(
                    self.state.webhook_url, json=payload, headers={"Authorization": f"Basic {token}"}
                )
                if response.status_code < 500:
                    self.state.webhooks_sent += 1
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(min(0.2 * 2**attempt, 5))
        self.state.webhooks_failed += 1
        log.warning("webhook %s %s not delivered", payload.get("type"), payload.get("id"))

    # ------------------------------------------------------------ the admin endpoint

    async def set_behaviour(self, request: Request) -> Response:
        body = await request.json()
        email = str(body.pop("email", "") or "")
        try:
            if email:
                self.state.by_email[email] = self.state.behaviour.updated(body)
            else:
                self.state.behaviour = self.state.behaviour.updated(body)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def set_failure(self, request: Request) -> Response:
        body = await request.json()
        self.state.failure = Failure(int(body["status"]), int(body.get("count", 1)), body.get("retryAfter"))
        return JSONResponse({"ok": True})

    async def reset(self, request: Request) -> Response:
        self.state.behaviour, self.state.by_email, self.state.failure = Behaviour(), {}, None
        return JSONResponse({"ok": True})

    async def list_orders(self, request: Request) -> Response:
        email = request.query_params.get("email")
        orders = [
            {**order, "email": self.state.order_email.get(order_id)}
            for order_id, order in self.state.orders.items()
            if email is None or self.state.order_email.get(order_id) == email
        ]
        return JSONResponse({"orders": orders})

    async def order_action(self, request: Request) -> Response:
        order = self.state.orders.get(request.path_params["id"])
        if order is None or order["status"] != "pending":
            return JSONResponse({"error": "no pending order"}, status_code=404)
        action = request.path_params["action"]
        if action == "cancel":
            self.cancel(order)
        elif action == "complete":
            self.complete(order)
        else:
            return JSONResponse({"error": "action is cancel or complete"}, status_code=400)
        self.spawn(self.announce(order["id"]))
        return JSONResponse(order)

    async def add_usage(self, request: Request) -> Response:
        """Records data usage on a subscription (an itemised record), moves its balance, and sends
        USAGE_THRESHOLD when 80 % is crossed and SUBSCRIPTION_END when the plan is used up."""
        body = await request.json()
        subscription = self.state.subscriptions.get(str(body.get("subscriptionId")))
        if subscription is None:
            return JSONResponse({"error": "subscription not found"}, status_code=404)
        quantity = int(body["bytes"])
        started = str(body.get("at") or iso(now()))
        self.state.usage.append(
            {
                "id": vendor_id("uitem_"),
                "type": "data",
                "direction": "outgoing",
                "quantity": quantity,
                "unit": "bytes",
                "charged_quantity": quantity,
                "cost_type": "in_bundle",
                "started_at": started,
                "ended_at": started,
                "processed_at": iso(now()),
                "_links": {"subscription": {"href": f.subscription_path(subscription["id"])}},
            }
        )
        total = subscription["initial_balance"]
        before = subscription["spend_balance"]
        after = min(before + quantity, total)
        subscription.update(spend_balance=after, current_balance=total - after, status="ACTIVE")
        behaviour = self.state.behaviour_for(None)
        common = {
            "iccid": subscription["sim_id"],
            "subscription_id": subscription["id"],
            "expiration_date": subscription["expiry_date"],
            "current_balance": subscription["current_balance"],
        }
        events = []
        if before < 0.8 * total <= after:
            events.append(event("USAGE_THRESHOLD", threshold=80, **common))
        if after >= total:
            subscription["status"] = f.SUBSCRIPTION_DEPLETED
            events.append(event("SUBSCRIPTION_END", **common))
        if not behaviour.silent:
            for item in events:
                self.spawn(self.deliver(item))
        return JSONResponse({"ok": True, "subscription": subscription, "events": [e["id"] for e in events]})

    async def expire(self, request: Request) -> Response:
        subscription = self.state.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return JSONResponse({"error": "subscription not found"}, status_code=404)
        subscription["status"] = f.SUBSCRIPTION_EXPIRED
        item = event(
            "SUBSCRIPTION_END",
            iccid=subscription["sim_id"],
            subscription_id=subscription["id"],
            expiration_date=iso(now()),
            current_balance=subscription["current_balance"],
        )
        self.spawn(self.deliver(item))
        return JSONResponse({"ok": True, "event": item["id"]})

    async def send_event(self, request: Request) -> Response:
        body = await request.json()
        item = {"id": vendor_id("evt_"), **body}
        await self.deliver(item)
        return JSONResponse({"ok": True, "event": item["id"]})

    async def stats(self, request: Request) -> Response:
        s = self.state
        return JSONResponse(
            {
                "orders": len(s.orders),
                "orderPosts": s.order_posts,
                "requests": s.requests,
                "webhooksSent": s.webhooks_sent,
                "webhooksFailed": s.webhooks_failed,
                "pendingTasks": len(self.tasks),
            }
        )


def event(kind: str, **fields_: Any) -> dict[str, Any]:
    return {"id": vendor_id("evt_"), "type": kind, "created_at": iso(now()), **fields_}


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"type": kind, "messages": [{"message": message}]}, status_code=status, headers=headers)


@contextlib.asynccontextmanager
async def running(
    webhook_url: str, webhook_user: str, webhook_password: str, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator served in this event loop (tests, bench): yields it and its base URL."""
    sim = Simulator(webhook_url, webhook_user, webhook_password)
    config = uvicorn.Config(sim.app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the 1Global simulator did not start")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield sim, f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task
        await sim.aclose()


def main() -> None:
    from engine.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description="1Global Connect simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.oneglobal_sim_port)
    parser.add_argument(
        "--webhook-url",
        default=f"http://127.0.0.1:{settings.api_port}/api/esims/webhooks/1global",
        help="where webhooks go (our endpoint)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sim = Simulator(args.webhook_url, settings.oneglobal_webhook_user or "", settings.oneglobal_webhook_password or "")
    log.info("1Global simulator on http://%s:%s, webhooks to %s", args.host, args.port, args.webhook_url)
    uvicorn.run(sim.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
