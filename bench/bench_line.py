"""Simulated callers: the phone line's cost, the voices' speed, and how well they are heard.

Run: ``uv run python bench/bench_line.py [-v] [--no-asr]`` (~3 minutes with
the recognition part; needs the ``eval`` extra for eSpeak NG and the
``piper`` extra for the Piper voices -- a voice whose engine is missing is
reported and skipped). Prints figures, never pass/fail:

- the cost of degrading one minute of caller speech on the
  :class:`~telephony.eval.line.PhoneLine` (clean; white, babble and street
  noise at 10 dB; babble with 2 % loss in bursts and 40 ms jitter), a fresh
  line each run, so noise generation is included: milliseconds per minute
  and the fraction of real time;
- each caller voice's real-time factor (synthesis seconds per second of
  audio) over the clinic phrases of ``bench_speech.py``, first phrase apart
  (it loads the voice);
- word accuracy (1 - word error rate, so it can go below zero when the
  recogniser invents words) of pocketsphinx on a few clinic sentences per
  caller voice, on a clean line and at 10 dB babble, with the generic model
  (the eval's ear) and the clinic's domain model (what the server hears
  with). Piper samples its phoneme durations, so its figures move a little
  run to run; eSpeak NG's barely do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.bench_speech import clinic_phrases, domain_config, recognise, word_errors, words_of
from telephony.eval.line import PhoneLine
from telephony.eval.voices import VOICES, caller_voice, voice_family
from telephony.speech.base import ProviderError, TextToSpeech
from telephony.speech.pocketsphinx import PocketsphinxSTT
from telephony.wire.codec import SAMPLE_RATE, ulaw_to_pcm

CLINIC_SENTENCES = (
    "Hi, I'd like to make an appointment with Doctor Patel.",
    "Do you have anything free on Friday morning?",
    "I need to cancel my appointment on Monday.",
    "Yes, that's correct.",
    "Can I move my appointment to Wednesday at four?",
    "My name is Maria Lopez.",
    "Is there parking at the clinic?",
    "Thank you, goodbye.",
)
"""What the callers say for the recognition figures (the first ``--sentences`` of them)."""

LINES: dict[str, Callable[[], PhoneLine]] = {
    "clean": PhoneLine.clean,
    "white 10 dB": lambda: PhoneLine(noise="white", snr_db=10.0),
    "babble 10 dB": lambda: PhoneLine(noise="babble", snr_db=10.0),
    "street 10 dB": lambda: PhoneLine(noise="street", snr_db=10.0),
    "babble 10 dB, 2 % loss x3, 40 ms jitter": lambda: PhoneLine(
        noise="babble", snr_db=10.0, loss=0.02, burst_frames=3.0, jitter_ms=40.0
    ),
}
HEARING_LINES = ("clean", "babble 10 dB")
RUNS = 5  # timing runs of the line per configuration


async def _speak(tts: TextToSpeech, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def _voices() -> dict[str, TextToSpeech]:
    """Every caller voice whose engine is installed (the others are reported)."""
    voices = {}
    for name in VOICES:
        try:
            voices[name] = caller_voice(name)
        except ProviderError as exc:
            print(f"  {name}: skipped ({exc})")
    return voices


def _one_minute(speech: list[bytes]) -> np.ndarray:
    """One minute of caller speech (phrases with 0.4 s pauses, repeated), PCM16."""
    pause = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.int16)
    parts = [part for ulaw in speech for part in (ulaw_to_pcm(ulaw), pause)]
    phrases = np.concatenate(parts)
    minute = 60 * SAMPLE_RATE
    return np.tile(phrases, -(-minute // phrases.size))[:minute]


def line_cost(voice: str, speech: list[bytes]) -> None:
    audio = _one_minute(speech)
    print(
        f"\nphone line: degrading one minute of {voice}'s speech, a fresh line each run "
        f"({RUNS} runs)"
    )
    for label, make in LINES.items():
        times = []
        for _ in range(RUNS):
            line = make()
            started = time.perf_counter()
            frames = line.degrade(audio)
            line.send_delays(len(frames))
            times.append(time.perf_counter() - started)
        best, middle = min(times), statistics.median(times)
        print(
            f"  {label:<42} min {best * 1000:7.1f} ms  median {middle * 1000:7.1f} ms  "
            f"({middle / 60:.4f} x real time)"
        )


async def speed(voices: dict[str, TextToSpeech]) -> dict[str, list[bytes]]:
    """Print each voice's real-time factor; return its audio of the clinic phrases."""
    phrases = clinic_phrases()
    print(f"\nreal-time factor (synthesis s per audio s), {len(phrases)} clinic phrases")
    spoken: dict[str, list[bytes]] = {}
    for name, tts in voices.items():
        started = time.perf_counter()
        first = await _speak(tts, phrases[0])
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        rest = [await _speak(tts, text) for text in phrases[1:]]
        took = time.perf_counter() - started
        audio_s = sum(map(len, rest)) / SAMPLE_RATE
        spoken[name] = [first, *rest]
        print(
            f"  {name:<12} ({voice_family(name)})  {took / audio_s:.4f}   "
            f"({audio_s:.0f} s of audio in {took:.2f} s; first phrase {first_s * 1000:.0f} ms "
            f"for {len(first) / SAMPLE_RATE:.1f} s)"
        )
    return spoken


async def hearing(voices: dict[str, TextToSpeech], sentences: int, verbose: bool) -> None:
    texts = CLINIC_SENTENCES[:sentences]
    words = sum(len(words_of(text)) for text in texts)
    with tempfile.TemporaryDirectory() as tmp:
        recognisers = {
            "generic": PocketsphinxSTT(),
            "domain": PocketsphinxSTT(domain_config(Path(tmp))),
        }
        for stt in recognisers.values():
            await stt.warm_up()
        print(
            f"\nword accuracy (1 - WER), pocketsphinx, {len(texts)} clinic sentences "
            f"({words} words)"
        )
        columns = [(line, model) for line in HEARING_LINES for model in recognisers]
        print(
            f"  {'voice':<12} {'family':<7}" + "".join(f"{f'{ln}, {m}':>24}" for ln, m in columns)
        )
        for name, tts in voices.items():
            speech = [await _speak(tts, text) for text in texts]
            row = []
            for line_name, model in columns:
                line = LINES[line_name]()
                errors = 0
                for text, ulaw in zip(texts, speech, strict=True):
                    heard = await recognise(recognisers[model], text, b"".join(line.degrade(ulaw)))
                    errors += word_errors(text, heard.text)
                    if verbose:
                        print(f"      {name} / {line_name} / {model}: {text!r} -> {heard.text!r}")
                row.append(1 - errors / words)
            cells = "".join(f"{accuracy:>24.0%}" for accuracy in row)
            print(f"  {name:<12} {voice_family(name):<7}{cells}", flush=True)


async def main(verbose: bool, asr: bool, sentences: int) -> None:
    print("caller voices:")
    voices = _voices()
    if not voices:
        print("no caller voice is installed: uv sync --extra eval --extra piper")
        return
    spoken = await speed(voices)
    line_cost(*next(iter(spoken.items())))
    if asr:
        await hearing(voices, sentences, verbose)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every recognition")
    parser.add_argument("--no-asr", action="store_true", help="skip the recognition figures")
    parser.add_argument(
        "--sentences",
        type=int,
        default=4,
        choices=range(1, len(CLINIC_SENTENCES) + 1),
        metavar=f"1-{len(CLINIC_SENTENCES)}",
        help="clinic sentences per voice for the recognition figures (default 4)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.verbose, not args.no_asr, args.sentences))
