"""Offline speech figures: word error (generic vs domain model), ASR costs, TTS first audio.

Run: ``uv run python bench/bench_speech.py [-v]`` (needs the piper extra; ~70 s).
Prints figures, never pass/fail:

- word error of pocketsphinx on the clinic phrase set (the demo call's
  phrases and more clinic phrases), spoken by two synthetic voices -- Piper as
  the agent speaks (pitch 1.0) and as the softphone's caller (pitch 1.15) --
  through G.711 mu-law at 8 kHz, for the generic model and the domain model
  built from ``graphs/clinic/vocabulary.py``: per utterance min / median
  / max and the aggregate (errors / reference words);
- what out-of-domain sentences come out as;
- digit error on ten spoken numbers (:data:`DIGIT_PHRASES`: phone numbers
  3-3-4, card numbers 4-4-4-4, Aadhaar 4-4-4, a mobile 5-5; "oh", "double",
  "triple"): digits substituted, dropped or inserted over the digits said,
  for the generic model, the domain model as it was before its corpus had
  digit strings ("-digits") and the domain model (clinic word error is
  printed for all three too);
- the domain model's build time (first start, then cached) and decoder
  creation time;
- end of speech -> final transcript: audio the endpointer waits for, plus
  the CPU of the last decode trip (``end_utt``);
- Piper's time to first audio for short and long phrases.

The audio goes through :class:`PocketsphinxSTT` exactly as in a call
(endpointer, gain, 8 -> 16 kHz upsampling), fed as fast as it decodes.
Piper samples its phoneme durations, so figures move a little run to run.

The phrase set and helpers here are shared with
``tests/integration/test_domain_lm.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pocketsphinx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from graphs.clinic import vocabulary
from telephony.softphone import CALLER_PITCH, Say, load_script
from telephony.speech.base import AudioFrame, CallInfo
from telephony.speech.domain_lm import DOMAIN_DECODER_OPTIONS, GenericMix, build_domain_model
from telephony.speech.pocketsphinx import PocketsphinxConfig, PocketsphinxSTT
from telephony.wire.codec import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, rms_dbfs, ulaw_silence
from telephony.wire.codec import ulaw_to_pcm as _ulaw_to_pcm

DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "graphs/clinic/demo.toml"
MORE_CLINIC_PHRASES = (
    "Hi, I'd like to make an appointment with Doctor Patel.",
    "Do you have anything free on Friday morning?",
    "Can I come in tomorrow at half past ten?",
    "I need to cancel my appointment on Monday.",
    "Can I move my appointment to Wednesday at four?",
    "Where are you located?",
    "Is there parking at the clinic?",
    "Do you accept Blue Cross insurance?",
    "How much does a flu shot cost?",
    "Which doctors do you have?",
    "Can I speak to someone at the front desk?",
    "It's for my daughter, she has a sore throat.",
    "The second one, please.",
    "Actually, make it ten thirty.",
    "My name is Maria Lopez.",
    "When is my next appointment?",
    "Is Doctor Nguyen available on Tuesday afternoon?",
    "I'd like a vaccination next Monday at nine in the morning.",
    "Yes, that's correct.",
    "Thank you, goodbye.",
    "Are you open on Sunday?",
    "I'd like to book a physical for December third.",
)
"""Clinic phrases beyond the demo's; several are not verbatim in the corpus."""
OUT_OF_DOMAIN = (
    "The weather has been really nice this week.",
    "My brother is going to pick me up after work.",
)
DIGIT_PHRASES = (
    "My number is four one five, five five five, zero one three four.",
    "It's six oh two, eight nine one, four oh seven seven.",
    "Call me on nine one seven, double five two, three eight eight one.",
    "Two one two, seven six eight, nine oh four three.",
    "You can reach me at three one zero, two two six, five nine eight seven.",
    "The card number is four five three two, seven one eight eight, zero two nine six, "
    "three three one four.",
    "My card number is five four one nine, two two eight three, triple seven six, oh one five two.",
    "Four zero one two, eight eight one nine, six five three zero, two seven four one.",
    "It's two three four one, double eight five six, nine zero one two.",
    "Nine eight seven six five, four three two one oh.",
)
"""Phone (10 digits, 3-3-4), card (16, 4-4-4-4), Aadhaar (12, 4-4-4) and Indian mobile
(10, 5-5) numbers, read with the pauses of commas; none is in the corpus."""
PHONE, CARD = DIGIT_PHRASES[0], DIGIT_PHRASES[5]
NO_DIGITS = "-digits"  # the domain model as it was without digit strings
VOICES = {"agent voice (pitch 1.0)": 1.0, f"caller voice (pitch {CALLER_PITCH})": CALLER_PITCH}
LEAD_MS, TRAIL_MS = 300, 800  # silence around each phrase, as between turns of a call
_CALL = CallInfo(call_sid="CAbench", stream_sid="MZbench")
_SPEECH_DBFS = -40.0  # a 20 ms frame louder than this is speech when finding where speech ends


