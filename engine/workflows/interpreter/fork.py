"""Parallel branches: a fork runs one token per branch concurrently until the join, where their
writes merge into the context; the first branch that fails cancels its siblings."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows.definition import Step, Transition, TransitionTrigger
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import InstanceFailed, SignalTimedOut, Token
    from engine.workflows.interpreter.steps import StepsMixin
    from engine.workflows.interpreter.transitions import TransitionsMixin
    from engine.workflows.schemas import CANCELLED, COMPLETED, FAILED, FORKED, RUNNING


class ForkMixin(StepsMixin, TransitionsMixin):
    async def run_fork(self, step: Step) -> None:
        root = self.root
        try:
            plan = logic.fork_branches(self.defn, step.step_id)
        except ValueError as exc:
            raise InstanceFailed(str(exc))
        op = self.enter_step(root, step)
        self.active_fork = step.step_id
        self.set_status(FORKED)
        self.branches = {b.key: Token(key=b.key, step_id=step.step_id) for b in plan.branches}
        self.projection.emit(
            "PARALLEL_FORK_OPENED",
            {"forkStepId": step.step_id, "joinStepId": plan.join_step_id, "branchKeys": list(self.branches)},
            token=root,
        )
        await self.projection.flush()
        runners = [
            asyncio.create_task(self.run_branch(branch.transition, self.branches[branch.key], plan.join_step_id))
            for branch in plan.branches
        ]
        try:
            await workflow.wait(runners, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for runner in runners:
                runner.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
            raise
        failed = next(
            (
                b
                for b, r in zip(plan.branches, runners, strict=True)
                if r.done() and not r.cancelled() and r.exception()
            ),
            None,
        )
        if failed is not None:
            error = runners[plan.branches.index(failed)].exception()
            message = error.message if isinstance(error, InstanceFailed) else str(error)
            self.branches[failed.key].status = FAILED
            self.projection.emit("PARALLEL_BRANCH_FAILED", {"branchKey": failed.key, "error": message}, token=root)
            for branch, runner in zip(plan.branches, runners, strict=True):
                if not runner.done():
                    runner.cancel()
                    self.branches[branch.key].status = CANCELLED
                    self.projection.emit(
                        "PARALLEL_BRANCH_CANCELLED", {"branchKey": branch.key, "reason": "sibling-failed"}, token=root
                    )
            await asyncio.gather(*runners, return_exceptions=True)
            self.fail_step(root, step, op, message)
            self.projection.emit(
                "PARALLEL_FORK_FAILED", {"forkStepId": step.step_id, "failedBranchKey": failed.key}, token=root
            )
            raise InstanceFailed(f"Parallel branch '{failed.key}' failed: {message}")
        join = logic.get_step(self.defn, plan.join_step_id)
        self.context = logic.merge_join(
            self.context, {key: b.namespace for key, b in self.branches.items()}, join.config.get("outputMapping")
        )
        self.exit_step(root, step, op, {"branches": list(self.branches)})
        self.projection.emit(
            "PARALLEL_JOIN_COMPLETED",
            {"forkStepId": step.step_id, "joinStepId": plan.join_step_id, "mergedBranchKeys": list(self.branches)},
            token=root,
        )
        self.branches = {}
        self.active_fork = None
        root.previous_step_id = step.step_id
        root.step_id = plan.join_step_id
        self.set_status(RUNNING)
        self.resume_after_step = True  # the join itself does nothing; take its outgoing transition

    async def run_branch(self, first: Transition, token: Token, join_step_id: str) -> None:
        await self.run_transition(token, first)
        while token.step_id != join_step_id:
            step = logic.get_step(self.defn, token.step_id)
            transition: Transition | None = None
            try:
                await self.run_step(token, step)
            except SignalTimedOut:
                transition = self.pick(token, step.step_id, TransitionTrigger.TIMER)
                if transition is None:
                    raise InstanceFailed(f"{logic.SIGNAL_TIMEOUT}: no signal '{token.signal_name}' arrived in time")
            if transition is None:
                transition = self.pick(token, step.step_id, self.resume_triggers(step))
            if transition is None:
                raise InstanceFailed(f"No valid transition from step '{step.step_id}' in branch '{token.key}'")
            await self.run_transition(token, transition)
        token.status = COMPLETED
        self.projection.emit(
            "PARALLEL_BRANCH_COMPLETED", {"branchKey": token.key, "joinStepId": join_step_id}, token=token
        )
        # The branch now waits for its siblings: make its progress visible meanwhile.
        await self.projection.flush()
