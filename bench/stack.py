"""The embedded stack the benchmarks run on, started as `make run` starts it (embedded Postgres,
Temporal dev server on SQLite with WAL, the production worker and the API in their own processes),
in a temporary directory, with per-process CPU accounting."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text

from engine.devstack import EmbeddedPostgres, TemporalDevServer, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN_EMAIL = "bench@covo.local"
T = TypeVar("T")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def seed_admin(database_url: str, password: str, *statements: str) -> None:
    """The admin the bench signs in as, plus any tables a bench needs of its own."""
    from engine.auth.seed import ensure_admin
    from engine.db.session import create_engine, create_sessionmaker

    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await ensure_admin(session, ADMIN_EMAIL, password)
            for statement in statements:
                await session.execute(text(statement))
    finally:
        await engine.dispose()


def _proc_times(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def status_mib(pid: int, key: str) -> float:
    """A memory figure of /proc/<pid>/status (`VmHWM`, `RssAnon`...) in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Stack:
    """Everything the bench starts; `stop` ends all of it (idempotent, safe after a partial start)."""

    def __init__(
        self,
        keep: bool,
        extra_children: list[tuple[str, list[str]]] | None = None,
        setup_sql: list[str] | None = None,
        api_workers: int | None = None,
        temporal_config: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.temporal_config = temporal_config
        self.setup_sql = setup_sql or []
        self.dir = Path(tempfile.mkdtemp(prefix="covo-bench-"))
        self.extra_children = extra_children or []
        self.keep = keep
        self.api_workers = api_workers or os.cpu_count() or 1  # `make run`'s default: API_WORKERS = cores
        # Added to every child's environment; "{api_url}" in extra children's arguments is replaced.
        self.extra_env = extra_env or {}
        self.postgres: EmbeddedPostgres | None = None
        self.temporal: TemporalDevServer | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env: dict[str, str] = {}
        self.api_url = ""
        self.password = secrets.token_urlsafe(12)

    def start(self) -> None:
        say(f"stack in {self.dir}")
        self.postgres = EmbeddedPostgres(self.dir / "postgres", delete_on_stop=True)
        database_url = self.postgres.start()
        self.temporal = TemporalDevServer(
            port=free_port(),
            db_file=self.dir / "temporal.sqlite",
            log_file=self.dir / "temporal.log",
            dynamic_config=self.temporal_config,
        )
        address = self.temporal.start()
        from engine.db import migrate

        migrate.upgrade(database_url)
        asyncio.run(seed_admin(database_url, self.password, *self.setup_sql))
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = dict(
            os.environ,
            COVO_ENV="development",
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=address,
            JWT_SECRET=secrets.token_urlsafe(48),
            COVO_DATA_DIR=str(self.dir),
            API_PORT=str(api_port),
            AUTH_RATE_LIMIT="1000000",
            **self.extra_env,
        )
        for name, args in self.extra_children:
            self.spawn(name, [arg.replace("{api_url}", self.api_url) for arg in args])
        self.spawn("worker", [sys.executable, "-m", "workers"])
        api = self.spawn(
            "api",
            [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app", "--host", "127.0.0.1",
             "--port", str(api_port), "--workers", str(self.api_workers), "--log-level", "warning"],
        )  # fmt: skip
        wait_for_port(api_port, 60, api)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        # Own session: a Ctrl-C in the terminal reaches only us, and we stop the children in order.
        process = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.children.append((name, process))
        return process

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part of the stack (Postgres: the postmaster, its live
        backends and the ones that exited)."""
        used = {
            name: sum(_proc_times(process.pid)) + sum(_proc_times(c)[0] for c in _children(process.pid))
            for name, process in self.children
        }  # live children too: uvicorn's worker processes
        if self.temporal is not None:
            used["temporal"] = sum(_proc_times(self.temporal.process.pid))
        if self.postgres is not None:
            postmaster = int((self.postgres.pgdata / "postmaster.pid").read_text().split()[0])
            used["postgres"] = sum(_proc_times(postmaster)) + sum(_proc_times(c)[0] for c in _children(postmaster))
        return used

    def memory(self, key: str = "VmHWM") -> dict[str, float]:
        """A memory figure (MiB; default the peak resident VmHWM) of each part: the largest of its
        processes (an API with several uvicorn workers, Postgres with its backends)."""
        pids: dict[str, list[int]] = {name: [p.pid, *_children(p.pid)] for name, p in self.children}
        if self.temporal is not None:
            pids["temporal"] = [self.temporal.process.pid]
        if self.postgres is not None:
            postmaster = int((self.postgres.pgdata / "postmaster.pid").read_text().split()[0])
            pids["postgres"] = [postmaster, *_children(postmaster)]
        return {name: max((status_mib(pid, key) for pid in found), default=0.0) for name, found in pids.items()}

    def check_children(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.dir / (name + '.log')}")

    def stop_children(self, patience: float = 30) -> None:
        """SIGTERM every child (workers drain), SIGKILL what is still there after `patience`."""
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        for _, process in self.children:
            try:
                process.wait(patience)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.children = []

    def stop(self) -> None:
        self.stop_children()
        if self.temporal is not None:
            self.temporal.stop()
            self.temporal = None
        if self.postgres is not None:
            try:
                self.postgres.stop()
            except Exception as exc:  # already gone (e.g. the terminal's Ctrl-C reached it)
                say(f"postgres cleanup: {exc}")
            self.postgres = None
        if self.keep:
            say(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def run(stack: Stack, measure: Callable[[], T], render: Callable[[T, float], str], output: Path) -> int:
    """A bench's main: start the stack, measure, stop everything (also on Ctrl-C or SIGTERM), print
    the table and write it to `output`."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    began = time.monotonic()
    try:
        stack.start()
        results = measure()
    except KeyboardInterrupt:
        say("interrupted; stopping everything")
        return 130
    finally:
        # A second Ctrl-C must not abort the cleanup half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    table = render(results, time.monotonic() - began)
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table)
    say(f"written to {output}")
    return 0
