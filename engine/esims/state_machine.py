"""The eSIM status machine (research notes §3.1): statuses only move forward. Each lifecycle
event names the status it leads to and the statuses it may come from; anything else (a late or
duplicate event) is recorded and ignored. The repository turns `allowed_from` into one
`UPDATE ... WHERE status = ANY(:allowed)`, so two racing writers cannot both move a row.

Pure: imported by the workflow, the webhook intake and the repository."""

from __future__ import annotations

from enum import StrEnum


class EsimStatus(StrEnum):
    PENDING = "pending"
    PROVISIONING_FAILED = "provisioning_failed"
    READY = "ready"
    DOWNLOADED = "downloaded"
    INSTALLED = "installed"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEPLETED = "depleted"
    EXPIRED = "expired"
    DELETED = "deleted"
    TERMINATED = "terminated"


class Transition(StrEnum):
    """What happened, as the workflow understands it after reading 1Global."""

    ORDER_COMPLETED = "order_completed"
    ORDER_CANCELED = "order_canceled"
    DOWNLOADED = "downloaded"
    INSTALLED = "installed"
    ACTIVATED = "activated"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    DEPLETED = "depleted"
    EXPIRED = "expired"
    DELETED = "deleted"
    TERMINATED = "terminated"


S = EsimStatus
# Top-ups (depleted/expired → active) are not offered yet, so expired is final for now.
TERMINAL: frozenset[EsimStatus] = frozenset({S.PROVISIONING_FAILED, S.EXPIRED, S.DELETED, S.TERMINATED})
LIVE: frozenset[EsimStatus] = frozenset(set(S) - TERMINAL - {S.PENDING})

# transition → (target, statuses it may come from)
TABLE: dict[Transition, tuple[EsimStatus, frozenset[EsimStatus]]] = {
    Transition.ORDER_COMPLETED: (S.READY, frozenset({S.PENDING})),
    Transition.ORDER_CANCELED: (S.PROVISIONING_FAILED, frozenset({S.PENDING})),
    Transition.DOWNLOADED: (S.DOWNLOADED, frozenset({S.READY})),
    Transition.INSTALLED: (S.INSTALLED, frozenset({S.READY, S.DOWNLOADED})),
    Transition.ACTIVATED: (S.ACTIVE, frozenset({S.READY, S.DOWNLOADED, S.INSTALLED})),
    Transition.SUSPENDED: (S.SUSPENDED, frozenset({S.ACTIVE})),
    Transition.RESUMED: (S.ACTIVE, frozenset({S.SUSPENDED})),
    Transition.DEPLETED: (S.DEPLETED, frozenset({S.READY, S.DOWNLOADED, S.INSTALLED, S.ACTIVE})),
    Transition.EXPIRED: (
        S.EXPIRED,
        frozenset({S.READY, S.DOWNLOADED, S.INSTALLED, S.ACTIVE, S.SUSPENDED, S.DEPLETED}),
    ),
    Transition.DELETED: (S.DELETED, LIVE),
    Transition.TERMINATED: (S.TERMINATED, LIVE | {S.DELETED}),
}


def target(transition: Transition) -> EsimStatus:
    return TABLE[transition][0]


def allowed_from(transition: Transition) -> frozenset[EsimStatus]:
    return TABLE[transition][1]


def next_status(current: EsimStatus, transition: Transition) -> EsimStatus | None:
    """The status after `transition`, or None when it would not move forward (ignore it)."""
    to, sources = TABLE[transition]
    return to if current in sources else None


def is_terminal(status: EsimStatus | str) -> bool:
    """Terminal statuses end the eSIM's workflow; so does an eSIM that is gone (no such status)."""
    try:
        return EsimStatus(status) in TERMINAL
    except ValueError:
        return True
