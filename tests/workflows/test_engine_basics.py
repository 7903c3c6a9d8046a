from __future__ import annotations

from tests.workflows.conftest import WorkflowApi, shipped


async def test_checkout_flow_runs_to_completed_with_its_events(wf: WorkflowApi) -> None:
    definition = await wf.create(shipped("checkout"))
    started = await wf.start(definition["workflowId"], initialContext={"customerEmail": "a@b.test", "orderId": 7})
    assert started["status"] == "RUNNING"
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["currentStepId"] == "end"
    assert done["context"]["orderId"] == 7
    types = [e["eventType"] for e in await wf.events(started["id"])]
    assert types[0] == "WORKFLOW_STARTED"
    assert types[-1] == "WORKFLOW_COMPLETED"
    assert types.count("TRANSITION_EXECUTED") == 3
