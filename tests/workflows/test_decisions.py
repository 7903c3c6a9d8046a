import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.clock import iso as iso_timestamp
from engine.rules.jsonlogic import JsonLogicError
from engine.rules.jsonlogic import truthy as jsonlogic_truthy
from engine.workflows.checker import load_definition
from engine.workflows.definition import TransitionTrigger, WorkflowDefinition
from engine.workflows.interpreter import decisions
from engine.workflows.interpreter.decisions import (
    SIGNAL_TIMEOUT,
    TemplateScope,
    activity_output_key,
    allowed_env,
    apply_mapping,
    async_result_key,
    branch_view,
    compiled_condition,
    condition_data,
    evaluate_inline_condition,
    fork_branches,
    get_step,
    lookup_path,
    merge_context,
    merge_join,
    merge_signal,
    on_signal_timeout,
    outgoing_transitions,
    render_template,
    select_transition,
    signal_wait,
    start_step,
    sub_workflow_call,
    valid_transitions,
    wait_until,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)


def evaluate(rule: Any, data: Mapping[str, Any]) -> Any:
    """A tiny JsonLogic subset (var, ==, literals): enough to drive transition selection."""
    if isinstance(rule, dict) and "var" in rule:
        return lookup_path(data, rule["var"])
    if isinstance(rule, dict) and "==" in rule:
        left, right = (evaluate(arg, data) for arg in rule["=="])
        return left == right
    return rule


def step(step_id: str, step_type: str = "AUTOMATED", **extra: Any) -> dict[str, Any]:
    return {"stepId": step_id, "stepName": step_id, "stepType": step_type, **extra}


def tr(tid: str, src: str, dst: str, trigger: str = "auto", **extra: Any) -> dict[str, Any]:
    return {"transitionId": tid, "fromStepId": src, "toStepId": dst, "trigger": trigger, **extra}


def routing_definition() -> WorkflowDefinition:
    """``review`` has five exits with different triggers, priorities and conditions."""
    return load_definition(
        {
            "steps": [
                step("start", "START"),
                step("review", "USER_TASK"),
                step("vip"),
                step("approved"),
                step("rejected"),
                step("fallback"),
                step("manual-fix"),
                step("end", "END"),
            ],
            "transitions": [
                tr("start-review", "start", "review"),
                tr("to-rejected", "review", "rejected"),
                tr("to-approved", "review", "approved", priority=5, condition={"==": [{"var": "approved"}, True]}),
                tr("to-vip", "review", "vip", priority=10, condition={"==": [{"var": "customer.tier"}, "vip"]}),
                tr("to-fallback", "review", "fallback"),
                tr("to-manual", "review", "manual-fix", trigger="manual", priority=100),
                *(tr(f"{s}-end", s, "end") for s in ("vip", "approved", "rejected", "fallback", "manual-fix")),
            ],
        }
    )


def ids(transitions: Any) -> list[str]:
    return [t.transition_id for t in transitions]


# -- transitions -------------------------------------------------------------------------------


def test_outgoing_transitions_are_in_priority_order_with_ties_in_definition_order() -> None:
    defn = routing_definition()
    assert ids(outgoing_transitions(defn, "review")) == [
        "to-manual",
        "to-vip",
        "to-approved",
        "to-rejected",
        "to-fallback",
    ]
    assert outgoing_transitions(defn, "end") == []


def test_higher_priority_wins_when_its_condition_passes() -> None:
    data = {"approved": True, "customer": {"tier": "vip"}}
    chosen = select_transition(routing_definition(), "review", data, TransitionTrigger.AUTO, evaluate)
    assert chosen is not None and chosen.transition_id == "to-vip"


def test_failing_conditions_fall_through_to_the_next_priority() -> None:
    chosen = select_transition(routing_definition(), "review", {"approved": True}, "auto", evaluate)
    assert chosen is not None and chosen.transition_id == "to-approved"


def test_equal_priority_keeps_definition_order() -> None:
    chosen = select_transition(routing_definition(), "review", {}, TransitionTrigger.AUTO, evaluate)
    assert chosen is not None and chosen.transition_id == "to-rejected"


