"""Fixtures shared by the Twilio REST tests: the loopback fake and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from telephony.outbound.twilio_rest import TwilioCallControl
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """The fake Twilio REST API, listening on loopback."""
    async with FakeTwilio() as server:
        yield server


@pytest.fixture
async def control(fake: FakeTwilio) -> AsyncIterator[TwilioCallControl]:
    """The real SDK-backed call control, pointed at ``fake`` (no retry delay)."""
    async with TwilioCallControl(
        ACCOUNT_SID, AUTH_TOKEN, base_url=fake.base_url, retry_delay=0.0
    ) as ctl:
        yield ctl
