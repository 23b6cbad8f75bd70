"""The audit trail: every write's hash-chained event (``audit_log``: record, verify, read with filters) and
what auditors read (``access_log``). The bottom layer: imports only ``models``, ``domain`` and the shared
``services.scope``; every other package records its events here, in its own transaction.
"""
