"""The control register of each engagement: engagements and their settings (``engagements``), the
Statement of Applicability (``applicability``), planning and re-planning of evidence requests
(``planning``: the one module both the scheduler pass and the edits call), the control library's loading
(``library_sync``), the register's read side (``queries``), the service provider register of
sub-contractors (``subcontractors``) and the overdue dashboard with its tally (``dashboard``). May import
``audit``, ``messages``, ``people`` and ``incidents`` (the register starts clocks).
"""
