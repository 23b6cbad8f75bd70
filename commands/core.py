"""The core ``flask --app app …`` commands of SPEC §5: schema, library, demo, users, audit log, scheduler."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import click
from flask import current_app

import models
from domain.errors import DomainError
from domain.library import LibraryError
from domain.names import clean_name
from domain.performance_library import DEFAULT_PATH as DEFAULT_KPI_PATH
from domain.performance_library import KPI_FILE, read_catalogue
from models.schema import create_migration, migrate_database
from services.alerts.lease import default_holder
from services.alerts.scheduler import PackBuilding, run_scheduler
from services.alerts.scheduler import tick as run_tick
from services.audit import audit_log
from services.audit.audit_log import verify_chain
from services.demo import dataset as demo_dataset
from services.demo import scale as demo_scale
from services.people import accounts
from services.register.library_sync import load_library

from . import connect


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (applies committed migrations)."""
    connect()
    applied = migrate_database()
    click.echo(f"database ready ({len(applied)} migration(s) applied)")


@click.command("make-migration")
@click.argument("name")
def make_migration(name: str) -> None:
    """Developers: write the next migration from the models' changes (apply it with init-db)."""
    connect()
    migrate_database()
    path = create_migration(name)
    click.echo(f"wrote {path}" if path else "no model changes: no migration written")


@click.command("load-controls")
@click.option("--path", default=None, help="library directory (default: controls/)")
def load_controls(path: str | None) -> None:
    """Validate and load the control library; a broken library loads nothing."""
    connect()
    try:
        kpi_path = os.path.join(path, KPI_FILE) if path else DEFAULT_KPI_PATH
        templates = read_catalogue(kpi_path) if os.path.isfile(kpi_path) else []  # validated before anything loads
        result = load_library(path)
    except LibraryError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"control library NOT loaded: {len(exc.problems)} problem(s); nothing was changed", err=True)
        raise SystemExit(1) from None
    for line in result.describe():
        click.echo(line)
    if templates:
        click.echo(f"KPI catalogue: {len(templates)} templates ({KPI_FILE})")


@click.command("demo")
@click.option("--scale", type=click.IntRange(min=0), default=0,
              help="add N engagements with three years of history (benchmarks)")
def demo(scale: int) -> None:
    """Demo Bank, Demo Contact Centre, one engagement and one user per role (passwords printed)."""
    connect()
    try:
        for line in demo_dataset.create_demo():
            click.echo(line)
        run_tick()  # what a running system would have done since: the outage's tolerance clock breaches, its finding
        if scale:
            demo_scale.create_scale(scale, progress=lambda msg: click.echo(msg))
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(models.ROLES))
@click.option("--org", "org", required=True, help="organisation name (created if new)")
def create_user(email: str, role: str, org: str) -> None:
    """Create a user; the password is read from standard input."""
    connect()
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        with models.transaction():  # the user and its audit event together
            user = accounts.create_user(email, role, org, password)
            audit_log.record("user.create", actor_email="cli", object_type="user", object_id=user.id,
                             details={"email": user.email, "role": user.role, "organisation": user.organisation.name})
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"created {user.email} ({user.role}) in {user.organisation.name}")


@click.command("create-token")
@click.option("--email", required=True)
@click.option("--name", default="", help="a name to recognise the token by (revoke-token --name)")
def create_token(email: str, name: str) -> None:
    """Print a new API token once (only its hash is stored); the token is the last line."""
    connect()
    user = models.User.get_or_none(models.User.email == email.strip().lower())
    if user is None:
        click.echo(f"error: no user {email}", err=True)
        raise SystemExit(1)
    try:
        name = clean_name(name, "name", limit=100, required=False)
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    with models.transaction():
        token = accounts.create_token(user, name)
        audit_log.record("token.create", actor_email="cli", object_type="user", object_id=user.id,
                         details={"email": user.email, "name": name})
    click.echo(f"API token for {user.email} (shown once, store it now):")
    click.echo(token)


@click.command("verify-audit-log")
@click.option("--anchor", default=None, metavar="HASH@ID",
              help="a head kept apart (a pack, a backup, the daily log line): the trail must still hold it")
def verify_audit_log(anchor: str | None) -> None:
    """Re-compute the audit chain; exit 1 and list every break if it was tampered with."""
    try:
        kept = None if anchor is None else audit_log.parse_anchor(anchor)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--anchor") from None
    connect()
    problems = verify_chain(kept)
    for problem in problems:
        click.echo(problem, err=True)
    count = models.AuditEvent.select().count()
    if problems:
        click.echo(f"audit log BROKEN: {len(problems)} problem(s) in {count} events", err=True)
        raise SystemExit(1)
    head = models.AuditEvent.select(models.AuditEvent.hash, models.AuditEvent.id).order_by(
        models.AuditEvent.id.desc()).first()
    # A chain cannot show events cut from its end: keep the head (HASH@ID) somewhere else, check with --anchor.
    click.echo(f"audit log intact: {count} events; head {f'{head.hash}@{head.id}' if head else 'none'}"
               + (f"; anchor {anchor} holds" if anchor else ""))


@click.command("tick")
def tick() -> None:
    """One scheduler pass now: plan due requests, open/overdue them, breach late clocks; prints the counts."""
    connect()
    result = run_tick()
    for problem in result.problems:
        click.echo(f"warning: cannot plan {problem}", err=True)
    click.echo(f"tick: {result.describe()} ({result.batches} transactions, the longest {result.longest_ms} ms: "
               f"{result.longest_step or '-'})")


@click.command("scheduler")
@click.option("--interval", type=click.IntRange(min=1), default=300, show_default=True,
              help="seconds between passes")
def scheduler(interval: int) -> None:
    """The scheduler as its own process: a pass every --interval seconds while this process holds the
    database lease (run several for failover; one ticks). Stops on Ctrl-C or SIGTERM."""


    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("attest.scheduler").setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per run
    connect()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    holder = default_holder()
    click.echo(f"scheduler {holder}: a pass every {interval}s and the queued packs built while holding the "
               "lease (Ctrl-C to stop)")
    run_scheduler(interval, holder=holder, stop_event=stop, building=PackBuilding.from_config(current_app.config))
