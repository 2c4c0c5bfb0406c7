"""Offline text-to-speech: eSpeak NG, a voice family unlike the agent's Piper voice.

The simulated callers of ``dialgraph eval`` must not all sound like the agent
(Piper's joe voice, which the softphone's default caller only pitches up).
eSpeak NG is a formant synthesiser: its voices share nothing with a neural
voice, it speaks dozens of accents and variants, and it needs no model.

How it works: the library and its data come in the ``espeakng-loader`` wheel
(``espeakng_loader.get_library_path()``, ``get_data_path()``), bound here with
ctypes. eSpeak NG keeps all its state in C globals and is not thread safe, so
the process has one binding, initialised once in ``AUDIO_OUTPUT_SYNCHRONOUS``
mode, and every use of it holds :data:`_LOCK`. Voice, rate and pitch are
global too: each synthesis selects its engine's voice and sets every
parameter before ``espeak_Synth``, so engines with different voices can share
the library. ``espeak_Synth`` returns when the whole text is spoken, having
handed the 22,050 Hz PCM16 to a callback that collects it; the text is then
resampled to 8 kHz (:class:`~telephony.wire.codec.Resampler`) and mu-law
encoded. All of it runs in a worker thread (``asyncio.to_thread``; ctypes
releases the GIL during the C call), never on the event loop.

A phrase is synthesised whole and yielded as one chunk: eSpeak NG speaks a
second of audio in about 2 ms, resampling included (real-time factor 0.002,
``bench/bench_line.py``), so streaming within a phrase would not bring its
first audio measurably sooner.

The output varies by a few milliseconds from one call to the next for the
same text (the library carries state from the previous utterance, and
``espeak_ng_SetRandSeed`` does not remove it), much as Piper's does.

Licence: eSpeak NG (library and data) is GPL-3.0-or-later. The
``espeakng-loader`` wheel (0.2.4, eSpeak NG 1.52.0) declares no licence in its
metadata and ships no licence file, but that is what it carries. Like Piper
it is an optional extra (``eval``), so Dialgraph itself stays MIT; without
it, constructing :class:`EspeakTTS` raises :class:`ProviderError`.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Literal

import numpy as np

from telephony.speech.base import ProviderError
from telephony.wire.codec import SAMPLE_RATE, Resampler, pcm_to_ulaw

__all__ = [
    "DEFAULT_PITCH",
    "DEFAULT_RATE",
    "MAX_PITCH",
    "MAX_RATE",
    "MIN_PITCH",
    "MIN_RATE",
    "EspeakTTS",
    "Gender",
]

MIN_RATE, MAX_RATE = 80, 450  # espeakRATE_MINIMUM / _MAXIMUM: words per minute the library takes
DEFAULT_RATE = 175  # espeakRATE_NORMAL
MIN_PITCH, MAX_PITCH = 0, 99  # base pitch, the range eSpeak's voice files use
DEFAULT_PITCH = 50  # the library's normal base pitch

Gender = Literal["male", "female"]

_INSTALL_HINT = "eSpeak NG is an optional extra: install it with `uv sync --extra eval` (or `make`)"

# speak_lib.h: the C API's constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns when the text is spoken
_INITIALIZE_DONT_EXIT = 0x8000  # without it, missing data would exit the whole process
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_EE_NOT_FOUND = 2
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_NORMAL_VOLUME = 100  # 0-200; 100 peaks at about 0.8 of full scale, like Piper's 0.7
_NORMAL_RANGE = 50  # pitch range (intonation), 0 = monotone
_GENDER_CODES: dict[Gender, int] = {"male": 1, "female": 2}
_VARIANT_SEPARATOR = "+"  # "en-us+f3": voice "en-us" with variant "f3"

# espeak-ng 1.52 (the wheel's) copies the data path into a 160-byte buffer
# (N_PATH_HOME) and silently truncates a longer one, then fails to load.
_MAX_DATA_PATH_BYTES = 159

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


class _VoiceSpec(ctypes.Structure):
    """``espeak_VOICE``: the selection criteria for ``espeak_SetVoiceByProperties``."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _Espeak:
    """The process's one binding of the library. Callers hold :data:`_LOCK`."""

    def __init__(self, library_path: str, data_path: str) -> None:
        if len(data_path.encode()) > _MAX_DATA_PATH_BYTES:
            raise ProviderError(
                "espeak",
                f"the data path {data_path} is longer than the {_MAX_DATA_PATH_BYTES} bytes "
                "eSpeak NG 1.52 can hold; install the environment at a shorter path",
            )
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise ProviderError("espeak", f"cannot load {library_path}: {exc}") from exc
        self._declare(lib)
        self._lib = lib
        parent = str(Path(data_path).parent).encode()  # the folder holding espeak-ng-data
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, parent, _INITIALIZE_DONT_EXIT)
        if rate <= 0:  # -1 on an internal error, 0 when the data did not load
            raise ProviderError("espeak", f"cannot initialise eSpeak NG with data in {data_path}")
        self.sample_rate: int = rate
        self._variants = Path(data_path) / "voices" / "!v"  # "+f3" names a file here
        self._chunks: list[bytes] = []
        # Kept on the instance: ctypes does not keep the callback alive for C.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        """Give ctypes the C signatures, so arguments are converted and checked."""
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceSpec))
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # size (with the terminating zero)
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position (0: the end)
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique_identifier (unused)
            ctypes.c_void_p,  # user_data (unused)
        ]
        lib.espeak_Synth.restype = ctypes.c_int

    def _collect(self, wav: int | None, count: int, _events: int | None) -> int:
        """The synthesis callback: keep the samples; 0 = go on (a NULL ``wav`` ends it)."""
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def select(self, voice: str, gender: Gender | None) -> None:
        """Make ``voice`` current (see :class:`EspeakTTS` for what ``voice`` may be).

        Raises:
            ValueError: No voice matches.
        """
        if gender is not None:
            spec = _VoiceSpec(languages=voice.encode(), gender=_GENDER_CODES[gender])
            status = self._lib.espeak_SetVoiceByProperties(ctypes.byref(spec))
            if status == _EE_NOT_FOUND:
                raise ValueError(_no_such_voice(voice))
            self._check(status, f"selecting a {gender} voice for {voice!r}")
            return
        variant = voice.partition(_VARIANT_SEPARATOR)[2]
        if variant and not (self._variants / variant).is_file():  # eSpeak would ignore it
            raise ValueError(
                f"eSpeak NG has no variant {variant!r}: the variants are the files in "
                f"{self._variants} (e.g. f1-f5, m1-m8)"
            )
        status = self._lib.espeak_SetVoiceByName(voice.encode())
        if status == _EE_NOT_FOUND:
            # Not a voice name: a language ("en-gb"), perhaps with a variant
            # ("en-gb+f3"). Its best voice's file name takes the variant.
            language, plus, variant = voice.partition(_VARIANT_SEPARATOR)
            found = self._lib.espeak_ListVoices(
                ctypes.byref(_VoiceSpec(languages=language.encode()))
            )
            best = found[0] if found else None
            if not best:
                raise ValueError(_no_such_voice(voice))
            identifier = best.contents.identifier.decode()
            status = self._lib.espeak_SetVoiceByName(f"{identifier}{plus}{variant}".encode())
            if status == _EE_NOT_FOUND:
                raise ValueError(_no_such_voice(voice))
        self._check(status, f"selecting voice {voice!r}")

    def synthesise(self, text: str, *, rate: int, pitch: int) -> np.ndarray:
        """Speak ``text`` with the current voice; PCM16 at :attr:`sample_rate`.

        Raises:
            ProviderError: The library reports an error.
        """
        for parameter, value in (
            (_PARAM_RATE, rate),
            (_PARAM_PITCH, pitch),
            (_PARAM_VOLUME, _NORMAL_VOLUME),
            (_PARAM_RANGE, _NORMAL_RANGE),
        ):
            self._check(self._lib.espeak_SetParameter(parameter, value, 0), "setting parameters")
        data = text.encode()
        self._chunks = []
        status = self._lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self._check(status, "synthesis")
        pcm = np.frombuffer(b"".join(self._chunks), dtype="<i2").astype(np.int16)
        self._chunks = []
        return pcm

    @staticmethod
    def _check(status: int, doing: str) -> None:
        if status != _EE_OK:
            raise ProviderError("espeak", f"{doing} failed (espeak error {status})")


