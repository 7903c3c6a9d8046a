"""User-task rules, pure: who may claim, complete, release, reassign or change a task (the
permission matrix), form validation against the task's `formSchema`, and the timers of its SLA
and escalation rules.

Used by the instance's Update validators (the workflow is the source of truth, so the read model
cannot race a claim) and unit-tested without Temporal. A refusal is a `Refusal(kind, message)`;
the interpreter turns it into the Update's ApplicationError and the API into 403/409.

The permission matrix:

| actor                                  | claim | complete | release | reassign | change |
|----------------------------------------|-------|----------|---------|----------|--------|
| holder of `workflows.tasks.manage`     | yes   | yes      | yes     | yes      | yes    |
| the direct assignee (`assignedTo`)     | yes   | yes      | -       | yes      | -      |
| a member of the task's role queue      | yes   | -        | -       | -        | -      |
| the claimer                            | -     | yes      | yes     | yes      | -      |
| anyone else in the tenant              | 403   | 403      | 403     | 403      | 403    |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from engine.workflows.durations import parse_duration

MANAGE_FEATURE = "workflows.tasks.manage"
OPEN_STATUSES = ("PENDING", "IN_PROGRESS", "ESCALATED")
DEFAULT_PRIORITY = 50


class TaskLike(Protocol):
    status: str
    assigned_to: str | None
    assigned_to_roles: list[str] | None
    claimed_by: str | None


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    roles: frozenset[str]
    manager: bool = False

    @classmethod
    def of(cls, user_id: str | None, roles: Iterable[str], manager: bool) -> Actor:
        return cls(user_id, frozenset(roles), manager)


@dataclass(frozen=True)
class Refusal:
    kind: str  # "FORBIDDEN" | "CONFLICT" | "BAD_REQUEST"
    message: str


def in_queue(task: TaskLike, actor: Actor) -> bool:
    return bool(task.assigned_to_roles) and bool(actor.roles & set(task.assigned_to_roles or ()))


def is_assignee(task: TaskLike, actor: Actor) -> bool:
    return actor.user_id is not None and task.assigned_to == actor.user_id


def is_claimer(task: TaskLike, actor: Actor) -> bool:
    return actor.user_id is not None and task.claimed_by == actor.user_id


def can_see(task: TaskLike, actor: Actor) -> bool:
    return actor.manager or is_assignee(task, actor) or is_claimer(task, actor) or in_queue(task, actor)


def _closed(task: TaskLike) -> Refusal | None:
    if task.status in OPEN_STATUSES:
        return None
    return Refusal("CONFLICT", f"Task is already {task.status.lower()}")


def claim_refusal(task: TaskLike, actor: Actor) -> Refusal | None:
    # Permission first: an outsider learns nothing about the task's state.
    if not (actor.manager or is_assignee(task, actor) or (not task.assigned_to and in_queue(task, actor))):
        if task.assigned_to:
            return Refusal("FORBIDDEN", "This task is assigned to another user")
        return Refusal("FORBIDDEN", "You are not in this task's role queue")
    closed = _closed(task)
    if closed:
        return closed
    if task.claimed_by:
        return Refusal("CONFLICT", "Task is already claimed")
    return None


def complete_refusal(task: TaskLike, actor: Actor) -> Refusal | None:
    if not (actor.manager or is_assignee(task, actor) or is_claimer(task, actor)):
        if task.claimed_by:
            return Refusal("FORBIDDEN", "Task is claimed by another user")
        if in_queue(task, actor):
            return Refusal("FORBIDDEN", "Claim the task before completing it")
        return Refusal("FORBIDDEN", "You may not complete this task")
    return _closed(task)


def release_refusal(task: TaskLike, actor: Actor) -> Refusal | None:
    if not task.claimed_by and can_see(task, actor):
        return _closed(task) or Refusal("CONFLICT", "Task is not claimed")
    if not (actor.manager or is_claimer(task, actor)):
        return Refusal("FORBIDDEN", "Only the claimer or a task manager can release a task")
    closed = _closed(task)
    if closed:
        return closed
    if not task.claimed_by:
        return Refusal("CONFLICT", "Task is not claimed")
    return None


def reassign_refusal(task: TaskLike, actor: Actor, user: str | None, roles: list[str] | None) -> Refusal | None:
    if not (actor.manager or is_claimer(task, actor) or is_assignee(task, actor)):
        return Refusal("FORBIDDEN", "Only a task manager, the claimer or the assignee can reassign a task")
    if not user and not roles:
        return Refusal("BAD_REQUEST", "Give assignedTo (a user id) or assignedToRoles (role names)")
    return _closed(task)


def change_refusal(task: TaskLike, actor: Actor) -> Refusal | None:
    if not actor.manager:
        return Refusal("FORBIDDEN", "Only a task manager can change a task")
    return _closed(task)


def comment_refusal(task: TaskLike, actor: Actor) -> Refusal | None:
    if not can_see(task, actor):
        return Refusal("FORBIDDEN", "You may not comment on this task")
    return None


# ---------------------------------------------------------------- forms

_FIELD_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "textarea": {"type": "string"},
    "string": {"type": "string"},
    "password": {"type": "string"},
    "email": {"type": "string", "format": "email"},
    "url": {"type": "string", "format": "uri"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "date-time": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "format": "time"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "checkbox": {"type": "boolean"},
    "switch": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "multiselect": {"type": "array"},
}
# Field keys carried over as JSON Schema keywords (directly or under `validation`).
_FIELD_KEYWORDS = {
    "min": "minimum",
    "max": "maximum",
    "minimum": "minimum",
    "maximum": "maximum",
    "minLength": "minLength",
    "maxLength": "maxLength",
    "pattern": "pattern",
    "minItems": "minItems",
    "maxItems": "maxItems",
}


def _option_value(option: Any) -> Any:
    return option.get("value") if isinstance(option, Mapping) else option


def fields_to_json_schema(form_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The reference's `{fields: [{name, type, required, options, validation...}]}` shape as a
    JSON Schema object."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in form_schema.get("fields") or []:
        if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
            continue
        name = field["name"]
        prop: dict[str, Any] = dict(_FIELD_TYPES.get(str(field.get("type") or "text").lower(), {}))
        options = field.get("options") or field.get("enum")
        if isinstance(options, list) and options:
            values = [_option_value(o) for o in options]
            if prop.get("type") == "array":
                prop["items"] = {"enum": values}
            else:
                prop = {"enum": values}
        validation = field.get("validation")
        sources: list[Mapping[str, Any]] = [field, validation if isinstance(validation, Mapping) else {}]
        for source in sources:
            for key, keyword in _FIELD_KEYWORDS.items():
                if key in source and source[key] is not None:
                    prop[keyword] = source[key]
        if field.get("label"):
            prop["title"] = field["label"]
        properties[name] = prop
        if field.get("required"):
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def json_schema_of(form_schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not form_schema:
        return None
    if isinstance(form_schema.get("fields"), list) and "properties" not in form_schema:
        return fields_to_json_schema(form_schema)
    return dict(form_schema)


def schema_problems(form_schema: Mapping[str, Any] | None) -> list[str]:
    """Why a definition's formSchema is not a usable JSON Schema (checked when it is saved)."""
    schema = json_schema_of(form_schema)
    if schema is None:
        return []

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [exc.message]
    return []


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def form_errors(form_schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> list[dict[str, str]]:
    """One `{path, message}` per failing field (the first problem of each), in path order. A
    required property that is missing or null is reported at its own path."""
    schema = json_schema_of(form_schema)
    if schema is None:
        return []
    # Null counts as missing, as the reference's `required` check does.
    cleaned = {k: v for k, v in data.items() if v is not None}
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    found: dict[str, str] = {}
    for error in validator.iter_errors(cleaned):
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for name in error.validator_value:
                if name not in error.instance:
                    found.setdefault(_path([*parts, name]), "Required field missing")
            continue
        found.setdefault(_path(parts) or "$", error.message)
    return [{"path": path, "message": message} for path, message in sorted(found.items())]


# ---------------------------------------------------------------- SLAs and escalation

ESCALATION_PRIORITY_STEP = 25


class RuleLike(Protocol):
    @property
    def trigger(self) -> str: ...
    @property
    def after(self) -> str | None: ...


@dataclass(frozen=True)
class Escalation:
    """One durable timer of a task: at `at`, if the task is still open, record the SLA breach
    (`breach`) and apply the escalation rules numbered `rules`."""

    at: datetime
    trigger: str
    rules: tuple[int, ...]
    breach: bool = False


def escalation_plan(created: datetime, due: datetime | None, rules: Sequence[RuleLike]) -> list[Escalation]:
    """The timers of a task, in firing order (rules firing at the same moment share one).
    Durations were checked when the definition was saved; one that still fails raises ValueError."""
    moments: dict[tuple[datetime, str], list[int]] = {}
    if due is not None:
        moments[(due, "sla_breach")] = []
    for index, rule in enumerate(rules):
        delay = parse_duration(rule.after) if rule.after else timedelta(0)
        if rule.trigger == "sla_breach" and due is not None:
            moments.setdefault((due + delay, "sla_breach"), []).append(index)
        elif rule.trigger == "no_progress" and rule.after:
            moments.setdefault((created + delay, "no_progress"), []).append(index)
    return [
        Escalation(at, trigger, tuple(indices), breach=(due is not None and at == due and trigger == "sla_breach"))
        for (at, trigger), indices in sorted(moments.items(), key=lambda item: (item[0][0], item[0][1]))
    ]


def remaining(plan: list[Escalation], breached: bool, acted: set[int]) -> list[Escalation]:
    """What is still to do of a plan: the breach once, each rule once."""
    out = []
    for moment in plan:
        left = tuple(i for i in moment.rules if i not in acted)
        breach = moment.breach and not breached
        if left or breach:
            out.append(Escalation(moment.at, moment.trigger, left, breach))
    return out


def raised_priority(priority: int | None) -> int:
    return min(100, (priority if priority is not None else DEFAULT_PRIORITY) + ESCALATION_PRIORITY_STEP)
