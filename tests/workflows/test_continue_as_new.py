from __future__ import annotations

from typing import Any

from temporalio.client import Client

from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi, flow, step, tr

ROUNDS = 25  # about 7 history events each: well past the limit of 100 set below


async def test_a_long_signal_loop_continues_as_new_and_keeps_its_state(
    make_client: Any, admin: Account, temporal_client: Client
) -> None:
    """Each round adds events; with a low history limit the instance continues as a new run
    between steps, carrying context, event numbering and position, and still completes."""
    document = flow(
        "loop",
        [step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "tick"})],
        [
            tr("start", "wait"),
            tr("wait", "end", "done", condition={">=": [{"var": "n"}, ROUNDS]}, priority=1),
            tr("wait", "wait", "again"),
        ],
    )
    async for client in make_client(workflows_history_limit=100):
        wf = WorkflowApi(client, admin)
        definition = await wf.create(document)
        instance = await wf.start(definition["workflowId"])
        for n in range(1, ROUNDS + 1):
            await wf.wait_status(instance["id"], "PAUSED")
            response = await wf.post(
                f"/api/workflows/instances/{instance['id']}/signal", {"signalName": "tick", "payload": {"n": n}}
            )
            assert response.status_code == 200, response.text
        done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
        assert done["status"] == "COMPLETED", done
        assert done["context"]["n"] == ROUNDS

        events = await wf.events(instance["id"])
        received = [e for e in events if e["eventType"] == "SIGNAL_RECEIVED"]
        assert [e["eventData"]["payload"]["n"] for e in received] == list(range(1, ROUNDS + 1))
        assert [e["eventType"] for e in events].count("WORKFLOW_STARTED") == 1

    history = await temporal_client.get_workflow_handle(f"wf-{instance['id']}").fetch_history()
    first = history.events[0].workflow_execution_started_event_attributes
    assert first.continued_execution_run_id, "the instance never continued as new"