def _no_such_voice(voice: str) -> str:
    return (
        f"eSpeak NG has no voice {voice!r} (try a name such as 'en-us', 'en' or 'en-gb-x-rp', "
        "optionally with a variant: 'en-us+f3')"
    )


_LOCK = threading.Lock()  # the library is process-global and not thread safe
_ENGINE: _Espeak | None = None


def _engine() -> _Espeak:
    """The process's binding, created on first use. Call with :data:`_LOCK` held.

    Raises:
        ProviderError: The extra is not installed or the library does not start.
    """
    global _ENGINE  # noqa: PLW0603 -- one initialisation per process, by design
    if _ENGINE is None:
        try:  # optional extra; untyped, hence import_module
            loader = importlib.import_module("espeakng_loader")
            library_path = str(loader.get_library_path())
            data_path = str(loader.get_data_path())
        except (ImportError, RuntimeError) as exc:  # RuntimeError: the wheel lacks its data
            raise ProviderError("espeak", f"{_INSTALL_HINT} ({exc})") from None
        _ENGINE = _Espeak(library_path, data_path)
    return _ENGINE


class EspeakTTS:
    """eSpeak NG as a :class:`~telephony.speech.base.TextToSpeech`.

    Args:
        voice: An eSpeak NG voice name or language, optionally with a variant
            after ``+``: ``"en-us"``, ``"en"`` (British), ``"en-gb-x-rp"``,
            ``"en-us+f3"`` (a female variant), ``"en-gb"`` (a language: its
            best voice). ``espeak-ng --voices=en`` lists them, and the
            variants are the files in ``espeak-ng-data/voices/!v``.
        gender: Choose the best voice of this gender for the language
            ``voice`` (``espeak_SetVoiceByProperties``; eSpeak adds a variant
            of that gender if the language has no such voice). ``None``:
            select ``voice`` by name.
        rate: Speaking rate in words per minute, 80-450 (175 is normal).
        pitch: Base pitch, 0-99 (50 is normal).

    Raises:
        ProviderError: The ``eval`` extra is not installed or the library fails to start.
        ValueError: No such voice, or ``rate`` / ``pitch`` out of range.
    """

    name = "espeak"

    def __init__(
        self,
        voice: str = "en-us",
        *,
        gender: Gender | None = None,
        rate: int = DEFAULT_RATE,
        pitch: int = DEFAULT_PITCH,
    ) -> None:
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(
                f"EspeakTTS rate must be {MIN_RATE}-{MAX_RATE} words per minute, got {rate}"
            )
        if not MIN_PITCH <= pitch <= MAX_PITCH:
            raise ValueError(f"EspeakTTS pitch must be {MIN_PITCH}-{MAX_PITCH}, got {pitch}")
        if gender is not None and gender not in _GENDER_CODES:
            raise ValueError(f"EspeakTTS gender must be 'male' or 'female', got {gender!r}")
        if gender is not None and _VARIANT_SEPARATOR in voice:
            raise ValueError(
                f"EspeakTTS voice {voice!r}: give a variant or a gender, not both "
                "(with a gender, eSpeak picks the variant)"
            )
        self.voice = voice
        self.gender = gender
        self.rate = rate
        self.pitch = pitch
        with _LOCK:  # a few milliseconds: load the library once, check the voice exists
            _engine().select(voice, gender)

    def __repr__(self) -> str:
        gender = f", gender={self.gender!r}" if self.gender else ""
        return f"EspeakTTS({self.voice!r}{gender}, rate={self.rate}, pitch={self.pitch})"

    async def warm_up(self) -> None:
        """Speak one word (in a thread), so the voice's data is loaded before the first phrase."""
        await asyncio.to_thread(self._speak, "Hello.")

    def _speak(self, text: str) -> bytes:
        """Blocking: synthesise ``text`` and return it as 8 kHz mu-law."""
        with _LOCK:
            engine = _engine()
            engine.select(self.voice, self.gender)
            pcm = engine.synthesise(text, rate=self.rate, pitch=self.pitch)
            rate = engine.sample_rate
        resampler = Resampler(rate, SAMPLE_RATE)
        return pcm_to_ulaw(np.concatenate([resampler.process(pcm), resampler.flush()]))

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield 8 kHz mu-law audio for ``text`` (the whole phrase, one chunk).

        Raises:
            ProviderError: The library reports an error.
        """
        text = text.replace("\0", " ")  # C strings end at a zero byte
        if not text.strip():
            return
        ulaw = await asyncio.to_thread(self._speak, text)
        if ulaw:
            yield ulaw
