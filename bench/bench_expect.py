"""The graph tells the ear what it expects: answers recovered with and without the expectation.

Run: ``uv run python bench/bench_expect.py [-v] [--bias 0.5]`` (~4 minutes;
needs the ``piper`` extra for the Piper caller and the ``eval`` extra for
eSpeak NG -- a voice whose engine is missing is reported and skipped).
Prints figures, never pass/fail:

- answer accuracy (the expected slot value recovered: yes or no, the five
  or six digits, the day, the time, the doctor) and word accuracy
  (1 - word error rate) of pocketsphinx with the clinic's domain model, per
  caller voice (Piper, eSpeak NG) and line (clean, 10 dB babble:
  :class:`~telephony.eval.line.PhoneLine`), each answer decoded twice from
  the same audio: without the step's expectation (the flow's own model)
  and with it (:meth:`PocketsphinxSTT.expect`);
- the same per kind of answer, both voices and lines together;
- requests that answer something else ("can I talk to a person") while a
  yes or no is expected: word accuracy with and without, so the bias is
  seen not to cost them;
- what the bias costs: building the kind models, decoder creation, the
  memory a decoder and the shared models take, ``expect()`` on the event
  loop and the switch between searches (``activate_search``).

The slot readers are :mod:`spoken`'s, as the flows use them; yes or no is a
word list here (the understanding step is the flows' business). Piper
samples its phoneme durations, so its figures move a little run to run;
eSpeak NG's do not.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.bench_speech import digits_of, recognise, word_errors, words_of
from graphs.clinic import vocabulary
from spoken.days import parse_day
from spoken.times import parse_time
from telephony.eval.line import PhoneLine
from telephony.eval.voices import caller_voice
from telephony.speech.base import CallInfo, Expectation, ProviderError, TextToSpeech
from telephony.speech.domain_lm import DEFAULT_BIAS
from telephony.speech.expectation import searches_for
from telephony.speech.pocketsphinx import PocketsphinxConfig, PocketsphinxSTT

VOICES = ("piper", "espeak-us")
LINES: dict[str, Callable[[], PhoneLine]] = {
    "clean": PhoneLine.clean,
    "babble 10 dB": lambda: PhoneLine(noise="babble", snr_db=10.0, seed=3),
}
TODAY = dt.date(2026, 12, 3)  # a Thursday
OPENS_AT = 9
_CALL = CallInfo(call_sid="CAbench", stream_sid="MZbench")  # bench_speech.recognise's call
_YES = frozenset("yes yeah yep yup sure correct right okay absolutely please".split())
_NO = frozenset("no nope not wrong don't never".split())


def yes_or_no(text: str) -> str | None:
    """ "no" if any word says no, else "yes" if any says yes, else nothing."""
    words = set(words_of(text))
    return "no" if words & _NO else "yes" if words & _YES else None


def doctor(text: str) -> str | None:
    named = [name for name in ("patel", "nguyen") if name in words_of(text)]
    return named[0] if len(named) == 1 else None


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of answer: what the step expects, and how its value is read."""

    name: str
    spec: dict[str, object]
    read: Callable[[str], object]
    answers: tuple[tuple[str, object], ...]  # (what the caller says, the value it means)


def _day(text: str) -> object:
    return parse_day(text, TODAY)


def _time(text: str) -> object:
    return parse_time(text, opens_at=OPENS_AT)


def _digits(n: int) -> Callable[[str], object]:
    def read(text: str) -> object:
        found = re.findall(rf"\d{{{n}}}", digits_of(text))
        return found[0] if found else digits_of(text)

    return read


