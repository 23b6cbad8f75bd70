"""Peewee migrations -- 220_evidence_files.py.

One submission, several files: ``evidence_file`` holds every file of an evidence item (one version), in the
order sent. Each existing item gets one row back-filled from its own file columns (position 1), which stay
on ``evidence`` as the first file's, so single-file readers and the API's response shape are unchanged.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The table, then a row per existing evidence item."""

    @migrator.create_model
    class EvidenceFile(pw.Model):
        id = pw.AutoField()
        evidence = pw.ForeignKeyField(column_name='evidence_id', field='id', model=migrator.orm['evidence'], on_delete='RESTRICT')
        position = pw.IntegerField()
        sha256 = pw.CharField(index=True, max_length=64)
        size = pw.BigIntegerField()
        media_type = pw.CharField(max_length=120)
        original_filename = pw.CharField(max_length=255)
        storage_key = pw.CharField(max_length=128)

        class Meta:
            table_name = "evidence_file"
            legacy_table_names = False
            indexes = [(('evidence', 'position'), True), (('evidence', 'sha256'), True)]

    migrator.sql(
        'INSERT INTO "evidence_file" ("evidence_id", "position", "sha256", "size", "media_type", '
        '"original_filename", "storage_key") '
        'SELECT "id", 1, "sha256", "size", "media_type", "original_filename", "sha256" FROM "evidence" '
        'ORDER BY "id"')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the table (the first file of each item is still on ``evidence``)."""
    migrator.remove_model('evidence_file')
