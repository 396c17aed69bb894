"""Constant-time equality, evaluated twice (the double-check pattern against a glitched compare).

A single forced comparison result (fault injection, C-FAULT) cannot turn a mismatch into a
match: both evaluations, in opposite argument order, must agree on equality.
"""

from __future__ import annotations

import hmac


def equal(a: bytes, b: bytes) -> bool:
    """True only if `a` and `b` are equal by two independent constant-time comparisons."""
    a, b = bytes(a), bytes(b)
    first = hmac.compare_digest(a, b)
    second = hmac.compare_digest(b, a)
    return first and second
