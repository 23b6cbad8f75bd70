"""Peewee migrations -- 011_dashboard_tally.py (request counts the overdue dashboard reads, kept by triggers).

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields (allow_not_null=True skips default)
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


# request_tally holds, per engagement, framework (0: every request once, else each framework the request's control
# maps to over live mappings), tallied status and month due ("" = every month), how many requests are there. The
# triggers below change it in the same statement as the request, so it always equals the grouped count:
# an old row counts -1, a new row +1, as an upsert (a row at n = 0 stays, and is read as nothing).
# services.register.dashboard.rebuild_tally() recounts it when the library's mappings change (library_sync).
# PostgreSQL TRUNCATE fires no row trigger; the test suite truncates request_tally with evidence_request.
TALLIED = "('accepted', 'overdue')"


def _frameworks(control: str) -> str:
    return ("SELECT 0 AS id UNION SELECT o.framework_id FROM control_obligation co "
            f"JOIN obligation o ON o.id = co.obligation_id WHERE co.control_id = {control} AND co.retired_in IS NULL")


def _sqlite_delta(row: str, delta: int) -> str:
    return (f"INSERT INTO request_tally (engagement_id, framework_id, status, month, n) "
            f"SELECT {row}.engagement_id, f.id, {row}.status, m.month, {delta} "
            f"FROM ({_frameworks(row + '.control_id')}) f, "
            f"(SELECT '' AS month UNION ALL SELECT substr({row}.due_at, 1, 7)) m WHERE {row}.status IN {TALLIED} "
            f"ON CONFLICT (status, month, framework_id, engagement_id) DO UPDATE SET n = n + excluded.n;")


CHANGED = ("(OLD.status IS NOT NEW.status OR OLD.due_at IS NOT NEW.due_at OR OLD.engagement_id IS NOT NEW.engagement_id"
           " OR OLD.control_id IS NOT NEW.control_id)")
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS request_tally_insert AFTER INSERT ON evidence_request
        WHEN NEW.status IN {TALLIED} BEGIN {_sqlite_delta("NEW", 1)} END""",
    f"""CREATE TRIGGER IF NOT EXISTS request_tally_delete AFTER DELETE ON evidence_request
        WHEN OLD.status IN {TALLIED} BEGIN {_sqlite_delta("OLD", -1)} END""",
    f"""CREATE TRIGGER IF NOT EXISTS request_tally_update
        AFTER UPDATE OF status, due_at, engagement_id, control_id ON evidence_request
        WHEN (OLD.status IN {TALLIED} OR NEW.status IN {TALLIED}) AND {CHANGED}
        BEGIN {_sqlite_delta("OLD", -1)} {_sqlite_delta("NEW", 1)} END""",
]
POSTGRES_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION request_tally_add(e integer, c integer, st text, due timestamp, delta integer)
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
          IF st NOT IN {TALLIED} THEN RETURN; END IF;
          INSERT INTO request_tally (engagement_id, framework_id, status, month, n)
          SELECT e, f.id, st, m.month, delta FROM ({_frameworks("c")}) f
          CROSS JOIN (VALUES (''), (to_char(due, 'YYYY-MM'))) AS m(month)
          ON CONFLICT (status, month, framework_id, engagement_id) DO UPDATE SET n = request_tally.n + EXCLUDED.n;
        END $$""",
    """CREATE OR REPLACE FUNCTION request_tally_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           PERFORM request_tally_add(OLD.engagement_id, OLD.control_id, OLD.status, OLD.due_at, -1);
         END IF;
         IF TG_OP IN ('UPDATE', 'INSERT') THEN
           PERFORM request_tally_add(NEW.engagement_id, NEW.control_id, NEW.status, NEW.due_at, 1);
         END IF;
         RETURN NULL;
       END $$""",
    "DROP TRIGGER IF EXISTS request_tally_change ON evidence_request",
    "DROP TRIGGER IF EXISTS request_tally_update ON evidence_request",
    """CREATE TRIGGER request_tally_change AFTER INSERT OR DELETE ON evidence_request
        FOR EACH ROW EXECUTE FUNCTION request_tally_change()""",
    f"""CREATE TRIGGER request_tally_update AFTER UPDATE OF status, due_at, engagement_id, control_id
        ON evidence_request FOR EACH ROW
        WHEN ((OLD.status IN {TALLIED} OR NEW.status IN {TALLIED}) AND (OLD.status, OLD.due_at, OLD.engagement_id,
              OLD.control_id) IS DISTINCT FROM (NEW.status, NEW.due_at, NEW.engagement_id, NEW.control_id))
        EXECUTE FUNCTION request_tally_change()""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS request_tally_insert", "DROP TRIGGER IF EXISTS request_tally_delete",
               "DROP TRIGGER IF EXISTS request_tally_update"]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS request_tally_change ON evidence_request",
                 "DROP TRIGGER IF EXISTS request_tally_update ON evidence_request",
                 "DROP FUNCTION IF EXISTS request_tally_change()",
                 "DROP FUNCTION IF EXISTS request_tally_add(integer, integer, text, timestamp, integer)"]


