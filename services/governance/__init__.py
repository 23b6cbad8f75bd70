"""Governance of an engagement (SPEC §9): its tiered forums with members, chair and cadence (``forums``), the
meetings the scheduler schedules ahead with their live agendas, holding with attendees and minutes, decisions
and actions with their escalation to the tier above (``meetings``), priced change control (``changes``) and
exit readiness (``exit_readiness``), and the KPI findings of the escalation ladder told to the forum of their
tier (``escalations``); ``inputs`` parses what they share. May import every package below it in
``services.LAYERS``.
"""
