"""The pronouncing dictionary pocketsphinx decodes with: the wheel's CMUdict, pruned.

Shared by the recogniser (:mod:`telephony.speech.pocketsphinx`) and the
domain language model builder (:mod:`telephony.speech.domain_lm`), and
importing neither, so the builder never reaches back into the recogniser
(the recogniser builds a domain model through the builder, one way).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import pocketsphinx

__all__ = ["default_dictionary_path", "prune_dictionary"]


def default_dictionary_path() -> Path:
    """The pronouncing dictionary in the wheel (CMUdict, ~134k words)."""
    return Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))


def prune_dictionary(
    words: Iterable[str],
    out_path: Path,
    *,
    source: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    """Write a pronouncing dictionary holding only ``words`` (with their variants).

    A decoder loads the full CMUdict in every instance; a dictionary pruned
    to the dialogue's vocabulary loads faster and takes less memory.

    Args:
        words: The vocabulary (any case; matched lower-case).
        out_path: Where to write the dictionary.
        source: Dictionary to take pronunciations from (default: the wheel's).
        extra: More entries, ``word -> phones`` (``"northwind": "N AO R TH W IH N D"``): a
            word ``source`` lacks, or one more variant of a word it has.

    Returns:
        The words that have no pronunciation in ``source`` or ``extra``, sorted.

    Raises:
        ValueError: An ``extra`` entry uses a phone ``source`` never does
            (the acoustic model would not load).
    """
    extra = {word.lower(): phones for word, phones in (extra or {}).items()}
    wanted = {word.lower() for word in words if word.strip()} | extra.keys()
    found: Counter[str] = Counter()
    phone_set: set[str] = set()
    kept: list[str] = []
    with (source or default_dictionary_path()).open(encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if not fields:
                continue
            phone_set.update(fields[1:])
            base = fields[0].split("(", 1)[0]  # "read(2)" is the second pronunciation of "read"
            if base in wanted:
                kept.append(line if line.endswith("\n") else line + "\n")
                found[base] += 1
    for word, phones in sorted(extra.items()):
        unknown = sorted(set(phones.split()) - phone_set)
        if unknown:
            raise ValueError(
                f"pronunciation of {word!r}: unknown phones {' '.join(unknown)} "
                f"(the dictionary uses {' '.join(sorted(phone_set))})"
            )
        found[word] += 1
        entry = word if found[word] == 1 else f"{word}({found[word]})"
        kept.append(f"{entry} {phones}\n")
    out_path.write_text("".join(kept), encoding="utf-8")
    return sorted(wanted - found.keys())
