"""Free text from forms and JSON: trimmed, NFC-normalised, no control or bidi-override characters."""
from __future__ import annotations

import unicodedata

from domain.errors import ValidationError

_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(data: dict, field: str, *, required: bool = True, limit: int = 200, multiline: bool = False) -> str:
    """``data[field]`` as clean text; ValidationError naming the field otherwise. Multi-line text may hold
    line breaks and tabs; lone surrogates, other control characters and bidi overrides are refused."""
    value = data.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValidationError(f"{field} contains invalid characters", field=field)
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any((unicodedata.category(c) == "Cc" and c not in allowed) or c in _BIDI_CONTROLS for c in value):
        raise ValidationError(f"{field} contains control characters", field=field)
    return value
