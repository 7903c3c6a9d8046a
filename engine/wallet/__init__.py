"""The wallet domain: per consumer a `standard` and a `bonus` wallet in euro cents, a double-entry,
append-only ledger against per-tenant system accounts, admin adjustments as Temporal workflows,
two-phase purchase holds, refunds, bonus expiry and reconciliation."""
