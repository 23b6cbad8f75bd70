"""``flask --app app verify-evidence``: re-hash every stored evidence file (services.evidence.verify)."""
from __future__ import annotations

import time

import click

import evidence_store
from services.evidence.verify import verify_store

from . import connect

PROGRESS_EVERY = 5.0  # seconds between progress lines
PROGRESS_STEP = 10  # ... or every this many percent


class _ProgressLines:
    """A line every PROGRESS_STEP percent or PROGRESS_EVERY seconds, whichever comes first (works in logs and
    pipes, where a redrawn bar would not)."""

    def __init__(self) -> None:
        self.started = self.last_time = time.monotonic()
        self.last_percent = 0

    def __call__(self, done: int, total: int, size: int) -> None:
        percent = done * 100 // total
        now = time.monotonic()
        if done == total or percent >= self.last_percent + PROGRESS_STEP or now - self.last_time >= PROGRESS_EVERY:
            rate = size / max(now - self.started, 1e-6) / 2**20
            click.echo(f"checked {done}/{total} files ({percent}%), {rate:.0f} MiB/s")
            self.last_percent, self.last_time = percent, now


@click.command("verify-evidence")
@click.option("--quiet", is_flag=True, help="no progress lines, only problems and the summary")
def verify_evidence(quiet: bool) -> None:
    """Re-hash every stored evidence file; report missing, altered and orphan files; exit 1 on any."""
    connect()
    report = verify_store(evidence_store.get_store(), progress=None if quiet else _ProgressLines())
    for line in report.problems():
        click.echo(line, err=True)
    click.echo(report.summary(), err=not report.ok)
    if not report.ok:
        raise SystemExit(1)
