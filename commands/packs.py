"""Evidence packs, verification and OSCAL on the command line: ``build-pack``, ``pack-worker``,
``verify-pack``, ``export-oscal``."""
from __future__ import annotations

import json
import shutil
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from domain.errors import DomainError
from models import Engagement, User
from services.auditors import oscal, pack_verify, packs, reports

from . import connect


def _embed_max() -> float:
    return float(current_app.config.get("PACK_EMBED_MAX_MB", 50))


def _acting_client_admin(engagement_id: int, email: str | None) -> User:
    """Who the command acts as: the given user, or the engagement's first active client admin."""
    engagement = Engagement.get_or_none(Engagement.id == engagement_id)
    if engagement is None:
        raise click.ClickException(f"no engagement {engagement_id}")
    query = User.select().where(User.active == True)  # noqa: E712
    user = (query.where(User.email == email.lower()).first() if email else
            query.where(User.organisation == engagement.client_id, User.role == "client_admin")
            .order_by(User.id).first())
    if user is None:
        raise click.ClickException("no such active user" if email else "the engagement's client has no active admin")
    return user


@click.command("build-pack")
@click.option("--engagement", "engagement_id", type=int, required=True)
@click.option("--framework", "frameworks", multiple=True, required=True, help="framework code (repeat for more)")
@click.option("--from", "period_start", required=True, help="YYYY-MM-DD")
@click.option("--to", "period_end", required=True, help="YYYY-MM-DD")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--as", "email", default=None, help="act as this user (default: the client's admin)")
@with_appcontext
def build_pack(engagement_id: int, frameworks: tuple[str, ...], period_start: str, period_end: str, out: str,
               email: str | None) -> None:
    """Build an evidence pack now (in a child process) and write it to FILE."""
    connect()
    user = _acting_client_admin(engagement_id, email)
    started = time.perf_counter()
    try:
        pack = packs.build_now(user, engagement_id, {"frameworks": list(frameworks), "period_start": period_start,
                                                     "period_end": period_end},
                               current_app.config["EVIDENCE_STORE"], embed_max_mb=_embed_max())
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    if pack.status != "ready":
        raise click.ClickException(f"pack {pack.id} failed: {pack.error}")
    with packs.evidence_store(current_app.config["EVIDENCE_STORE"]).open(pack.file_sha256) as src, \
            open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    click.echo(f"pack {pack.id}: {pack.size} bytes, sha256 {pack.file_sha256}, "
               f"{time.perf_counter() - started:.1f}s -> {out}")


@click.command("pack-worker")
@click.option("--once", is_flag=True, help="build what is queued now, then stop")
@click.option("--interval", type=float, default=2.0, help="seconds between looks at the queue")
@with_appcontext
def pack_worker(once: bool, interval: float) -> None:
    """Build queued evidence packs and performance reports (claimed one at a time; several workers may run)."""
    connect()
    store = current_app.config["EVIDENCE_STORE"]
    while True:
        for pack in packs.run_pending(store, embed_max_mb=_embed_max()):
            click.echo(f"pack {pack.id}: {pack.status}{' ' + pack.error if pack.error else ''}")
        for report in reports.run_pending(store):
            click.echo(f"report {report.id}: {report.status}{' ' + report.error if report.error else ''}")
        if once:
            return
        time.sleep(interval)


@click.command("verify-pack")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--offline", is_flag=True, help="check the file alone, not against the database and store")
@with_appcontext
def verify_pack(path: str, offline: bool) -> None:
    """Check a pack: manifest vs embedded files and rendered index, and (by default) vs the database,
    the evidence store and the audit trail. Exits 1 and says what is wrong."""
    with open(path, "rb") as handle:
        data = handle.read()
    report = pack_verify.verify_file(data)
    if report.manifest is not None and not offline:
        connect()
        pack_verify.verify_against_records(data, report, packs.evidence_store(current_app.config["EVIDENCE_STORE"]))
    for note in report.notes:
        click.echo(note)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"FAIL {problem}", err=True)
        raise SystemExit(1)
    evidence = len(report.manifest.get("evidence", []))
    click.echo(f"pack {report.manifest['pack']['id']} OK: {evidence} evidence item(s), "
               f"audit head {report.manifest['audit_trail']['head_hash']}")


@click.command("export-oscal")
@click.option("--engagement", "engagement_id", type=int, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export_oscal(engagement_id: int, out: str) -> None:
    """Write the engagement's OSCAL assessment-results JSON, validated with compliance-trestle's models."""

    connect()
    user = _acting_client_admin(engagement_id, None)
    try:
        document = oscal.assessment_results(user, engagement_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    oscal.validate(document)  # a document trestle's OSCAL models refuse is never written
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    results = document["assessment-results"]["results"]
    click.echo(f"wrote {out}: {len(results)} result(s), "
               f"{sum(len(r.get('observations', [])) for r in results)} observation(s)")
