"""``flask --app app backup --out FILE`` and ``restore --from FILE`` (services.ops.backup)."""
from __future__ import annotations

import click
from flask import current_app

import evidence_store
from services.ops.backup import BackupError, backup, restore


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="the archive to write (replaced only once complete)")
def backup_command(out: str) -> None:
    """One consistent archive of the database and every evidence file, taken while the app runs."""
    try:
        manifest = backup(out, current_app.config["DATABASE_URL"], evidence_store.get_store(), progress=click.echo)
    except BackupError as exc:
        click.echo(f"backup FAILED: {exc}", err=True)
        raise SystemExit(1) from None
    files = sum(1 for name in manifest["members"] if name.startswith("evidence/"))
    click.echo(f"backup written to {out}: {sum(manifest['counts'].values())} rows, {files} evidence files; "
               f"manifest digest {manifest['digest']}")
    if manifest.get("audit_head"):
        click.echo(f"audit trail head {manifest['audit_head']}: keep it apart, check a restored trail with "
                   f"verify-audit-log --anchor {manifest['audit_head']}")


@click.command("restore")
@click.option("--from", "archive", required=True, type=click.Path(dir_okay=False),
              help="an archive written by backup")
def restore_command(archive: str) -> None:
    """Restore an archive into an empty database and an empty evidence store (checked first)."""
    try:
        manifest = restore(archive, current_app.config["DATABASE_URL"], evidence_store.get_store(),
                           progress=click.echo)
    except BackupError as exc:
        click.echo(f"restore REFUSED: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"restored {archive} (taken {manifest['created_at']}): run verify-evidence and verify-audit-log")
