"""What time does to the register: the scheduler pass (``scheduler``: plan, open, overdue, breach,
expire, alert, send mail; and the leader's pack building), the time-driven alerts and the governance rule
(``alerts``) and the lease that elects the one process that runs the pass (``lease``). The pass
orchestrates: it may import every package below it, and nothing in ``services`` imports ``scheduler``
(only ``app`` and the commands do).
"""
