"""The one evaluator of a pinned business rule against data.

A workflow pins the rules its definition references when the instance starts (`RuleSnapshot`) and
evaluates that copy, so later rule edits never change a running decision. Every path that decides
with a pinned rule calls `evaluate` here: the START pre-conditions checked by the API before it
starts an instance (`engine.workflows.service`), and the pre/post-conditions inside the workflow
(`engine.workflows.interpreter.conditions`). The rule engine (`engine.rules.execution`) evaluates
live rows, and shares the effective window (`window_error`) and the `$context` key with this module.

Order of the checks: missing, disabled, outside its effective window (`effectiveFrom` ≤ now ≤
`effectiveTo`), condition error, condition false. The condition is compiled once per rule id +
version (`compiled`, a small LRU: pure, so workflow code may use it; replays compile the same text
to the same function).

Pure: no database, no settings, no clock (the caller passes `now`: `workflow.now()` in a workflow).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel

from engine.clock import iso
from engine.rules.jsonlogic import CONTEXT_KEY, CompiledLogic, compile_logic, truthy

__all__ = ["CONTEXT_KEY", "RuleSnapshot", "Verdict", "evaluate", "rule_context", "window_error"]

RULE_NOT_FOUND: Final = "RULE_NOT_FOUND"
RULE_DISABLED: Final = "RULE_DISABLED"
RULE_NOT_IN_EFFECT: Final = "RULE_NOT_IN_EFFECT"
RULE_ERROR: Final = "RULE_ERROR"
PRE_CONDITION_FAILED: Final = "PRE_CONDITION_FAILED"


class RuleSnapshot(BaseModel):
    """A business rule as it was when the instance started."""

    rule_id: str
    rule_name: str
    enabled: bool = True
    condition: Any = None  # JsonLogic
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    fail_message: str | None = None
    # The rule row's revision (`<uuid>@<updatedAt>`): the compile cache's key. Histories recorded
    # before it existed carry none; their condition text is the key then.
    version: str | None = None


def window_error(effective_from: datetime | None, effective_to: datetime | None, now: datetime) -> str | None:
    """`"not_yet"` before `effective_from`, `"expired"` after `effective_to`, else None."""
    if effective_from is not None and now < effective_from:
        return "not_yet"
    if effective_to is not None and now > effective_to:
        return "expired"
    return None


class _CompiledCache:
    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], CompiledLogic] = OrderedDict()
        self.compiled = 0  # how many compilations ran (tests check the reuse)

    def get(self, rule: RuleSnapshot) -> CompiledLogic:
        key = (rule.rule_id, rule.version or json.dumps(rule.condition, sort_keys=True, default=str))
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
            return found
        function = compile_logic(rule.condition)
        self.compiled += 1
        self.items[key] = function
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return function


CACHE = _CompiledCache()


def compiled(rule: RuleSnapshot) -> CompiledLogic:
    """The rule's condition as a function, compiled once per rule id + version."""
    return CACHE.get(rule)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    code: str | None  # None when passed; else one of the RULE_* / PRE_CONDITION_FAILED codes
    error: str | None  # what went wrong (the rule's fail message when the condition was false)


def evaluate(rule_id: str, rule: RuleSnapshot | None, data: Mapping[str, Any], now: datetime) -> Verdict:
    """Evaluates the pinned `rule` (None: not pinned, i.e. not found) against `data`."""
    if rule is None:
        return Verdict(False, RULE_NOT_FOUND, f"Business rule not found: {rule_id}")
    if not rule.enabled:
        return Verdict(False, RULE_DISABLED, f"Business rule is disabled: {rule_id}")
    if window_error(rule.effective_from, rule.effective_to, now) is not None:
        return Verdict(False, RULE_NOT_IN_EFFECT, f"Business rule is not in effect: {rule_id}")
    try:
        passed = truthy(compiled(rule)(dict(data)))
    except Exception as exc:
        return Verdict(False, RULE_ERROR, f"Business rule error: {exc}")
    if passed:
        return Verdict(True, None, None)
    return Verdict(False, PRE_CONDITION_FAILED, rule.fail_message or f"Pre-condition '{rule.rule_name}' failed")


def rule_context(user_id: str | None, tenant_id: Any, now: datetime) -> dict[str, Any]:
    """What a pinned rule reads under `$context` (`{{user.id}}`, `{{tenant.id}}`, `{{today}}`,
    `{{now}}`): the same on the START path and inside the workflow."""
    return {
        "user": {"id": user_id},
        "tenant": {"id": str(tenant_id)},
        "today": now.date().isoformat(),
        "now": iso(now),
    }
