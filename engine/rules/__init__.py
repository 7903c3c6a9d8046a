"""Business-rule evaluation (pure, deterministic code that may run inside Temporal workflows)."""
