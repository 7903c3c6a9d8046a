"""Save-time validation of a workflow definition, reported as issues (never raised):

* schema: types, required fields, enums, id patterns and ranges (the pydantic models of
  `engine.workflows.definition`);
* semantics: the graph (one START, reachable END, references, fork/join pairs), per-step and
  per-activity config, and the duration grammar. These checks read the raw JSON leniently, so a
  definition with a typo in one step still gets every other problem reported in the same response.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from pydantic import BaseModel, ValidationError

from engine.errors import DomainError
from engine.workflows.definition import (
    ActivityType,
    DefinitionFields,
    StepType,
    TransitionTrigger,
    WorkflowDefinition,
    WorkflowDefinitionDocument,
)
from engine.workflows.durations import parse_datetime, parse_duration
from engine.workflows.tasks import schema_problems

# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class ValidationIssue(TypedDict):
    code: str
    message: str
    path: str


class InvalidDefinitionError(ValueError):
    def __init__(self, issues: list[ValidationIssue]) -> None:
        super().__init__("; ".join(f"{i['path'] or '<root>'}: [{i['code']}] {i['message']}" for i in issues))
        self.issues = issues


def contains_placeholder(value: object) -> bool:
    """Values with ``{{...}}`` are resolved at runtime, so save-time format checks skip them."""
    return isinstance(value, str) and "{{" in value


def validate_definition(raw: object, *, now: datetime | None = None) -> list[ValidationIssue]:
    """Every problem of a ``definition`` object, with paths relative to it (``steps[2].config``).

    ``now`` enables the "until must be in the future" check; leave it out when re-reading a stored
    definition (a past ``until`` then simply fires at once).
    """
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # stored datetimes are aware; naive `now` means UTC
    issues = _schema_issues(WorkflowDefinition, raw)
    if isinstance(raw, Mapping):
        issues.extend(_SemanticChecker(raw, now).run())
    return issues


def validate_definition_document(raw: object, *, now: datetime | None = None) -> list[ValidationIssue]:
    """Like `validate_definition` for a whole document; definition paths start with ``definition.``."""
    issues = _schema_issues(WorkflowDefinitionDocument, raw)
    definition = raw.get("definition") if isinstance(raw, Mapping) else None
    if definition is None:
        return issues
    # The definition's own problems come from validate_definition, which also runs the semantics.
    issues = [i for i in issues if i["path"] != "definition" and not i["path"].startswith("definition.")]
    for issue in validate_definition(definition, now=now):
        path = f"definition.{issue['path']}" if issue["path"] else "definition"
        issues.append(ValidationIssue(code=issue["code"], message=issue["message"], path=path))
    return issues


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_failed"

    def __init__(self, details: list[Any]) -> None:
        super().__init__("Validation failed", extra={"details": details})


def check_document(document: object, *, now: datetime) -> DefinitionFields:
    """A create/update document as the API takes it, typed; `ValidationFailed` (400) lists every
    problem (`validate_definition_document`) when there is any."""
    issues = validate_definition_document(document, now=now)
    if issues:
        raise ValidationFailed([dict(issue) for issue in issues])
    return DefinitionFields.model_validate(document)


def load_definition(raw: object) -> WorkflowDefinition:
    """Parse a definition, raising `InvalidDefinitionError` with every issue when it is invalid."""
    issues = validate_definition(raw)
    if issues:
        raise InvalidDefinitionError(issues)
    return WorkflowDefinition.model_validate(raw)


_SCHEMA_CODES = {
    "missing": "REQUIRED_FIELD",
    "enum": "INVALID_ENUM",
    "literal_error": "INVALID_ENUM",
    "string_pattern_mismatch": "INVALID_FORMAT",
    "string_too_short": "OUT_OF_RANGE",
    "string_too_long": "OUT_OF_RANGE",
    "too_short": "OUT_OF_RANGE",
    "too_long": "OUT_OF_RANGE",
    "greater_than": "OUT_OF_RANGE",
    "greater_than_equal": "OUT_OF_RANGE",
    "less_than": "OUT_OF_RANGE",
    "less_than_equal": "OUT_OF_RANGE",
    "value_error": "INVALID_VALUE",
}


def _schema_issues(model: type[BaseModel], raw: object) -> list[ValidationIssue]:
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return [
            ValidationIssue(
                code=_SCHEMA_CODES.get(error["type"], "INVALID_TYPE"),
                message=error["msg"],
                path=format_path(error["loc"]),
            )
            for error in exc.errors()
        ]
    return []


def format_path(loc: tuple[int | str, ...]) -> str:
    """``("steps", 2, "config")`` -> ``steps[2].config``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


