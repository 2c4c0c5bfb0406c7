"""The offline model answers notes from the phone system (``[event: ...]``).

After "let me put you through", the telephony layer may report that the
transfer did not happen. The model must apologise and offer other help, stop
offering the front desk, and still put the caller through if they ask again.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage

from dialgraph import CallerTurn, caller_turn, turn_message
from graphs.runtime.events import TRANSFER_FAILED, event_message, event_name
from tests.unit.test_local_model import (
    CLOSING,
    GENERIC_REASK,
    PUT_THROUGH,
    TRANSFER_OFFER,
    Call,
    assert_speakable,
)

NOT_PUT_THROUGH = (
    "I'm sorry, I couldn't put you through to the front desk just now. Can I help you with "
    "something else, like booking, cancelling or moving an appointment?"
)


class EventCall(Call):
    def note(self, message: BaseMessage) -> str:
        """The phone system adds ``message``; return what the model says to it."""
        self.messages.append(message)
        reply = self.model.invoke(self.messages)
        self.messages.append(reply)
        assert not reply.tool_calls, "a note is answered in words"
        assert_speakable(reply.content)
        return reply.content


def transferred() -> EventCall:
    call = EventCall()
    assert call.say("can i talk to someone") == PUT_THROUGH
    return call


def test_a_failed_transfer_is_apologised_for_with_an_offer() -> None:
    call = transferred()
    assert call.note(event_message(TRANSFER_FAILED)) == NOT_PUT_THROUGH
    assert call.called("transfer_to_front_desk") == [{"reason": "caller asked for a person"}]


def test_a_note_typed_in_studio_reads_the_same() -> None:
    call = transferred()
    assert call.note(HumanMessage("[event: transfer_failed]")) == NOT_PUT_THROUGH


def test_after_the_apology_the_call_goes_on() -> None:
    call = transferred()
    call.note(event_message(TRANSFER_FAILED))
    assert "Friday" in call.say("book a checkup for friday")
    call = transferred()
    call.note(event_message(TRANSFER_FAILED))
    assert call.say("no thanks") == CLOSING


def test_the_front_desk_is_not_offered_again_but_can_be_asked_for() -> None:
    call = transferred()
    call.note(event_message(TRANSFER_FAILED))
    for gibberish in ("purple monkey dishwasher", "the cat sat on the mat", "blah blah"):
        reply = call.say(gibberish)
        assert TRANSFER_OFFER not in reply and reply == GENERIC_REASK
    assert call.say("can i speak to a person") == PUT_THROUGH
    assert len(call.called("transfer_to_front_desk")) == 2


def test_an_unknown_event_asks_the_pending_question_again() -> None:
    call = EventCall()
    question = call.say("book a checkup")
    assert call.note(event_message("line_noisy")) == question.split(". ")[-1]


def test_event_notes_are_recognised_only_as_such() -> None:
    note = event_message(TRANSFER_FAILED)
    assert note.content.startswith("[event: transfer_failed] ")
    # Tagged for the phone contract and for transcripts (not the caller's words).
    assert caller_turn(note) == {"text": TRANSFER_FAILED, "source": "event"}
    assert note.additional_kwargs["source"] == "event"
    assert event_name(note) == TRANSFER_FAILED
    assert event_name(HumanMessage("i said event transfer failed")) is None
    runtime_tagged = turn_message(CallerTurn(text="line_noisy", source="event"))
    assert event_name(runtime_tagged) == "line_noisy"
