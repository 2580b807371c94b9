"""The decision objects' wire types mirror the messages field for field (core/terminal/wire.py).

A node converts a message into its wire object and back by copying fields
(``nodes/convert.py``); the in-process simulation hands wire objects over directly.  Both
modes see the same numbers only if every field exists on both sides with the same meaning,
and the round trip is exact.
"""

from __future__ import annotations

import math

import pytest

from qsat_pat.core.terminal import wire

pytestmark = pytest.mark.ros


def _msg_class(cls):
    import qsat_pat.msg as msgs

    return getattr(msgs, cls.__name__)


@pytest.mark.parametrize("cls", wire.ALL, ids=lambda c: c.__name__)
def test_wire_fields_are_the_message_fields(cls):
    msg_fields = [f for f in _msg_class(cls).get_fields_and_field_types() if f != "header"]
    renamed = wire.RENAMED.get(cls, {})
    assert [renamed.get(f, f) for f in msg_fields] == list(wire.field_names(cls))


@pytest.mark.parametrize("cls", wire.ALL, ids=lambda c: c.__name__)
def test_a_message_round_trip_is_exact(cls):
    from qsat_pat.nodes.convert import msg_to_wire, wire_to_msg

    w = cls(stamp_ns=1_774_043_772_123_456_789, frame_id="frame")
    for i, name in enumerate(wire.field_names(cls)):
        v = getattr(w, name)
        if isinstance(v, bool):
            setattr(w, name, True)
        elif isinstance(v, float):
            setattr(w, name, math.pi * (i + 1) / 7.0)
        elif isinstance(v, int):
            setattr(w, name, 1_774_043_772_000_000_001 if name.endswith("_ns") else 3)
        elif isinstance(v, str):
            setattr(w, name, f"text {i}")
        elif isinstance(v, tuple):
            n = len(v) or 3
            setattr(w, name, tuple((i + k) if name == "roi" else (i + k) / 3.0 for k in range(n)))
    back = msg_to_wire(wire_to_msg(w, _msg_class(cls)), cls)
    assert back == w
    assert wire.stamp_s(w.stamp_ns) == 1774043772 + 123456789 * 1e-9  # convert.stamp_to_s's arithmetic
