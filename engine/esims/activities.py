"""Activity contracts of the eSIM domain; implementations live in workers/esims.py."""

from __future__ import annotations

PREPARE = "esims.prepare"  # write the row (first run) or read it (resumed run)
HOLD_FUNDS = "esims.hold_funds"  # the tenant's price held on the consumer's wallet (key esim-<id>)
ENSURE_SUBSCRIBER = "esims.ensure_subscriber"  # 1Global account check + subscriber find-or-create
PLACE_ORDER = "esims.place_order"  # activate_subscription, Idempotency-Key from the eSIM id
CHECK_ORDER = "esims.check_order"  # the polling fallback
COMPLETE_ORDER = "esims.complete_order"  # pending → ready (artefacts) | provisioning_failed
APPLY_EVENT = "esims.apply_event"  # one lifecycle webhook → forward-only transition + event row
SET_HOME_ZONE = "esims.set_home_zone"
SYNC_USAGE = "esims.sync_usage"
SWEEP_WEBHOOKS = "esims.sweep_webhooks"  # stored webhooks never handed to a workflow
