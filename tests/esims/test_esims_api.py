"""Lists, detail, rename, home zone and tenancy of eSIMs through the HTTP API."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account, MakeAccount
from tests.consumers.conftest import SignedUpConsumer, sign_up
from tests.esims.conftest import EsimStack
from tests.helpers import nothing_written


async def test_another_tenants_esim_is_404_everywhere(
    esims: EsimStack,
    consumer: SignedUpConsumer,
    tenant_admin: Account,
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "ready")
    [before] = (await esims.http.get("/api/esims/list", headers=consumer.headers)).json()["esims"]
    stranger = await make_account("admin")
    outsider = await sign_up(esims.asgi, stranger.tenant_id)

    async with nothing_written(sessionmaker, stranger.tenant_id):
        for account in (stranger, outsider):
            assert (await esims.http.get(f"/api/esims/{esim_id}", headers=account.headers)).status_code == 404
            assert (await esims.http.get(f"/api/esims/{esim_id}/usage", headers=account.headers)).status_code == 404
        assert (
            await esims.http.get("/api/esims/admin", params={"id": esim_id}, headers=stranger.headers)
        ).status_code == 404
        assert (await esims.http.get("/api/esims/admin", headers=stranger.headers)).json()["total"] == 0
        renamed = await esims.http.put(
            "/api/esims/admin", json={"id": esim_id, "name": "mine"}, headers=stranger.headers
        )
        assert renamed.status_code == 404
        generate = await esims.http.post(
            "/api/esims/admin/generate", json={"consumerId": consumer.id}, headers=stranger.headers
        )
        assert generate.status_code == 404
    # The home zone is the owner's alone, even inside the tenant.
    neighbour = await sign_up(esims.asgi, tenant_admin.tenant_id)
    for account in (outsider, neighbour, tenant_admin):
        toggled = await esims.http.put(
            f"/api/esims/{esim_id}/home-zone", json={"disabled": True}, headers=account.headers
        )
        assert toggled.status_code == 404
    assert (await esims.http.get(f"/api/esims/{esim_id}", headers=neighbour.headers)).status_code == 404
    # Nothing changed.
    assert (await esims.detail(consumer, esim_id))["homeZoneDisabled"] is False
    [after] = (await esims.http.get("/api/esims/list", headers=consumer.headers)).json()["esims"]  # none generated
    assert after["name"] == before["name"]  # not renamed
    assert (await esims.http.get("/api/esims/list", headers=outsider.headers)).json()["total"] == 0


async def test_admin_list_searches_sorts_pages_and_finds_one_by_id(
    esims: EsimStack, consumer: SignedUpConsumer, tenant_admin: Account
) -> None:
    ids = []
    for name in ("Berlin trip", "Alps", "Camino"):
        response = await esims.order(consumer, name=name)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    headers = tenant_admin.headers

    by_name = await esims.http.get(
        "/api/esims/admin", params={"sortField": "name", "sortDir": "asc", "pageSize": 2}, headers=headers
    )
    assert by_name.status_code == 200
    assert [e["name"] for e in by_name.json()["items"]] == ["Alps", "Berlin trip"]
    assert (by_name.json()["total"], by_name.json()["totalPages"]) == (3, 2)
    second = await esims.http.get(
        "/api/esims/admin", params={"sortField": "name", "sortDir": "asc", "page": 2, "pageSize": 2}, headers=headers
    )
    assert [e["name"] for e in second.json()["items"]] == ["Camino"]

    found = await esims.http.get("/api/esims/admin", params={"search": "berl"}, headers=headers)
    assert [e["id"] for e in found.json()["items"]] == [ids[0]]
    by_email = await esims.http.get("/api/esims/admin", params={"search": consumer.email}, headers=headers)
    assert by_email.json()["total"] == 3
    one = await esims.http.get("/api/esims/admin", params={"id": ids[1]}, headers=headers)
    item = one.json()["items"][0]
    assert (item["id"], item["name"], item["consumerProfileId"], item["consumerEmail"]) == (
        ids[1],
        "Alps",
        consumer.id,
        consumer.email,
    )
    assert item["oneGlobalOrderId"].startswith("order_")
    by_consumer = await esims.http.get("/api/esims/admin", params={"consumerId": consumer.id}, headers=headers)
    assert by_consumer.json()["total"] == 3

    bad_sort = await esims.http.get("/api/esims/admin", params={"sortField": "secret"}, headers=headers)
    assert bad_sort.status_code == 400
    bad_id = await esims.http.get("/api/esims/admin", params={"id": "nope"}, headers=headers)
    assert bad_id.status_code == 400
    assert (await esims.http.get("/api/esims/not-a-uuid", headers=headers)).status_code == 400
    # A consumer may not list the tenant's eSIMs.
    assert (await esims.http.get("/api/esims/admin", headers=consumer.headers)).status_code == 403


async def test_rename_and_my_list_with_status_filter(
    esims: EsimStack, consumer: SignedUpConsumer, tenant_admin: Account
) -> None:
    await esims.behave(consumer.email, install=False)
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "ready")
    renamed = await esims.http.put(
        "/api/esims/admin", json={"id": esim_id, "name": "Holiday"}, headers=tenant_admin.headers
    )
    assert renamed.status_code == 200 and renamed.json() == {"ok": True}
    empty = await esims.http.put("/api/esims/admin", json={"id": esim_id, "name": ""}, headers=tenant_admin.headers)
    assert empty.status_code == 400
    assert (
        await esims.http.put("/api/esims/admin", json={"name": "x"}, headers=tenant_admin.headers)
    ).status_code == 400

    mine = await esims.http.get("/api/esims/list", params={"status": "ready"}, headers=consumer.headers)
    [listed] = mine.json()["esims"]
    assert (listed["id"], listed["name"], listed["status"]) == (esim_id, "Holiday", "ready")
    none = await esims.http.get("/api/esims/list", params={"status": "expired"}, headers=consumer.headers)
    assert none.json() == {"esims": [], "total": 0, "totalPages": 0}
    bad = await esims.http.get("/api/esims/list", params={"status": "flying"}, headers=consumer.headers)
    assert bad.status_code == 400


async def test_the_owner_toggles_the_home_zone_through_1global(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    await esims.behave(consumer.email, install=False)
    esim_id = await esims.ordered(consumer)
    ready = await esims.wait_for(consumer, esim_id, "ready")
    url = f"/api/esims/{esim_id}/home-zone"

    assert (await esims.http.put(url, json={"disabled": "yes"}, headers=consumer.headers)).status_code == 400
    assert (await esims.detail(consumer, esim_id))["homeZoneDisabled"] is False  # refused: unchanged
    toggled = await esims.http.put(url, json={"disabled": True}, headers=consumer.headers)
    assert toggled.status_code == 200, toggled.text
    assert toggled.json() == {"id": esim_id, "homeZoneDisabled": True}
    subscription = next(s for s in esims.sim.state.subscriptions.values() if s["sim_id"] == ready["iccid"])
    assert subscription["home_zone_disabled"] is True
    assert (await esims.detail(consumer, esim_id))["homeZoneDisabled"] is True

    back = await esims.http.put(url, json={"disabled": False}, headers=consumer.headers)
    assert back.json()["homeZoneDisabled"] is False and subscription["home_zone_disabled"] is False


async def test_the_home_zone_of_a_pending_esim_cannot_change(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    await esims.behave(consumer.email, completeAfter=30, silent=True)
    esim_id = await esims.ordered(consumer)
    response = await esims.http.put(
        f"/api/esims/{esim_id}/home-zone", json={"disabled": True}, headers=consumer.headers
    )
    assert response.status_code == 409
    assert (await esims.detail(consumer, esim_id))["homeZoneDisabled"] is False