def clinic_phrases() -> list[str]:
    """The demo call's caller phrases, then :data:`MORE_CLINIC_PHRASES`."""
    script = load_script(DEMO_SCRIPT)
    demo = [step.text for step in script.steps if isinstance(step, Say)]
    return [*dict.fromkeys(demo), *MORE_CLINIC_PHRASES]


_SAME_WORDS = {"dr": "doctor", "ok": "okay", "check up": "checkup", "all right": "alright"}
"""Spellings of one thing that are not recognition errors (the generic model writes "dr")."""


def words_of(text: str) -> list[str]:
    """Words for scoring: lower case, no punctuation ("p.m." -> "pm", "that's" stays)."""
    cleaned = "".join(c if c.isalnum() or c in " '" else " " for c in text.lower().replace(".", ""))
    joined = " ".join(w.strip("'") for w in cleaned.split() if w.strip("'"))
    for variant, canonical in _SAME_WORDS.items():
        joined = re.sub(rf"\b{variant}\b", canonical, joined)
    return joined.split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    return _edit_distance(words_of(reference), words_of(hypothesis))


_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
_DIGITS = {word: str(n) for n, word in enumerate(_DIGIT_WORDS)} | {"oh": "0"}
_REPEATS = {"double": 2, "triple": 3}


def digits_of(text: str) -> str:
    """The digits spoken in ``text``: "double five oh" -> "550"; other words are ignored."""
    out, repeat = [], 1
    for word in words_of(text):
        if word in _REPEATS:
            repeat = _REPEATS[word]
        elif word in _DIGITS:
            out.append(_DIGITS[word] * repeat)
            repeat = 1
        else:
            repeat = 1
    return "".join(out)


def digit_errors(reference: str, hypothesis: str) -> int:
    """Digits substituted, dropped or inserted (Levenshtein distance over the digits)."""
    return _edit_distance(list(digits_of(reference)), list(digits_of(hypothesis)))


def _edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1]


@dataclass(frozen=True, slots=True)
class Recognition:
    """One phrase through the recogniser.

    Attributes:
        reference: What was said.
        text: The final transcripts, joined.
        errors: Word errors against ``reference``.
        wait_ms: Audio between the last loud frame and the final (endpointer delay).
        final_cpu_ms: Wall time of the decode trip that produced the final.
    """

    reference: str
    text: str
    errors: int
    wait_ms: float
    final_cpu_ms: float

    @property
    def words(self) -> int:
        return len(words_of(self.reference))

    @property
    def rate(self) -> float:
        return self.errors / self.words


async def synthesise(texts: Iterable[str], pitch: float) -> dict[str, bytes]:
    """Each text as 8 kHz mu-law in Piper's voice at ``pitch``."""
    from telephony.speech.piper import PiperTTS  # optional GPL extra

    tts = PiperTTS(pitch=pitch)
    return {text: b"".join([chunk async for chunk in tts.synthesize(text)]) for text in texts}


