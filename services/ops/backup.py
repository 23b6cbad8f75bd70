"""``backup`` and ``restore`` (SPEC §5): one consistent archive of the database and its evidence files.

The archive is an uncompressed tar (evidence files are mostly compressed already)::

    database.sqlite3 | database.pgdump    the database as of one instant
    evidence/<sha256>                     every file an evidence item (each file of it) or a built pack of that
                                          instant refers to
    manifest.json                         format, database kind, row counts per table, and the SHA-256 and size
                                          of every member; its own ``digest`` covers the rest of it

**Consistency while the app serves.** The database is read at one instant: SQLite's online backup API
(one step, under a read lock, so writers wait briefly and nothing half-written is copied), or for
PostgreSQL a REPEATABLE READ transaction whose snapshot is exported to ``pg_dump --snapshot``, so the
row counts and the list of files come from the very state the dump holds. Evidence files are
content-addressed and never change, and an upload's file is placed in the store before its row commits,
so every file a row of that instant names is in the store; files of uploads still in flight are not
taken (their rows are not in the snapshot, and they would be orphans in the restored store).

**Restore** checks everything first — the manifest's digest, every member's hash and size, members
missing or unexpected (a truncated or altered archive is refused, saying which member) — then that the
database has no tables and the store no files, and only then writes: the evidence files (each checked
again by the store's own hash), then the database (``pg_restore --single-transaction``, or SQLite's
backup API into the new file), and finally compares the restored row counts with the manifest.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

FORMAT = 1
MANIFEST = "manifest.json"
EVIDENCE_DIR = "evidence/"
READ = 1024 * 1024
Progress = Callable[[str], None]


class BackupError(Exception):
    """The backup cannot be taken, or the archive cannot be restored here; the message says why."""


@dataclass
class Snapshot:
    kind: str  # "sqlite" | "postgresql"
    path: str  # the database file or dump, in a temporary directory
    counts: dict[str, int]
    files: dict[str, int]  # sha256 -> size, of every evidence row and built pack in the snapshot
    audit_head: str | None = None  # HASH@ID of the snapshot's newest audit event


def database_kind(url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "postgresql"
    raise BackupError(f"unsupported DATABASE_URL scheme {scheme!r}")


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else urlparse(url).path


# ------------------------------------------------------------------------------------------ snapshots

def _evidence_files(rows: Iterator[tuple[str, int]]) -> dict[str, int]:
    return {sha: int(size) for sha, size in rows}


HEAD_SQL = "SELECT hash, id FROM audit_event ORDER BY id DESC LIMIT 1"  # the audit trail's head, as anchor


def _stored_files_sql(tables: list[str]) -> str:
    """The files the rows of the snapshot name in the store: every evidence file (each file of a submission)
    and every built pack's PDF (a restore without them would leave packs that say ``ready`` and cannot be
    downloaded)."""
    parts = []
    if "evidence" in tables:
        parts.append("SELECT sha256, size FROM evidence")
    if "evidence_file" in tables:
        parts.append("SELECT sha256, size FROM evidence_file")
    if "pack" in tables:
        parts.append("SELECT file_sha256, size FROM pack WHERE file_sha256 IS NOT NULL AND size IS NOT NULL")
    if not parts:
        return "SELECT '' AS sha256, 0 AS size WHERE 1 = 0"
    return f"SELECT f.sha256, MAX(f.size) FROM ({' UNION ALL '.join(parts)}) f GROUP BY f.sha256"


def _snapshot_sqlite(url: str, directory: str) -> Snapshot:
    target = os.path.join(directory, "database.sqlite3")
    source = sqlite3.connect(sqlite_path(url), timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # all pages in one step: one consistent instant
        tables = [name for (name,) in copy.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {t: copy.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        files = _evidence_files(copy.execute(_stored_files_sql(tables)))
        head = copy.execute(HEAD_SQL).fetchone() if "audit_event" in tables else None
    finally:
        copy.close()
        source.close()
    return Snapshot("sqlite", target, counts, files, f"{head[0]}@{head[1]}" if head else None)


def _pg_tables(cursor) -> list[str]:
    cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                   "AND table_type = 'BASE TABLE' ORDER BY table_name")
    return [name for (name,) in cursor.fetchall()]


def _snapshot_postgres(url: str, directory: str) -> Snapshot:
    import psycopg2
    target = os.path.join(directory, "database.pgdump")
    connection = psycopg2.connect(url)
    try:
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
            tables = _pg_tables(cursor)
            counts = {}
            for table in tables:
                cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
                counts[table] = cursor.fetchone()[0]
            cursor.execute(_stored_files_sql(tables))
            files = _evidence_files(cursor.fetchall())
            head = None
            if "audit_event" in tables:
                cursor.execute(HEAD_SQL)
                head = cursor.fetchone()
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                  f"--file={target}", f"--dbname={url}"], "pg_dump")
        connection.commit()
    finally:
        connection.close()
    return Snapshot("postgresql", target, counts, files, f"{head[0]}@{head[1]}" if head else None)


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (apt-get install postgresql-client-15)")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.returncode}")


# ------------------------------------------------------------------------------------------ backup

class _Hashing(io.RawIOBase):
    """Reads through a stream, hashing and counting what passes."""

    def __init__(self, stream):
        self.stream, self.digest, self.size = stream, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(READ if n is None or n < 0 else n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add_stream(tar: tarfile.TarFile, name: str, stream, size: int) -> str:
    """Add ``size`` bytes of ``stream`` as ``name``; returns their SHA-256 (the stream must end there)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(dt.datetime.now(dt.UTC).timestamp()), 0o600
    reader = _Hashing(stream)
    try:
        tar.addfile(info, reader)
    except OSError as exc:  # tarfile: "unexpected end of data"
        raise BackupError(f"{name}: the stored file is shorter than its {size} bytes ({exc})") from None
    if stream.read(1):
        raise BackupError(f"{name}: the stored file is longer than its {size} bytes")
    return reader.digest.hexdigest()


