"""Idempotency keys: a double submit, or a client's retry, creates nothing twice.

A creating request that carries a key (the API's ``Idempotency-Key`` header, a page form's hidden
``idempotency_key``) claims it for its user before it runs; the response it gets is kept with the key, and a
repeat of the key by the same user replays that response instead of creating again. A repeat while the first is
still running answers 409; the same key on another request answers 422. Keys are kept for ``keys.KEEP``.
"""
