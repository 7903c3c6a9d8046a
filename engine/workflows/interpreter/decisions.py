"""Pure decisions of the definition interpreter: which transition fires, what a fork opens, how
activity config templates render and how contexts merge.

Everything here is deterministic so the Temporal interpreter workflow can call it during replay:
no I/O, no clock (the caller passes ``now``), no environment reads (the caller passes the allowed
variables), and business-rule evaluation is injected instead of imported. Inline transition
conditions are normally evaluated by `evaluate_inline_condition`, which compiles each distinct
condition once.
"""

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from engine.clock import iso
from engine.rules import templating
from engine.rules.jsonlogic import CompiledLogic, compile_logic
from engine.rules.jsonlogic import truthy as jsonlogic_truthy  # the one JavaScript truthiness
from engine.workflows.definition import (
    Activity,
    Step,
    StepType,
    Transition,
    TransitionTrigger,
    WorkflowDefinition,
)
from engine.workflows.durations import parse_datetime, parse_duration

ConditionEvaluator = Callable[[Any, Mapping[str, Any]], Any]
"""``(rule, data) -> result``; normally the rules package's JsonLogic evaluator."""

Truthiness = Callable[[Any], bool]


@lru_cache(maxsize=1024)
def _compiled(condition_json: str) -> CompiledLogic:
    return compile_logic(json.loads(condition_json))


def compiled_condition(condition: Any) -> CompiledLogic:
    """An inline condition as a function, compiled once per distinct condition: the cache key is
    its JSON text, from which it is compiled (a condition comes from the pinned definition's JSON,
    so the text holds all of it). Pure, and thread-safe (`lru_cache`): a replay compiles the same
    text to the same function. A condition that does not compile raises each time (nothing is
    cached)."""
    return _compiled(json.dumps(condition))


def evaluate_inline_condition(condition: Any, data: Mapping[str, Any]) -> Any:
    """A `ConditionEvaluator`: the transition's inline JsonLogic condition against `data`."""
    return compiled_condition(condition)(dict(data))


SIGNAL_TIMEOUT = "SIGNAL_TIMEOUT"
"""Error code for a WAIT_FOR_SIGNAL timeout with no ``timer`` transition to take."""


# --------------------------------------------------------------------------------------------
# Steps and transitions
# --------------------------------------------------------------------------------------------


def get_step(defn: WorkflowDefinition, step_id: str) -> Step:
    for step in defn.steps:
        if step.step_id == step_id:
            return step
    raise KeyError(f"Step '{step_id}' is not in the definition")


def start_step(defn: WorkflowDefinition) -> Step:
    return defn.start_step()


def outgoing_transitions(defn: WorkflowDefinition, step_id: str) -> list[Transition]:
    """Transitions leaving ``step_id``, highest priority first; ties keep definition order."""
    leaving = [t for t in defn.transitions if t.from_step_id == step_id]
    return sorted(leaving, key=lambda t: -t.priority)  # sorted() is stable


