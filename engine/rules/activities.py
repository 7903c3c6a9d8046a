"""Activity contracts of the business-rules domain; implementations live in workers/rules.py."""

from __future__ import annotations

CALL_WEBHOOK = "rules.call_webhook"
