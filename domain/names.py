"""Display names of organisations, engagements and users: one validator for every name, so that two names
that look the same are the same name (SPEC §7: invisible or look-alike characters in names).

A name is NFC-normalised, trimmed, its runs of spaces (any Unicode space) collapsed to one, and refused when
it holds

- a control, format or other invisible character (every ``Cc`` and ``Cf``: U+200B zero width space,
  U+2060 word joiner, U+FEFF, U+200F right-to-left mark, U+00AD soft hyphen, bidi overrides …), a line or
  paragraph separator, a private-use, surrogate or unassigned code point;
- a styled letter that only imitates a plain one (fullwidth, mathematical, circled: ``ｏ``, ``𝐨``, ``ⓞ``);
- a word that mixes scripts (``Bаnk`` with a Cyrillic ``а``; Japanese may mix Han and kana, Korean Hangul
  and Han), the classic look-alike trick;
- more than two combining marks on one letter.
"""
from __future__ import annotations

import re
import unicodedata

from .errors import ValidationError

REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
STYLED = {"<font>", "<wide>", "<narrow>", "<circle>", "<square>", "<small>", "<super>", "<sub>"}
# Scripts that legitimately share one word.
COMPATIBLE_SCRIPTS = (frozenset({"HAN", "HIRAGANA", "KATAKANA"}), frozenset({"HAN", "HANGUL"}))
_WORD = re.compile(r"[^\W_]+(?:[\u0300-\u036f]*[^\W_]*)*")


def refuse_invisible(value: str, field: str) -> None:
    """ValidationError if ``value`` holds a control, format (invisible) or unassigned character."""
    for ch in value:
        category = unicodedata.category(ch)
        if category in REFUSED_CATEGORIES:
            raise ValidationError(f"{field} contains an invisible or control character (U+{ord(ch):04X}); "
                                  "retype it without that character", field=field)


def script_of(ch: str) -> str | None:
    """The script of a letter, from its Unicode name (LATIN, CYRILLIC, GREEK, HAN, …); None for non-letters."""
    if not ch.isalpha():
        return None
    words = unicodedata.name(ch, "").split()
    if not words:
        return None
    first = words[0]
    if first == "CJK":
        return "HAN"
    if first.startswith("KATAKANA") or first == "HALFWIDTH" and "KATAKANA" in words:
        return "KATAKANA"
    return first


def _mixed_script_word(name: str) -> str | None:
    for match in _WORD.finditer(name):
        word = match.group(0)
        scripts = {s for s in map(script_of, word) if s}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in COMPATIBLE_SCRIPTS):
            return word
    return None


def clean_name(value: object, field: str = "name", *, limit: int = 200, required: bool = True) -> str:
    """The name as stored (NFC, trimmed, single spaces), or ValidationError naming ``field``."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    refuse_invisible(value, field)
    name = unicodedata.normalize("NFC", value)
    name = " ".join("".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in name).split())
    if required and not name:
        raise ValidationError(f"{field} is required", field=field)
    if len(name) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    for ch in name:
        if unicodedata.decomposition(ch).split(" ")[0] in STYLED:
            raise ValidationError(f"{field} contains a styled look-alike character ({ch!r}); use the plain letter",
                                  field=field)
    if re.search(r"[\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff]{3,}", name):
        raise ValidationError(f"{field} stacks too many accents on one letter", field=field)
    word = _mixed_script_word(name)
    if word:
        raise ValidationError(f"{field}: the word {word!r} mixes letters of different scripts (e.g. Latin with "
                              "Cyrillic or Greek look-alikes); retype it in one script", field=field)
    return name
