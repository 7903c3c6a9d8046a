"""The one settings class. Every address and secret comes from the environment (prefix-free names
for the common ones, as the README documents), so the same code points at the embedded stack, a
Temporal cluster or Temporal Cloud."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# The placeholder a production deployment must override; the service refuses to start with it.
DEFAULT_SECRET = "change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = Field(default="development", alias="COVO_ENV")
    data_dir: Path = Field(default=Path(".data"), alias="COVO_DATA_DIR")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Kept out of DATABASE_URL so it can come from a secret file (`database_password`); put into
    # the URL when the URL carries none.
    database_password: SecretStr | None = Field(default=None, alias="DATABASE_PASSWORD")
    db_pool_size: int = Field(default=10, alias="DB_POOL_SIZE")
    # The API's one LISTEN connection (engine/db/notify.py: cache invalidation, start admission)
    # needs a session-level connection; when DATABASE_URL goes through a transaction pooler
    # (PgBouncer `pool_mode = transaction`), point this at Postgres itself. Unset: DATABASE_URL.
    database_listen_url: str | None = Field(default=None, alias="DATABASE_LISTEN_URL")

    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="covo-main", alias="TEMPORAL_TASK_QUEUE")
    temporal_ui_port: int = Field(default=8233, alias="TEMPORAL_UI_PORT")
    temporal_port: int = Field(default=7233, alias="TEMPORAL_PORT")
    # Temporal Cloud API key (also read by temporalio.envconfig from the environment); here so it
    # can come from a secret file (`temporal_api_key`). TLS and client certificates: the
    # TEMPORAL_TLS* variables of Temporal's environment configuration (engine/temporal/client.py).
    temporal_api_key: SecretStr | None = Field(default=None, alias="TEMPORAL_API_KEY")

    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8000, alias="API_PORT")
    # API processes (uvicorn workers): one per core.
    api_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, alias="API_WORKERS")
    # How long an API process may reuse a verified principal, a rule discovery or the workflow definition
    # a start reads (engine/invalidation.py):
    # changes reach every process at once by NOTIFY; this bounds the delay if one is lost. 0: off.
    auth_cache_ttl_seconds: float = Field(default=1.0, ge=0, le=1.0, alias="AUTH_CACHE_TTL_SECONDS")
    # Start admission (engine/workflows/settlement.py): a start answers once its instance left
    # RUNNING or after this many ms. 0: answer as soon as Temporal accepted the start.
    workflow_start_settle_ms: int = Field(default=2000, ge=0, le=60_000, alias="WORKFLOW_START_SETTLE_MS")
    # Each API process hosts a worker on the workflow task queue, sharing the API's Temporal
    # client, and starts instances with eager dispatch: the first workflow task comes back in the
    # start's answer instead of going through matching (server/app.py; bench/results/workflows.md).
    workflow_eager_start: bool = Field(default=True, alias="WORKFLOW_EAGER_START")
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto the API believes (uvicorn's setting):
    # behind a reverse proxy, its address, so rate limits key on the real client address.
    forwarded_allow_ips: str = Field(default="127.0.0.1", alias="FORWARDED_ALLOW_IPS")

    # Observability. `text` logs for people, `json` (one object per line with requestId, tenantId,
    # workflowId) for log collectors. GET /metrics on the API; the worker serves Temporal SDK and
    # business metrics on WORKER_METRICS_ADDRESS (host:port, unset = off). Tracing is off unless
    # TRACING_ENABLED; the OTLP exporter reads the standard OTEL_EXPORTER_OTLP_* variables
    # (TRACING_EXPORTER=console prints spans, none keeps them in-process).
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    metrics_enabled: bool = Field(default=True, alias="METRICS_ENABLED")
    worker_metrics_address: str | None = Field(default=None, alias="WORKER_METRICS_ADDRESS")
    tracing_enabled: bool = Field(default=False, alias="TRACING_ENABLED")
    tracing_exporter: Literal["otlp", "console", "none"] = Field(default="otlp", alias="TRACING_EXPORTER")
    service_name: str = Field(default="covo-engine", alias="OTEL_SERVICE_NAME")

    jwt_secret: str = Field(default=DEFAULT_SECRET, alias="JWT_SECRET")
    access_token_ttl_seconds: int = Field(default=900, alias="ACCESS_TOKEN_TTL_SECONDS")
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, alias="REFRESH_TOKEN_TTL_SECONDS")
    password_reset_ttl_seconds: int = Field(default=3600, alias="PASSWORD_RESET_TTL_SECONDS")

    admin_email: str = Field(default="admin@covo.local", alias="ADMIN_EMAIL")
    admin_password: str | None = Field(default=None, alias="ADMIN_PASSWORD")

    smtp_host: str | None = Field(default=None, alias="SMTP_HOST")
    smtp_port: int = Field(default=587, alias="SMTP_PORT")
    smtp_user: str | None = Field(default=None, alias="SMTP_USER")
    smtp_password: str | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=True, alias="SMTP_STARTTLS")
    mail_from: str = Field(default="no-reply@covo.local", alias="MAIL_FROM")
    public_url: str = Field(default="http://127.0.0.1:8000", alias="PUBLIC_URL")

    # Requests per window for the rate-limited auth endpoints (login, reset, refresh).
    auth_rate_limit: int = Field(default=10, alias="AUTH_RATE_LIMIT")
    auth_rate_window_seconds: int = Field(default=60, alias="AUTH_RATE_WINDOW_SECONDS")

    # Workflows: CALL_WEBHOOK may reach private/loopback addresses only when this is set (never
    # in production); `{{env.X}}` templates may read only these variables (plus APP_URL).
    workflows_allow_private_urls: bool = Field(default=False, alias="WORKFLOWS_ALLOW_PRIVATE_URLS")
    workflows_env_allowlist: str = Field(default="", alias="WORKFLOWS_ENV_ALLOWLIST")
    # An instance continues as a new Temporal run once its history has this many events.
    workflows_history_limit: int = Field(default=5000, ge=100, alias="WORKFLOWS_HISTORY_LIMIT")
    # Modules imported by the worker so their EXECUTE_FUNCTION functions register.
    workflow_function_modules: str = Field(default="", alias="WORKFLOW_FUNCTION_MODULES")
    # Where CALL_API activities reach our own API.
    internal_api_url: str | None = Field(default=None, alias="INTERNAL_API_URL")
    # GET /events/stream: a comment line this often keeps proxies from closing an idle stream;
    # a client reconnecting with Last-Event-ID gets what it missed within the window.
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, alias="EVENTS_HEARTBEAT_SECONDS")
    events_resume_window_seconds: int = Field(default=300, ge=1, alias="EVENTS_RESUME_WINDOW_SECONDS")
    # Scheduled job executions older than this are deleted by the scheduler's own daily job.
    scheduler_retention_days: int = Field(default=30, ge=1, alias="SCHEDULER_RETENTION_DAYS")

    # 1Global Connect. Without ONEGLOBAL_CLIENT_ID, `covo run` starts the simulator and points here.
    oneglobal_base_url: str = Field(default="https://api.1global.com/connect", alias="ONEGLOBAL_BASE_URL")
    oneglobal_token_url: str | None = Field(default=None, alias="ONEGLOBAL_TOKEN_URL")
    oneglobal_client_id: str | None = Field(default=None, alias="ONEGLOBAL_CLIENT_ID")
    oneglobal_client_secret: str | None = Field(default=None, alias="ONEGLOBAL_CLIENT_SECRET")
    oneglobal_account_id: str = Field(default="acc_00000000000000000000000000", alias="ONEGLOBAL_ACCOUNT_ID")
    oneglobal_product_offering_id: str = Field(default="prdoff_DEFAULT", alias="ONEGLOBAL_PRODUCT_OFFERING_ID")
    # The Basic-auth pair 1Global uses on our webhook; generated into the data dir outside production.
    oneglobal_webhook_user: str | None = Field(default=None, alias="ONEGLOBAL_WEBHOOK_USER")
    oneglobal_webhook_password: str | None = Field(default=None, alias="ONEGLOBAL_WEBHOOK_PASSWORD")
    oneglobal_timeout_seconds: float = Field(default=10.0, gt=0, alias="ONEGLOBAL_TIMEOUT_SECONDS")
    # Attempts per call inside one activity attempt (429/5xx); Temporal retries the activity after that.
    oneglobal_max_attempts: int = Field(default=3, ge=1, alias="ONEGLOBAL_MAX_ATTEMPTS")
    oneglobal_sim_port: int = Field(default=8290, alias="ONEGLOBAL_SIM_PORT")
    # How long `POST /esims` waits for the order to be placed; after that it answers 201 `pending`
    # anyway (the workflow carries on; a later refusal shows as `provisioning_failed`).
    esims_order_wait_seconds: float = Field(default=60, gt=0, alias="ESIMS_ORDER_WAIT_SECONDS")
    esims_webhook_max_bytes: int = Field(default=256 * 1024, ge=1024, alias="ESIMS_WEBHOOK_MAX_BYTES")
    # The polling fallback when no order webhook arrives (seconds).
    esims_poll_seconds: float = Field(default=30, gt=0, alias="ESIMS_POLL_SECONDS")
    esims_poll_fast_for_seconds: float = Field(default=300, ge=0, alias="ESIMS_POLL_FAST_FOR_SECONDS")
    esims_poll_slow_seconds: float = Field(default=300, gt=0, alias="ESIMS_POLL_SLOW_SECONDS")
    esims_poll_deadline_seconds: float = Field(default=24 * 3600, gt=0, alias="ESIMS_POLL_DEADLINE_SECONDS")
    # Consumers: sign-up lands in SIGNUP_TENANT_ID (else the `X-Tenant-Id` header, else the oldest
    # tenant); with INVITE_CODES_REQUIRED new consumers start inactive until they apply a code.
    signup_tenant_id: str | None = Field(default=None, alias="SIGNUP_TENANT_ID")
    invite_codes_required: bool = Field(default=False, alias="INVITE_CODES_REQUIRED")
    # Invite-code verify/apply attempts per user per minute.
    invite_code_rate_limit: int = Field(default=3, alias="INVITE_CODE_RATE_LIMIT")
    # How long an adjustment request waits for its workflow before answering 503 (retry with the
    # same Idempotency-Key to get the result).
    wallet_adjust_wait_seconds: float = Field(default=30, gt=0, alias="WALLET_ADJUST_WAIT_SECONDS")
    # Social sign-in: accepted audiences (comma-separated client ids; empty = provider disabled)
    # and the JWKS the ID tokens are checked against.
    google_client_ids: str = Field(default="", alias="GOOGLE_CLIENT_IDS")
    google_jwks_url: str = Field(default="https://www.googleapis.com/oauth2/v3/certs", alias="GOOGLE_JWKS_URL")
    apple_client_ids: str = Field(default="", alias="APPLE_CLIENT_IDS")
    apple_jwks_url: str = Field(default="https://appleid.apple.com/auth/keys", alias="APPLE_JWKS_URL")

    @property
    def api_base_url(self) -> str:
        return self.internal_api_url or f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_api_key_value(self) -> str | None:
        return self.temporal_api_key.get_secret_value() if self.temporal_api_key else None

    @model_validator(mode="after")
    def _password_into_database_url(self) -> Settings:
        if self.database_password is not None:
            self.database_url = self._with_password(self.database_url)
            self.database_listen_url = self._with_password(self.database_listen_url)
        return self

    def _with_password(self, value: str | None) -> str | None:
        if not value or self.database_password is None:
            return value
        url = make_url(value)
        if url.password is not None:
            return value
        return url.set(password=self.database_password.get_secret_value()).render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and (self.jwt_secret == DEFAULT_SECRET or len(self.jwt_secret) < 32):
            raise ValueError("JWT_SECRET must be set to a random value of 32+ characters in production")
        if self.environment == "production" and not (self.oneglobal_webhook_user and self.oneglobal_webhook_password):
            raise ValueError("ONEGLOBAL_WEBHOOK_USER and ONEGLOBAL_WEBHOOK_PASSWORD must be set in production")
        return self

    def with_generated_secrets(self) -> Settings:
        """Outside production, a missing JWT secret is generated once into the data dir, so tokens
        survive restarts without anyone having to invent a secret."""
        if self.environment == "production":
            return self
        update: dict[str, str] = {}
        if self.jwt_secret == DEFAULT_SECRET:
            update["jwt_secret"] = self._generated("jwt_secret", lambda: secrets.token_urlsafe(48))
        if not (self.oneglobal_webhook_user and self.oneglobal_webhook_password):
            # Shared with the simulator, which reads the same file to sign its webhooks.
            pair = self._generated("oneglobal_webhook", lambda: f"oneglobal:{secrets.token_urlsafe(24)}")
            update["oneglobal_webhook_user"], _, update["oneglobal_webhook_password"] = pair.partition(":")
        return self.model_copy(update=update) if update else self

    def _generated(self, name: str, make: Callable[[], str]) -> str:
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(make())
            path.chmod(0o600)
        return path.read_text().strip()


def secrets_dir() -> Path | None:
    """Where secret files are read from (compose and Kubernetes mount them at /run/secrets): one
    file per setting, named like its variable (`jwt_secret`, `database_password`, ...)."""
    path = Path(os.environ.get("COVO_SECRETS_DIR", "/run/secrets"))
    return path if path.is_dir() else None


@lru_cache
def get_settings() -> Settings:
    return Settings(_secrets_dir=secrets_dir()).with_generated_secrets()
