"""Peewee migrations -- 130_tally_lock_order.py (request_tally's PostgreSQL trigger takes its row locks in one order).

Migration 011's trigger function applied a request's change to ``request_tally`` in two statements, the old row's
counts (-1) and then the new row's (+1), each upserting its rows in whatever order the planner produced. Two
transactions moving requests of the same engagement in opposite directions (overdue -> accepted and accepted ->
overdue; an upload and a review) could each hold rows the other needed next: a deadlock, which PostgreSQL
resolves by failing one of them (503 twice in 3,456 concurrent writes in a penetration test). The function now
applies both deltas in one INSERT, summed per tally row and sorted by the unique key (status, month, framework,
engagement), so every transaction locks tally rows in the same order and none waits for another while holding a
row that one needs. A row whose deltas cancel out is not touched. SQLite lets one writer in at a time: its
triggers stay as they are.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    pass


TALLIED = "('accepted', 'overdue')"

ORDERED = f"""CREATE OR REPLACE FUNCTION request_tally_change() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO request_tally (engagement_id, framework_id, status, month, n)
     SELECT d.e, f.id, d.st, m.month, SUM(d.delta)
     FROM (SELECT OLD.engagement_id AS e, OLD.control_id AS c, OLD.status::text AS st, OLD.due_at AS due, -1 AS delta
           WHERE TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN {TALLIED}
           UNION ALL
           SELECT NEW.engagement_id, NEW.control_id, NEW.status::text, NEW.due_at, 1
           WHERE TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN {TALLIED}) d
     CROSS JOIN LATERAL (SELECT 0 AS id UNION SELECT o.framework_id FROM control_obligation co
                         JOIN obligation o ON o.id = co.obligation_id
                         WHERE co.control_id = d.c AND co.retired_in IS NULL) f
     CROSS JOIN LATERAL (VALUES (''), (to_char(d.due, 'YYYY-MM'))) AS m(month)
     GROUP BY d.e, f.id, d.st, m.month
     HAVING SUM(d.delta) <> 0
     ORDER BY d.st, m.month, f.id, d.e
     ON CONFLICT (status, month, framework_id, engagement_id) DO UPDATE SET n = request_tally.n + EXCLUDED.n;
     RETURN NULL;
   END $$"""

# 011's function, as it was
TWO_STATEMENTS = """CREATE OR REPLACE FUNCTION request_tally_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           PERFORM request_tally_add(OLD.engagement_id, OLD.control_id, OLD.status, OLD.due_at, -1);
         END IF;
         IF TG_OP IN ('UPDATE', 'INSERT') THEN
           PERFORM request_tally_add(NEW.engagement_id, NEW.control_id, NEW.status, NEW.due_at, 1);
         END IF;
         RETURN NULL;
       END $$"""


def _is_postgres(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.PostgresqlDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """One ordered upsert per change on PostgreSQL."""
    if _is_postgres(database):
        migrator.sql(ORDERED)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Back to 011's two statements."""
    if _is_postgres(database):
        migrator.sql(TWO_STATEMENTS)
