"""Workflow ids built from business keys, so a double submit is deduplicated by Temporal."""

from __future__ import annotations

import uuid


def mail_delivery_id(outbox_id: uuid.UUID) -> str:
    return f"mail-{outbox_id}"
