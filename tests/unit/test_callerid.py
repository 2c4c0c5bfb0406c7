"""Caller ID normalisation: E.164 for a number, "" (unknown) for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memory.callerid import WITHHELD_WORDS, is_withheld, normalise_caller
from memory.store import CallerMemory
from telephony.call.session import call_info

# What Twilio and carriers send for a hidden number, and other things that are not one.
UNKNOWN = [
    "",
    "   ",
    "anonymous",
    "Anonymous",
    "ANONYMOUS",
    "+266696687",  # ANONYMOUS on a keypad
    "266696687",
    "Restricted",
    "+7378742833",  # RESTRICTED
    "Unavailable",
    "+86282452253",  # UNAVAILABLE: a possible length in China, refused by name
    "unknown",
    "+8656696",  # UNKNOWN
    "private",
    "Blocked",
    "+2562533",  # BLOCKED
    "withheld",
    "sip:alice@example.com",
    "sip:+14155550100@example.com",
    "client:alice",
    "+1800FLOWERS",  # phonenumbers would read the letters as digits
    "+0123456789",  # no country code 0
    "+999123456789",  # unassigned country code
    "+1234",
    "911",
    "+123456789012345678",  # longer than E.164
    "+14155550100;ext=12",
    "+14155550100 ext. 12",
    "4155550100",  # national format: no region given
    "١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits
    "+1 415 555 0100" + " " * 100,
    "null",
    "\x00",
]


@pytest.mark.parametrize("raw", UNKNOWN)
def test_withheld_and_unparseable_caller_ids_are_unknown(raw: str) -> None:
    assert normalise_caller(raw) == ""
    assert not CallerMemory.is_storable(normalise_caller(raw))


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155550100", None, "+14155550100"),
        ("+15551230000", None, "+15551230000"),  # fictional, but the right length
        (" +1 (415) 555-0100 ", None, "+14155550100"),
        ("+44 20 7946 0000", None, "+442079460000"),
        ("+447700900123", None, "+447700900123"),
        ("+4915112345678", None, "+4915112345678"),
        ("4155550100", "US", "+14155550100"),
        ("020 7946 0000", "GB", "+442079460000"),
    ],
)
def test_numbers_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalise_caller(raw, region) == e164
    assert CallerMemory.is_storable(e164)


def test_every_withheld_word_and_its_keypad_spelling_is_withheld() -> None:
    keypad = str.maketrans("abcdefghijklmnopqrstuvwxyz", "22233344455566677778889999")
    for word in WITHHELD_WORDS:
        for form in (word, word.title(), word.upper(), "+" + word.translate(keypad)):
            assert is_withheld(form), form
            assert normalise_caller(form) == "", form


@given(st.text(max_size=60))
def test_any_text_is_e164_or_unknown(raw: str) -> None:
    result = normalise_caller(raw)
    assert result == "" or CallerMemory.is_storable(result)


def test_call_info_gives_a_flow_e164_or_unknown() -> None:
    """The edge: a start carrying a withheld ID reaches the flow as no number at all."""
    for raw in ("anonymous", "+266696687", "Restricted", ""):
        info = call_info("CA" + "1" * 32, "MZ1", "AC1", {"caller": raw, "direction": "inbound"})
        assert info.caller == ""
    info = call_info("CA" + "1" * 32, "MZ1", "AC1", {"direction": "inbound"})
    assert info.caller == ""
    info = call_info("CA" + "1" * 32, "MZ1", "AC1", {"caller": "+14155550100"})
    assert info.caller == "+14155550100"
