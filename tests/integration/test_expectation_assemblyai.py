"""A step's hints reach AssemblyAI as key terms for the next turn, and survive a fail-over.

Against :class:`tests.assemblyai_fake.FakeAssemblyAI` on loopback, as in
``test_assemblyai.py`` (whose caller audio helpers are used here). The fake
mishears a name unless it is a key term in effect when the turn begins, the
way a real recogniser misses a rare name: the test can only pass if the
update reaches the service, in the right message, before the turn.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telephony.speech.assemblyai import AssemblyAISTT
from telephony.speech.base import CallInfo, Expectation, ExpectingSpeechToText
from telephony.speech.fallback import FallbackSTT
from tests.assemblyai_fake import API_KEY, FakeAssemblyAI, Fault, unformatted
from tests.integration.test_assemblyai import (
    CALL,
    MID_CALL_MS,
    LiveAudio,
    Recogniser,
    RecordingSTT,
    utterance,
)

SAID = ["Is Doctor Nguyen in on Friday?"] * 3
MISHEARD = {"Doctor Nguyen": "doctor when"}
DOCTORS = Expectation(
    "choice", ("Doctor Patel", "Doctor Nguyen"), ("Doctor Patel", "Doctor Nguyen")
)
FLOW_TERMS = ["Riverside Family Clinic"]


async def three_turns(
    stt: AssemblyAISTT | FallbackSTT, steps: list[Expectation | None]
) -> list[str]:
    """Before each turn the agent's reply sets what it expects; returns the finals."""
    live = LiveAudio()
    recogniser = Recogniser(stt, live)
    for n, step in enumerate(steps):
        stt.expect(CALL, step)
        live.say(utterance(n))
        await recogniser.wait_finals(n + 1)
    live.hang_up()
    await recogniser.done()
    return recogniser.finals()


async def test_a_steps_hints_are_key_terms_for_the_next_turn_only() -> None:
    async with FakeAssemblyAI(SAID, misheard=MISHEARD) as fake:
        stt = AssemblyAISTT(API_KEY, url=fake.url, keyterms=FLOW_TERMS)
        assert isinstance(stt, ExpectingSpeechToText)
        finals = await three_turns(stt, [None, DOCTORS, Expectation("yes_no")])

    conn = fake.connections[0]
    assert finals == [
        "is doctor when in on friday",  # no key term yet: misheard
        "is doctor nguyen in on friday",  # the step named the doctors
        "is doctor when in on friday",  # a yes/no step: the flow's key terms again
    ]
    updates = [m for m in conn.client_messages if m["type"] == "UpdateConfiguration"]
    assert updates == [
        {"type": "UpdateConfiguration", "keyterms_prompt": [*FLOW_TERMS, *DOCTORS.hints]},
        {"type": "UpdateConfiguration", "keyterms_prompt": FLOW_TERMS},
    ], "sent only when the key terms change; a kind alone adds none"
    assert json.loads(conn.query["keyterms_prompt"]) == FLOW_TERMS
    assert conn.turn_keyterms == [FLOW_TERMS, [*FLOW_TERMS, *DOCTORS.hints], FLOW_TERMS]


async def test_an_expectation_set_before_the_session_opens_is_sent_first() -> None:
    async with FakeAssemblyAI(SAID, misheard=MISHEARD) as fake:
        stt = AssemblyAISTT(API_KEY, url=fake.url)
        stt.expect(CALL, DOCTORS)  # the greeting's reply came before the stream opened
        live = LiveAudio()
        recogniser = Recogniser(stt, live)
        live.say(utterance(0))
        await recogniser.wait_finals(1)
        live.hang_up()
        await recogniser.done()

    assert recogniser.finals() == ["is doctor nguyen in on friday"]
    assert fake.connections[0].client_messages[0] == {
        "type": "UpdateConfiguration",
        "keyterms_prompt": list(DOCTORS.hints),
    }


async def test_the_vendor_sdk_updates_key_terms_the_way_the_fake_checks() -> None:
    """``set_params`` of the vendor's SDK sends what the fake accepts and applies."""
    from assemblyai.streaming.v3 import (
        AsyncStreamingClient,
        Encoding,
        StreamingClientOptions,
        StreamingEvents,
        StreamingParameters,
        StreamingSessionParameters,
    )

    errors: list[object] = []
    async with FakeAssemblyAI(SAID, misheard=MISHEARD) as fake:
        client = AsyncStreamingClient(
            StreamingClientOptions(api_key=API_KEY, api_host=fake.host, max_connection_retries=0)
        )
        client.on(StreamingEvents.Error, lambda _client, error: errors.append(error))
        await client.connect(StreamingParameters(sample_rate=8000, encoding=Encoding.pcm_mulaw))
        await client.set_params(
            StreamingSessionParameters(keyterms_prompt=["Doctor Nguyen"], max_turn_silence=1200)
        )
        audio = utterance(0)
        await client.stream([audio[i : i + 400] for i in range(0, len(audio), 400)])
        await client.disconnect(terminate=True)

    conn = fake.connections[0]
    assert errors == [] and conn.close_code == 1000
    assert conn.keyterms == ["Doctor Nguyen"] and conn.turn_keyterms == [["Doctor Nguyen"]]


@pytest.mark.parametrize(
    "update",
    [
        {"keyterms_prompt": "Doctor Nguyen"},  # one string, not a list
        {"keyterms_prompt": ["Doctor Nguyen", 7]},
        {"keyterms": ["Doctor Nguyen"]},  # another vendor's field name
        {"max_turn_silence": "long"},
    ],
)
async def test_a_malformed_update_is_refused_as_the_service_refuses_it(
    update: dict[str, object],
) -> None:
    async with FakeAssemblyAI(SAID) as fake:
        query = "sample_rate=8000&encoding=pcm_mulaw"
        headers = {"Authorization": API_KEY}
        async with connect(f"{fake.url}?{query}", additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "Begin"
            await ws.send(json.dumps({"type": "UpdateConfiguration", **update}))
            error = json.loads(await ws.recv())
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    assert error["type"] == "Error" and error["error_code"] == 3006
    assert fake.connections[0].close_code == 3006


class ExpectingOffline(RecordingSTT):
    """The offline engine's stand-in, keeping the expectations it is given."""

    def __init__(self, utterances: list[str]) -> None:
        super().__init__(utterances)
        self.expected: list[Expectation | None] = []

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None:
        self.expected.append(expectation)


async def test_the_engine_that_takes_over_knows_what_the_call_expects() -> None:
    offline = ExpectingOffline(["fallback one", "fallback two", "fallback three"])
    faults = [Fault("close", after_ms=MID_CALL_MS), Fault("close", after_ms=100)]
    async with FakeAssemblyAI(SAID, faults=faults, misheard=MISHEARD) as fake:
        stt = FallbackSTT(AssemblyAISTT(API_KEY, url=fake.url), offline)
        finals = await three_turns(stt, [DOCTORS, DOCTORS, Expectation("yes_no")])

    assert finals[0] == unformatted(SAID[0])  # the vendor's, with the doctors as key terms
    assert finals[1:] == ["fallback one", "fallback two"]
    # Told before its transcription started, then as the call went on.
    assert offline.expected == [DOCTORS, Expectation("yes_no")]
    retried = fake.connections[1]  # the retry session got the key terms again
    assert retried.client_messages[0]["keyterms_prompt"] == list(DOCTORS.hints)
