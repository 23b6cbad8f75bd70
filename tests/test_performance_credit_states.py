"""A service credit holds exactly SPEC §8's states (payable, earned_back, credited, waived); inside its earn-back
window it has none yet: the API returns ``state: null`` with ``earn_back_until``, pages and exports say the window
is open, and it cannot be settled until the computation makes it payable."""
from __future__ import annotations

import logging

import peewee as pw
from peewee_migrate import Router

from domain import performance as rules
from models import AuditEvent, ServiceCredit
from models.schema import MIGRATIONS_DIR
from tests.test_performance_api import accept_all, error, month, ok, perf, setup_contract, submit  # noqa: F401


def test_the_credit_state_table_is_the_specs():
    assert set(rules.CREDIT_TRANSITIONS) == set(rules.CREDIT_STATES) == {"payable", "earned_back", "credited",
                                                                         "waived"}
    assert rules.credit_state_label(None, "2026-05") == "earn-back open until 2026-05"
    assert rules.credit_state_label("earned_back", None) == "earned back"


def test_an_open_earn_back_window_has_no_state_and_cannot_be_settled(client, perf):  # noqa: F811
    setup_contract(client, perf)  # earn-back over 2 months
    for period, (a, f) in {"2026-02": ("4", "60"), "2026-03": ("4", "80")}.items():
        accept_all(client, perf, ok(submit(client, perf, period, [{"kpi": "ABANDON", "value": a, "volume": 30000},
                                                                  {"kpi": "FCR", "value": f}]), 201)["items"])
    card = ok(client.get(f"/api/v1/engagements/{perf['eid']}/scorecard?from=2026-02&to=2026-03",
                         headers=perf["reviewer"]))
    [credit] = month(card, "2026-02")["credits"]
    assert (credit["kpi"], credit["state"], credit["earn_back_until"]) == ("FCR", None, "2026-04")
    assert credit["state_label"] == "earn-back open until 2026-04"
    kpi = ok(client.get(f"/api/v1/kpis/{ServiceCredit.get_by_id(credit['id']).kpi_id}", headers=perf["reviewer"]))
    assert [(c["state"], c["earn_back_until"]) for c in kpi["credits"]] == [(None, "2026-04")]
    events = AuditEvent.select().count()
    for body in ({"state": "credited", "reference": "CN-1"}, {"state": "waived", "reason": "goodwill"}):
        error(client.post(f"/api/v1/service-credits/{credit['id']}/settle", json=body, headers=perf["client"]), 409,
              "state")
    assert ServiceCredit.get_by_id(credit["id"]).state is None and AuditEvent.select().count() == events
    # April misses FCR: the window closes and the item becomes payable, then settles once.
    accept_all(client, perf, ok(submit(client, perf, "2026-04", [{"kpi": "FCR", "value": "60"}]), 201)["items"])
    assert (ServiceCredit.get_by_id(credit["id"]).state, ServiceCredit.get_by_id(credit["id"]).earn_back_until) == (
        "payable", None)
    ok(client.post(f"/api/v1/service-credits/{credit['id']}/settle", json={"state": "credited", "reference": "CN-1"},
                   headers=perf["client"]))


def test_the_migration_gives_stored_accruing_rows_no_state(tmp_path):
    """A database holding an ``accruing`` credit (as the first schema stored it) upgrades to SPEC's states."""
    database = pw.SqliteDatabase(str(tmp_path / "upgrade.db"))
    router = Router(database, migrate_dir=MIGRATIONS_DIR, ignore=["basemodel"], logger=logging.getLogger("test"))
    router.run("195_optional_regimes")
    columns = ("engagement_id, kpi_id, month, allocation_pct, multiplier, accrued, amount, capped, state, reference, "
               "reason, updated_at")
    database.execute_sql("INSERT INTO commercial_settings (engagement_id, currency, at_risk_pct, pool_pct, "
                         "repeat_multiplier, earn_back_months, surge_tolerance_pct, bands, updated_at) "
                         "VALUES (7, 'AUD', '12', '250', '1', 2, '10', '[]', '2026-12-01')")
    values = "'50', '1', '10', '10.00', 0"
    for kpi, period, state in ((1, "2026-11", "accruing"), (2, "2026-10", "payable")):
        database.execute_sql(f"INSERT INTO service_credit ({columns}) VALUES "  # noqa: S608 - constants
                             f"(7, {kpi}, '{period}', {values}, '{state}', '', '', '2026-12-01')")
    router.run()
    rows = database.execute_sql("SELECT kpi_id, state, earn_back_until FROM service_credit ORDER BY kpi_id")
    assert list(rows) == [(1, None, "2027-01"), (2, "payable", None)]
    database.execute_sql(f"INSERT INTO service_credit ({columns}) VALUES "  # noqa: S608 - NULL is allowed now
                         f"(7, 3, '2026-12', {values}, NULL, '', '', '2026-12-01')")
