"""Hypothesis strategies and helpers shared by the protocol unit tests."""

import math

from hypothesis import strategies as st

from signaling.engine.protocol.socketio import RESERVED_EVENTS

JS_MAX_SAFE_INTEGER = 2**53 - 1

# Text that often holds the characters that matter to the wire formats: the record
# separator, JSON metacharacters, digits, and multi-byte UTF-8.
tricky_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet='\x1e\x00"\\/,-[]{}0123456789ab€😀\u2028', max_size=20),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-JS_MAX_SAFE_INTEGER, JS_MAX_SAFE_INTEGER),
    st.floats(allow_nan=False, allow_infinity=False),
    tricky_text,
)

# "_placeholder" is left out of object keys: an object that looks like an attachment
# placeholder inside a binary packet is ambiguous in the protocol itself.
json_keys = tricky_text.filter(lambda key: key != "_placeholder")


def json_values(leaves):
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4),
        max_leaves=20,
    )


plain_values = json_values(json_scalars)
values_with_bytes = json_values(json_scalars | st.binary(max_size=16))

event_names = tricky_text.filter(lambda name: name not in RESERVED_EVENTS)
namespaces = st.just("/") | st.from_regex(r"/[a-z]{1,10}", fullmatch=True)
ack_ids = st.none() | st.integers(0, JS_MAX_SAFE_INTEGER)


def same_value(a, b) -> bool:
    """Equality that also tells 1 from 1.0 from True and 0.0 from -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b