def test_trigger_filter() -> None:
    defn = routing_definition()
    manual = select_transition(defn, "review", {}, TransitionTrigger.MANUAL, evaluate)
    assert manual is not None and manual.transition_id == "to-manual"
    any_trigger = select_transition(defn, "review", {}, None, evaluate)
    assert any_trigger is not None and any_trigger.transition_id == "to-manual"
    several = valid_transitions(defn, "review", {}, {TransitionTrigger.AUTO, TransitionTrigger.SIGNAL}, evaluate)
    assert ids(several) == ["to-rejected", "to-fallback"]
    assert select_transition(defn, "review", {}, TransitionTrigger.TIMER, evaluate) is None


def test_inline_conditions_compile_once_per_distinct_condition() -> None:
    defn = routing_definition()
    vip = {"approved": True, "customer": {"tier": "vip"}}
    first = select_transition(defn, "review", vip, TransitionTrigger.AUTO, evaluate_inline_condition)
    assert first is not None and first.transition_id == "to-vip"
    # The same conditions again, from a freshly parsed copy of the definition and other data:
    # the same decisions as the reference evaluator, with no new compilation.
    misses = decisions._compiled.cache_info().misses
    for data in ({"approved": True}, {}, vip):
        cached = select_transition(routing_definition(), "review", data, "auto", evaluate_inline_condition)
        reference = select_transition(routing_definition(), "review", data, "auto", evaluate)
        assert cached is not None and reference is not None and cached.transition_id == reference.transition_id
    assert decisions._compiled.cache_info().misses == misses
    assert compiled_condition({"==": [{"var": "a"}, 1]}) is compiled_condition({"==": [{"var": "a"}, 1]})
    assert compiled_condition({"==": [{"var": "a"}, 1]}) is not compiled_condition({"==": [{"var": "a"}, 1.5]})


def test_an_inline_condition_that_does_not_compile_fails_every_time() -> None:
    for _ in range(2):
        with pytest.raises(JsonLogicError):
            evaluate_inline_condition({"no_such_operator": [1]}, {})


def test_target_step_and_extra_gate() -> None:
    defn = routing_definition()
    to_fallback = select_transition(defn, "review", {}, None, evaluate, to_step_id="fallback")
    assert to_fallback is not None and to_fallback.transition_id == "to-fallback"
    gated = select_transition(
        defn, "review", {}, "auto", evaluate, is_allowed=lambda t: t.transition_id != "to-rejected"
    )
    assert gated is not None and gated.transition_id == "to-fallback"


def test_no_valid_transition_is_none() -> None:
    defn = routing_definition()
    assert select_transition(defn, "review", {}, "auto", evaluate, is_allowed=lambda t: False) is None
    assert select_transition(defn, "end", {}, None, evaluate) is None


def test_condition_results_use_jsonlogic_truthiness_by_default() -> None:
    defn = load_definition(
        {
            "steps": [step("start", "START"), step("a"), step("b"), step("end", "END")],
            "transitions": [
                tr("empty-list", "start", "a", priority=1, condition={"var": "items"}),
                tr("plain", "start", "b"),
                tr("a-end", "a", "end"),
                tr("b-end", "b", "end"),
            ],
        }
    )
    assert select_transition(defn, "start", {"items": []}, "auto", evaluate).transition_id == "plain"  # type: ignore[union-attr]
    assert select_transition(defn, "start", {"items": [0]}, "auto", evaluate).transition_id == "empty-list"  # type: ignore[union-attr]
    strict = select_transition(defn, "start", {"items": [0]}, "auto", evaluate, truthy=lambda v: v is True)
    assert strict is not None and strict.transition_id == "plain"


def test_condition_errors_propagate() -> None:
    def broken(rule: Any, data: Mapping[str, Any]) -> Any:
        raise RuntimeError("unknown operator")

    with pytest.raises(RuntimeError, match="unknown operator"):
        select_transition(routing_definition(), "review", {}, "auto", broken)


def test_condition_data_exposes_trigger_data() -> None:
    assert condition_data({"a": 1}) == {"a": 1}
    assert condition_data({"a": 1}, {"b": 2}) == {"a": 1, "triggerData": {"b": 2}}


def test_step_lookup() -> None:
    defn = routing_definition()
    assert start_step(defn).step_id == "start"
    assert get_step(defn, "vip").step_id == "vip"
    with pytest.raises(KeyError):
        get_step(defn, "nope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], False),
        ([0], True),
        ((), False),
        ({}, True),
        ("", False),
        ("0", True),
        (0, False),
        (0.0, False),
        (math.nan, False),
        (1, True),
        (None, False),
        (False, False),
        (True, True),
    ],
)
def test_jsonlogic_truthy(value: Any, expected: bool) -> None:
    assert jsonlogic_truthy(value) is expected


