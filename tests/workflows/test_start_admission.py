"""Start admission (engine/workflows/settlement.py): a start answers once its instance has settled
(left RUNNING) or after WORKFLOW_START_SETTLE_MS, so a client's concurrency bounds its instances in
flight. The answer's body stays the instance as started."""

from __future__ import annotations

from typing import Any

import httpx

from engine.settings import Settings
from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi, chain, flow, step, tr


def pause(duration: str) -> dict[str, Any]:
    wait = {"activityId": "pause", "activityName": "pause", "activityType": "WAIT", "config": {"duration": duration}}
    return step("pause", "AUTOMATED", activities=[wait])


async def test_the_answer_comes_once_the_instance_completed(wf: WorkflowApi) -> None:
    _, started = await wf.run(chain("admitted", pause("1s")))
    assert started["status"] == "RUNNING"  # the body: the instance as it was started
    assert (await wf.instance(started["id"]))["status"] == "COMPLETED"  # but it had finished by then


async def test_an_instance_waiting_for_a_signal_is_settled(make_client: Any, admin: Account) -> None:
    document = flow("parked", [step("hold", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"})],
                    [tr("start", "hold"), tr("hold", "end")])  # fmt: skip
    # A minute of patience: were waiting instances not counted as settled, the start would outlast
    # the client's 20 s timeout.
    async for client in make_client(workflow_start_settle_ms=60_000):
        client.timeout = httpx.Timeout(20)
        wf = WorkflowApi(client, admin)
        _, started = await wf.run(document)
        assert (await wf.instance(started["id"]))["status"] == "PAUSED"
        assert (await wf.signal(started["id"], "go")).status_code == 200
        assert (await wf.wait_status(started["id"], "COMPLETED", "FAILED"))["status"] == "COMPLETED"


async def test_the_wait_is_bounded(make_client: Any, admin: Account) -> None:
    async for client in make_client(workflow_start_settle_ms=200):
        wf = WorkflowApi(client, admin)
        _, started = await wf.run(chain("bounded", pause("3s")))
        assert (await wf.instance(started["id"]))["status"] == "RUNNING"  # answered before it finished
        assert (await wf.wait_status(started["id"], "COMPLETED", "FAILED"))["status"] == "COMPLETED"


async def test_the_listener_can_have_its_own_database_url(make_client: Any, admin: Account, settings: Settings) -> None:
    """DATABASE_LISTEN_URL (for a DATABASE_URL behind a transaction pooler): the settled
    notification arrives through that connection."""
    async for client in make_client(database_listen_url=settings.database_url):
        wf = WorkflowApi(client, admin)
        _, started = await wf.run(chain("listened", pause("1s")))
        assert (await wf.instance(started["id"]))["status"] == "COMPLETED"
    # And it is that URL the listener uses: one that reaches no database leaves it down, so starts
    # answer at once (as without admission) instead of waiting for a notification that can't come.
    async for client in make_client(database_listen_url="postgresql://nobody@127.0.0.1:9/none"):
        wf = WorkflowApi(client, admin)
        _, started = await wf.run(chain("unheard", pause("3s")))
        assert (await wf.instance(started["id"]))["status"] == "RUNNING"


async def test_zero_answers_as_soon_as_temporal_accepted(make_client: Any, admin: Account) -> None:
    async for client in make_client(workflow_start_settle_ms=0):
        wf = WorkflowApi(client, admin)
        _, started = await wf.run(chain("immediate", pause("3s")))
        assert (await wf.instance(started["id"]))["status"] == "RUNNING"
