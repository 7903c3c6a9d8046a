"""Choosing a token's next transition (recording the ones pre-conditions block) and taking it:
its activities, the move, its post-conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows.definition import Step, StepType, Transition, TransitionTrigger
    from engine.workflows.interpreter.common import InstanceFailed, Token
    from engine.workflows.interpreter.saga import ActivitiesMixin


class TransitionsMixin(ActivitiesMixin):
    @staticmethod
    def resume_triggers(step: Step) -> Any:
        # After a wait, transitions named for what ended the wait may fire too.
        if step.step_type == StepType.WAIT_FOR_SIGNAL:
            return (TransitionTrigger.AUTO, TransitionTrigger.SIGNAL)
        if step.step_type == StepType.WAIT_FOR_TIMER:
            return (TransitionTrigger.AUTO, TransitionTrigger.TIMER)
        return TransitionTrigger.AUTO

    def pick(self, token: Token, step_id: str, triggers: Any) -> Transition | None:
        allowed, blocked = self.conditions.candidates(self.read(token), step_id, triggers)
        for transition, failures in blocked:
            self.projection.emit(
                "TRANSITION_REJECTED",
                {
                    "fromStepId": transition.from_step_id,
                    "toStepId": transition.to_step_id,
                    "transitionId": transition.transition_id,
                    "reason": "Pre-conditions failed",
                    "failedRules": ", ".join(f["ruleId"] for f in failures),
                    "failedRulesDetail": failures,
                },
                token=token,
            )
        return allowed[0] if allowed else None

    async def run_transition(
        self, token: Token, transition: Transition, trigger_data: Mapping[str, Any] | None = None
    ) -> None:
        outputs: dict[str, Any] = {}
        if transition.activities:
            try:
                outputs = await self.run_activities(token, transition.activities, merge=True)
            except InstanceFailed as failure:
                self.projection.emit(
                    "ACTIVITY_FAILED",
                    {"fromStepId": transition.from_step_id, "toStepId": transition.to_step_id,
                     "transitionId": transition.transition_id, "error": failure.message,
                     "continueOnFailure": transition.continue_on_activity_failure},
                    token=token,
                )  # fmt: skip
                if not transition.continue_on_activity_failure:
                    raise InstanceFailed(f"Activities failed: {failure.message}", failure.details)
        token.previous_step_id = token.step_id
        token.step_id = transition.to_step_id
        if token.key is None:
            self.projection.state_dirty = True
        post_failures = []
        if transition.post_conditions:
            data = self.conditions.rule_data(self.read(token), transition, trigger_data)
            for ref in transition.post_conditions:
                passed, error = self.conditions.rule_passes(
                    ref, data, event_type="post_transition", entity_id=transition.transition_id
                )
                if not passed:
                    post_failures.append({"ruleId": ref.rule_id, "error": error})
            if post_failures:
                self.projection.emit(
                    "TRANSITION_POST_CONDITION_FAILED",
                    {"transitionId": transition.transition_id, "failedRules": post_failures},
                    token=token,
                )
        self.projection.emit(
            "TRANSITION_EXECUTED",
            {"fromStepId": transition.from_step_id, "toStepId": transition.to_step_id,
             "transitionId": transition.transition_id, "transitionName": transition.transition_name,
             "trigger": transition.trigger.value, "preConditionsPassed": True,
             "postConditionsPassed": not post_failures, "activitiesExecuted": len(transition.activities),
             "activityOutputs": list(outputs)},
            token=token,
        )  # fmt: skip
