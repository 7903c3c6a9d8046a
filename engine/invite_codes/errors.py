from __future__ import annotations

from engine.errors import Unprocessable


class InviteCodeUnusable(Unprocessable):
    """Invalid, expired, revoked or used up (the message says which)."""

    code = "invite_code_unusable"


class InviteCodeLimit(Unprocessable):
    code = "invite_code_limit"