async def recognise(stt: PocketsphinxSTT, reference: str, ulaw: bytes) -> Recognition:
    """Feed one phrase (with silence around it) in 20 ms frames; score the finals."""
    audio = ulaw_silence(LEAD_MS) + ulaw + ulaw_silence(TRAIL_MS)
    taken = {"ms": 0, "at": 0.0}

    async def frames() -> AsyncIterator[AudioFrame]:
        for start in range(0, len(audio), FRAME_BYTES):
            chunk = audio[start : start + FRAME_BYTES]
            taken["ms"], taken["at"] = (start + len(chunk)) // 8, time.perf_counter()
            yield AudioFrame(ulaw=chunk, pcm=_ulaw_to_pcm(chunk), timestamp_ms=start // 8)

    finals: list[tuple[str, int, float]] = []
    async for transcript in stt.transcribe(frames(), call=_CALL):
        if transcript.is_final:
            finals.append((transcript.text, taken["ms"], time.perf_counter() - taken["at"]))
    text = " ".join(t for t, _, _ in finals if t)
    end_ms = LEAD_MS + _speech_end_ms(ulaw)
    wait = finals[-1][1] - end_ms if finals else float("nan")
    cpu = finals[-1][2] * 1000 if finals else float("nan")
    return Recognition(reference, text, word_errors(reference, text), wait, cpu)


def _speech_end_ms(ulaw: bytes) -> int:
    pcm = _ulaw_to_pcm(ulaw)
    loud = [
        s for s in range(0, pcm.size, FRAME_SAMPLES) if rms_dbfs(pcm[s : s + FRAME_SAMPLES]) > -40
    ]
    return (loud[-1] + FRAME_SAMPLES) * 1000 // SAMPLE_RATE if loud else 0


def aggregate_rate(results: Sequence[Recognition]) -> float:
    """All word errors over all reference words."""
    return sum(r.errors for r in results) / sum(r.words for r in results)


def digit_error_rate(results: Sequence[Recognition]) -> float:
    """All digit errors over all reference digits."""
    errors = sum(digit_errors(r.reference, r.text) for r in results)
    return errors / sum(len(digits_of(r.reference)) for r in results)


def domain_config(cache_dir: Path, *, digit_strings: bool = True) -> PocketsphinxConfig:
    """The clinic graph's domain configuration, as the service builds it.

    ``digit_strings=False``: the model as it was before the corpus had digit
    strings (and digit histories their own back-off floor), for comparison.
    """
    if digit_strings:
        return PocketsphinxConfig.for_domain(
            vocabulary.corpus(), words=vocabulary.words(), cache_dir=cache_dir
        )
    model = build_domain_model(
        vocabulary.corpus(digit_strings=False),
        words=vocabulary.words(digit_strings=False),
        cache_dir=cache_dir,
        mix=GenericMix(digit_floor=GenericMix().backoff_floor),
    )
    options = dict(DOMAIN_DECODER_OPTIONS)
    return PocketsphinxConfig(lm=model.lm, dictionary=model.dictionary, options=options)


async def recognise_all(
    stt: PocketsphinxSTT, speech: dict[str, bytes], phrases: Sequence[str]
) -> list[Recognition]:
    return [await recognise(stt, phrase, speech[phrase]) for phrase in phrases]


# --- the report --------------------------------------------------------------------


def _spread(values: Sequence[float], unit: str = "", scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    low, mid, high = min(v), statistics.median(v), max(v)
    return f"min {low:6.1f}{unit}  median {mid:6.1f}{unit}  max {high:6.1f}{unit}"


def _report_wer(label: str, results: Sequence[Recognition], verbose: bool) -> None:
    rates = [r.rate for r in results]
    print(
        f"  {label:<8} WER {aggregate_rate(results):6.1%}   per utterance "
        f"{_spread(rates, '%', 100)}   exact {sum(r.errors == 0 for r in results)}/{len(results)}"
    )
    if verbose:
        for r in results:
            print(f"      {r.rate:5.0%}  {r.reference!r} -> {r.text!r}")


def _report_digits(label: str, results: Sequence[Recognition], verbose: bool) -> None:
    digits = sum(len(digits_of(r.reference)) for r in results)
    exact = sum(digits_of(r.reference) == digits_of(r.text) for r in results)
    print(
        f"  {label:<8} digit error {digit_error_rate(results):6.1%} of {digits} digits   "
        f"numbers exact {exact}/{len(results)}   WER {aggregate_rate(results):6.1%}"
    )
    if verbose:
        for r in results:
            errors = digit_errors(r.reference, r.text)
            print(f"      {errors:2d} digits  {r.reference!r} -> {r.text!r}")


async def _tts_first_audio(runs: int) -> None:
    from telephony.speech.piper import PiperTTS

    tts = PiperTTS()
    await tts.warm_up()
    cases = {
        "short": ["Okay.", "Which day?", "Goodbye.", "Thank you."],
        "long": [
            "We're open from nine to five on weekdays, and from nine to noon on Saturdays, "
            "and we're closed on Sundays and public holidays.",
            "Just to confirm: a checkup with Doctor Patel on Tuesday, December first, at "
            "three p.m., under the name John Miller. Shall I book it?",
        ],
    }
    print("Piper TTS, time to first audio (first sentence; voice loaded):")
    for label, texts in cases.items():
        times = []
        for _ in range(runs):
            for text in texts:
                started = time.perf_counter()
                stream = tts.synthesize(text)
                await anext(stream)
                times.append(time.perf_counter() - started)
                await stream.aclose()
        print(f"  {label:<6} ({len(times)} runs)  {_spread(times, ' ms', 1000)}")


async def _model_costs(cache_dir: Path) -> PocketsphinxConfig:
    """Print the domain model's build and decoder creation times; return its config."""
    started = time.perf_counter()
    built = build_domain_model(vocabulary.corpus(), words=vocabulary.words(), cache_dir=cache_dir)
    first = time.perf_counter() - started
    started = time.perf_counter()
    config = domain_config(cache_dir)
    cached = time.perf_counter() - started
    print(
        f"domain model: {len(vocabulary.corpus())} sentences -> {built.words} words; "
        f"build {first * 1000:.0f} ms on a first start, {cached * 1000:.1f} ms from the cache"
    )
    for label, cfg in {"generic, full dictionary": PocketsphinxConfig(), "domain": config}.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            pocketsphinx.Decoder(**cfg.decoder_options())
            times.append(time.perf_counter() - started)
        print(f"decoder creation, {label:<25} {_spread(times, ' ms', 1000)}")
    return config


async def main(verbose: bool, tts_runs: int) -> None:
    phrases = clinic_phrases()
    with tempfile.TemporaryDirectory() as tmp:
        config = await _model_costs(Path(tmp))
        recognisers = {
            "generic": PocketsphinxSTT(),
            NO_DIGITS: PocketsphinxSTT(domain_config(Path(tmp), digit_strings=False)),
            "domain": PocketsphinxSTT(config),
        }
        for stt in recognisers.values():
            await stt.warm_up()
        print(f"\n{NO_DIGITS}: the domain model as it was before the corpus had digit strings")
        table: dict[tuple[str, str, str], float] = {}
        timed: list[Recognition] = []
        for voice, pitch in VOICES.items():
            speech = await synthesise([*phrases, *OUT_OF_DOMAIN, *DIGIT_PHRASES], pitch)
            print(f"\n {voice}: {len(phrases)} clinic phrases, Piper through G.711 8 kHz")
            for label, stt in recognisers.items():
                results = await recognise_all(stt, speech, phrases)
                _report_wer(label, results, verbose)
                table[(voice, label, "clinic")] = aggregate_rate(results)
                timed.extend(results if label == "domain" else [])
            print("  out of domain:")
            for label, stt in recognisers.items():
                results = await recognise_all(stt, speech, OUT_OF_DOMAIN)
                heard = "; ".join(repr(r.text) for r in results)
                print(f"  {label:<8} WER {aggregate_rate(results):6.1%}   {heard}")
            print(f"  {len(DIGIT_PHRASES)} spoken numbers (phone, card, Aadhaar):")
            for label, stt in recognisers.items():
                results = await recognise_all(stt, speech, DIGIT_PHRASES)
                _report_digits(label, results, verbose)
                table[(voice, label, "digits")] = digit_error_rate(results)

    for kind, title in (("clinic", "clinic word error"), ("digits", "digit error")):
        print(f"\n{title:<32}" + "".join(f"{label:>10}" for label in recognisers))
        for voice in VOICES:
            rates = [table[(voice, label, kind)] for label in recognisers]
            print(f"{voice:<32}" + "".join(f"{rate:>10.1%}" for rate in rates))

    waits = [r.wait_ms for r in timed if r.text]
    cpu = [r.final_cpu_ms for r in timed if r.text]
    total = [a + b for a, b in zip(waits, cpu, strict=True)]
    print("\nend of speech -> final transcript (domain model):")
    print(f"  endpointer wait (audio)   {_spread(waits, ' ms')}")
    print(f"  last decode trip (CPU)    {_spread(cpu, ' ms')}")
    print(f"  total                     {_spread(total, ' ms')}")
    print()
    await _tts_first_audio(tts_runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every utterance")
    parser.add_argument("--tts-runs", type=int, default=5, help="repetitions per TTS phrase")
    args = parser.parse_args()
    asyncio.run(main(args.verbose, args.tts_runs))
