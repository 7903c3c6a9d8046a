import copy
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.workflows.checker import (
    InvalidDefinitionError,
    ValidationIssue,
    load_definition,
    validate_definition,
    validate_definition_document,
)
from engine.workflows.definition import WorkflowDefinition, definition_json_schema

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "definitions" / "workflows"


def step(step_id: str, step_type: str = "AUTOMATED", **extra: Any) -> dict[str, Any]:
    return {"stepId": step_id, "stepName": step_id.title(), "stepType": step_type, **extra}


def tr(src: str, dst: str, trigger: str = "auto", tid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"transitionId": tid or f"{src}-{dst}", "fromStepId": src, "toStepId": dst, "trigger": trigger, **extra}


def linear(*middle: dict[str, Any]) -> dict[str, Any]:
    """START -> middle steps in order -> END, joined by auto transitions."""
    steps = [step("start", "START"), *middle, step("end", "END")]
    ids = [s["stepId"] for s in steps]
    return {"steps": steps, "transitions": [tr(a, b) for a, b in itertools.pairwise(ids)]}


def fork_flow() -> dict[str, Any]:
    return {
        "steps": [
            step("start", "START"),
            step("fork", "PARALLEL_FORK", config={"joinStepId": "join"}),
            step("a"),
            step("b"),
            step("join", "PARALLEL_JOIN", config={"forkStepId": "fork"}),
            step("end", "END"),
        ],
        "transitions": [
            tr("start", "fork"),
            tr("fork", "a"),
            tr("fork", "b"),
            tr("a", "join"),
            tr("b", "join"),
            tr("join", "end"),
        ],
    }


def codes(issues: list[ValidationIssue]) -> list[str]:
    return [issue["code"] for issue in issues]


def paths_of(issues: list[ValidationIssue], code: str) -> list[str]:
    return [issue["path"] for issue in issues if issue["code"] == code]


def only(issues: list[ValidationIssue]) -> ValidationIssue:
    assert len(issues) == 1, issues
    return issues[0]


# -- valid input -------------------------------------------------------------------------------


def test_contract_checkout_example_is_valid() -> None:
    # The create-definition request example of the API contract (its activity has no activityId).
    email = {
        "activityName": "Send Order Confirmation",
        "activityType": "SEND_EMAIL",
        "config": {
            "to": "{{context.customerEmail}}",
            "subject": "Order Confirmation #{{context.orderId}}",
            "template": "order_confirmation",
        },
    }
    raw = linear(
        step("validate-cart", description="Validate cart items and check inventory"),
        step("payment", retryPolicy={"maxAttempts": 3, "backoffMs": 1000}),
    )
    raw["transitions"][-1]["activities"] = [email]
    assert validate_definition(raw, now=NOW) == []


def test_linear_and_fork_flows_are_valid() -> None:
    assert validate_definition(linear(step("work")), now=NOW) == []
    assert validate_definition(fork_flow(), now=NOW) == []


def test_unknown_keys_are_accepted_and_kept() -> None:
    raw = linear(step("work", position={"x": 1, "y": 2}))
    raw["transitions"][0]["uiColor"] = "red"
    raw["editorVersion"] = 3
    assert validate_definition(raw) == []
    parsed = load_definition(raw)
    dumped = parsed.model_dump(mode="json")
    assert dumped["steps"][1]["position"] == {"x": 1, "y": 2}
    assert dumped["transitions"][0]["uiColor"] == "red"
    assert dumped["editorVersion"] == 3


def test_models_round_trip_camel_case() -> None:
    activity = {
        "activityName": "Mail",
        "activityType": "SEND_EMAIL",
        "async": True,
        "config": {"to": "a", "subject": "s"},
    }
    raw = linear(step("work", activities=[activity]))
    raw["transitions"][0]["condition"] = {"==": [{"var": "x"}, 1]}
    parsed = load_definition(raw)
    assert parsed.steps[1].activities[0].async_ is True
    assert parsed.transitions[0].condition == {"==": [{"var": "x"}, 1]}
    dumped = parsed.model_dump(mode="json", exclude_none=True)
    assert dumped["steps"][1]["activities"][0]["async"] is True
    assert dumped["steps"][1]["stepId"] == "work"
    assert dumped["transitions"][0]["condition"] == {"==": [{"var": "x"}, 1]}


