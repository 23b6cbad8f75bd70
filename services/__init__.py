"""Application services: the operations that touch the database, one package per capability. No Flask imports.

Three modules are shared by every package: ``scope`` (the one place that decides what a user may see or do),
``text`` (cleaning user-supplied text) and ``bulk`` (several items decided at once, all or nothing).
Everything else lives in a capability package, and the packages form layers: a package may import the shared
modules and the packages *below* it in ``LAYERS``, never one above it, and nothing in ``services`` imports the
scheduler pass (``alerts.scheduler``). ``tests/test_layers.py`` checks this on every run, together with the
absence of import cycles and of function-level imports.
"""

SHARED = ("scope", "text", "bulk")

# Lowest first. A package may import those before it in this list (and itself); new capabilities take their
# place here when they are created.
LAYERS = (
    "audit",         # the hash-chained audit trail and the auditor access log
    "messages",      # in-app notifications and the e-mail outbox
    "integrations",  # signed webhooks (an outbox written with each event) and calendar feeds
    "people",        # organisations, users, sessions, tokens
    "idempotency",   # idempotency keys: a double submit or a retry creates nothing twice
    "identity",      # single sign-on (OIDC, SAML) and SCIM provisioning
    "incidents",     # incidents, regulatory clocks, change events, findings
    "register",      # engagements, Statement of Applicability, planning, library, sub-contractors, dashboard
    "evidence",      # upload, review, media types, integrity, expiry
    "performance",   # KPIs, results, service credits, the escalation ladder
    "governance",    # forums, meetings, decisions and actions, change control, exit readiness
    "auditors",      # grants, portal, evidence packs, OSCAL
    "alerts",        # the scheduler pass, time-driven alerts, the scheduler lease
    "ops",           # backup and restore, health
    "demo",          # demo and benchmark data
)

ORCHESTRATOR = "services.alerts.scheduler"  # imported only by app.py and commands/
