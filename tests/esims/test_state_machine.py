"""The forward-only eSIM status machine and the 1Global field mapping (pure)."""

from __future__ import annotations

import pytest

from engine.esims import onglobal_fields as f
from engine.esims.state_machine import TABLE, TERMINAL, EsimStatus, Transition, is_terminal, next_status

S = EsimStatus
# The order statuses move in: a transition may only lead further along (or sideways to an end).
RANK = {
    S.PENDING: 0,
    S.READY: 1,
    S.DOWNLOADED: 2,
    S.INSTALLED: 3,
    S.ACTIVE: 4,
    S.SUSPENDED: 5,
    S.DEPLETED: 5,
    S.EXPIRED: 6,
    S.PROVISIONING_FAILED: 6,
    S.DELETED: 6,
    S.TERMINATED: 7,
}


def test_the_happy_path_moves_forward() -> None:
    status = S.PENDING
    for move, expected in (
        (Transition.ORDER_COMPLETED, S.READY),
        (Transition.DOWNLOADED, S.DOWNLOADED),
        (Transition.INSTALLED, S.INSTALLED),
        (Transition.ACTIVATED, S.ACTIVE),
        (Transition.DEPLETED, S.DEPLETED),
        (Transition.EXPIRED, S.EXPIRED),
    ):
        moved = next_status(status, move)
        assert moved == expected
        status = moved


@pytest.mark.parametrize(
    ("current", "move"),
    [
        (S.INSTALLED, Transition.DOWNLOADED),  # late device event
        (S.READY, Transition.ORDER_COMPLETED),  # duplicate order webhook
        (S.PROVISIONING_FAILED, Transition.ORDER_COMPLETED),  # completed after we gave up
        (S.READY, Transition.ORDER_CANCELED),
        (S.EXPIRED, Transition.INSTALLED),
        (S.TERMINATED, Transition.DELETED),
        (S.PENDING, Transition.INSTALLED),  # before the order completed (the workflow queues it)
    ],
)
def test_late_duplicate_or_backward_events_are_ignored(current: EsimStatus, move: Transition) -> None:
    assert next_status(current, move) is None


def test_no_transition_goes_backwards_or_leaves_a_terminal_status() -> None:
    for move, (target, sources) in TABLE.items():
        for source in sources:
            assert source not in TERMINAL or (source == S.DELETED and move == Transition.TERMINATED)
            if move != Transition.RESUMED:  # suspended → active is the one way back, by design
                assert RANK[target] >= RANK[source], (move, source, target)
    assert is_terminal("expired") and is_terminal("provisioning_failed") and not is_terminal("ready")
    assert is_terminal("removed")  # an eSIM that is gone ends its workflow too


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("SUBSCRITPION_END", "subscription_end"),
        ("subscription.end", "subscription_end"),
        ("Order.Completed", "order_completed"),
        ("ORDER_CANCELLED", "order_canceled"),
        (" USAGE_THRESHOLD ", "usage_threshold"),
    ],
)
def test_webhook_types_are_normalised(raw: str, normal: str) -> None:
    assert f.normalise_type(raw) == normal


def test_a_completed_order_gives_every_activation_artefact() -> None:
    order = f.parse_order(
        {
            "id": "order_1",
            "status": "COMPLETED",
            "subscription_id": "sub_1",
            "sim_profile": {"iccid": "8944000", "matching_id": "ABC-123"},
            "_embedded": {"_links": {"qrcode": {"href": "https://qr/1.png"}}},
        }
    )
    assert (order.status, order.iccid, order.subscription_id) == ("completed", "8944000", "sub_1")
    assert order.activation_code == "LPA:1$rsp.truphone.com$ABC-123"
    assert order.qr_code_url == "https://qr/1.png"
    assert f.parse_order({"id": "order_2", "status": "pending"}).activation_code is None


def test_download_progress_steps_map_to_transitions_or_an_install_error() -> None:
    ok = {"notification_status": "SUCCESS"}
    assert f.download_progress({**ok, "download_progress_step": "BPP_DOWNLOAD"}) == (Transition.DOWNLOADED, None)
    assert f.download_progress({**ok, "download_progress_step": "BPP_INSTALLATION"}) == (Transition.INSTALLED, None)
    failed = f.download_progress(
        {
            "download_progress_step": "BPP_INSTALLATION",
            "notification_status": "FAILED",
            "notification_point_description": "no space",
        }
    )
    assert failed == (None, "BPP_INSTALLATION: no space")


def test_vendor_error_messages_are_kept() -> None:
    body = {"type": "UNACCEPTABLE", "messages": [{"message": "daily limit exceeded"}]}
    assert f.error_message(body, 406) == "UNACCEPTABLE: daily limit exceeded"
    assert f.error_message({"title": "Bad", "detail": "no such offering"}, 400) == "no such offering"
    assert f.error_message(None, 502) == "HTTP 502"
