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

import re

REFUSAL = "contains control or invisible formatting characters"

# Unicode's controls (C0, DEL, C1), line and paragraph separators, then the invisible
# formatting characters named above; as a regular-expression class, so that the API
# description states the very same rule (animomeet/openapi.py). Surrogates come on top:
# no text that reaches us as UTF-8 can hold one, and regex engines for JSON refuse them.
REFUSED_CLASS = (
    r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
    r"\u202a-\u202e\u2066-\u2069\u2060-\u2064"
    r"\u200b\ufeff\u180e\u115f\u1160\u3164\uffa0"
)
_REFUSED = re.compile(f"[{REFUSED_CLASS}\\ud800-\\udfff]")


def refusal(value: str) -> str | None:
    """Why `value` cannot be a name, or None when it can."""
    return REFUSAL if _REFUSED.search(value) else None
