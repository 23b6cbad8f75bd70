"""Accounts and the people in them: organisations, users, passwords and sessions (``accounts``), inviting,
deactivating and reactivating users (``users``), API tokens (``tokens``). May import ``audit`` and
``messages`` (invitation e-mail).
"""
