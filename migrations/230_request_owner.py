"""Peewee migrations -- 230_request_owner.py.

``evidence_request.owner_id``: the person of the producing party (the provider, or the client for the evidence
only it holds) who must deliver the request. Back-filled from the Statement of Applicability row's owner where
that owner is an active user of the producing party; NULL (no owner yet) elsewhere. A nullable column without
a default is added in place on SQLite and PostgreSQL alike; the tally triggers (011) watch other columns only.
"""

import peewee as pw
from peewee_migrate import Migrator

BACK_FILL = """
UPDATE evidence_request SET owner_id = (
    SELECT a.owner_id FROM applicability a
    JOIN "user" u ON u.id = a.owner_id
    JOIN engagement e ON e.id = a.engagement_id
    JOIN evidence_requirement q ON q.id = evidence_request.requirement_id
    WHERE a.engagement_id = evidence_request.engagement_id AND a.control_id = evidence_request.control_id
      AND u.active AND u.organisation_id = CASE WHEN q.produced_by = 'client' THEN e.client_id
                                                 ELSE e.provider_id END)
WHERE owner_id IS NULL
"""


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The column, its index ("my requests": an owner's open requests by due date) and the back-fill."""
    migrator.add_fields(
        'evidence_request',

        owner=pw.ForeignKeyField(column_name='owner_id', field='id', model=migrator.orm['user'], null=True,
                                 on_delete='SET NULL'))
    migrator.add_index('evidence_request', 'owner', 'status', 'due_at', unique=False)
    migrator.sql(BACK_FILL)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the index and the column."""
    migrator.drop_index('evidence_request', 'owner', 'status', 'due_at')
    migrator.remove_fields('evidence_request', 'owner')
