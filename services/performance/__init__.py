"""Contract performance (SPEC §8): the engagement's golden set of KPIs picked from the catalogue
(``controls/kpis.yaml``) and their versions (rebasing), results with their source extract and the client's review,
commercial settings and monthly volumes (volume relief), service credits, the escalation ladder, the scorecard.

Modules, lowest first: ``settings`` (commercial settings read), ``kpis`` (KPIs and the version in effect),
``credits`` (the monthly computation and settlement), ``ladder`` (findings for critical KPIs missed twice, tiers,
follow-up), ``results`` (submission, import, review), ``rebasing``, ``commercial`` (settings and months written),
``scorecard`` (the read models, and ``kpi_misses_since`` for governance agendas). Rules are in
``domain.performance``; access in ``services.scope``.
"""
