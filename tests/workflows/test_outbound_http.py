"""Outbound webhook requests go to the address the SSRF guard validated: the name is resolved once
(a hostile DNS server cannot answer a public address to the guard and a local one to the request),
while the receiver still sees its own name in Host and, over TLS, in SNI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from tests.http_receiver import Receiver, serving
from workers.workflows.errors import ActivityConfigError
from workers.workflows.http import send


class FakeDns:
    """Answers each lookup with the next of `answers` (the last one repeats) and counts lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver()) as tiny:
        yield tiny


async def test_request_goes_to_the_resolved_address_with_the_original_host(receiver: Receiver) -> None:
    # Only the fake resolver knows hook.test: reaching the server proves nothing resolved it again.
    dns = FakeDns(["127.0.0.1"])
    response = await send(
        "POST",
        f"http://hook.test:{receiver.port}/hooks/1?x=2",
        allow_private=True,
        headers={"Content-Type": "application/json"},
        body={"id": 1},
        resolve=dns,
    )
    assert response.status_code == 200 and response.json() == {"received": True}
    [hit] = receiver.hits
    assert hit.path == "/hooks/1?x=2"
    assert hit.headers["host"] == f"hook.test:{receiver.port}"
    assert json.loads(hit.body) == {"id": 1}
    assert dns.lookups == [("hook.test", receiver.port)]


async def test_an_unreachable_address_falls_back_to_the_next_one_of_the_name(receiver: Receiver) -> None:
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only): the connection is
    # refused, nothing was sent, and the name's second address gets the request.
    dns = FakeDns(["127.0.0.2", "127.0.0.1"])
    response = await send("GET", f"http://two.test:{receiver.port}/hook", allow_private=True, headers={}, resolve=dns)
    assert response.status_code == 200
    assert len(receiver.hits) == 1
    with pytest.raises(ApplicationError, match="no address of the host is reachable"):
        await send("GET", f"http://two.test:{receiver.port}/hook", allow_private=True, headers={},
                   resolve=FakeDns(["127.0.0.2", "127.0.0.3"]))  # fmt: skip


async def test_rebinding_dns_cannot_redirect_the_request_to_a_local_address(receiver: Receiver) -> None:
    # Public to the first lookup, loopback to any later one: the request must use the first answer
    # (which fails at once, or after the short timeout, as nothing answers there on that port).
    dns = FakeDns(["8.8.8.8"], ["127.0.0.1"])
    with pytest.raises(ApplicationError) as failure:
        await send(
            "POST",
            f"http://rebind.test:{receiver.port}/hook",
            allow_private=False,
            headers={},
            timeout_seconds=0.5,
            resolve=dns,
        )
    assert not isinstance(failure.value, ActivityConfigError)  # it did try the validated public address
    assert receiver.hits == []
    assert len(dns.lookups) == 1


@pytest.mark.parametrize(
    "addresses",
    [["8.8.8.8", "127.0.0.1"], ["100.100.100.200"]],  # the latter: a cloud metadata service
)
async def test_a_name_with_any_local_address_is_refused_before_connecting(
    receiver: Receiver, addresses: list[str]
) -> None:
    dns = FakeDns(addresses)
    with pytest.raises(ActivityConfigError, match="private or local"):
        await send("GET", f"http://mixed.test:{receiver.port}/hook", allow_private=False, headers={}, resolve=dns)
    assert receiver.hits == []


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host"),
    [
        ("https://hook.test:8443/a?b=1", "2606:4700:4700::1111", "https://[2606:4700:4700::1111]:8443/a?b=1",
         "hook.test:8443"),
        ("https://Hook.Test/a", "8.8.8.8", "https://8.8.8.8/a", "hook.test"),
    ],
)  # fmt: skip
async def test_https_keeps_the_hostname_for_sni_and_certificate_checks(
    url: str, address: str, sent_to: str, host: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    response = await send(
        "GET",
        url,
        allow_private=False,
        headers={},
        resolve=FakeDns([address]),
        transport=httpx.MockTransport(handler),
    )
    assert response.status_code == 204
    [request] = seen
    assert str(request.url) == sent_to
    assert request.headers["host"] == host
    assert request.extensions["sni_hostname"] == "hook.test"
