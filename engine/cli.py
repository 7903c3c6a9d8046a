"""The `covo` command. `covo run` is the composition root of the embedded stack: it starts
Postgres and the Temporal dev server, migrates, seeds the admin, then runs the worker and the API
as child processes (referenced by module path, so `engine` imports neither `api` nor `workers`)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from engine.devstack import EmbeddedPostgres, StackError, TemporalDevServer, port_is_free, wait_for_port
from engine.esims.cli import esims_app
from engine.settings import Settings, get_settings
from engine.wallet.cli import wallet_app

app = typer.Typer(help="Covo Engine: workflows, rules, schedules, eSIMs and wallets on Temporal.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
definitions_app = typer.Typer(help="Workflow definitions shipped as JSON files.", no_args_is_help=True)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(definitions_app, name="definitions")
scheduler_app = typer.Typer(help="Scheduled jobs and their Temporal Schedules.", no_args_is_help=True)
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(wallet_app, name="wallet")
app.add_typer(esims_app, name="esims")

API_APP = "server.app:create_app"
WORKER_MODULE = "workers"
SIMULATOR_MODULE = "workers.onglobal.simulator"


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _require_database(settings: Settings) -> str:
    if not settings.database_url:
        _fail("DATABASE_URL is not set (use `covo run` to start the embedded stack).")
    assert settings.database_url
    return settings.database_url


@app.command()
def api() -> None:
    """Serve the HTTP API (needs DATABASE_URL and TEMPORAL_ADDRESS)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        API_APP,
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        log_level=settings.log_level.lower(),
        # Behind the reverse proxy: the client address (and so the rate-limit key) comes from
        # X-Forwarded-For, believed only from these addresses.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # JSON logs: uvicorn's loggers go through ours (configured in create_app).
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker (needs DATABASE_URL and TEMPORAL_ADDRESS)."""
    os.execv(sys.executable, [sys.executable, "-m", WORKER_MODULE])


@app.command("onglobal-sim")
def onglobal_sim(
    port: int = typer.Option(None, help="Defaults to ONEGLOBAL_SIM_PORT (8290)"),
    webhook_url: str = typer.Option(None, help="Where webhooks go; defaults to this machine's API"),
) -> None:
    """Run the 1Global simulator (in-memory; webhooks with the ONEGLOBAL_WEBHOOK_* Basic pair)."""
    args = [sys.executable, "-m", SIMULATOR_MODULE]
    if port:
        args += ["--port", str(port)]
    if webhook_url:
        args += ["--webhook-url", webhook_url]
    os.execv(sys.executable, args)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations."""
    from engine.db import migrate

    migrate.upgrade(_require_database(get_settings()), revision)


@db_app.command("check")
def db_check() -> None:
    """Fail when the models changed without a migration."""
    from engine.db import migrate

    migrate.check(_require_database(get_settings()))


