"""The agent's record checked against the caller's ear: what a listener would have understood."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from telephony.eval.record import heard_share, spoken_replies, understood

ASK_DAY = "What day would you like to come in?"
HOURS = (
    "We're open Monday to Friday from nine to five pm and Saturday from nine to noon. "
    "We're closed on Sunday. Is there anything else I can help you with?"
)
HOURS_HEARD = (
    "we're open monday to friday for my name to buy pm and saturday for my name to none were "
    "closed on friday is there anything else like can help you with"
)


def test_the_record_is_the_agents_spoken_replies_without_tool_requests() -> None:
    state = {
        "messages": [
            AIMessage("Good morning, how can I help?"),
            HumanMessage("hours please"),
            AIMessage("", tool_calls=[{"name": "hours", "args": {}, "id": "1"}]),
            AIMessage([{"type": "text", "text": HOURS}]),  # content blocks
            AIMessage("  "),
        ]
    }
    assert spoken_replies(state) == ["Good morning, how can I help?", HOURS]
    assert spoken_replies({}) == []


def test_a_reply_the_ear_mostly_heard_is_understood_as_recorded() -> None:
    record = ["Good morning, how can I help?", HOURS]
    assert understood(HOURS_HEARD, record) == HOURS
    # Piper's "nine a.m." heard as "my name": about half the words, still this reply
    said = (
        "We're open Monday to Friday from nine a.m. to five p.m., and Saturday from nine a.m. "
        "to noon. We're closed on Sunday. Is there anything else I can help you with?"
    )
    heard = (
        "we're open monday to friday for my name to buy pm and saturday for my name to me and "
        "we're close bond fund they did or anything else like can help you with"
    )
    assert understood(heard, [said]) == said
    # "what they would you like to come in": the generic model's usual slip
    assert understood("what they would you like to come in", [HOURS, ASK_DAY]) == ASK_DAY


def test_audio_that_is_not_the_recorded_reply_is_left_as_heard() -> None:
    # the reply never reached the line (lost, or a failed synthesis): nothing is vouched for
    assert understood("", [ASK_DAY]) is None
    assert understood("sorry i didn't catch that", [ASK_DAY]) is None
    assert understood("anything", []) is None
    # the ear heard much more than the short recorded reply: it is not that reply
    long = "what day would you like to come in and which doctor and what time suits you best"
    assert understood(long, [ASK_DAY]) is None


def test_one_stretch_of_audio_may_hold_two_recorded_replies() -> None:
    record = ["Let me check.", "I have nine and ten on Friday. Which time suits you?"]
    heard = "let me check i have nine and ten on friday which time suits you"
    assert understood(heard, record) == " ".join(record)


def test_the_share_heard_counts_words_in_order() -> None:
    of_reply, of_heard = heard_share("what they would you like to come in", ASK_DAY)
    assert (round(of_reply, 2), round(of_heard, 2)) == (0.88, 0.88)  # 7 of 8 words
    assert heard_share("", ASK_DAY) == (0.0, 0.0)
