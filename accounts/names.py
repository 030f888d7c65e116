"""The one rule for the names people see (display names) and type (usernames), wherever
they come in: the REST API and the socket events alike. Plain Python, so that any layer
can import it.

Refused: control characters (C0, DEL, C1), surrogates, line and paragraph separators,
and the invisible characters that can disguise a name: bidirectional embeddings,
overrides and isolates (after U+202E, "gnp.exe" reads "exe.png"), the zero-width space,
the word joiner and invisible operators, the byte order mark, the Mongolian vowel
separator and the Hangul fillers, which render as nothing. Allowed: the zero-width
(non-)joiners U+200C and U+200D, which Persian and Indic names and emoji sequences need,
and the direction marks U+200E, U+200F and U+061C, which right-to-left text needs and
which, unlike overrides, only nudge the characters next to them.
"""

import unicodedata

REFUSAL = "contains control or invisible formatting characters"

_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_INVISIBLE = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE, RLE, PDF, LRO, RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI, RLI, FSI, PDI
    + [chr(c) for c in range(0x2060, 0x2065)]  # word joiner, invisible operators
    + ["\u200b", "\ufeff", "\u180e", "\u115f", "\u1160", "\u3164", "\uffa0"]
)


def refusal(value: str) -> str | None:
    """Why `value` cannot be a name, or None when it can."""
    for character in value:
        if character in _INVISIBLE or unicodedata.category(character) in _REFUSED_CATEGORIES:
            return REFUSAL
    return None
