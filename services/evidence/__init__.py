"""Evidence from upload to expiry: upload, review, withdrawal, the provider's inbox and the review
queue (``evidence``), media types sniffed from content (``media_types``), the store's integrity check
(``verify``) and expiry of evidence past its validity (``expiry``). May import ``audit``, ``messages``,
``people``, ``incidents`` and ``register``.
"""