# -- waits -------------------------------------------------------------------------------------


def signal_definition(with_timer: bool) -> WorkflowDefinition:
    transitions = [
        tr("start-wait", "start", "wait"),
        tr("got-it", "wait", "done", trigger="signal"),
        tr("done-end", "done", "end"),
        tr("expired-end", "expired", "end"),
    ]
    if with_timer:
        transitions.append(tr("timed-out", "wait", "expired", trigger="timer"))
    else:
        transitions.append(tr("give-up", "wait", "expired", trigger="manual"))
    return load_definition(
        {
            "steps": [
                step("start", "START"),
                step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "paid", "timeout": "PT2H"}),
                step("done"),
                step("expired"),
                step("end", "END"),
            ],
            "transitions": transitions,
        }
    )


def test_signal_timeout_takes_the_timer_transition() -> None:
    chosen = on_signal_timeout(signal_definition(with_timer=True), "wait", {}, evaluate)
    assert chosen is not None and chosen.transition_id == "timed-out"


def test_signal_timeout_without_timer_transition_means_failure() -> None:
    assert on_signal_timeout(signal_definition(with_timer=False), "wait", {}, evaluate) is None
    assert SIGNAL_TIMEOUT == "SIGNAL_TIMEOUT"


def test_signal_wait_reads_name_and_timeout() -> None:
    wait = signal_wait(get_step(signal_definition(True), "wait"))
    assert (wait.signal_name, wait.timeout) == ("paid", timedelta(hours=2))
    plain = load_definition(
        {
            "steps": [step("start", "START"), step("hold", "WAIT_FOR_SIGNAL"), step("end", "END")],
            "transitions": [tr("a", "start", "hold"), tr("b", "hold", "end", trigger="signal")],
        }
    )
    assert signal_wait(get_step(plain, "hold")) == type(wait)("hold", None)


