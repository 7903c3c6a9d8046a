"""Invite code text: unguessable and easy to read aloud. 10 characters from a 31-character
alphabet without look-alikes (0/O, 1/I/L) carry log2(31**10) ≈ 49.5 bits of entropy."""

from __future__ import annotations

import math
import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10
ENTROPY_BITS = LENGTH * math.log2(len(ALPHABET))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(text: str) -> str:
    """What a person typed, as stored: upper case, without spaces and dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")
