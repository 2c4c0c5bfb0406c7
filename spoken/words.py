"""Text folded into the shape a speech recogniser writes: lower-case words.

pocketsphinx writes "three pm", "twenty fifth", "two oclock"; typed text and
a model's tool arguments say "3pm", "3:30 p.m.", "25th", "Two o'clock". The
readers of days and times (:mod:`spoken.days`, :mod:`spoken.times`) and the
clinic's NLU read one shape, made here.
"""

from __future__ import annotations

import re

__all__ = ["fold"]

_APOSTROPHE = re.compile(r"['\u2019`]")
_MERIDIEM_DOTS = re.compile(r"\b([ap])\s*\.\s*m\b\.?")
_DIGIT_MERIDIEM = re.compile(r"(?<=\d)\s*([ap])m\b")
_CLOCK_COLON = re.compile(r"(?<=\d):(?=\d\d)")
_NOT_WORD = re.compile(r"[^a-z0-9\x00#*]+")
_SPLIT_MERIDIEM = re.compile(r"\b([ap]) m\b")
_O_CLOCK = re.compile(r"\bo clock\b")


def fold(text: str) -> str:
    """Fold ASR or typed text into lower-case words, digits, ``h:mm``, ``#`` and ``*``.

    >>> fold("It's 3pm, Dr. Nguyen's check-up!")
    'its 3 pm dr nguyens check up'
    """
    t = _APOSTROPHE.sub("", text.lower())
    t = _MERIDIEM_DOTS.sub(r"\1m", t)
    t = _DIGIT_MERIDIEM.sub(r" \1m", t)
    t = _CLOCK_COLON.sub("\x00", t)  # keep "15:30" whole through the next step
    t = _NOT_WORD.sub(" ", t).replace("\x00", ":")
    t = _SPLIT_MERIDIEM.sub(r"\1m", t)  # "three p m" as the recogniser spells it
    t = _O_CLOCK.sub("oclock", t)
    return " ".join(t.split())