KINDS = (
    Kind(
        "yes/no",
        {"kind": "yes_no", "hints": []},
        yes_or_no,
        (
            ("Yes.", "yes"),
            ("No.", "no"),
            ("Yeah, that's right.", "yes"),
            ("No, thank you.", "no"),
            ("Yes please.", "yes"),
            ("Nope.", "no"),
            ("Yes, cancel it please.", "yes"),
            ("That's correct.", "yes"),
        ),
    ),
    Kind(
        "ZIP (5 digits)",
        {"kind": "digits", "max_digits": 5, "hints": []},
        _digits(5),
        (
            ("Five five one zero three.", "55103"),
            ("Nine four one oh seven.", "94107"),
            ("One zero zero two one.", "10021"),
            ("Six oh six one four.", "60614"),
            ("Three three one two nine.", "33129"),
        ),
    ),
    Kind(
        "6 digits",
        {"kind": "digits", "max_digits": 6, "hints": ["my ticket number is"]},
        _digits(6),
        (
            ("Four eight two nine one three.", "482913"),
            ("Seven seven zero one five two.", "770152"),
            ("My ticket number is three six nine two four eight.", "369248"),
            ("Two oh one eight eight six.", "201886"),
            ("Nine five three seven zero one.", "953701"),
        ),
    ),
    Kind(
        "day",
        {"kind": "date", "hints": []},
        _day,
        (
            ("Tuesday.", parse_day("tuesday", TODAY)),
            ("Next Friday.", parse_day("next friday", TODAY)),
            ("On Monday, please.", parse_day("monday", TODAY)),
            ("Wednesday afternoon.", parse_day("wednesday", TODAY)),
            ("Tomorrow.", parse_day("tomorrow", TODAY)),
            ("The fifteenth of December.", parse_day("december fifteenth", TODAY)),
        ),
    ),
    Kind(
        "time",
        {"kind": "time", "hints": []},
        _time,
        (
            ("Three thirty.", dt.time(15, 30)),
            ("Half past ten.", dt.time(10, 30)),
            ("Nine a.m.", dt.time(9, 0)),
            ("At two fifteen.", dt.time(14, 15)),
            ("Eleven o'clock.", dt.time(11, 0)),
            ("Four p.m.", dt.time(16, 0)),
        ),
    ),
    Kind(
        "doctor",
        {
            "kind": "choice",
            "choices": ["Doctor Patel", "Doctor Nguyen"],
            "hints": ["Doctor Patel", "Doctor Nguyen"],
        },
        doctor,
        (
            ("Doctor Nguyen.", "nguyen"),
            ("Doctor Patel, please.", "patel"),
            ("With Doctor Nguyen.", "nguyen"),
            ("Patel.", "patel"),
            ("Nguyen, please.", "nguyen"),
        ),
    ),
)
ELSEWHERE = (
    "Can I talk to a person?",
    "Actually, what time do you close on Saturday?",
    "I'd like to cancel my appointment instead.",
)
"""Said while a yes or no is expected: answers to something else, to be heard all the same."""


@dataclass
class Tally:
    right: int = 0
    answers: int = 0
    errors: int = 0
    words: int = 0

    def add(self, correct: bool, reference: str, heard: str) -> None:
        self.right += correct
        self.answers += 1
        self.errors += word_errors(reference, heard)
        self.words += len(words_of(reference))

    @property
    def answer_accuracy(self) -> float:
        return self.right / max(self.answers, 1)

    @property
    def word_accuracy(self) -> float:
        return 1 - self.errors / max(self.words, 1)


def _voice(name: str) -> TextToSpeech | None:
    """A caller voice, or ``None`` (and why) when its engine is not installed."""
    try:
        return caller_voice(name)
    except ProviderError as exc:
        print(f"  {name}: skipped ({exc})")
        return None


