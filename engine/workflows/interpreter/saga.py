"""Running a definition's activities (on steps and transitions) as Temporal activities or durable
timers, and the saga compensation that undoes completed ones when the instance fails."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from engine.workflows.activities import RUN_ACTIVITY
    from engine.workflows.definition import Activity, ActivityType
    from engine.workflows.durations import parse_duration
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import InstanceFailed, Token
    from engine.workflows.interpreter.state import InstanceState
    from engine.workflows.schemas import (
        COMPENSATED,
        COMPENSATING,
        RUNNING,
        WAITING_FOR_ACTIVITIES,
        ActivityRequest,
        ActivityResult,
    )

DEFAULT_ACTIVITY_TIMEOUT = timedelta(seconds=60)
# Short side effects on our own Postgres (and the mail relay) run as local activities: inside the
# workflow task, recorded as one marker, with no round trip through the task queue, so an
# instance whose activities are all of these kinds completes in one workflow task. Each carries
# its idempotency key, so a rerun after a crash (local activities rerun on replay) applies once.
# CALL_API, CALL_WEBHOOK, EXECUTE_FUNCTION and WAIT may be slow or reach outside: they stay
# activities. Instances started before this change replay their recorded commands unchanged.
LOCAL_SIDE_EFFECTS_PATCH = "local-side-effects"
LOCAL_TYPES = frozenset({ActivityType.SEND_EMAIL, ActivityType.EMIT_EVENT, ActivityType.UPDATE_ENTITY})
DEFAULT_ACTIVITY_ATTEMPTS = 3
# Errors the activity side marks as the caller's mistake: retrying cannot help.
NON_RETRYABLE = ["ActivityConfigError", "NonRetryable"]


class ActivitiesMixin(InstanceState):
    async def run_activities(self, token: Token, activities: list[Activity], *, merge: bool) -> dict[str, Any]:
        """Runs synchronous activities in order (fail-fast), then the `async: true` ones
        concurrently (the instance shows WAITING_FOR_ACTIVITIES). With `merge`, outputs land in the
        token's context (sync ones under their name, async ones under `<activityId>_result`)."""
        outputs: dict[str, Any] = {}
        for activity in [a for a in activities if not a.async_]:
            outputs[logic.activity_output_key(activity)] = await self.run_activity(token, activity, outputs)
        background = [a for a in activities if a.async_]
        if background:
            for activity in background:
                self.projection.emit(
                    "ACTIVITY_QUEUED",
                    {
                        "activityId": activity.activity_id,
                        "activityName": activity.activity_name,
                        "activityType": activity.activity_type.value,
                        "async": True,
                    },
                    token=token,
                )
            if token.key is None:
                self.set_status(WAITING_FOR_ACTIVITIES)
            await self.projection.flush()
            tasks = [asyncio.create_task(self.run_activity(token, a, outputs)) for a in background]
            try:
                results = await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    if not task.done():
                        task.cancel()
            for activity, result in zip(background, results, strict=True):
                outputs[logic.async_result_key(activity)] = result
                self.projection.emit(
                    "ACTIVITY_COMPLETED",
                    {
                        "activityId": activity.activity_id,
                        "activityName": activity.activity_name,
                        "async": True,
                        "output": result,
                    },
                    token=token,
                )
            if token.key is None:
                self.set_status(RUNNING)
        if merge:
            self.write(token, outputs)
        return outputs

    async def run_activity(self, token: Token, activity: Activity, earlier: Mapping[str, Any]) -> dict[str, Any]:
        scope = self.scope(token, earlier)
        config = logic.render_template(activity.config, scope)
        if activity.activity_type.value == "WAIT":
            # A durable timer: no worker is busy while the instance waits.
            try:
                fire_at = logic.wait_until(config, workflow.now())
            except ValueError as exc:
                raise InstanceFailed(f"WAIT activity '{activity.activity_name}': {exc}")
            delay = max(fire_at - workflow.now(), timedelta(0))
            if delay:
                await workflow.sleep(delay)
            output: dict[str, Any] = {"waited": True, "durationMs": int(delay.total_seconds() * 1000)}
        else:
            output = await self.call_activity(token, activity, config)
        if activity.compensation is not None:
            self.compensable.append(activity)
        return output

    def retry_policy(self, activity: Activity) -> RetryPolicy:
        policy = activity.retry_policy
        if policy is None:
            return RetryPolicy(maximum_attempts=DEFAULT_ACTIVITY_ATTEMPTS, non_retryable_error_types=NON_RETRYABLE)
        initial = policy.initial_interval_ms or policy.backoff_ms or 1000
        return RetryPolicy(
            maximum_attempts=policy.max_attempts,
            initial_interval=timedelta(milliseconds=max(initial, 1)),
            backoff_coefficient=policy.backoff_coefficient or (1.0 if policy.backoff_ms is not None else 2.0),
            maximum_interval=timedelta(milliseconds=policy.max_interval_ms) if policy.max_interval_ms else None,
            non_retryable_error_types=NON_RETRYABLE,
        )

    async def call_activity(self, token: Token, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        # The key names this execution of this activity: a Temporal retry reuses it, a later
        # visit of the same step (or an instance retry) gets a new one.
        key = f"wf:{self.h.instance_id}:{self.projection.next_seq()}"
        timeout = DEFAULT_ACTIVITY_TIMEOUT
        if activity.timeout:
            try:
                timeout = parse_duration(activity.timeout)
            except ValueError as exc:
                raise InstanceFailed(f"Activity '{activity.activity_name}' has an invalid timeout: {exc}")
        request = ActivityRequest(
            activity_type=activity.activity_type.value,
            activity_name=activity.activity_name,
            config=config,
            idempotency_key=key,
            instance_id=self.h.instance_id,
            workflow_id=self.h.workflow_id,
            tenant_id=self.h.tenant_id,
            organization_id=self.h.organization_id,
            initiated_by=self.initiated_by,
            context=self.read(token),
        )
        try:
            local = activity.activity_type in LOCAL_TYPES and workflow.patched(LOCAL_SIDE_EFFECTS_PATCH)
            execute = workflow.execute_local_activity if local else workflow.execute_activity
            result: ActivityResult = await execute(
                RUN_ACTIVITY,
                request,
                result_type=ActivityResult,
                start_to_close_timeout=timeout,
                retry_policy=self.retry_policy(activity),
            )
        except FailureError as exc:
            # A remote activity's failure arrives wrapped in an ActivityError; a local activity's
            # arrives as its own error (ApplicationError, TimeoutError, ...).
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            message = str(cause.message if isinstance(cause, ApplicationError) else (cause or exc))
            raise InstanceFailed(
                f"Activity '{activity.activity_name}' ({activity.activity_type.value}) failed: {message}",
                {
                    "activityName": activity.activity_name,
                    "activityType": activity.activity_type.value,
                    "error": message,
                },
            )
        self.observe(result.finished_at)
        return result.output

    # ------------------------------------------------------------------ compensation

    def find_activity(self, activity_id: str) -> Activity | None:
        pools = [
            self.defn.activities,
            *(s.activities for s in self.defn.steps),
            *(t.activities for t in self.defn.transitions),
        ]
        for pool in pools:
            for activity in pool:
                if activity.activity_id == activity_id:
                    return activity
        return None

    async def compensate(self, reason: str) -> None:
        """Saga: undo completed activities that declare a compensation, newest first."""
        done = list(reversed(self.compensable))
        self.compensable = []
        self.set_status(COMPENSATING)
        self.projection.emit("COMPENSATION_STARTED", {"reason": reason, "activities": len(done)})
        await self.projection.flush()
        compensated, errors = 0, []
        for activity in done:
            assert activity.compensation is not None
            undo = self.find_activity(activity.compensation.activity_id)
            if undo is None:
                errors.append(f"compensation activity '{activity.compensation.activity_id}' not found")
                continue
            self.projection.emit(
                "COMPENSATION_ACTIVITY_STARTED",
                {"activityName": activity.activity_name, "compensationActivityId": undo.activity_id},
            )
            try:
                config = logic.render_template(undo.config, self.scope(self.root))
                await self.call_activity(self.root, undo, config)
            except InstanceFailed as exc:
                errors.append(exc.message)
                self.projection.emit(
                    "COMPENSATION_ACTIVITY_FAILED", {"activityName": activity.activity_name, "error": exc.message}
                )
                continue
            compensated += 1
            self.projection.emit(
                "COMPENSATION_ACTIVITY_COMPLETED",
                {"activityName": activity.activity_name, "compensationActivityId": undo.activity_id},
            )
        summary = {
            "totalActivities": len(done),
            "compensatedActivities": compensated,
            "failedCompensations": len(errors),
            "errors": errors,
        }
        if not errors:
            self.set_status(COMPENSATED)
            self.projection.emit("COMPENSATION_COMPLETED", summary)
        else:
            self.projection.emit("COMPENSATION_PARTIAL" if compensated else "COMPENSATION_FAILED", summary)
