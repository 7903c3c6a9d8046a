"""The one way to reach Temporal. Where and how to connect comes from Temporal's own environment
configuration (`temporalio.envconfig`): the same variables every Temporal SDK and the `temporal`
CLI read, so one set points the same code at the dev server, a self-hosted cluster or Temporal
Cloud:

    TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS (true/false), TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
    TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
    TEMPORAL_PROFILE + TEMPORAL_CONFIG_FILE (a TOML file of named profiles), TEMPORAL_GRPC_META_*.

Explicit arguments (our settings: `covo run` hands its embedded dev server's address over this
way; an API key from a secret file) win over the environment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.runtime import Runtime

# A freshly started server accepts connections before its frontend reports healthy; on a busy
# machine that gap lasted seconds (CI saw "Frontend is not healthy yet"). Connecting waits it out.
CONNECT_PATIENCE_SECONDS = 60.0
_TRANSIENT = ("not healthy yet", "Unavailable", "Connection refused", "transport error")

# Client interceptors every connection gets (tracing adds Temporal's TracingInterceptor here when
# it is switched on; a worker built on the client inherits them).
_interceptors: list[Interceptor] = []


def add_interceptor(interceptor: Interceptor) -> None:
    if not any(type(existing) is type(interceptor) for existing in _interceptors):
        _interceptors.append(interceptor)


def connect_config(
    address: str | None = None,
    namespace: str | None = None,
    *,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConnectConfig:
    """The keyword arguments for `Client.connect`: the envconfig profile (file + environment, or
    `env` instead of the process environment), with explicit values on top. Without an explicit
    key, a `temporal_api_key` secret file (COVO_SECRETS_DIR, /run/secrets) is used, so every caller
    reaches Temporal Cloud the same way."""
    if api_key is None and env is None:
        api_key = _secret_file("temporal_api_key")
    profile = ClientConfigProfile.load(override_env_vars=env)
    config = profile.to_client_connect_config()
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    if api_key:
        config["api_key"] = api_key
        if "tls" not in config:
            config["tls"] = True  # Temporal Cloud API keys always travel over TLS
    if not config.get("target_host"):
        raise ValueError("No Temporal address: set TEMPORAL_ADDRESS (or a TEMPORAL_PROFILE with an address)")
    config.setdefault("namespace", "default")
    return config


def _secret_file(name: str) -> str | None:
    from engine.settings import secrets_dir

    directory = secrets_dir()
    path = directory / name if directory else None
    return path.read_text().strip() or None if path is not None and path.is_file() else None


async def connect(
    address: str | None = None,
    namespace: str | None = None,
    patience: float = CONNECT_PATIENCE_SECONDS,
    *,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect with the environment's configuration; every payload goes through the pydantic
    data converter, so workflow, update and activity contracts are typed models on both sides."""
    config = connect_config(address, namespace, api_key=api_key, env=env)
    options: dict[str, Any] = dict(config)
    deadline = time.monotonic() + patience
    delay = 0.1
    while True:
        try:
            return await Client.connect(
                **options,
                data_converter=pydantic_data_converter,
                interceptors=[*_interceptors, *interceptors],
                runtime=runtime,
            )
        except RuntimeError as exc:
            if time.monotonic() >= deadline or not any(mark in str(exc) for mark in _TRANSIENT):
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