def _manifest_digest(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def backup(out: str, database_url: str, store, progress: Progress = lambda _: None) -> dict:
    """Write the archive to ``out`` (via ``out.partial``, renamed once complete); returns its manifest."""
    kind = database_kind(database_url)
    partial = out + ".partial"
    with tempfile.TemporaryDirectory(prefix="attest-backup-") as directory:
        snapshot = (_snapshot_sqlite if kind == "sqlite" else _snapshot_postgres)(database_url, directory)
        progress(f"database snapshot: {sum(snapshot.counts.values())} rows in {len(snapshot.counts)} tables, "
                 f"{len(snapshot.files)} evidence files")
        members = {}
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                name = os.path.basename(snapshot.path)
                size = os.path.getsize(snapshot.path)
                with open(snapshot.path, "rb") as handle:
                    members[name] = {"sha256": _add_stream(tar, name, handle, size), "size": size}
                for done, (sha, size) in enumerate(sorted(snapshot.files.items()), 1):
                    members[EVIDENCE_DIR + sha] = {"sha256": _copy_evidence(tar, store, sha, size), "size": size}
                    if done % 500 == 0:
                        progress(f"evidence: {done}/{len(snapshot.files)} files")
                manifest = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                            "database": {"kind": kind, "member": name}, "counts": snapshot.counts,
                            "members": members, "audit_head": snapshot.audit_head}
                manifest["digest"] = _manifest_digest(manifest)
                raw = json.dumps(manifest, indent=1, sort_keys=True).encode()
                _add_stream(tar, MANIFEST, io.BytesIO(raw), len(raw))
            with open(partial, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    return manifest


def _copy_evidence(tar: tarfile.TarFile, store, sha: str, size: int) -> str:
    name = EVIDENCE_DIR + sha
    try:
        stream = store.open(sha)
    except FileNotFoundError:
        raise BackupError(f"evidence file {sha} is missing from the store: run verify-evidence") from None
    with contextlib.closing(stream):
        digest = _add_stream(tar, name, stream, size)
    if digest != sha:
        raise BackupError(f"evidence file {sha} in the store does not match its hash: run verify-evidence")
    return digest


# ------------------------------------------------------------------------------------------ restore

def read_manifest(archive: str) -> dict:
    """The archive's manifest, after checking every member against it; BackupError says what is wrong."""
    try:
        with tarfile.open(archive, "r:") as tar:
            try:
                raw = tar.extractfile(tar.getmember(MANIFEST)).read()
            except KeyError:
                raise BackupError("the archive has no manifest.json: it is truncated or not an Attest backup") \
                    from None
            manifest = _parse_manifest(raw)
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                expected = manifest["members"].get(member.name)
                if expected is None or not member.isfile():
                    raise BackupError(f"the archive holds {member.name!r}, which its manifest does not list")
                digest, size = _hash(tar.extractfile(member))
                if (digest, size) != (expected["sha256"], expected["size"]):
                    raise BackupError(f"{member.name} does not match the manifest (altered or damaged)")
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"the archive cannot be read (truncated or damaged): {exc}") from None
    missing = sorted(set(manifest["members"]) - seen)
    if missing:
        raise BackupError(f"the archive lacks {len(missing)} member(s) its manifest lists, e.g. {missing[0]}")
    return manifest