def test_signal_timeout_may_be_templated() -> None:
    defn = load_definition(
        {
            "steps": [
                step("start", "START"),
                step("hold", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go", "timeout": "{{context.wait}}"}),
                step("end", "END"),
            ],
            "transitions": [tr("a", "start", "hold"), tr("b", "hold", "end", trigger="signal")],
        }
    )
    scope = TemplateScope(now=NOW, context={"wait": "15m"})
    assert signal_wait(get_step(defn, "hold"), scope).timeout == timedelta(minutes=15)


def test_wait_until() -> None:
    assert wait_until({"duration": "PT5M"}, NOW) == NOW + timedelta(minutes=5)
    assert wait_until({"until": "2030-01-01T00:00:00Z"}, NOW) == datetime(2030, 1, 1, tzinfo=UTC)
    scope = TemplateScope(now=NOW, context={"delay": "1h", "deadline": "2031-01-01T00:00:00+01:00"})
    assert wait_until({"duration": "{{context.delay}}"}, NOW, scope) == NOW + timedelta(hours=1)
    assert wait_until({"until": "{{deadline}}"}, NOW, scope) == datetime(
        2031, 1, 1, tzinfo=timezone(timedelta(hours=1))
    )
    with pytest.raises(ValueError, match="TIMER_CONFIG_MISSING"):
        wait_until({}, NOW)
    with pytest.raises(ValueError, match="TIMER_CONFIG_INVALID"):
        wait_until({"duration": "soon"}, NOW)
    with pytest.raises(ValueError, match="TIMER_CONFIG_INVALID"):
        wait_until({"until": "later"}, NOW)


# -- fork / join -------------------------------------------------------------------------------


def fork_definition() -> WorkflowDefinition:
    return load_definition(
        {
            "steps": [
                step("start", "START"),
                step("fork", "PARALLEL_FORK", config={"joinStepId": "join"}),
                step("stock"),
                step("pay"),
                step("join", "PARALLEL_JOIN", config={"forkStepId": "fork"}),
                step("end", "END"),
            ],
            "transitions": [
                tr("start-fork", "start", "fork"),
                tr("to-stock", "fork", "stock"),
                tr("to-pay", "fork", "pay"),
                tr("skip", "fork", "join", trigger="manual"),
                tr("stock-join", "stock", "join"),
                tr("pay-join", "pay", "join"),
                tr("join-end", "join", "end"),
            ],
        }
    )


def test_fork_branches_lists_auto_branches_and_the_join() -> None:
    plan = fork_branches(fork_definition(), "fork")
    assert plan.fork_step_id == "fork"
    assert plan.join_step_id == "join"
    assert [b.key for b in plan.branches] == ["to-stock", "to-pay"]
    assert plan.start_step_ids == ["stock", "pay"]
    assert plan.branches[0].transition.transition_id == "to-stock"


def test_fork_branches_rejects_other_steps() -> None:
    with pytest.raises(ValueError, match="not a PARALLEL_FORK"):
        fork_branches(fork_definition(), "stock")


def test_merge_join_stores_branches_and_lifts_mapped_values() -> None:
    context = {"orderId": 7, "branches": {"earlier": {"x": 1}}}
    namespaces: dict[str, dict[str, Any]] = {"to-stock": {"reserved": True}, "to-pay": {"capture": {"status": "ok"}}}
    mapping = {"paymentStatus": "branches.to-pay.capture.status", "missing": "branches.to-pay.nope", "branches": "x"}
    merged = merge_join(context, namespaces, mapping)
    assert merged == {
        "orderId": 7,
        "branches": {"earlier": {"x": 1}, "to-stock": {"reserved": True}, "to-pay": {"capture": {"status": "ok"}}},
        "paymentStatus": "ok",
    }
    assert context == {"orderId": 7, "branches": {"earlier": {"x": 1}}}  # inputs are not mutated


def test_branch_view_overlays_the_namespace() -> None:
    assert branch_view({"a": 1, "b": 1}, {"b": 2}) == {"a": 1, "b": 2}


# -- context merges ----------------------------------------------------------------------------


def test_merge_context_is_shallow() -> None:
    assert merge_context({"a": {"x": 1}, "b": 1}, {"a": {"y": 2}}) == {"a": {"y": 2}, "b": 1}
    assert merge_context({"a": 1}, None) == {"a": 1}


def test_merge_signal_keeps_the_payload_twice() -> None:
    merged = merge_signal({"a": 1}, "paid", {"amount": 5}, NOW)
    assert merged == {
        "a": 1,
        "amount": 5,
        "signal_paid_payload": {"amount": 5},
        "signal_paid_receivedAt": "2026-03-04T05:06:07.891Z",
    }
    assert merge_signal({"a": 1}, "paid", None, NOW) == {"a": 1}


def test_activity_output_keys() -> None:
    defn = load_definition(
        {
            "steps": [step("start", "START"), step("end", "END")],
            "transitions": [
                tr(
                    "go",
                    "start",
                    "end",
                    activities=[
                        {"activityName": "Notify", "activityType": "EMIT_EVENT", "config": {"eventName": "e"}},
                        {
                            "activityId": "charge",
                            "activityName": "Charge",
                            "activityType": "EXECUTE_FUNCTION",
                            "async": True,
                            "config": {"functionName": "f"},
                        },
                    ],
                )
            ],
        }
    )
    notify, charge = defn.transitions[0].activities
    assert activity_output_key(notify) == "Notify"
    assert async_result_key(charge) == "charge_result"
    assert async_result_key(notify) == "Notify_result"


def test_sub_workflow_call_prefers_config() -> None:
    defn = load_definition(
        {
            "steps": [
                step("start", "START"),
                step(
                    "child",
                    "SUB_WORKFLOW",
                    config={
                        "subWorkflowId": "checkout-flow",
                        "version": 2,
                        "inputMapping": {"email": "customer.email"},
                    },
                    subWorkflowConfig={"subWorkflowId": "ignored", "outputMapping": {"result": "orderId"}},
                ),
                step("end", "END"),
            ],
            "transitions": [tr("a", "start", "child"), tr("b", "child", "end")],
        }
    )
    call = sub_workflow_call(get_step(defn, "child"))
    assert call.workflow_id == "checkout-flow"
    assert call.version == 2
    assert call.input_mapping == {"email": "customer.email"}
    assert call.output_mapping == {"result": "orderId"}


def test_apply_mapping_picks_paths_or_passes_everything() -> None:
    source = {"customer": {"email": "a@example.com"}, "items": [{"sku": "X"}]}
    assert apply_mapping(source, {"email": "customer.email", "sku": "items.0.sku"}) == {
        "email": "a@example.com",
        "sku": "X",
    }
    assert apply_mapping(source, {}) == source
    assert apply_mapping(source, {"x": "nothing.here"}) == source


# -- templating --------------------------------------------------------------------------------


def scope(**overrides: Any) -> TemplateScope:
    values: dict[str, Any] = {
        "now": NOW,
        "context": {
            "orderId": 42,
            "total": 9.5,
            "rounded": 3.0,
            "paid": True,
            "note": None,
            "tags": ["a", "b"],
            "customer": {"email": "a@example.com", "name": "Ann"},
        },
        "workflow": {"instanceId": "inst-1", "workflowId": "checkout-flow", "version": 3, "tenantId": "t-1"},
        "env": {"APP_URL": "https://app.example.com"},
    }
    values.update(overrides)
    return TemplateScope(**values)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{context.orderId}}", 42),
        ("{{orderId}}", 42),
        ("{{ context.tags }}", ["a", "b"]),
        ("{{context.customer}}", {"email": "a@example.com", "name": "Ann"}),
        ("{{context.paid}}", True),
        ("{{context.note}}", None),
        ("{{context.tags.1}}", "b"),
        ("{{workflow.version}}", 3),
        ("{{workflow.instanceId}}", "inst-1"),
        ("{{now}}", "2026-03-04T05:06:07.891Z"),
        ("{{env.APP_URL}}", "https://app.example.com"),
    ],
)
def test_whole_string_placeholder_keeps_the_type(template: str, expected: Any) -> None:
    assert render_template(template, scope()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Order #{{context.orderId}}", "Order #42"),
        ("{{context.customer.name}} <{{customer.email}}>", "Ann <a@example.com>"),
        ("total={{context.total}} rounded={{context.rounded}}", "total=9.5 rounded=3"),
        ("paid={{context.paid}} note=[{{context.note}}]", "paid=true note=[]"),
        ("tags={{context.tags}}", 'tags=["a","b"]'),
        ("v{{workflow.version}} of {{workflow.workflowId}}", "v3 of checkout-flow"),
        ("{{env.APP_URL}}/orders/{{context.orderId}}", "https://app.example.com/orders/42"),
        ("at {{now}}", "at 2026-03-04T05:06:07.891Z"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_embedded_placeholders_are_stringified(template: str, expected: str) -> None:
    assert render_template(template, scope()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{context.missing}}", "{{context.missing}}"),
        ("{{missing.deep.path}}", "{{missing.deep.path}}"),
        ("Hi {{context.missing}}!", "Hi {{context.missing}}!"),
        ("{{workflow.secretKey}}", "{{workflow.secretKey}}"),
        ("{{workflow.organizationId}}", "{{workflow.organizationId}}"),
        ("{{}}", "{{}}"),
        ("{{env.DATABASE_PASSWORD}}", ""),
        ("db={{env.DATABASE_PASSWORD}}", "db="),
    ],
)
def test_unknown_placeholders_stay_and_unlisted_env_is_empty(template: str, expected: str) -> None:
    assert render_template(template, scope()) == expected