async def _speak(tts: TextToSpeech, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def _on_line(line: PhoneLine, ulaw: bytes) -> bytes:
    """The utterance with the line's own noise around it, as between turns of a call."""
    return b"".join([*line.silence(15), *line.degrade(ulaw), *line.silence(40)])


async def _heard(
    stt: PocketsphinxSTT, expectation: Expectation | None, text: str, audio: bytes
) -> str:
    stt.expect(_CALL, expectation)  # kept for the call's next transcription
    return (await recognise(stt, text, audio)).text


async def hearing(stt: PocketsphinxSTT, verbose: bool) -> None:
    voices = {name: tts for name in VOICES if (tts := _voice(name)) is not None}
    if not voices:
        print("no caller voice is installed: uv sync --extra eval --extra piper")
        return
    cells: dict[tuple[str, str, bool], Tally] = defaultdict(Tally)
    kinds: dict[tuple[str, bool], Tally] = defaultdict(Tally)
    elsewhere: dict[bool, Tally] = defaultdict(Tally)
    flips = {"gained": 0, "lost": 0}
    yes_no = Expectation.from_spec(KINDS[0].spec)
    for voice, tts in voices.items():
        for kind in KINDS:
            expectation = Expectation.from_spec(kind.spec)
            for text, value in kind.answers:
                ulaw = await _speak(tts, text)
                for line_name, make in LINES.items():
                    audio = _on_line(make(), ulaw)
                    outcome = []
                    for biased in (False, True):
                        heard = await _heard(stt, expectation if biased else None, text, audio)
                        correct = kind.read(heard) == value
                        outcome.append(correct)
                        cells[(voice, line_name, biased)].add(correct, text, heard)
                        kinds[(kind.name, biased)].add(correct, text, heard)
                        if verbose:
                            mark = "ok" if correct else "--"
                            with_ = "with   " if biased else "without"
                            print(
                                f"    {mark} {voice} / {line_name} / {with_}: {text!r} -> {heard!r}"
                            )
                    flips["gained"] += outcome == [False, True]
                    flips["lost"] += outcome == [True, False]
        for text in ELSEWHERE:
            ulaw = await _speak(tts, text)
            for line_name, make in LINES.items():
                audio = _on_line(make(), ulaw)
                for biased in (False, True):
                    heard = await _heard(stt, yes_no if biased else None, text, audio)
                    elsewhere[biased].add(False, text, heard)
                    if verbose:
                        with_ = "with yes/no" if biased else "without    "
                        print(f"    {voice} / {line_name} / {with_}: {text!r} -> {heard!r}")

    answers = sum(len(k.answers) for k in KINDS)
    print(f"\nanswers recovered (answer accuracy) and word accuracy, {answers} answers per cell")
    print(f"  {'voice':<11}{'line':<14}{'without':>18}{'with':>18}")
    for voice in voices:
        for line_name in LINES:
            row = [cells[(voice, line_name, b)] for b in (False, True)]
            text = "".join(f"{t.answer_accuracy:>9.0%} / {t.word_accuracy:>5.0%}" for t in row)
            print(f"  {voice:<11}{line_name:<14}{text}")
    print(f"  (answer / word accuracy; {flips['gained']} answers gained, {flips['lost']} lost)")
    print("\nby kind of answer (both voices, both lines)")
    for kind in KINDS:
        row = [kinds[(kind.name, b)] for b in (False, True)]
        text = "".join(f"{t.answer_accuracy:>9.0%} / {t.word_accuracy:>5.0%}" for t in row)
        print(f"  {kind.name:<25}{text}")
    before, after = elsewhere[False], elsewhere[True]
    print(
        f"\nanswers to something else while a yes/no is expected ({len(ELSEWHERE)} requests): "
        f"word accuracy {before.word_accuracy:.0%} without, {after.word_accuracy:.0%} with"
    )


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def _spread(values: list[float], unit: str) -> str:
    return (
        f"min {min(values):.2f}{unit}  median {statistics.median(values):.2f}{unit}  "
        f"max {max(values):.2f}{unit}"
    )


async def costs(cache_dir: Path, bias: float) -> PocketsphinxConfig:
    """Print what the expectation models cost; return the configuration with them."""
    corpus, words = vocabulary.corpus(), vocabulary.words()
    started = time.perf_counter()
    plain = PocketsphinxConfig.for_domain(
        corpus, words=words, cache_dir=cache_dir / "plain", expectations=False
    )
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    config = PocketsphinxConfig.for_domain(corpus, words=words, cache_dir=cache_dir, bias=bias)
    biased_s = time.perf_counter() - started
    started = time.perf_counter()
    PocketsphinxConfig.for_domain(corpus, words=words, cache_dir=cache_dir, bias=bias)
    cached_s = time.perf_counter() - started
    print(
        f"build on a first start: domain model {plain_s:.2f} s; with {len(config.searches)} "
        f"kind models {biased_s:.2f} s; from the cache {cached_s * 1000:.0f} ms (bias {bias})"
    )

    gc.collect()
    rss = _rss_mb()
    plain_decoders = [PocketsphinxSTT(plain)._pool.create() for _ in range(2)]
    per_plain = (_rss_mb() - rss) / 2
    stt = PocketsphinxSTT(config)
    rss = _rss_mb()
    started = time.perf_counter()
    first = stt._pool.create()
    first_s, first_mb = time.perf_counter() - started, _rss_mb() - rss
    rss = _rss_mb()
    started = time.perf_counter()
    more = [stt._pool.create() for _ in range(3)]
    more_s, more_mb = (time.perf_counter() - started) / 3, (_rss_mb() - rss) / 3
    print(
        f"decoder: {per_plain:.1f} MB without the kind models; with them the first "
        f"{first_mb:.1f} MB in {first_s * 1000:.0f} ms (it loads the shared models), each "
        f"further one {more_mb:.1f} MB in {more_s * 1000:.0f} ms "
        f"(+{more_mb - per_plain:.1f} MB a decoder)"
    )
    del plain_decoders

    step = Expectation(
        "choice", ("Doctor Patel", "Doctor Nguyen"), ("Doctor Patel", "Doctor Nguyen")
    )
    started = time.perf_counter()
    await stt.prepare(step)
    print(f"a step's hint model, built on first use: {time.perf_counter() - started:.2f} s")

    times = []
    for _ in range(200):
        started = time.perf_counter()
        stt.expect(_CALL, step)
        times.append((time.perf_counter() - started) * 1e6)
        stt.expect(_CALL, None)
    print(f"expect() on the event loop: {_spread(times, ' us')}")

    decoder = first.decoder
    switches = []
    for _ in range(200):
        for name in config.searches:
            started = time.perf_counter()
            decoder.activate_search(name)
            switches.append((time.perf_counter() - started) * 1e6)
        decoder.activate_search()
    print(f"switching search at an utterance start (activate_search): {_spread(switches, ' us')}")
    wanted = searches_for(step)
    pool = stt._pool
    started = time.perf_counter()
    pool.activate(first, wanted)  # adds the hint search to this decoder: once
    added_ms = (time.perf_counter() - started) * 1000
    steady = []
    for _ in range(200):
        started = time.perf_counter()
        pool.activate(first, wanted)
        pool.activate(first, ())
        steady.append((time.perf_counter() - started) * 1e6 / 2)
    print(
        f"choosing the search for an utterance: {_spread(steady, ' us')}; adding a hint "
        f"search to a decoder the first time {added_ms:.1f} ms"
    )
    del more
    return config


async def main(verbose: bool, bias: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = await costs(Path(tmp), bias)
        stt = PocketsphinxSTT(config)
        await stt.warm_up()
        for kind in KINDS:
            await stt.prepare(Expectation.from_spec(kind.spec))
        await hearing(stt, verbose)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every recognition")
    parser.add_argument(
        "--bias",
        type=float,
        default=DEFAULT_BIAS,
        help=f"the expected answers' share of the kind models (default {DEFAULT_BIAS})",
    )
    args = parser.parse_args()
    asyncio.run(main(args.verbose, args.bias))