def test_missing_trigger_defaults_to_auto() -> None:
    raw = linear(step("work"))
    del raw["transitions"][0]["trigger"]
    assert validate_definition(raw) == []
    assert load_definition(raw).transitions[0].trigger == "auto"


@pytest.mark.parametrize("path", sorted(DEFINITIONS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_shipped_definition_files_validate_clean(path: Path) -> None:
    document = json.loads(path.read_text())
    assert set(document) >= {"workflowId", "workflowName", "description", "version", "enabled", "definition"}
    assert validate_definition_document(document, now=NOW) == []


def test_the_expected_definition_files_are_shipped() -> None:
    names = {p.name for p in DEFINITIONS_DIR.glob("*.json")}
    assert names >= {"checkout.json", "approval.json", "signal-wait.json", "parallel.json", "sub-workflow.json"}


# -- schema issues -----------------------------------------------------------------------------


def test_non_object_is_one_issue_at_the_root() -> None:
    issue = only(validate_definition(["not", "an", "object"]))
    assert issue["code"] == "INVALID_TYPE"
    assert issue["path"] == ""


def test_missing_top_level_fields_are_required_field_issues() -> None:
    issues = validate_definition({})
    assert sorted((i["code"], i["path"]) for i in issues) == [
        ("REQUIRED_FIELD", "steps"),
        ("REQUIRED_FIELD", "transitions"),
    ]


@pytest.mark.parametrize(
    ("mutate", "code", "path"),
    [
        (lambda d: d["steps"][1].pop("stepName"), "REQUIRED_FIELD", "steps[1].stepName"),
        (lambda d: d["steps"][1].update(stepName=5), "INVALID_TYPE", "steps[1].stepName"),
        (lambda d: d["steps"][1].update(config=[]), "INVALID_TYPE", "steps[1].config"),
        (lambda d: d["steps"][1].update(stepType="MAGIC"), "INVALID_ENUM", "steps[1].stepType"),
        (lambda d: d["transitions"][0].update(trigger="Auto"), "INVALID_ENUM", "transitions[0].trigger"),
        (lambda d: d["transitions"][0].update(priority=10000), "OUT_OF_RANGE", "transitions[0].priority"),
        (lambda d: d["steps"][1].update(stepName=""), "OUT_OF_RANGE", "steps[1].stepName"),
        (
            lambda d: d["steps"][1].update(userTaskConfig={"assignedTo": 5}),
            "INVALID_VALUE",
            "steps[1].userTaskConfig.assignedTo",
        ),
        (
            lambda d: d["steps"][1].update(retryPolicy={"maxAttempts": 11}),
            "OUT_OF_RANGE",
            "steps[1].retryPolicy.maxAttempts",
        ),
    ],
)
def test_schema_problems_are_issues_with_paths(mutate: Any, code: str, path: str) -> None:
    raw = linear(step("work"))
    mutate(raw)
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == (code, path)
    assert issue["message"]


def test_id_pattern_is_invalid_format() -> None:
    raw = linear(step("Work Step"))
    raw["transitions"] = [tr("start", "Work Step", tid="a"), tr("Work Step", "end", tid="b")]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("INVALID_FORMAT", "steps[1].stepId")


def test_trigger_event_pattern_is_checked() -> None:
    raw = linear(step("work"))
    raw["triggers"] = [
        {"triggerId": "t1", "name": "ok", "eventPattern": "customers.person.*"},
        {"triggerId": "t2", "name": "bad", "eventPattern": "customers..person"},
    ]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("INVALID_FORMAT", "triggers[1].eventPattern")


# -- graph -------------------------------------------------------------------------------------


def test_missing_start_step() -> None:
    raw = {"steps": [step("a"), step("end", "END")], "transitions": [tr("a", "end")]}
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("MISSING_START_STEP", "steps")


def test_multiple_start_steps() -> None:
    raw = linear(step("work"))
    raw["steps"].append(step("start2", "START"))
    raw["transitions"].append(tr("start2", "work"))
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("MULTIPLE_START_STEPS", "steps[3].stepType")


def test_missing_end_step() -> None:
    raw = {"steps": [step("start", "START"), step("a")], "transitions": [tr("start", "a")]}
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("MISSING_END_STEP", "steps")


def test_no_transitions() -> None:
    raw = {"steps": [step("start", "START"), step("end", "END")], "transitions": []}
    assert ("NO_TRANSITIONS", "transitions") in [(i["code"], i["path"]) for i in validate_definition(raw)]


def test_duplicate_step_id() -> None:
    raw = linear(step("work"), step("work"))
    raw["transitions"] = [tr("start", "work", tid="t1"), tr("work", "end", tid="t2")]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("DUPLICATE_STEP_ID", "steps[2].stepId")


def test_duplicate_transition_id() -> None:
    raw = linear(step("work"))
    raw["transitions"][1]["transitionId"] = raw["transitions"][0]["transitionId"]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("DUPLICATE_TRANSITION_ID", "transitions[1].transitionId")


def test_transition_to_and_from_unknown_steps() -> None:
    raw = linear(step("work"))
    raw["transitions"].append(tr("ghost", "work"))
    raw["transitions"].append(tr("work", "nowhere"))
    issues = validate_definition(raw)
    assert paths_of(issues, "UNKNOWN_STEP") == ["transitions[2].fromStepId", "transitions[3].toStepId"]


def test_end_with_outgoing_transition() -> None:
    raw = linear(step("work"))
    raw["transitions"].append(tr("end", "work"))
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("END_HAS_OUTGOING_TRANSITION", "transitions[2].fromStepId")


def test_unreachable_step() -> None:
    raw = linear(step("work"))
    raw["steps"].append(step("island"))
    raw["transitions"].append(tr("island", "end"))
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("UNREACHABLE_STEP", "steps[3]")


def test_step_only_reachable_through_end_is_unreachable() -> None:
    raw = linear(step("work"))
    raw["steps"].append(step("after"))
    raw["transitions"] += [tr("end", "after"), tr("after", "end")]
    assert "UNREACHABLE_STEP" in codes(validate_definition(raw))


def test_no_path_to_end() -> None:
    raw = linear(step("work"))
    raw["steps"].append(step("trap"))
    raw["transitions"].append(tr("work", "trap", trigger="manual"))
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("NO_PATH_TO_END", "steps[3]")


def test_every_problem_is_reported_at_once() -> None:
    raw = linear(step("work"), step("timer", "WAIT_FOR_TIMER", config={"duration": "soon"}))
    raw["steps"][1]["stepName"] = 7
    raw["transitions"].append(tr("work", "nowhere"))
    raw["transitions"][0]["transitionId"] = raw["transitions"][1]["transitionId"]
    found = set(codes(validate_definition(raw)))
    assert found == {"INVALID_TYPE", "UNKNOWN_STEP", "DUPLICATE_TRANSITION_ID", "INVALID_DURATION"}


# -- fork / join -------------------------------------------------------------------------------


def fork_issues(mutate: Any) -> list[ValidationIssue]:
    raw = fork_flow()
    mutate(raw)
    return validate_definition(raw)


def test_missing_join_step_id() -> None:
    issues = fork_issues(lambda d: d["steps"][1].update(config={}))
    assert paths_of(issues, "MISSING_JOIN_STEP_ID") == ["steps[1].config.joinStepId"]
    assert paths_of(issues, "UNPAIRED_JOIN") == ["steps[4]"]


def test_join_step_not_found() -> None:
    issues = fork_issues(lambda d: d["steps"][1].update(config={"joinStepId": "nope"}))
    assert paths_of(issues, "JOIN_STEP_NOT_FOUND") == ["steps[1].config.joinStepId"]


def test_join_step_wrong_type() -> None:
    issues = fork_issues(lambda d: d["steps"][1].update(config={"joinStepId": "a"}))
    assert paths_of(issues, "JOIN_STEP_WRONG_TYPE") == ["steps[1].config.joinStepId"]


def test_missing_fork_step_id() -> None:
    issue = only(fork_issues(lambda d: d["steps"][4].update(config={})))
    assert (issue["code"], issue["path"]) == ("MISSING_FORK_STEP_ID", "steps[4].config.forkStepId")


def test_fork_join_mismatch() -> None:
    issue = only(fork_issues(lambda d: d["steps"][4].update(config={"forkStepId": "other"})))
    assert (issue["code"], issue["path"]) == ("FORK_JOIN_MISMATCH", "steps[4].config.forkStepId")


def test_fork_too_few_branches() -> None:
    def one_branch(d: dict[str, Any]) -> None:
        d["steps"] = [s for s in d["steps"] if s["stepId"] != "b"]
        d["transitions"] = [t for t in d["transitions"] if "b" not in (t["fromStepId"], t["toStepId"])]

    issues = fork_issues(one_branch)
    assert paths_of(issues, "FORK_TOO_FEW_BRANCHES") == ["steps[1]"]


def test_manual_transitions_are_not_branches() -> None:
    issues = fork_issues(lambda d: d["transitions"][2].update(trigger="manual"))
    assert "FORK_TOO_FEW_BRANCHES" in codes(issues)


def test_duplicate_branch_key() -> None:
    def same_keys(d: dict[str, Any]) -> None:
        d["transitions"][1]["transitionId"] = "branch"
        d["transitions"][2]["transitionId"] = "branch"

    issues = fork_issues(same_keys)
    assert paths_of(issues, "DUPLICATE_BRANCH_KEY") == ["transitions[2].transitionId"]
    assert paths_of(issues, "DUPLICATE_TRANSITION_ID") == ["transitions[2].transitionId"]


def test_join_too_few_incoming() -> None:
    def b_via_a(d: dict[str, Any]) -> None:
        d["transitions"][4] = tr("b", "a")

    issue = only(fork_issues(b_via_a))
    assert (issue["code"], issue["path"]) == ("JOIN_TOO_FEW_INCOMING", "steps[4]")


def test_nested_fork_not_supported() -> None:
    def nest(d: dict[str, Any]) -> None:
        d["steps"] += [
            step("fork2", "PARALLEL_FORK", config={"joinStepId": "join2"}),
            step("x"),
            step("y"),
            step("join2", "PARALLEL_JOIN", config={"forkStepId": "fork2"}),
        ]
        d["transitions"][3] = tr("a", "fork2")
        d["transitions"] += [
            tr("fork2", "x"),
            tr("fork2", "y"),
            tr("x", "join2"),
            tr("y", "join2"),
            tr("join2", "join"),
        ]

    issues = fork_issues(nest)
    assert paths_of(issues, "NESTED_FORK_NOT_SUPPORTED") == ["transitions[1]"]


def test_branch_reaching_end_does_not_converge() -> None:
    issues = fork_issues(lambda d: d["transitions"].__setitem__(4, tr("b", "end")))
    assert paths_of(issues, "NO_CONVERGENCE_TO_JOIN") == ["transitions[2]"]


def test_branch_reaching_a_dead_end_does_not_converge() -> None:
    def dead_end(d: dict[str, Any]) -> None:
        d["steps"].append(step("stuck"))
        d["transitions"][4] = tr("b", "stuck")

    assert "NO_CONVERGENCE_TO_JOIN" in codes(fork_issues(dead_end))


def test_branch_looping_back_to_the_fork_is_a_cycle() -> None:
    issues = fork_issues(lambda d: d["transitions"].__setitem__(4, tr("b", "fork")))
    assert paths_of(issues, "FORK_JOIN_CYCLE") == ["transitions[2]"]


def test_cycle_inside_a_branch() -> None:
    def loop(d: dict[str, Any]) -> None:
        d["steps"].append(step("c"))
        d["transitions"] += [tr("b", "c"), tr("c", "b")]

    issues = fork_issues(loop)
    assert paths_of(issues, "FORK_JOIN_CYCLE") == ["transitions[2]"]


def test_unpaired_join() -> None:
    raw = linear(step("work"), step("lonely", "PARALLEL_JOIN", config={"forkStepId": "none"}))
    assert "UNPAIRED_JOIN" in codes(validate_definition(raw))


# -- timers and durations ----------------------------------------------------------------------


def timer_issues(config: dict[str, Any], now: datetime | None = NOW) -> list[ValidationIssue]:
    return validate_definition(linear(step("wait", "WAIT_FOR_TIMER", config=config)), now=now)


@pytest.mark.parametrize(
    "config",
    [
        {"duration": "PT5M"},
        {"duration": "5m"},
        {"duration": "P1DT2H"},
        {"duration": "{{context.delay}}"},
        {"until": "2030-01-01T00:00:00Z"},
        {"until": "{{context.deadline}}"},
    ],
)
def test_valid_timer_configs(config: dict[str, Any]) -> None:
    assert timer_issues(config) == []


@pytest.mark.parametrize(
    ("config", "code", "path"),
    [
        ({}, "TIMER_CONFIG_MISSING", "steps[1].config"),
        ({"duration": "", "until": None}, "TIMER_CONFIG_MISSING", "steps[1].config"),
        ({"duration": "PT5M", "until": "2030-01-01T00:00:00Z"}, "TIMER_CONFIG_CONFLICT", "steps[1].config"),
        ({"duration": "five minutes"}, "INVALID_DURATION", "steps[1].config.duration"),
        ({"duration": "0s"}, "INVALID_DURATION", "steps[1].config.duration"),
        ({"duration": 300}, "INVALID_DURATION", "steps[1].config.duration"),
        ({"until": "next tuesday"}, "INVALID_DATETIME", "steps[1].config.until"),
        ({"until": 5}, "INVALID_DATETIME", "steps[1].config.until"),
        ({"until": "2020-01-01T00:00:00Z"}, "UNTIL_IN_PAST", "steps[1].config.until"),
    ],
)
def test_invalid_timer_configs(config: dict[str, Any], code: str, path: str) -> None:
    issue = only(timer_issues(config))
    assert (issue["code"], issue["path"]) == (code, path)


def test_past_until_is_only_checked_when_now_is_given() -> None:
    assert timer_issues({"until": "2020-01-01T00:00:00Z"}, now=None) == []


def test_naive_now_is_taken_as_utc() -> None:
    issues = timer_issues({"until": "2026-01-01T00:30:00+00:00"}, now=datetime(2026, 1, 1, 1, 0))
    assert codes(issues) == ["UNTIL_IN_PAST"]


def test_wait_activity_uses_the_timer_rules() -> None:
    wait = {"activityName": "pause", "activityType": "WAIT", "config": {"duration": "PT5M", "until": "2030-01-01"}}
    raw = linear(step("work"))
    raw["transitions"][0]["activities"] = [wait]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("TIMER_CONFIG_CONFLICT", "transitions[0].activities[0].config")
    assert "WAIT activity" in issue["message"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        (
            {"stepType": "WAIT_FOR_SIGNAL", "signalConfig": {"signalName": "go", "timeout": "1 day"}},
            "signalConfig.timeout",
        ),
        ({"stepType": "USER_TASK", "userTaskConfig": {"slaDuration": "P1X"}}, "userTaskConfig.slaDuration"),
        ({"timeout": "forever"}, "timeout"),
        (
            {
                "activities": [
                    {
                        "activityName": "f",
                        "activityType": "EXECUTE_FUNCTION",
                        "config": {"functionName": "f"},
                        "timeout": "3 sec",
                    }
                ]
            },
            "activities[0].timeout",
        ),
    ],
)
def test_other_durations_are_checked(extra: dict[str, Any], path: str) -> None:
    issue = only(validate_definition(linear(step("work", **extra))))
    assert (issue["code"], issue["path"]) == ("INVALID_DURATION", f"steps[1].{path}")


def test_signal_wait_with_timeout_is_valid() -> None:
    signal = step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go", "timeout": "PT1H"})
    raw = linear(signal)
    raw["steps"].append(step("expired"))
    raw["transitions"] += [tr("wait", "expired", trigger="timer"), tr("expired", "end")]
    assert validate_definition(raw) == []


# -- sub-workflows and mappings ----------------------------------------------------------------


def test_sub_workflow_needs_an_id() -> None:
    issue = only(validate_definition(linear(step("child", "SUB_WORKFLOW"))))
    assert (issue["code"], issue["path"]) == ("MISSING_SUB_WORKFLOW_ID", "steps[1].config.subWorkflowId")


def test_sub_workflow_id_may_come_from_sub_workflow_config() -> None:
    raw = linear(step("child", "SUB_WORKFLOW", subWorkflowConfig={"subWorkflowId": "checkout-flow"}))
    assert validate_definition(raw) == []


def test_sub_workflow_mappings_must_map_keys_to_paths() -> None:
    config = {"subWorkflowId": "checkout-flow", "inputMapping": {"a": 1}, "outputMapping": "all"}
    issues = validate_definition(linear(step("child", "SUB_WORKFLOW", config=config)))
    assert paths_of(issues, "INVALID_MAPPING") == ["steps[1].config.inputMapping", "steps[1].config.outputMapping"]


def test_join_output_mapping_cannot_overwrite_branches() -> None:
    raw = fork_flow()
    raw["steps"][4]["config"]["outputMapping"] = {"branches": "branches.a"}
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("INVALID_MAPPING", "steps[4].config.outputMapping.branches")


# -- activities --------------------------------------------------------------------------------


def activity_issues(activity_type: str, config: Any) -> list[ValidationIssue]:
    activity = {"activityName": "act", "activityType": activity_type, "config": config}
    raw = linear(step("work", activities=[activity]))
    return validate_definition(raw)


@pytest.mark.parametrize(
    ("activity_type", "config"),
    [
        ("SEND_EMAIL", {"to": "{{context.email}}", "subject": "Hi"}),
        ("SEND_EMAIL", {"to": ["a@example.com", "b@example.com"], "template": "welcome"}),
        ("CALL_WEBHOOK", {"url": "https://hooks.example.com/x", "method": "put", "headers": {"X": "1"}}),
        ("CALL_WEBHOOK", {"url": "{{env.HOOK_URL}}"}),
        ("CALL_API", {"endpoint": "/api/orders", "method": "POST", "body": {"a": 1}}),
        ("CALL_API", {"endpoint": "https://app.example.com/api/orders"}),
        ("EMIT_EVENT", {"eventName": "orders.order.paid", "payload": {"id": "{{context.id}}"}}),
        ("EMIT_EVENT", {"eventName": "orders.order.paid", "payload": "{{context.order}}"}),
        ("UPDATE_ENTITY", {"commandId": "sales.orders.update", "input": {"id": "{{context.id}}"}}),
        ("EXECUTE_FUNCTION", {"functionName": "reserveStock"}),
        ("EXECUTE_FUNCTION", {"functionName": "reserveStock", "args": {"n": 1}}),
        ("WAIT", {"duration": "500ms"}),
        ("WAIT", {"until": "2030-01-01T00:00:00Z"}),
    ],
)
def test_valid_activity_configs(activity_type: str, config: dict[str, Any]) -> None:
    assert activity_issues(activity_type, config) == []


@pytest.mark.parametrize(
    ("activity_type", "config", "field"),
    [
        ("SEND_EMAIL", {"subject": "Hi"}, "to"),
        ("SEND_EMAIL", {"to": [], "subject": "Hi"}, "to"),
        ("SEND_EMAIL", {"to": "a@example.com"}, "subject"),
        ("SEND_EMAIL", {"to": "a", "subject": "s", "templateData": "x"}, "templateData"),
        ("CALL_WEBHOOK", {}, "url"),
        ("CALL_WEBHOOK", {"url": "ftp://example.com"}, "url"),
        ("CALL_WEBHOOK", {"url": "https://example.com", "method": "FETCH"}, "method"),
        ("CALL_WEBHOOK", {"url": "https://example.com", "headers": ["X: 1"]}, "headers"),
        ("CALL_API", {"method": "GET"}, "endpoint"),
        ("CALL_API", {"endpoint": "orders"}, "endpoint"),
        ("EMIT_EVENT", {"payload": {}}, "eventName"),
        ("EMIT_EVENT", {"eventName": "x", "payload": [1]}, "payload"),
        ("UPDATE_ENTITY", {"input": {}}, "commandId"),
        ("UPDATE_ENTITY", {"commandId": "c"}, "input"),
        ("EXECUTE_FUNCTION", {}, "functionName"),
        ("EXECUTE_FUNCTION", {"functionName": "f", "args": [1]}, "args"),
    ],
)
def test_invalid_activity_configs(activity_type: str, config: dict[str, Any], field: str) -> None:
    issue = only(activity_issues(activity_type, config))
    assert (issue["code"], issue["path"]) == ("INVALID_ACTIVITY_CONFIG", f"steps[1].activities[0].config.{field}")


def test_activity_without_config_reports_its_required_field() -> None:
    activity = {"activityName": "hook", "activityType": "CALL_WEBHOOK"}
    issue = only(validate_definition(linear(step("work", activities=[activity]))))
    assert issue["path"] == "steps[1].activities[0].config.url"


def test_duplicate_activity_id_across_the_definition() -> None:
    fn = {
        "activityId": "same",
        "activityName": "f",
        "activityType": "EXECUTE_FUNCTION",
        "config": {"functionName": "f"},
    }
    raw = linear(step("work", activities=[fn]))
    raw["transitions"][1]["activities"] = [copy.deepcopy(fn)]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("DUPLICATE_ACTIVITY_ID", "transitions[1].activities[0].activityId")


def test_compensation_must_reference_a_defined_activity() -> None:
    fn = {"activityName": "f", "activityType": "EXECUTE_FUNCTION", "config": {"functionName": "f"}}
    known = {**fn, "activityId": "undo", "compensation": None}
    good = {**fn, "activityId": "do", "compensation": {"activityId": "undo"}}
    bad = {**fn, "activityId": "do2", "compensation": {"activityId": "missing"}}
    raw = linear(step("work", activities=[good, bad]))
    raw["activities"] = [known]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == (
        "UNKNOWN_COMPENSATION_ACTIVITY",
        "steps[1].activities[1].compensation.activityId",
    )


# -- triggers ----------------------------------------------------------------------------------


def test_duplicate_trigger_id() -> None:
    raw = linear(step("work"))
    trigger = {"triggerId": "on-create", "name": "On create", "eventPattern": "customers.person.created"}
    raw["triggers"] = [trigger, dict(trigger)]
    issue = only(validate_definition(raw))
    assert (issue["code"], issue["path"]) == ("DUPLICATE_TRIGGER_ID", "triggers[1].triggerId")


def test_trigger_config_is_typed_and_regex_filters_compile() -> None:
    raw = linear(step("work"))
    raw["triggers"] = [
        {
            "triggerId": "t",
            "name": "T",
            "eventPattern": "*",
            "config": {
                "filterConditions": [
                    {"field": "status", "operator": "eq", "value": "active"},
                    {"field": "email", "operator": "regex", "value": "(unclosed"},
                ],
                "contextMapping": [{"targetKey": "personId", "sourceExpression": "id"}],
                "maxConcurrentInstances": 0,
            },
        }
    ]
    issues = validate_definition(raw)
    assert sorted((i["code"], i["path"]) for i in issues) == [
        ("INVALID_REGEX", "triggers[0].config.filterConditions[1].value"),
        ("OUT_OF_RANGE", "triggers[0].config.maxConcurrentInstances"),
    ]


# -- documents, loading, schema ----------------------------------------------------------------


def test_document_issues_are_prefixed_with_definition() -> None:
    document: dict[str, Any] = {"workflowId": "Bad Id", "workflowName": "X", "definition": linear(step("work"))}
    document["definition"]["transitions"].append(tr("work", "ghost"))
    issues = validate_definition_document(document)
    assert sorted((i["code"], i["path"]) for i in issues) == [
        ("INVALID_FORMAT", "workflowId"),
        ("UNKNOWN_STEP", "definition.transitions[2].toStepId"),
    ]


def test_document_without_definition_says_so_once() -> None:
    issues = validate_definition_document({"workflowId": "x", "workflowName": "X"})
    assert [(i["code"], i["path"]) for i in issues] == [("REQUIRED_FIELD", "definition")]


def test_load_definition_raises_with_every_issue() -> None:
    raw = {"steps": [step("a")], "transitions": []}
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definition(raw)
    assert set(codes(caught.value.issues)) == {"MISSING_START_STEP", "MISSING_END_STEP", "NO_TRANSITIONS"}
    assert isinstance(load_definition(linear(step("work"))), WorkflowDefinition)


def test_json_schema_describes_the_camel_case_format() -> None:
    schema = definition_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["steps", "transitions"]
    defs = schema["$defs"]
    assert set(defs["StepType"]["enum"]) == {
        "START",
        "END",
        "AUTOMATED",
        "USER_TASK",
        "WAIT_FOR_SIGNAL",
        "WAIT_FOR_TIMER",
        "SUB_WORKFLOW",
        "PARALLEL_FORK",
        "PARALLEL_JOIN",
    }
    assert set(defs["TransitionTrigger"]["enum"]) == {"auto", "manual", "signal", "timer"}
    assert {"stepId", "stepName", "stepType"} <= set(defs["Step"]["required"])
    assert "continueOnActivityFailure" in defs["Transition"]["properties"]
    assert "async" in defs["Activity"]["properties"]
    json.dumps(schema)  # serialisable as served
