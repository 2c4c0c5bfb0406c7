"""Understanding a turn with a chat model: the real langchain-openai client against a local fake.

The fake Chat Completions server plays the model: its answers (function
calls to ``Understanding``) are scripted, and every request it received is
checked: the tool's schema built from the flow's meaning (the intents as an
enum, each slot with its value, confidence and the words heard), and the
turn in the prompt (its readings, the recogniser's confidence, what the step
asked, today). A model that fails understands nothing and says so in one
log line; inside :class:`Mixed` the rules' reading then stands.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest
from langchain.chat_models import init_chat_model

from dialgraph import CallerTurn, ChatModelUnderstander, Expect, Mixed, Slot
from graphs.clinic import meaning as clinic
from tests.openai_fake import FakeOpenAI, HttpError, Reply, Text, ToolCalls

TODAY = dt.date(2026, 12, 3)
INSTRUCTIONS = "You answer the phone for Riverside Family Clinic."
TURN = CallerTurn(
    text="book me in with doctor when on tuesday",
    source="speech",
    confidence=0.42,
    alternatives=["book me in with doctor win on tuesday", "look me in with doctor wynn"],
)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        # Both names: langchain-openai keys its cached HTTP client (bound to one event
        # loop) by OPENAI_API_BASE, so each test's loop gets a client of its own.
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        yield fake


def understander(timeout_s: float | None = 5.0) -> ChatModelUnderstander:
    model = init_chat_model("openai:gpt-4.1-mini", temperature=0, max_retries=0)
    return ChatModelUnderstander(
        model, clinic.MEANING, instructions=INSTRUCTIONS, timeout_s=timeout_s
    )


def understood(**arguments: object) -> ToolCalls:
    return ToolCalls((("Understanding", dict(arguments)),))


async def test_the_model_gets_the_meaning_and_the_turn_and_its_answer_is_understood(
    server: FakeOpenAI,
) -> None:
    server.replies.append(
        understood(
            intent="book",
            intent_confidence=0.92,
            answer=None,
            answer_confidence=0,
            correction=False,
            slots={
                "doctor": {"value": "Dr. Nguyen", "confidence": 0.8, "heard": "doctor when"},
                "day": {"value": "2026-12-08", "confidence": 0.95, "heard": "on tuesday"},
            },
        )
    )
    heard = await understander().understand(TURN, expecting=Expect.date(), today=TODAY)

    assert heard.source == "model" and heard.text == TURN["text"]
    assert (heard.intent, heard.intent_confidence) == ("book", 0.92)
    assert heard.slots == {
        "doctor": Slot("Dr. Nguyen", 0.8, "doctor when"),
        "day": Slot("2026-12-08", 0.95, "on tuesday"),
    }
    (request,) = server.requests
    (tool,) = request["tools"]
    assert request["tool_choice"]["function"]["name"] == tool["function"]["name"] == "Understanding"
    schema = tool["function"]["parameters"]
    assert schema["properties"]["intent"]["enum"] == [*clinic.MEANING.intents, None]
    slots = schema["properties"]["slots"]["properties"]
    assert set(slots) == set(clinic.MEANING.slots)
    assert slots["doctor"]["properties"]["value"]["enum"] == ["Dr. Patel", "Dr. Nguyen"]
    assert slots["day"]["required"] == ["value", "confidence", "heard"]
    system, user = request["messages"]
    assert system["role"] == "system" and system["content"].startswith(INSTRUCTIONS)
    assert (
        '- book: Book a new appointment. For example: "id like to book a checkup"'
        in (system["content"])
    )
    assert (
        "- doctor (one of: Dr. Patel, Dr. Nguyen): the doctor the caller asks for"
        in (system["content"])
    )
    assert user["content"].splitlines() == [
        "Today: Thursday 2026-12-03",
        "The question just asked expects: a day",
        "Recogniser confidence: 0.42",
        'Best reading: "book me in with doctor when on tuesday"',
        'Other readings: "book me in with doctor win on tuesday" | "look me in with doctor wynn"',
    ]


async def test_what_does_not_fit_the_meaning_is_left_out(server: FakeOpenAI) -> None:
    server.replies.append(
        understood(
            intent="order_pizza",  # not the clinic's
            intent_confidence=0.9,
            answer="yes",
            answer_confidence=1.7,  # clamped
            correction=True,
            slots={
                "day": {"value": "next tuesday", "confidence": 0.9, "heard": "next tuesday"},
                "time": {"value": "9:30", "confidence": 0.8, "heard": "half nine"},
                "doctor": {"value": "Dr. Who", "confidence": 0.9, "heard": "doctor who"},
                "name": {"value": "maria  lopez", "confidence": 0.7, "heard": "maria lopez"},
                "shoe_size": {"value": "nine", "confidence": 1, "heard": "nine"},
            },
        )
    )
    heard = await understander().understand(TURN, today=TODAY)
    assert heard.intent is None and heard.intent_confidence == 0.0
    assert (heard.answer, heard.answer_confidence, heard.correction) == ("yes", 1.0, True)
    assert heard.slots == {
        "time": Slot("09:30", 0.8, "half nine"),
        "name": Slot("Maria Lopez", 0.7, "maria lopez"),
    }


@pytest.mark.parametrize(
    "reply",
    [HttpError(500, "upstream is down"), Text("I think they want to book."), ToolCalls(())],
    ids=["http-error", "no-function-call", "empty-answer"],
)
async def test_a_failing_model_understands_nothing_and_says_so_in_one_line(
    server: FakeOpenAI, reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    server.replies.append(reply)
    with caplog.at_level(logging.WARNING, logger="graphs.runtime.understanding.chat_model"):
        heard = await understander().understand(TURN, today=TODAY)
    assert heard.intent is None and heard.intent_confidence == 0.0 and not heard.understood
    assert heard.source == "model"
    (record,) = caplog.records
    assert record.getMessage().startswith("understanding: the model failed, nothing understood (")
    assert "\n" not in record.getMessage() and record.exc_info is None


async def test_a_slow_model_is_given_up_on(
    server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    server.replies.append(understood(intent="book", intent_confidence=0.9, slots={}))
    with caplog.at_level(logging.WARNING, logger="graphs.runtime.understanding.chat_model"):
        heard = await understander(timeout_s=0.0).understand(TURN, today=TODAY)
    assert not heard.understood
    assert "TimeoutError" in caplog.records[0].getMessage()


async def test_mixed_asks_the_model_only_for_what_the_rules_are_unsure_of(
    server: FakeOpenAI,
) -> None:
    server.replies.append(
        understood(
            intent="book",
            intent_confidence=0.9,
            answer=None,
            answer_confidence=0,
            slots={"doctor": {"value": "Dr. Nguyen", "confidence": 0.9, "heard": "doctor win"}},
        )
    )
    mixed = Mixed(clinic.RULES, understander(), below=0.6)
    sure = CallerTurn(text="book a checkup with doctor patel", source="speech", confidence=0.9)
    heard = await mixed.understand(sure, today=TODAY)
    assert heard.source == "rules" and not server.requests
    heard = await mixed.understand(TURN, today=TODAY)
    assert len(server.requests) == 1 and heard.source == "rules+model"
    assert (heard.intent, heard.intent_confidence) == ("book", 0.9)
    assert heard.slot("doctor") == Slot("Dr. Nguyen", 0.9, "doctor win")
    assert heard.value("day") == "2026-12-08"  # the rules': the model did not give it

    server.replies.append(HttpError(400, "model not found"))
    failed = await mixed.understand(TURN, today=TODAY)
    assert failed == await clinic.RULES.understand(TURN, today=TODAY)
