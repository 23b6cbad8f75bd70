"""What reaches people: in-app notifications, each created once per (user, kind, object, occasion)
(``notifications``), and the e-mail outbox with its SMTP sender (``mail``). Outbox rows are written in the
caller's transaction; SMTP never runs inside one. May import ``audit``.
"""
