"""Running an instance: consistent backup and restore of the database and the evidence store
(``backup``) and the health check (``health``, which reads the scheduler's lease). May import every package
below it.
"""
