"""Incidents and what they start: the incident record with its notices and NDB assessment
(``incidents``), regulatory notification clocks (``clocks``), change events that open event-driven
evidence requests (``changes``), and findings with their corrective action plans (``findings``). May import
``audit``, ``messages`` and ``people``.
"""