def _parse_manifest(raw: bytes) -> dict:
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise BackupError("manifest.json is not valid JSON (altered or damaged)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"manifest.json is not an Attest backup manifest of format {FORMAT}")
    if manifest.get("digest") != _manifest_digest(manifest):
        raise BackupError("manifest.json does not match its digest (altered or damaged)")
    return manifest


def _hash(stream) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(READ):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _existing_tables(database_url: str) -> list[str]:
    if database_kind(database_url) == "sqlite":
        path = sqlite_path(database_url)
        if not os.path.exists(path):
            return []
        with contextlib.closing(sqlite3.connect(path)) as connection:
            return [n for (n,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    import psycopg2
    with contextlib.closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        return _pg_tables(cursor)


def _counts(database_url: str, tables: list[str]) -> dict[str, int]:
    if database_kind(database_url) == "sqlite":
        with contextlib.closing(sqlite3.connect(sqlite_path(database_url))) as connection:
            return {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    import psycopg2
    with contextlib.closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        out = {}
        for table in tables:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            out[table] = cursor.fetchone()[0]
        return out


def restore(archive: str, database_url: str, store, progress: Progress = lambda _: None) -> dict:
    """Restore ``archive`` into an empty database and an empty store; returns the manifest."""
    if not os.path.isfile(archive):
        raise BackupError(f"{archive}: no such file")
    manifest = read_manifest(archive)
    progress(f"archive checked: {len(manifest['members'])} members match the manifest")
    kind = manifest["database"]["kind"]
    if kind != database_kind(database_url):
        raise BackupError(f"the archive holds a {kind} database but DATABASE_URL is "
                          f"{database_kind(database_url)}: restore into the same kind of database")
    tables = _existing_tables(database_url)
    if tables:
        raise BackupError(f"the database is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]!r}): "
                          "restore needs a new, empty database")
    if not store.is_empty():
        raise BackupError(f"the evidence store {store.describe()} is not empty: restore needs an empty store")
    with tarfile.open(archive, "r:") as tar, tempfile.TemporaryDirectory(prefix="attest-restore-") as directory:
        files = [m for m in tar.getmembers() if m.name.startswith(EVIDENCE_DIR)]
        for done, member in enumerate(files, 1):
            stored = store.put(tar.extractfile(member))
            if stored.sha256 != member.name[len(EVIDENCE_DIR):]:
                raise BackupError(f"{member.name} changed while it was restored")
            if done % 500 == 0:
                progress(f"evidence: {done}/{len(files)} files")
        progress(f"evidence: {len(files)} files restored")
        dump = os.path.join(directory, manifest["database"]["member"])
        with open(dump, "wb") as out:
            shutil.copyfileobj(tar.extractfile(manifest["database"]["member"]), out, READ)
        _restore_database(kind, dump, database_url)
    restored = _counts(database_url, list(manifest["counts"]))
    wrong = {t: (restored[t], n) for t, n in manifest["counts"].items() if restored[t] != n}
    if wrong:
        raise BackupError(f"restored row counts differ from the manifest: {wrong}")
    progress(f"database: {sum(restored.values())} rows in {len(restored)} tables restored")
    return manifest


def _restore_database(kind: str, dump: str, database_url: str) -> None:
    if kind == "postgresql":
        _run(["pg_restore", "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
              f"--dbname={database_url}", dump], "pg_restore")
        return
    path = sqlite_path(database_url)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with contextlib.closing(sqlite3.connect(dump)) as source, contextlib.closing(sqlite3.connect(path)) as target:
        source.backup(target)
