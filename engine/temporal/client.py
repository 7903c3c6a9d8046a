from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    """The one way to reach Temporal: every payload goes through the pydantic data converter, so
    workflow, update and activity contracts are typed models on both sides."""
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
