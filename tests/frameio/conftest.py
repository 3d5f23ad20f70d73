"""Fixtures for the Frame.io client tests: a behavioural fake Frame.io behind MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from c2c_hub.frameio import FrameioClient
from tests.frameio.fakes import FakeFrameio

BASE_URL = "https://api.frame.io.test"
VERSION = "1.2.3"


@pytest.fixture
def fake() -> FakeFrameio:
    return FakeFrameio()


@pytest.fixture
async def http(fake: FakeFrameio) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient) -> FrameioClient:
    return FrameioClient(http, client_version=VERSION, base_url=BASE_URL)


@pytest.fixture
def token(fake: FakeFrameio) -> str:
    return fake.issue_token()
