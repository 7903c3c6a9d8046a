"""The /inbox page end to end in a real headless Chromium (Debian `chromium`, driven by
Playwright with `executable_path`): log in, the live stream opens with a ticket (no token in any
URL), a notification and a new task appear through it, claim,
a bad form shows the field error inline, complete, the instance moves on, and a screenshot that is
not blank. Where no Chromium can be had the test says so and is skipped."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from engine.settings import Settings
from tests.api_server import serve
from tests.conftest import PASSWORD, Account, MakeAccount
from tests.workflows.conftest import WorkflowApi, chain, step

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FORM = {
    "type": "object",
    "properties": {"amount": {"type": "number", "minimum": 1, "title": "Amount"}, "note": {"type": "string"}},
    "required": ["amount"],
}


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; `make test` does it as root)")
    return path


def pixels_vary(png: bytes) -> bool:
    """True when the decoded image data is not one repeated value (a blank page is)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat = 8, b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            idat += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[1::7])) > 8


@pytest.fixture
async def page_server(settings: Settings) -> AsyncIterator[str]:
    async for base in serve(settings):
        yield base


async def test_inbox_page_claim_bad_form_complete(
    page_server: str, client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    executable = chromium()
    from playwright.async_api import async_playwright, expect

    member = await make_account("employee", tenant_id=admin.tenant_id)
    wf = WorkflowApi(client, admin)
    review = step(
        "review",
        "USER_TASK",
        stepName="Approve payment",
        userTaskConfig={"assignedTo": ["employee"], "formSchema": FORM},
    )
    definition = await wf.create(chain("inbox-page", review))

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 700})
            errors: list[Any] = []
            page.on("pageerror", lambda error: errors.append(error))
            urls: list[str] = []
            page.on("request", lambda request: urls.append(request.url))
            await page.goto(f"{page_server}/inbox/")
            await page.fill("#email", member.email)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await expect(page.locator("#inbox-view")).to_be_visible()
            await expect(page.locator("#live")).to_have_text("live", timeout=15_000)
            # The stream opened with a single-use ticket; no URL carries a bearer token.
            streams = [u for u in urls if "/api/events/stream" in u]
            assert streams and all("ticket=" in u for u in streams)
            assert not any("token=" in u for u in urls)

            # A notification sent now reaches the page through the live stream.
            await expect(page.locator("#unread")).to_have_text("0")
            sent = await client.post(
                "/api/notifications",
                json={"type": "memo", "title": "Hello", "recipientUserId": str(member.user_id)},
                headers=admin.headers,
            )
            assert sent.status_code == 201, sent.text
            await expect(page.locator("#unread")).to_have_text("1", timeout=15_000)

            # A task created after the page loaded shows up through the live stream.
            instance = await wf.start(definition["workflowId"])
            [task] = await wf.wait_task(instance["id"])
            row = page.locator(f'tr[data-task-id="{task["id"]}"]')
            await expect(row).to_be_visible(timeout=15_000)
            await row.locator('button[data-action="claim"]').click()
            await expect(row.locator("td.status")).to_have_text("IN_PROGRESS", timeout=15_000)

            await row.locator('button[data-action="open"]').click()
            await page.fill('input[name="amount"]', "0")
            await page.click("#complete-button")
            error = page.locator('label[data-path="amount"] .field-error')
            await expect(error).to_contain_text("minimum", timeout=15_000)
            assert (await wf.instance(instance["id"]))["status"] == "PAUSED"

            await page.fill('input[name="amount"]', "5")
            await page.click("#complete-button")
            await expect(page.locator("#status")).to_have_attribute("data-instance-status", "COMPLETED", timeout=15_000)
            await expect(row).to_have_count(0)
            # To look at it: INBOX_SCREENSHOT=/tmp/inbox.png
            shot = await page.screenshot(full_page=True, path=os.environ.get("INBOX_SCREENSHOT"))
            assert pixels_vary(shot)
            assert errors == []
        finally:
            await browser.close()
    done = await wf.instance(instance["id"])
    assert done["status"] == "COMPLETED" and done["context"]["amount"] == 5