@dataclass(frozen=True)
class _StepView:
    index: int
    step_id: str
    step_type: str | None
    config: Mapping[str, Any]

    @property
    def path(self) -> str:
        return f"steps[{self.index}]"


@dataclass(frozen=True)
class _TransitionView:
    index: int
    transition_id: str | None
    from_step_id: str | None
    to_step_id: str | None
    trigger: str

    @property
    def path(self) -> str:
        return f"transitions[{self.index}]"


_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PROTECTED_JOIN_KEY = "branches"


def _items(container: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(index, item) of the mapping items of a list; anything else is a schema error already."""
    if isinstance(container, list):
        for index, item in enumerate(container):
            if isinstance(item, Mapping):
                yield index, item


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def _mapping(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass
class _SemanticChecker:
    raw: Mapping[str, Any]
    now: datetime | None
    issues: list[ValidationIssue] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps = [
            _StepView(index, step_id, _text(item, "stepType"), _mapping(item, "config"))
            for index, item in _items(self.raw.get("steps"))
            if (step_id := _text(item, "stepId")) is not None
        ]
        self.transitions = [
            _TransitionView(
                index,
                _text(item, "transitionId"),
                _text(item, "fromStepId"),
                _text(item, "toStepId"),
                _text(item, "trigger") or TransitionTrigger.AUTO,
            )
            for index, item in _items(self.raw.get("transitions"))
        ]
        self.by_id: dict[str, _StepView] = {}
        for step in self.steps:
            self.by_id.setdefault(step.step_id, step)

    def add(self, code: str, message: str, path: str) -> None:
        self.issues.append(ValidationIssue(code=code, message=message, path=path))

    def run(self) -> list[ValidationIssue]:
        self.check_start_and_end()
        self.check_unique_ids()
        self.check_references()
        self.check_reachability()
        self.check_forks()
        self.check_joins()
        self.check_step_configs()
        self.check_activities()
        self.check_triggers()
        return self.issues

    # -- graph -------------------------------------------------------------------------------

    def of_type(self, step_type: StepType) -> list[_StepView]:
        return [step for step in self.steps if step.step_type == step_type]

    def outgoing(self, step_id: str) -> list[_TransitionView]:
        return [t for t in self.transitions if t.from_step_id == step_id]

    def check_start_and_end(self) -> None:
        if isinstance(self.raw.get("steps"), list):
            starts = self.of_type(StepType.START)
            if not starts:
                self.add("MISSING_START_STEP", "Workflow must have exactly one START step", "steps")
            for extra in starts[1:]:
                self.add(
                    "MULTIPLE_START_STEPS",
                    f"Workflow must have exactly one START step; '{extra.step_id}' is another one",
                    f"{extra.path}.stepType",
                )
            if not self.of_type(StepType.END):
                self.add("MISSING_END_STEP", "Workflow must have at least one END step", "steps")
        if self.raw.get("transitions") == []:
            self.add("NO_TRANSITIONS", "Workflow must have at least one transition", "transitions")

    def check_unique_ids(self) -> None:
        seen: set[str] = set()
        for step in self.steps:
            if step.step_id in seen:
                self.add("DUPLICATE_STEP_ID", f"Duplicate stepId '{step.step_id}'", f"{step.path}.stepId")
            seen.add(step.step_id)
        seen = set()
        for transition in self.transitions:
            transition_id = transition.transition_id
            if transition_id is None:
                continue
            if transition_id in seen:
                self.add(
                    "DUPLICATE_TRANSITION_ID",
                    f"Duplicate transitionId '{transition_id}'",
                    f"{transition.path}.transitionId",
                )
            seen.add(transition_id)

    def check_references(self) -> None:
        for transition in self.transitions:
            for key, step_id in (
                ("fromStepId", transition.from_step_id),
                ("toStepId", transition.to_step_id),
            ):
                if step_id is not None and step_id not in self.by_id:
                    self.add("UNKNOWN_STEP", f"{key} '{step_id}' is not a step", f"{transition.path}.{key}")
            source = self.by_id.get(transition.from_step_id or "")
            if source is not None and source.step_type == StepType.END:
                self.add(
                    "END_HAS_OUTGOING_TRANSITION",
                    f"END step '{source.step_id}' completes the workflow; it cannot have transitions",
                    f"{transition.path}.fromStepId",
                )

    def check_reachability(self) -> None:
        forward: dict[str, set[str]] = {}
        backward: dict[str, set[str]] = {}
        for t in self.transitions:
            source, target = self.by_id.get(t.from_step_id or ""), self.by_id.get(t.to_step_id or "")
            # END completes the instance, so nothing after it can ever run.
            if source is None or target is None or source.step_type == StepType.END:
                continue
            forward.setdefault(source.step_id, set()).add(target.step_id)
            backward.setdefault(target.step_id, set()).add(source.step_id)

        starts = {step.step_id for step in self.of_type(StepType.START)}
        if starts:
            reached = _closure(starts, forward)
            for step in self.steps:
                if step.step_id not in reached:
                    self.add(
                        "UNREACHABLE_STEP",
                        f"Step '{step.step_id}' cannot be reached from the START step",
                        step.path,
                    )
        ends = {step.step_id for step in self.of_type(StepType.END)}
        if ends:
            finishing = _closure(ends, backward)
            for step in self.steps:
                if step.step_id not in finishing:
                    self.add("NO_PATH_TO_END", f"No END step can be reached from '{step.step_id}'", step.path)

    # -- parallel fork / join ----------------------------------------------------------------

    def check_forks(self) -> None:
        for fork in self.of_type(StepType.PARALLEL_FORK):
            join_id = fork.config.get("joinStepId")
            if not isinstance(join_id, str) or not join_id:
                self.add(
                    "MISSING_JOIN_STEP_ID",
                    f"PARALLEL_FORK '{fork.step_id}' needs config.joinStepId",
                    f"{fork.path}.config.joinStepId",
                )
                continue
            join = self.by_id.get(join_id)
            if join is None:
                self.add(
                    "JOIN_STEP_NOT_FOUND",
                    f"joinStepId '{join_id}' of '{fork.step_id}' is not a step",
                    f"{fork.path}.config.joinStepId",
                )
                continue
            if join.step_type != StepType.PARALLEL_JOIN:
                self.add(
                    "JOIN_STEP_WRONG_TYPE",
                    f"joinStepId '{join_id}' of '{fork.step_id}' is a {join.step_type}, not a PARALLEL_JOIN",
                    f"{fork.path}.config.joinStepId",
                )
                continue
            join_fork_id = join.config.get("forkStepId")
            if isinstance(join_fork_id, str) and join_fork_id and join_fork_id != fork.step_id:
                self.add(
                    "FORK_JOIN_MISMATCH",
                    f"PARALLEL_JOIN '{join_id}' names fork '{join_fork_id}', but '{fork.step_id}' uses it",
                    f"{join.path}.config.forkStepId",
                )
            branches = [t for t in self.outgoing(fork.step_id) if t.trigger == TransitionTrigger.AUTO]
            if len(branches) < 2:
                self.add(
                    "FORK_TOO_FEW_BRANCHES",
                    f"PARALLEL_FORK '{fork.step_id}' needs at least two outgoing auto transitions",
                    fork.path,
                )
            keys: set[str] = set()
            for branch in branches:
                if branch.transition_id is not None and branch.transition_id in keys:
                    self.add(
                        "DUPLICATE_BRANCH_KEY",
                        f"Branch key '{branch.transition_id}' is used twice by fork '{fork.step_id}'",
                        f"{branch.path}.transitionId",
                    )
                keys.add(branch.transition_id or "")
                for code, message in self.walk_branch(fork.step_id, join_id, branch).items():
                    self.add(code, message, branch.path)

    def walk_branch(self, fork_id: str, join_id: str, branch: _TransitionView) -> dict[str, str]:
        """Problems (code -> first message) on the paths from a branch to its join."""
        problems: dict[str, str] = {}
        done: set[str] = set()
        on_path: set[str] = set()
        key = branch.transition_id

        def visit(step_id: str) -> None:
            if step_id == join_id or step_id in done:
                return
            if step_id == fork_id or step_id in on_path:
                problems.setdefault("FORK_JOIN_CYCLE", f"Branch '{key}' loops back to '{step_id}'")
                return
            step = self.by_id.get(step_id)
            if step is None:
                problems.setdefault("NO_CONVERGENCE_TO_JOIN", f"Branch '{key}' reaches unknown step '{step_id}'")
            elif step.step_type == StepType.END:
                problems.setdefault(
                    "NO_CONVERGENCE_TO_JOIN", f"Branch '{key}' reaches END '{step_id}' before '{join_id}'"
                )
            elif step.step_type == StepType.PARALLEL_FORK:
                problems.setdefault("NESTED_FORK_NOT_SUPPORTED", f"Branch '{key}' opens another fork '{step_id}'")
            elif step.step_type == StepType.PARALLEL_JOIN:
                problems.setdefault("NO_CONVERGENCE_TO_JOIN", f"Branch '{key}' reaches a different join '{step_id}'")
            else:
                targets = [t.to_step_id for t in self.outgoing(step_id) if t.to_step_id is not None]
                if not targets:
                    problems.setdefault(
                        "NO_CONVERGENCE_TO_JOIN", f"Branch '{key}' stops at '{step_id}' before '{join_id}'"
                    )
                on_path.add(step_id)
                for target in targets:
                    visit(target)
                on_path.discard(step_id)
            done.add(step_id)

        if branch.to_step_id is not None:
            visit(branch.to_step_id)
        return problems

    def check_joins(self) -> None:
        referenced = {_text(fork.config, "joinStepId") for fork in self.of_type(StepType.PARALLEL_FORK)}
        for join in self.of_type(StepType.PARALLEL_JOIN):
            fork_id = join.config.get("forkStepId")
            if not isinstance(fork_id, str) or not fork_id:
                self.add(
                    "MISSING_FORK_STEP_ID",
                    f"PARALLEL_JOIN '{join.step_id}' needs config.forkStepId",
                    f"{join.path}.config.forkStepId",
                )
            incoming = [t for t in self.transitions if t.to_step_id == join.step_id]
            if len(incoming) < 2:
                self.add(
                    "JOIN_TOO_FEW_INCOMING",
                    f"PARALLEL_JOIN '{join.step_id}' needs at least two incoming transitions",
                    join.path,
                )
            if join.step_id not in referenced:
                self.add(
                    "UNPAIRED_JOIN",
                    f"PARALLEL_JOIN '{join.step_id}' is not the joinStepId of any PARALLEL_FORK",
                    join.path,
                )

    # -- per-step config ---------------------------------------------------------------------

    def check_step_configs(self) -> None:
        for index, item in _items(self.raw.get("steps")):
            path = f"steps[{index}]"
            step_type = item.get("stepType")
            config = _mapping(item, "config")
            self.check_duration(item.get("timeout"), f"{path}.timeout")
            if step_type == StepType.WAIT_FOR_TIMER:
                self.check_wait(config, f"{path}.config", "WAIT_FOR_TIMER step")
            elif step_type == StepType.WAIT_FOR_SIGNAL:
                signal = _mapping(item, "signalConfig")
                self.check_duration(signal.get("timeout"), f"{path}.signalConfig.timeout")
            elif step_type == StepType.USER_TASK:
                task = _mapping(item, "userTaskConfig")
                self.check_duration(task.get("slaDuration"), f"{path}.userTaskConfig.slaDuration")
                self.check_task_config(task, f"{path}.userTaskConfig")
            elif step_type == StepType.SUB_WORKFLOW:
                self.check_sub_workflow(item, path)
            elif step_type == StepType.PARALLEL_JOIN:
                self.check_mapping(config.get("outputMapping"), f"{path}.config.outputMapping")
                output_mapping = config.get("outputMapping")
                if isinstance(output_mapping, Mapping) and _PROTECTED_JOIN_KEY in output_mapping:
                    self.add(
                        "INVALID_MAPPING",
                        "outputMapping cannot write 'branches'; the join stores branch results there",
                        f"{path}.config.outputMapping.{_PROTECTED_JOIN_KEY}",
                    )

    def check_sub_workflow(self, item: Mapping[str, Any], path: str) -> None:
        config = _mapping(item, "config")
        legacy = _mapping(item, "subWorkflowConfig")
        if _text(config, "subWorkflowId") is None and _text(legacy, "subWorkflowId") is None:
            self.add(
                "MISSING_SUB_WORKFLOW_ID",
                "SUB_WORKFLOW step needs config.subWorkflowId (the workflowId to run)",
                f"{path}.config.subWorkflowId",
            )
        for key in ("inputMapping", "outputMapping"):
            self.check_mapping(config.get(key), f"{path}.config.{key}")

    def check_mapping(self, value: object, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            self.add("INVALID_MAPPING", "Mapping must be an object of key -> dot path strings", path)

    def check_task_config(self, task: Mapping[str, Any], path: str) -> None:
        form = task.get("formSchema")
        for problem in schema_problems(form) if isinstance(form, Mapping) else []:
            self.add("INVALID_FORM_SCHEMA", f"formSchema is not a valid JSON Schema: {problem}", f"{path}.formSchema")
        for index, rule in _items(task.get("escalationRules")):
            where = f"{path}.escalationRules[{index}]"
            self.check_duration(rule.get("after"), f"{where}.after")
            if rule.get("trigger") == "no_progress" and not rule.get("after"):
                self.add("INVALID_ESCALATION", "A no_progress rule needs `after` (a duration)", f"{where}.after")
            if rule.get("trigger") == "sla_breach" and not task.get("slaDuration"):
                self.add("INVALID_ESCALATION", "An sla_breach rule needs the task's slaDuration", where)
            if rule.get("action") == "reassign" and not (rule.get("escalateTo") or rule.get("escalateToRoles")):
                self.add("INVALID_ESCALATION", "A reassign rule needs escalateTo or escalateToRoles", where)

    def check_duration(self, value: object, path: str) -> None:
        # Non-strings in typed fields are schema errors already; config values are checked by callers.
        if not isinstance(value, str) or contains_placeholder(value):
            return
        try:
            parsed = parse_duration(value)
        except ValueError as exc:
            self.add("INVALID_DURATION", str(exc), path)
            return
        if parsed.total_seconds() <= 0:
            self.add("INVALID_DURATION", f"Duration {value!r} must be greater than zero", path)

    def check_wait(self, config: Mapping[str, Any], path: str, what: str) -> None:
        duration, until = config.get("duration"), config.get("until")
        has_duration, has_until = duration not in (None, ""), until not in (None, "")
        if not has_duration and not has_until:
            self.add("TIMER_CONFIG_MISSING", f'{what} requires "duration" or "until"', path)
        elif has_duration and has_until:
            self.add("TIMER_CONFIG_CONFLICT", f'{what} accepts "duration" OR "until", not both', path)
        elif has_duration:
            if not isinstance(duration, str):
                self.add("INVALID_DURATION", "Duration must be a string", f"{path}.duration")
            self.check_duration(duration, f"{path}.duration")
        elif not contains_placeholder(until):
            try:
                fire_at = parse_datetime(until) if isinstance(until, str) else None
            except ValueError:
                fire_at = None
            if fire_at is None:
                self.add(
                    "INVALID_DATETIME",
                    'Invalid "until". Provide an ISO 8601 datetime string',
                    f"{path}.until",
                )
            elif self.now is not None and fire_at <= self.now:
                self.add("UNTIL_IN_PAST", '"until" must be a future datetime', f"{path}.until")

    # -- activities --------------------------------------------------------------------------

    def all_activities(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for index, step in _items(self.raw.get("steps")):
            for k, activity in _items(step.get("activities")):
                yield f"steps[{index}].activities[{k}]", activity
        for index, transition in _items(self.raw.get("transitions")):
            for k, activity in _items(transition.get("activities")):
                yield f"transitions[{index}].activities[{k}]", activity
        for k, activity in _items(self.raw.get("activities")):
            yield f"activities[{k}]", activity

    def check_activities(self) -> None:
        known_ids: set[str] = set()
        compensations: list[tuple[str, str]] = []
        for path, activity in self.all_activities():
            activity_id = _text(activity, "activityId")
            if activity_id is not None:
                # Compensation and async results find activities by id, so ids are global.
                if activity_id in known_ids:
                    self.add("DUPLICATE_ACTIVITY_ID", f"Duplicate activityId '{activity_id}'", f"{path}.activityId")
                known_ids.add(activity_id)
            self.check_duration(activity.get("timeout"), f"{path}.timeout")
            compensation_id = _text(_mapping(activity, "compensation"), "activityId")
            if compensation_id is not None:
                compensations.append((compensation_id, f"{path}.compensation.activityId"))
            config = activity.get("config", {})
            if isinstance(config, Mapping):
                self.check_activity_config(activity.get("activityType"), config, f"{path}.config")
        for compensation_id, path in compensations:
            if compensation_id not in known_ids:
                self.add(
                    "UNKNOWN_COMPENSATION_ACTIVITY",
                    f"Compensation activity '{compensation_id}' is not defined in this workflow",
                    path,
                )

    def check_activity_config(self, activity_type: object, config: Mapping[str, Any], path: str) -> None:
        def need_text(key: str, message: str) -> str | None:
            value = _text(config, key)
            if value is None:
                self.add("INVALID_ACTIVITY_CONFIG", message, f"{path}.{key}")
            return value

        def need_object(key: str, message: str, *, required: bool) -> None:
            value = config.get(key)
            if value is None and not required:
                return
            if not isinstance(value, Mapping) and not contains_placeholder(value):
                self.add("INVALID_ACTIVITY_CONFIG", message, f"{path}.{key}")

        def check_method(default: str) -> None:
            method = config.get("method", default)
            if not isinstance(method, str) or method.upper() not in _HTTP_METHODS:
                self.add(
                    "INVALID_ACTIVITY_CONFIG",
                    f"method must be one of {', '.join(sorted(_HTTP_METHODS))}",
                    f"{path}.method",
                )
            need_object("headers", "headers must be an object", required=False)

        if activity_type == ActivityType.SEND_EMAIL:
            to = config.get("to")
            valid_to = (isinstance(to, str) and to) or (
                isinstance(to, list) and to and all(isinstance(x, str) and x for x in to)
            )
            if not valid_to:
                self.add("INVALID_ACTIVITY_CONFIG", 'SEND_EMAIL requires "to"', f"{path}.to")
            if _text(config, "subject") is None and _text(config, "template") is None:
                self.add(
                    "INVALID_ACTIVITY_CONFIG",
                    'SEND_EMAIL requires "subject" or "template"',
                    f"{path}.subject",
                )
            need_object("templateData", "templateData must be an object", required=False)
        elif activity_type == ActivityType.CALL_WEBHOOK:
            url = need_text("url", 'CALL_WEBHOOK requires "url"')
            if url and not contains_placeholder(url) and not url.startswith(("http://", "https://")):
                self.add("INVALID_ACTIVITY_CONFIG", "url must be an http(s) URL", f"{path}.url")
            check_method("POST")
        elif activity_type == ActivityType.CALL_API:
            endpoint = need_text("endpoint", 'CALL_API requires "endpoint"')
            if (
                endpoint
                and not contains_placeholder(endpoint)
                and not endpoint.startswith(("/api/", "http://", "https://"))
            ):
                self.add(
                    "INVALID_ACTIVITY_CONFIG",
                    "endpoint must start with /api/ or be an http(s) URL",
                    f"{path}.endpoint",
                )
            check_method("GET")
        elif activity_type == ActivityType.EMIT_EVENT:
            need_text("eventName", 'EMIT_EVENT requires "eventName"')
            need_object("payload", "payload must be an object", required=False)
        elif activity_type == ActivityType.UPDATE_ENTITY:
            need_text("commandId", 'UPDATE_ENTITY requires "commandId"')
            need_object("input", 'UPDATE_ENTITY requires an "input" object', required=True)
        elif activity_type == ActivityType.EXECUTE_FUNCTION:
            need_text("functionName", 'EXECUTE_FUNCTION requires "functionName"')
            need_object("args", "args must be an object", required=False)
        elif activity_type == ActivityType.WAIT:
            self.check_wait(config, path, "WAIT activity")

    # -- triggers ----------------------------------------------------------------------------

    def check_triggers(self) -> None:
        seen: set[str] = set()
        for index, trigger in _items(self.raw.get("triggers")):
            trigger_id = _text(trigger, "triggerId")
            if trigger_id is None:
                continue
            if trigger_id in seen:
                self.add(
                    "DUPLICATE_TRIGGER_ID",
                    f"Duplicate triggerId '{trigger_id}'",
                    f"triggers[{index}].triggerId",
                )
            seen.add(trigger_id)
            for k, condition in _items(_mapping(trigger, "config").get("filterConditions")):
                if condition.get("operator") == "regex":
                    self.check_regex(condition.get("value"), f"triggers[{index}].config.filterConditions[{k}].value")

    def check_regex(self, value: object, path: str) -> None:
        try:
            re.compile(value if isinstance(value, str) else "(")
        except re.error:
            self.add("INVALID_REGEX", "regex filter value must be a valid regular expression", path)


def _closure(roots: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(roots)
    pending = list(roots)
    while pending:
        for nxt in edges.get(pending.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                pending.append(nxt)
    return seen
