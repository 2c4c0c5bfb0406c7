"""The caller voices by name: two families, unknown names refused with the list."""

from __future__ import annotations

import pytest

from telephony.eval.voices import VOICES, caller_voice, voice_family
from telephony.speech.base import ProviderError, TextToSpeech

REQUIRED = ("piper", "piper-fast", "piper-high", "espeak-us", "espeak-gb-f", "espeak-slow")


def test_the_required_voices_are_there_with_descriptions() -> None:
    assert set(REQUIRED) <= set(VOICES)
    assert all(description and "\n" not in description for description in VOICES.values())


def test_there_are_two_voice_families() -> None:
    families = {name: voice_family(name) for name in VOICES}
    assert set(families.values()) == {"piper", "espeak"}
    assert all(families[name] == name.split("-")[0] for name in REQUIRED)


@pytest.mark.parametrize("lookup", [caller_voice, voice_family])
def test_an_unknown_voice_is_refused_with_the_known_ones(lookup: object) -> None:
    with pytest.raises(ValueError, match="unknown caller voice 'robot'; known: piper, ") as info:
        lookup("robot")  # type: ignore[operator]
    assert all(name in str(info.value) for name in VOICES)


@pytest.mark.parametrize("name", sorted(VOICES))
def test_each_voice_is_an_engine_of_its_family(name: str) -> None:
    try:
        tts = caller_voice(name)
    except ProviderError as exc:  # the family's optional extra is not installed
        pytest.skip(str(exc))
    assert isinstance(tts, TextToSpeech)
    assert tts.name == voice_family(name)
    assert caller_voice(name) is not tts  # a new engine each time
