"""Reaching Temporal: the connection comes from Temporal's environment configuration
(temporalio.envconfig), so the same variables point the code at the dev server, a cluster or
Temporal Cloud; connecting waits out a server that is still starting, within a bound.

The dev server speaks no TLS, so TLS and client certificates are tested through a small
TLS-terminating proxy in front of it that demands a client certificate (mutual TLS, as a
self-hosted cluster with mTLS does); Temporal Cloud's API key is covered by the configuration it
produces (TLS on, the key sent)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import temporalio.service
import trustme
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from engine.devstack import free_port
from engine.settings import Settings
from engine.temporal.client import connect, connect_config


async def test_connect_gives_up_after_its_patience_when_nothing_listens() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        await connect(f"127.0.0.1:{free_port()}", patience=0.5, env={})
    assert time.monotonic() - started >= 0.5


def test_address_and_namespace_come_from_the_environment() -> None:
    config = connect_config(env={"TEMPORAL_ADDRESS": "temporal.example:7233", "TEMPORAL_NAMESPACE": "covo"})
    assert config["target_host"] == "temporal.example:7233"
    assert config["namespace"] == "covo"
    assert "tls" not in config and "api_key" not in config


def test_explicit_settings_win_over_the_environment() -> None:
    config = connect_config("127.0.0.1:7233", "other", env={"TEMPORAL_ADDRESS": "x:1", "TEMPORAL_NAMESPACE": "ns"})
    assert (config["target_host"], config["namespace"]) == ("127.0.0.1:7233", "other")


def test_no_address_anywhere_is_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="TEMPORAL_ADDRESS"):
        connect_config(env={})


def test_temporal_cloud_api_key_turns_tls_on() -> None:
    env = {
        "TEMPORAL_ADDRESS": "covo.a1b2c.tmprl.cloud:7233",
        "TEMPORAL_NAMESPACE": "covo.a1b2c",
        "TEMPORAL_API_KEY": "key-from-env",
    }
    config = connect_config(env=env)
    assert config["api_key"] == "key-from-env" and config["tls"] is True
    # An API key from a secret file (settings) wins over the environment's.
    assert connect_config(api_key="key-from-file", env=env)["api_key"] == "key-from-file"
    assert connect_config("127.0.0.1:1", api_key="k", env={})["tls"] is True


def test_the_api_key_can_come_from_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "temporal_api_key").write_text("cloud-key\n")
    (tmp_path / "database_password").write_text("s3cret:/@\n")
    settings = Settings(_secrets_dir=tmp_path, DATABASE_URL="postgresql://covo_app@db:5432/covo")  # type: ignore[call-arg]
    assert settings.temporal_api_key_value == "cloud-key"
    # The password goes into the URL, escaped; a URL that has one keeps it.
    assert settings.database_url == "postgresql://covo_app:s3cret%3A%2F%40@db:5432/covo"
    kept = Settings(_secrets_dir=tmp_path, DATABASE_URL="postgresql://u:own@db/covo")  # type: ignore[call-arg]
    assert kept.database_url == "postgresql://u:own@db/covo"
    # The listen URL (straight to Postgres, past a transaction pooler) gets it the same way.
    direct = Settings(_secrets_dir=tmp_path, DATABASE_LISTEN_URL="postgresql://covo_app@pg:5432/covo")  # type: ignore[call-arg]
    assert direct.database_listen_url == "postgresql://covo_app:s3cret%3A%2F%40@pg:5432/covo"


def test_every_caller_picks_the_api_key_from_the_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "temporal_api_key").write_text("cloud-key-from-file\n")
    monkeypatch.setenv("COVO_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("TEMPORAL_API_KEY", raising=False)
    config = connect_config("covo.a1b2c.tmprl.cloud:7233", "covo.a1b2c")
    assert config["api_key"] == "cloud-key-from-file" and config["tls"] is True
    monkeypatch.setenv("COVO_SECRETS_DIR", str(tmp_path / "absent"))
    assert "api_key" not in connect_config("127.0.0.1:7233")


def test_client_certificates_and_ca_are_read_from_their_paths(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("covo-worker")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    config = connect_config(
        env={
            "TEMPORAL_ADDRESS": "temporal.internal:7233",
            "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(paths["ca"]),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(paths["cert"]),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(paths["key"]),
        }
    )
    tls = config["tls"]
    assert isinstance(tls, temporalio.service.TLSConfig)
    assert tls.domain == "temporal.internal"
    assert tls.server_root_ca_cert == paths["ca"].read_bytes()
    assert tls.client_cert == paths["cert"].read_bytes()
    assert tls.client_private_key == paths["key"].read_bytes()


async def test_the_dev_server_is_reached_through_the_environment_alone(settings: Settings) -> None:
    assert settings.temporal_address
    client = await connect(env={"TEMPORAL_ADDRESS": settings.temporal_address, "TEMPORAL_NAMESPACE": "default"})
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version
    assert client.namespace == "default"


async def test_tls_from_the_environment_reaches_the_wire(settings: Settings) -> None:
    """TEMPORAL_TLS=true is not ignored: a TLS handshake against the plain dev server fails."""
    assert settings.temporal_address
    with pytest.raises(RuntimeError):
        await connect(env={"TEMPORAL_ADDRESS": settings.temporal_address, "TEMPORAL_TLS": "true"}, patience=0)


@contextlib.asynccontextmanager
async def mtls_proxy(upstream: str, server_ssl: ssl.SSLContext) -> AsyncIterator[int]:
    """TLS (with a required client certificate) on a local port, plain TCP to `upstream`."""
    host, port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    listen = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", listen, ssl=server_ssl)
    try:
        yield listen
    finally:
        server.close()


async def test_mutual_tls_with_client_certificates_from_the_environment(settings: Settings, tmp_path: Path) -> None:
    assert settings.temporal_address
    ca = trustme.CA()
    server_cert = ca.issue_cert("temporal.internal")
    client_cert = ca.issue_cert("covo-worker")
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_ssl)
    ca.configure_trust(server_ssl)
    server_ssl.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    server_ssl.set_alpn_protocols(["h2"])
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client_cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))

    async with mtls_proxy(settings.temporal_address, server_ssl) as port:
        env = {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem"),
        }
        client = await connect(
            env={
                **env,
                "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
                "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key"),
            },
            patience=5,
        )
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
        # The same server without a client certificate: refused.
        with pytest.raises(RuntimeError):
            await connect(env=env, patience=0)
