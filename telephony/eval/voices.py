"""The simulated callers' voices, by name: the one place a scenario's ``voice`` is looked up.

Two families, because a flow that only ever hears its own voice is not
tested. ``piper`` voices are the agent's own Piper model (joe, US English)
pitched or sped up: close to the agent's voice, and the easiest for the
server to recognise. ``espeak`` voices are eSpeak NG's formant synthesis, a
different kind of speech altogether (US and British accents, a female
voice, a slow speaker), and far harder for the offline recogniser (see
``bench/bench_line.py``). Report results per voice and per family: a flow
that passes only with ``piper`` callers has been tested against itself.

Both engines are optional extras (Piper: ``piper``; eSpeak NG: ``eval``);
:func:`caller_voice` raises the engine's
:class:`~telephony.speech.base.ProviderError` saying how to install a
missing one. Engines are built on demand: naming a voice costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from telephony.softphone import CALLER_PITCH, default_caller_voice
from telephony.speech.base import TextToSpeech
from telephony.speech.espeak import DEFAULT_RATE, EspeakTTS

__all__ = [
    "ESPEAK_FEMALE_VARIANT",
    "ESPEAK_SLOW_RATE",
    "PIPER_FAST_LENGTH_SCALE",
    "PIPER_HIGH_PITCH",
    "VOICES",
    "VoiceFamily",
    "caller_voice",
    "voice_family",
]

VoiceFamily = Literal["piper", "espeak"]

PIPER_FAST_LENGTH_SCALE = 0.85  # Piper's phoneme lengths x 0.85: a brisk talker
PIPER_HIGH_PITCH = 1.3  # the default caller is already 1.15; Piper allows up to 1.5
ESPEAK_SLOW_RATE = 130  # words per minute (eSpeak's normal is 175)
# Of the female variants tried on British English, f5 was recognised best:
# 35-54 % word accuracy over repeated runs, vs 21-33 % for f2 (eSpeak's own
# pick for gender="female") and 25-38 % for f1 and f3 (eight receptionist
# sentences, clean line, the server's domain model). All of them are poor.
ESPEAK_FEMALE_VARIANT = "f5"


def _piper(*, pitch: float = CALLER_PITCH, length_scale: float | None = None) -> TextToSpeech:
    from telephony.speech.piper import PiperTTS  # optional GPL extra: import on use

    return PiperTTS(pitch=pitch, length_scale=length_scale)


def _espeak(voice: str, *, rate: int = DEFAULT_RATE) -> Callable[[], TextToSpeech]:
    return lambda: EspeakTTS(voice, rate=rate)


@dataclass(frozen=True, slots=True)
class _CallerVoice:
    family: VoiceFamily
    description: str
    make: Callable[[], TextToSpeech]


_CATALOGUE: Mapping[str, _CallerVoice] = MappingProxyType(
    {
        "piper": _CallerVoice(
            "piper",
            f"the softphone's default caller: the agent's Piper voice pitched up x{CALLER_PITCH}",
            default_caller_voice,
        ),
        "piper-fast": _CallerVoice(
            "piper",
            f"the default caller speaking faster (length scale {PIPER_FAST_LENGTH_SCALE})",
            lambda: _piper(length_scale=PIPER_FAST_LENGTH_SCALE),
        ),
        "piper-high": _CallerVoice(
            "piper",
            f"the agent's Piper voice pitched up further, x{PIPER_HIGH_PITCH}",
            lambda: _piper(pitch=PIPER_HIGH_PITCH),
        ),
        "espeak-us": _CallerVoice(
            "espeak", "eSpeak NG, male, US English, normal rate", _espeak("en-us")
        ),
        "espeak-gb-f": _CallerVoice(
            "espeak",
            f"eSpeak NG, female (variant {ESPEAK_FEMALE_VARIANT}), British English",
            _espeak(f"en-gb+{ESPEAK_FEMALE_VARIANT}"),
        ),
        "espeak-slow": _CallerVoice(
            "espeak",
            f"eSpeak NG, male, US English, slow ({ESPEAK_SLOW_RATE} words per minute)",
            _espeak("en-us", rate=ESPEAK_SLOW_RATE),
        ),
    }
)

VOICES: Mapping[str, str] = MappingProxyType(
    {name: voice.description for name, voice in _CATALOGUE.items()}
)
"""Every caller voice's name and a one-line description."""


def _lookup(name: str) -> _CallerVoice:
    try:
        return _CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown caller voice {name!r}; known: {', '.join(_CATALOGUE)}") from None


def caller_voice(name: str) -> TextToSpeech:
    """A new engine speaking as the caller voice ``name``.

    Raises:
        ValueError: No voice has that name (the message lists them).
        ProviderError: The voice's engine is not installed or does not start.
    """
    return _lookup(name).make()


def voice_family(name: str) -> VoiceFamily:
    """The family of the caller voice ``name``: ``"piper"`` or ``"espeak"``.

    Raises:
        ValueError: No voice has that name.
    """
    return _lookup(name).family