def _month(column: str, sqlite: bool) -> str:
    return f"substr({column}, 1, 7)" if sqlite else f"to_char({column}, 'YYYY-MM')"


def backfill_sql(sqlite: bool) -> str:
    """The whole tally counted from the requests (the migration's fill; also services.register.dashboard.rebuild_tally)."""
    pairs = ("(SELECT DISTINCT co.control_id, o.framework_id FROM control_obligation co "
             "JOIN obligation o ON o.id = co.obligation_id WHERE co.retired_in IS NULL)")
    rows = (f"SELECT r.engagement_id, 0 AS framework_id, r.status, r.due_at, r.id FROM evidence_request r "
            f"WHERE r.status IN {TALLIED} UNION ALL "
            f"SELECT r.engagement_id, cf.framework_id, r.status, r.due_at, r.id FROM evidence_request r "
            f"JOIN {pairs} cf ON cf.control_id = r.control_id WHERE r.status IN {TALLIED}")
    month = _month("t.due_at", sqlite)
    return (f"INSERT INTO request_tally (engagement_id, framework_id, status, month, n) "
            f"SELECT t.engagement_id, t.framework_id, t.status, {month}, COUNT(*) FROM ({rows}) t "
            f"GROUP BY t.engagement_id, t.framework_id, t.status, {month} UNION ALL "
            f"SELECT t.engagement_id, t.framework_id, t.status, '', COUNT(*) FROM ({rows}) t "
            f"GROUP BY t.engagement_id, t.framework_id, t.status")


def _is_sqlite(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.SqliteDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The tally table, its triggers, and its first fill from the requests already there."""

    @migrator.create_model
    class RequestTally(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        framework_id = pw.IntegerField()
        status = pw.CharField(max_length=12)
        month = pw.CharField(max_length=7)
        n = pw.IntegerField(default=0)

        class Meta:
            table_name = "request_tally"
            legacy_table_names = False
            indexes = [(('status', 'month', 'framework_id', 'engagement'), True)]

    # the due-soon counts per engagement × control read the index alone
    migrator.drop_index('evidence_request', 'engagement', 'status', 'due_at')
    migrator.add_index('evidence_request', 'engagement', 'status', 'due_at', 'control', unique=False)
    sqlite = _is_sqlite(database)
    for sql in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        migrator.sql(sql)
    migrator.sql(backfill_sql(sqlite))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the triggers and the table."""
    for sql in SQLITE_DROP if _is_sqlite(database) else POSTGRES_DROP:
        migrator.sql(sql)
    migrator.remove_model('request_tally')
    migrator.drop_index('evidence_request', 'engagement', 'status', 'due_at', 'control')
    migrator.add_index('evidence_request', 'engagement', 'status', 'due_at', unique=False)
