"""PhraseSplitter: speakable phrases from streamed tokens."""

from __future__ import annotations

import pytest

from telephony.call.phrases import MAX_PHRASE_CHARS, PhraseSplitter


def _split(text: str, chunk: int = 3) -> list[str]:
    splitter = PhraseSplitter()
    out: list[str] = []
    for i in range(0, len(text), chunk):
        out += splitter.feed(text[i : i + chunk])
    return out + splitter.flush()


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("Hello. How are you?", ["Hello.", "How are you?"]),
        ("We open at 9.30 on Saturday.", ["We open at 9.30 on Saturday."]),
        (
            "Dr. Patel is free at three. Shall I book it?",
            ["Dr. Patel is free at three.", "Shall I book it?"],
        ),
        # The first phrase may end at a clause break once it is long enough ...
        (
            "Certainly, I can help with that, what day suits you?",
            ["Certainly, I can help with that,", "what day suits you?"],
        ),
        # ... later phrases only at sentence ends.
        (
            "Yes. On Tuesday, Wednesday, or Friday, we have slots.",
            ["Yes.", "On Tuesday, Wednesday, or Friday, we have slots."],
        ),
        ("no punctuation at all", ["no punctuation at all"]),
        ("", []),
        ("Wait... what?", ["Wait...", "what?"]),
        ("At nine a.m. or ten a.m. on Friday.", ["At nine a.m. or ten a.m. on Friday."]),
        (
            "We close at five p.m. today. Anything else?",
            ["We close at five p.m. today.", "Anything else?"],
        ),
        ("It costs 1,200 rupees. Okay?", ["It costs 1,200 rupees.", "Okay?"]),
    ],
)
def test_phrases(text: str, phrases: list[str]) -> None:
    assert _split(text) == phrases
    assert _split(text, chunk=1) == phrases


def test_run_on_text_is_cut_at_a_word() -> None:
    text = "word " * 100
    phrases = _split(text)
    assert all(len(p) <= MAX_PHRASE_CHARS for p in phrases)
    assert " ".join(phrases).split() == text.split()