def condition_data(context: Mapping[str, Any], trigger_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The data inline conditions see: the context's keys at the top, plus ``triggerData``."""
    data = dict(context)
    if trigger_data is not None:
        data["triggerData"] = dict(trigger_data)
    return data


TriggerFilter = str | Collection[str] | None
"""One trigger (``"auto"`` or `TransitionTrigger.AUTO`), several, or ``None`` for any."""


def _trigger_filter(trigger: TriggerFilter) -> frozenset[TransitionTrigger] | None:
    if trigger is None:
        return None
    if isinstance(trigger, str):  # a str is also a Collection[str], so test it first
        return frozenset({TransitionTrigger(trigger)})
    return frozenset(TransitionTrigger(t) for t in trigger)


def valid_transitions(
    defn: WorkflowDefinition,
    step_id: str,
    data: Mapping[str, Any],
    trigger: TriggerFilter,
    evaluate_condition: ConditionEvaluator,
    *,
    truthy: Truthiness = jsonlogic_truthy,
    to_step_id: str | None = None,
    is_allowed: Callable[[Transition], bool] | None = None,
) -> list[Transition]:
    """Every transition from ``step_id`` that may fire now, in firing order.

    ``trigger`` limits the triggers considered (``None``: any, as the advance API does).
    ``to_step_id`` keeps only transitions to that step. ``is_allowed`` is an extra gate, e.g. the
    transition's business-rule pre-conditions already evaluated by the caller. A condition that
    raises propagates: a broken rule should fail the instance loudly, not look like "no route".
    """
    triggers = _trigger_filter(trigger)
    result = []
    for transition in outgoing_transitions(defn, step_id):
        if triggers is not None and transition.trigger not in triggers:
            continue
        if to_step_id is not None and transition.to_step_id != to_step_id:
            continue
        if transition.condition is not None and not truthy(evaluate_condition(transition.condition, data)):
            continue
        if is_allowed is not None and not is_allowed(transition):
            continue
        result.append(transition)
    return result


def select_transition(
    defn: WorkflowDefinition,
    step_id: str,
    data: Mapping[str, Any],
    trigger: TriggerFilter,
    evaluate_condition: ConditionEvaluator,
    *,
    truthy: Truthiness = jsonlogic_truthy,
    to_step_id: str | None = None,
    is_allowed: Callable[[Transition], bool] | None = None,
) -> Transition | None:
    """The transition to fire: the first of `valid_transitions`, or ``None`` when none may fire."""
    candidates = valid_transitions(
        defn,
        step_id,
        data,
        trigger,
        evaluate_condition,
        truthy=truthy,
        to_step_id=to_step_id,
        is_allowed=is_allowed,
    )
    return candidates[0] if candidates else None


# --------------------------------------------------------------------------------------------
# Templating
# --------------------------------------------------------------------------------------------

WORKFLOW_TEMPLATE_KEYS = frozenset(
    {"instanceId", "tenantId", "organizationId", "currentStepId", "workflowId", "version"}
)
ALWAYS_ALLOWED_ENV = frozenset({"APP_URL"})


@dataclass(frozen=True, kw_only=True)
class TemplateScope:
    """What ``{{...}}`` placeholders can see. ``env`` must already be filtered by `allowed_env`."""

    now: datetime
    context: Mapping[str, Any] = field(default_factory=dict)
    workflow: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


def allowed_env(environ: Mapping[str, str], allowlist: Iterable[str]) -> dict[str, str]:
    """The environment variables templates may read: ``APP_URL`` plus the allow-list."""
    keys = ALWAYS_ALLOWED_ENV | set(allowlist)
    return {key: environ[key] for key in keys if key in environ}


MISSING = templating.MISSING
"""What `lookup` returns for a path that does not resolve (JSON null is a real value)."""
lookup = templating.lookup


def render_template(value: Any, scope: TemplateScope) -> Any:
    """Resolve placeholders in every string of ``value`` with the one templating engine
    (`engine.rules.templating`: typed whole-string placeholders, missing ones verbatim, `null`
    empty inside text). The namespaces are the workflow's: ``{{context.x}}``/``{{x}}``,
    ``{{workflow.<key>}}``, ``{{now}}``, and ``{{env.X}}``, where a variable outside the
    allow-list becomes an empty string so secrets never leak into config.
    """
    return templating.render(value, lambda expression: _resolve(expression, scope))


def _resolve(expression: str, scope: TemplateScope) -> Any:
    if not expression:
        return MISSING
    if expression == "now":
        return iso(scope.now)
    namespace, _, rest = expression.partition(".")
    if namespace == "env":
        return scope.env.get(rest, "")
    if namespace == "workflow":
        if rest in WORKFLOW_TEMPLATE_KEYS and rest in scope.workflow:
            return scope.workflow[rest]
        return MISSING
    if namespace == "context" and rest:
        return lookup(scope.context, rest)
    return lookup(scope.context, expression)


def lookup_path(data: Any, path: str, default: Any = None) -> Any:
    """Value at a dot path (``a.b.0.c``; numeric segments index lists), or ``default``."""
    value = lookup(data, path)
    return default if value is MISSING else value


# --------------------------------------------------------------------------------------------
# Waits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalWait:
    signal_name: str
    timeout: timedelta | None


def signal_wait(step: Step, scope: TemplateScope | None = None) -> SignalWait:
    """What a WAIT_FOR_SIGNAL step waits for; the signal name defaults to the step id."""
    config = step.signal_config
    if config is None:
        return SignalWait(step.step_id, None)
    timeout = config.timeout
    if timeout is not None and scope is not None:
        timeout = str(render_template(timeout, scope))
    return SignalWait(config.signal_name, parse_duration(timeout) if timeout else None)


def on_signal_timeout(
    defn: WorkflowDefinition,
    step_id: str,
    data: Mapping[str, Any],
    evaluate_condition: ConditionEvaluator,
    *,
    truthy: Truthiness = jsonlogic_truthy,
) -> Transition | None:
    """The ``timer`` transition to take when a signal wait times out; ``None``: fail with SIGNAL_TIMEOUT."""
    return select_transition(defn, step_id, data, TransitionTrigger.TIMER, evaluate_condition, truthy=truthy)


def wait_until(config: Mapping[str, Any], now: datetime, scope: TemplateScope | None = None) -> datetime:
    """When a WAIT_FOR_TIMER step (or WAIT activity) with this config fires; may be in the past."""
    rendered = render_template(dict(config), scope) if scope is not None else config
    duration, until = rendered.get("duration"), rendered.get("until")
    if duration in (None, "") and until in (None, ""):
        raise ValueError('TIMER_CONFIG_MISSING: timer needs "duration" or "until"')
    try:
        if duration not in (None, ""):
            return now + parse_duration(duration)
        if not isinstance(until, str):
            raise ValueError(f"until must be an ISO 8601 datetime string, got {until!r}")
        return parse_datetime(until)
    except ValueError as exc:
        raise ValueError(f"TIMER_CONFIG_INVALID: {exc}")


# --------------------------------------------------------------------------------------------
# Parallel fork / join
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    key: str  # the fork's outgoing transition id; branch results are stored under it
    transition: Transition

    @property
    def start_step_id(self) -> str:
        return self.transition.to_step_id


@dataclass(frozen=True)
class ForkPlan:
    fork_step_id: str
    join_step_id: str
    branches: tuple[Branch, ...]

    @property
    def start_step_ids(self) -> list[str]:
        return [branch.start_step_id for branch in self.branches]


def fork_branches(defn: WorkflowDefinition, fork_step_id: str) -> ForkPlan:
    """The branches a PARALLEL_FORK opens (one per outgoing ``auto`` transition) and its join."""
    fork = get_step(defn, fork_step_id)
    if fork.step_type != StepType.PARALLEL_FORK:
        raise ValueError(f"Step '{fork_step_id}' is a {fork.step_type}, not a PARALLEL_FORK")
    join_step_id = fork.config.get("joinStepId")
    if not isinstance(join_step_id, str) or not join_step_id:
        raise ValueError(f"PARALLEL_FORK '{fork_step_id}' has no config.joinStepId")
    branches = tuple(
        Branch(t.transition_id, t)
        for t in defn.transitions
        if t.from_step_id == fork_step_id and t.trigger == TransitionTrigger.AUTO
    )
    return ForkPlan(fork_step_id, join_step_id, branches)


def branch_view(context: Mapping[str, Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """What a branch reads: the shared context overlaid by the branch's own writes."""
    return {**context, **namespace}


def merge_join(
    context: Mapping[str, Any],
    namespaces: Mapping[str, Mapping[str, Any]],
    output_mapping: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Context after a join: ``branches.<key>`` holds each branch's writes; ``outputMapping``
    (``{topKey: "branches.<key>.<path>"}``) lifts chosen values to the top level."""
    previous = context.get("branches")
    branches = {
        **(previous if isinstance(previous, Mapping) else {}),
        **{k: dict(v) for k, v in namespaces.items()},
    }
    merged = {**context, "branches": branches}
    for target, source in (output_mapping or {}).items():
        if target == "branches":  # would overwrite every branch's results
            continue
        value = lookup(merged, source)
        if value is not MISSING:
            merged[target] = value
    return merged


# --------------------------------------------------------------------------------------------
# Context merges
# --------------------------------------------------------------------------------------------


def merge_context(context: Mapping[str, Any], updates: Mapping[str, Any] | None) -> dict[str, Any]:
    """Shallow merge used for task form data, advance ``contextUpdates`` and activity outputs."""
    return {**context, **(updates or {})}


def merge_signal(
    context: Mapping[str, Any], signal_name: str, payload: Mapping[str, Any] | None, received_at: datetime
) -> dict[str, Any]:
    """A signal's payload lands at the top level and, intact, under ``signal_<name>_payload``."""
    if payload is None:
        return dict(context)
    return {
        **context,
        **payload,
        f"signal_{signal_name}_payload": dict(payload),
        f"signal_{signal_name}_receivedAt": iso(received_at),
    }


def activity_output_key(activity: Activity) -> str:
    """Context key of a synchronous activity's output (the reference keys it by name)."""
    return activity.activity_name or activity.activity_type.value


def async_result_key(activity: Activity) -> str:
    """Context key of an async activity's output once the workflow resumes."""
    return f"{activity.activity_id or activity.activity_name}_result"


@dataclass(frozen=True)
class SubWorkflowCall:
    workflow_id: str
    version: int | None
    input_mapping: Mapping[str, str]
    output_mapping: Mapping[str, str]


def sub_workflow_call(step: Step) -> SubWorkflowCall:
    """The child a SUB_WORKFLOW step starts; ``config`` wins over the older ``subWorkflowConfig``."""
    config, legacy = step.config, step.sub_workflow_config
    workflow_id = config.get("subWorkflowId") or (legacy.sub_workflow_id if legacy else None)
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ValueError(f"SUB_WORKFLOW '{step.step_id}' has no subWorkflowId")
    version = config.get("version", legacy.version if legacy else None)
    return SubWorkflowCall(
        workflow_id=workflow_id,
        version=version if isinstance(version, int) else None,
        input_mapping=config.get("inputMapping") or (legacy.input_mapping if legacy else None) or {},
        output_mapping=config.get("outputMapping") or (legacy.output_mapping if legacy else None) or {},
    )


def apply_mapping(source: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """``{key: dot.path}`` picked from ``source``; an empty mapping, or one where no path
    resolves, passes the whole source (the reference's behaviour)."""
    picked = {}
    for key, path in mapping.items():
        value = lookup(source, path)
        if value is not MISSING:
            picked[key] = value
    return picked if picked else dict(source)