@db_app.command("revision")
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models."""
    from engine.db import migrate

    migrate.revision(_require_database(get_settings()), message)


async def _seed_admin(database_url: str, email: str, password: str) -> bool:
    from engine.auth.seed import ensure_admin
    from engine.db.session import create_engine, create_sessionmaker

    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await ensure_admin(session, email, password)
    finally:
        await engine.dispose()


@admin_app.command("create")
def admin_create(
    email: str = typer.Option(None, help="Defaults to ADMIN_EMAIL"),
    password: str = typer.Option(None, help="Defaults to ADMIN_PASSWORD, else generated into .data/"),
) -> None:
    """Create the super-admin (and the default tenant on an empty database)."""
    from engine.auth.seed import admin_password

    settings = get_settings()
    email = email or settings.admin_email
    password, generated = admin_password(password or settings.admin_password, settings.data_dir)
    created = asyncio.run(_seed_admin(_require_database(settings), email, password))
    if not created:
        typer.echo(f"{email} already exists")
    elif generated:
        typer.echo(f"created {email} with password {password} (stored in {settings.data_dir}/admin_password)")
    else:
        typer.echo(f"created {email}")


@definitions_app.command("validate")
def definitions_validate(paths: list[Path]) -> None:
    """Validate definition files (or directories of them); print every problem with its path."""
    from engine.workflows.files import definition_files, load

    failed = 0
    for path in definition_files(paths):
        if _is_schedule_file(path):
            from engine.scheduler.files import load as load_schedule

            _, problems = load_schedule(path)
            typer.echo(f"ok       {path}") if not problems else typer.secho(f"invalid  {path}", fg=typer.colors.RED)
            for problem in problems:
                typer.echo(f"  {problem}")
            failed += bool(problems)
            continue
        _, issues = load(path)
        if not issues:
            typer.echo(f"ok       {path}")
            continue
        failed += 1
        typer.secho(f"invalid  {path}", fg=typer.colors.RED)
        for issue in issues:
            typer.echo(f"  {issue['path'] or '(root)'}: [{issue['code']}] {issue['message']}")
    if failed:
        raise typer.Exit(1)


async def _apply_definitions(database_url: str, files: list[Path], tenant: str | None) -> int:
    from engine.db.session import create_engine, create_sessionmaker
    from engine.workflows.files import apply, load, resolve_tenant

    engine = create_engine(database_url, pool_size=1)
    failed = 0
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            target = await resolve_tenant(session, tenant)
            for path in files:
                document, issues = load(path)
                if document is None:
                    failed += 1
                    typer.secho(
                        f"invalid    {path} ({len(issues)} problems; run `covo definitions validate`)",
                        fg=typer.colors.RED,
                    )
                    continue
                result = await apply(session, target, document)
                typer.echo(f"{result.action:<10} {result.workflow_id} v{result.version}  ({path.name})")
            if failed:
                await session.rollback()  # all or nothing
    finally:
        await engine.dispose()
    return failed


@definitions_app.command("apply")
def definitions_apply(
    directory: Path, tenant: str = typer.Option(None, help="Tenant id or name; defaults to the first tenant")
) -> None:
    """Create a new version of every definition whose content changed; print what was done."""
    from engine.workflows.files import definition_files

    files = definition_files([directory])
    settings = get_settings()
    schedules = [path for path in files if _is_schedule_file(path)]
    workflows = [path for path in files if path not in schedules]
    failed = asyncio.run(_apply_definitions(_require_database(settings), workflows, tenant)) if workflows else 0
    if schedules:
        failed += asyncio.run(_apply_schedules(settings, schedules, tenant))
    if failed:
        raise typer.Exit(1)


def _is_schedule_file(path: Path) -> bool:
    from engine.scheduler.files import is_schedule

    try:
        return is_schedule(json.loads(path.read_text()))
    except (OSError, ValueError):
        return path.parent.name == "schedules"


async def _apply_schedules(settings: Settings, files: list[Path], tenant: str | None) -> int:
    """Scheduled jobs shipped as data (`definitions/schedules/*.json`); needs Temporal too."""
    from engine.db.session import create_engine, create_sessionmaker
    from engine.scheduler.files import apply, load
    from engine.temporal.client import connect
    from engine.workflows.files import resolve_tenant

    if not settings.temporal_address:
        _fail("TEMPORAL_ADDRESS is not set: schedules live in Temporal.")
    assert settings.temporal_address
    client = await connect(
        settings.temporal_address, settings.temporal_namespace, api_key=settings.temporal_api_key_value
    )
    engine = create_engine(_require_database(settings), pool_size=1)
    loaded = [(path, *load(path)) for path in files]
    failed = 0
    for path, _, problems in loaded:
        if problems:
            failed += 1
            typer.secho(f"invalid    {path}", fg=typer.colors.RED)
            for problem in problems:
                typer.echo(f"  {problem}")
    try:
        if not failed:  # all or nothing
            async with create_sessionmaker(engine)() as session, session.begin():
                target = await resolve_tenant(session, tenant)
                for path, job, _ in loaded:
                    assert job is not None
                    result = await apply(session, client, target, job, settings.temporal_task_queue)
                    typer.echo(f"{result.action:<10} schedule {result.name} ({result.job_id})  ({path.name})")
    finally:
        await engine.dispose()
    return failed


@scheduler_app.command("reconcile")
def scheduler_reconcile() -> None:
    """Make Temporal's schedules match the scheduled_jobs table (missing created, drifted repaired,
    orphans of this task queue deleted); the worker does the same at start."""
    settings = get_settings()

    async def _run() -> None:
        from engine.db.session import create_engine, create_sessionmaker
        from engine.scheduler.service import reconcile
        from engine.temporal.client import connect

        if not settings.temporal_address:
            _fail("TEMPORAL_ADDRESS is not set.")
        assert settings.temporal_address
        client = await connect(
            settings.temporal_address, settings.temporal_namespace, api_key=settings.temporal_api_key_value
        )
        engine = create_engine(_require_database(settings), pool_size=2)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                report = await reconcile(session, client, settings.temporal_task_queue)
        finally:
            await engine.dispose()
        for label, ids in (("created", report.created), ("repaired", report.repaired), ("deleted", report.deleted)):
            for job_id in ids:
                typer.echo(f"{label:<10} sched-{job_id}")
        typer.echo(
            f"{len(report.created)} created, {len(report.repaired)} repaired, {len(report.deleted)} orphans deleted, "
            f"{report.unchanged} unchanged"
        )

    asyncio.run(_run())


def _lock_data_dir(data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 32).decode().strip() or "?"
        _fail(f"Another `covo run` (pid {owner}) is already using {data_dir}. Stop it first (Ctrl-C in its terminal).")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


@app.command()
def run() -> None:
    """Start everything: embedded Postgres, Temporal dev server, migrations, admin, worker and API."""
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    _lock_data_dir(data_dir)
    (data_dir / "ready.json").unlink(missing_ok=True)
    started = time.monotonic()
    wanted = [(settings.api_port, "API")]
    # Without 1Global credentials the simulator stands in for 1Global (and the banner says so).
    simulated = not settings.oneglobal_client_id
    if simulated:
        wanted.append((settings.oneglobal_sim_port, "1Global simulator"))
    if not settings.temporal_address:
        wanted += [(settings.temporal_port, "Temporal"), (settings.temporal_ui_port, "Temporal UI")]
    busy = [f"{name} port {port}" for port, name in wanted if not port_is_free(port)]
    if busy:
        _fail(
            f"Cannot start: {', '.join(busy)} already in use. Stop what is using it or set API_PORT / TEMPORAL_PORT / TEMPORAL_UI_PORT / ONEGLOBAL_SIM_PORT."
        )

    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    children: list[subprocess.Popen[bytes]] = []

    def shutdown(*_: object) -> None:
        # A second Ctrl-C (or a forwarded signal) must not abort the cleanup half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        if temporal is not None:
            temporal.stop()
        if postgres is not None:
            postgres.stop()

    # Ctrl-C and SIGTERM both stop everything (SIGINT explicitly: a shell may start us with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        database_url = settings.database_url
        if not database_url:
            typer.echo("starting embedded Postgres ...")
            postgres = EmbeddedPostgres(data_dir / "postgres")
            database_url = postgres.start()
        temporal_address = settings.temporal_address
        if not temporal_address:
            typer.echo("starting Temporal dev server ...")
            temporal = TemporalDevServer(
                port=settings.temporal_port,
                ui_port=settings.temporal_ui_port,
                db_file=data_dir / "temporal.sqlite",
                log_file=data_dir / "temporal.log",
            )
            temporal_address = temporal.start()

        from engine.auth.seed import admin_password
        from engine.db import migrate

        migrate.upgrade(database_url)
        password, generated = admin_password(settings.admin_password, data_dir)
        created = asyncio.run(_seed_admin(database_url, settings.admin_email, password))

        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=temporal_address,
            COVO_DATA_DIR=str(data_dir),
            JWT_SECRET=settings.jwt_secret,
            ONEGLOBAL_WEBHOOK_USER=settings.oneglobal_webhook_user or "",
            ONEGLOBAL_WEBHOOK_PASSWORD=settings.oneglobal_webhook_password or "",
        )
        oneglobal = settings.oneglobal_base_url
        if simulated:
            oneglobal = f"http://127.0.0.1:{settings.oneglobal_sim_port}"
            env.update(
                ONEGLOBAL_BASE_URL=oneglobal, ONEGLOBAL_CLIENT_ID="covo-dev", ONEGLOBAL_CLIENT_SECRET="simulated"
            )
            env.pop("ONEGLOBAL_TOKEN_URL", None)
            webhook_url = f"http://127.0.0.1:{settings.api_port}/api/esims/webhooks/1global"
            simulator = [sys.executable, "-m", SIMULATOR_MODULE, "--port", str(settings.oneglobal_sim_port)]
            simulator += ["--webhook-url", webhook_url]
            children.append(subprocess.Popen(simulator, env=env, start_new_session=True))
            wait_for_port(settings.oneglobal_sim_port, 60, children[-1])
        # Own sessions: a Ctrl-C in the terminal reaches only this supervisor, which then stops the
        # children in order (API first, then the worker drains) instead of each dying on its own.
        children.append(subprocess.Popen([sys.executable, "-m", WORKER_MODULE], env=env, start_new_session=True))
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    API_APP,
                    "--host",
                    settings.api_host,
                    "--port",
                    str(settings.api_port),
                    "--workers",
                    str(settings.api_workers),
                    "--log-level",
                    "warning",
                ],
                env=env,
                start_new_session=True,
            )
        )
        wait_for_port(settings.api_port, 60, children[-1])
        banner = {
            "api": f"http://{settings.api_host}:{settings.api_port}/api/docs",
            "temporalUi": f"http://127.0.0.1:{settings.temporal_ui_port}" if temporal else "(external Temporal)",
            "admin": settings.admin_email,
            "oneglobal": f"simulator on {oneglobal} (ONEGLOBAL_CLIENT_ID unset)" if simulated else oneglobal,
            "readyInSeconds": round(time.monotonic() - started, 1),
        }
        typer.secho("\nCovo Engine is running", fg=typer.colors.GREEN, bold=True)
        typer.echo(f"  API docs     {banner['api']}")
        typer.echo(f"  Temporal UI  {banner['temporalUi']}")
        typer.echo(f"  Admin        {banner['admin']}")
        typer.echo(f"  1Global      {banner['oneglobal']}")
        if created and generated:
            typer.echo(f"  Password     {password}   (shown once; stored in {data_dir}/admin_password)")
        elif created:
            typer.echo("  Password     from ADMIN_PASSWORD")
        typer.echo(f"  Ready in     {banner['readyInSeconds']}s. Ctrl-C stops everything; data stays in {data_dir}.")
        (data_dir / "ready.json").write_text(json.dumps(banner))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [c.args for c in children if c.poll() is not None]
        typer.secho(f"a child process exited: {failed}; stopping", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping ...")
    except StackError as exc:
        _fail(f"Cannot start: {exc}")
    finally:
        shutdown()
        (data_dir / "ready.json").unlink(missing_ok=True)


if __name__ == "__main__":
    app()
