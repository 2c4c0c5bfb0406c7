"""Spoken language: numbers, digits, days and times, read from words and said aloud.

One home for what recognition post-processing, redaction, the tools and the
flows all need to agree on (issue 13): "twenty third", "half past two",
"four one one one, double one" and "next Friday" mean one thing everywhere,
and a time is said one way ("nine thirty a.m.").

- :mod:`spoken.numbers`: the number-word tables, reading a number at a word,
  saying a number (num2words).
- :mod:`spoken.digits`: spoken digit runs and e-mail addresses to written
  form, with an offset map back to the words (redaction, digit answers).
- :mod:`spoken.words`: text folded into the recogniser's shape of words.
- :mod:`spoken.names`: English weekday and month names, whatever the locale.
- :mod:`spoken.days`: reading days, from a recogniser's words or a model's text
  (dateparser for written dates).
- :mod:`spoken.times`: reading clock times and parts of the day.
- :mod:`spoken.saying`: saying times, days and small numbers for a TTS.

Pure: nothing here does I/O or imports another package of Dialgraph's. This
module imports none of its submodules, so ``spoken.numbers`` stays cheap for
the telephony layer, which only needs its tables.
"""

from __future__ import annotations

__all__ = ["warm"]


def warm() -> None:
    """Load the libraries' data now instead of on a caller's turn.

    num2words imports every language it knows on first use (~0.3 s) and
    dateparser loads its English data on its first parse (~0.2 s). A flow
    that says numbers or reads model-written days calls this from its
    ``on_startup``.
    """
    from spoken import days, numbers

    numbers.warm()
    days.warm()