def test_render_walks_objects_and_lists_but_not_keys() -> None:
    config = {
        "url": "{{env.APP_URL}}/api/orders/{{orderId}}",
        "body": {"{{orderId}}": "{{context.tags}}", "items": ["{{orderId}}", 5, None, False]},
        "retries": 3,
    }
    assert render_template(config, scope()) == {
        "url": "https://app.example.com/api/orders/42",
        "body": {"{{orderId}}": ["a", "b"], "items": [42, 5, None, False]},
        "retries": 3,
    }
    assert config["body"]["items"][0] == "{{orderId}}"  # type: ignore[index]  # input untouched


def test_rendering_is_deterministic_given_the_same_scope() -> None:
    template = {"at": "{{now}}", "id": "{{workflow.instanceId}}"}
    assert render_template(template, scope()) == render_template(template, scope())
    later = scope(now=NOW + timedelta(seconds=1))
    assert render_template("{{now}}", later) == "2026-03-04T05:06:08.891Z"


def test_allowed_env_keeps_app_url_and_the_allow_list_only() -> None:
    environ = {"APP_URL": "https://x", "PAYMENTS_URL": "https://pay", "DATABASE_PASSWORD": "hunter2"}
    assert allowed_env(environ, ["PAYMENTS_URL", "NOT_SET"]) == {"APP_URL": "https://x", "PAYMENTS_URL": "https://pay"}


def test_iso_timestamp_is_utc_with_milliseconds() -> None:
    assert iso_timestamp(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-01T10:00:00.000Z"
    assert iso_timestamp(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"
