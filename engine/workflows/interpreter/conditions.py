"""Which transitions may fire: inline conditions (JsonLogic over the context and trigger data) and
the pinned business rules of pre- and post-conditions, whose evaluations are logged through the
projection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.rules import pinned
    from engine.rules.pinned import CONTEXT_KEY, RuleSnapshot
    from engine.workflows.definition import ConditionRef, Transition, WorkflowDefinition
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import InstanceFailed
    from engine.workflows.interpreter.projection import Projection
    from engine.workflows.schemas import InstanceHeader


class Conditions:
    """Evaluates against the definition and the rules pinned when the instance started, so a
    replay never changes a decision. `context` is the evaluating token's view of the context."""

    def __init__(
        self,
        defn: WorkflowDefinition,
        rules: Mapping[str, RuleSnapshot],
        header: InstanceHeader,
        initiated_by: str | None,
        projection: Projection,
    ) -> None:
        self.defn = defn
        self.rules = rules
        self.h = header
        self.initiated_by = initiated_by
        self.projection = projection

    def rule_passes(
        self,
        ref: ConditionRef,
        data: Mapping[str, Any],
        *,
        event_type: str = "pre_transition",
        entity_id: str | None = None,
    ) -> tuple[bool, str | None]:
        """Evaluates a pinned rule; outside validators the evaluation is logged (written to the
        rules' execution log by the projection activity)."""
        passed, error = self._evaluate_rule(ref, data)
        self.projection.log_rule(
            {
                "tenant_id": str(self.h.tenant_id),
                "organization_id": str(self.h.organization_id) if self.h.organization_id else None,
                "rule_id": ref.rule_id,
                "entity_type": f"workflow:{self.h.workflow_id}:transition",
                "entity_id": entity_id,
                "event_type": event_type,
                "data": {k: v for k, v in data.items() if k != CONTEXT_KEY},
                "condition_result": passed,
                "error": error if error and not error.startswith("Pre-condition") else None,
                "executed_by": self.initiated_by,
                "executed_at": workflow.now().isoformat(),
            }
        )
        return passed, error

    def _evaluate_rule(self, ref: ConditionRef, data: Mapping[str, Any]) -> tuple[bool, str | None]:
        verdict = pinned.evaluate(ref.rule_id, self.rules.get(ref.rule_id), data, workflow.now())
        return verdict.passed, verdict.error

    def rule_data(
        self, context: Mapping[str, Any], transition: Transition, trigger_data: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "workflowInstanceId": str(self.h.instance_id),
            "workflowId": self.h.workflow_id,
            "fromStepId": transition.from_step_id,
            "toStepId": transition.to_step_id,
            "workflowContext": context,
            "triggerData": dict(trigger_data or {}),
            CONTEXT_KEY: pinned.rule_context(self.initiated_by, self.h.tenant_id, workflow.now()),
        }

    def failed_pre_conditions(
        self, context: Mapping[str, Any], transition: Transition, trigger_data: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        data = self.rule_data(context, transition, trigger_data)
        failures = []
        for ref in transition.pre_conditions:
            passed, error = self.rule_passes(ref, data, entity_id=transition.transition_id)
            if not passed and ref.required:
                rule = self.rules.get(ref.rule_id)
                failures.append({"ruleId": ref.rule_id, "ruleName": rule.rule_name if rule else None, "error": error})
        return failures

    def candidates(
        self,
        context: Mapping[str, Any],
        step_id: str,
        triggers: Any,
        trigger_data: Mapping[str, Any] | None = None,
        to_step_id: str | None = None,
    ) -> tuple[list[Transition], list[tuple[Transition, list[dict[str, Any]]]]]:
        """Transitions whose trigger and inline condition allow them, split into those whose
        pre-conditions pass and those they block."""
        data = logic.condition_data(context, trigger_data)
        try:
            possible = logic.valid_transitions(
                self.defn, step_id, data, triggers, logic.evaluate_inline_condition, to_step_id=to_step_id
            )
        except Exception as exc:
            raise InstanceFailed(f"Transition condition failed to evaluate: {exc}")
        allowed, blocked = [], []
        for transition in possible:
            failures = self.failed_pre_conditions(context, transition, trigger_data)
            (blocked.append((transition, failures)) if failures else allowed.append(transition))
        return allowed, blocked
