"""Integrations: signed webhooks (an outbox row written in the transaction of each event, delivered by the
scheduler pass with retries over a day, every attempt logged) and per-user calendar feeds (a secret ``.ics``
address). Imports audit and messages; the packages above call ``webhooks.emit`` where their events happen."""
