"""A domain language model for pocketsphinx, built at start-up from a flow's phrases.

The wheel's generic trigram model is trained on broad English and does
poorly on short telephone commands; a model of the sentences a dialogue
actually hears does far better (DESIGN.md section 4). This module turns a
flow's corpus (plain sentences: ``PhoneSettings.speech.phrases``, with its
extra ``words`` and ``pronunciations``) into an ARPA trigram model and a
pronouncing dictionary pruned to its words, and caches both under a hash of
everything that went in, so only the first start after a change pays for
the build.

How it works::

    corpus sentences -> <s> w1 .. wn </s> -> trigram and bigram counts
    unigram  P1(w)     = (1 - g) * Pdomain(w) + g * Pgeneric(w)
    lower    L(w|v)    = (1 - b) * P1(w) + b * Pgeneric(w|v)    # b = 0 if v has no generic pairs
    bigram   P2(w|v)   = l(v)  * c(v w)/c(v)     + (1 - l(v))  * L(w|v)
    trigram  P3(w|u v) = l(uv) * c(u v w)/c(u v) + (1 - l(uv)) * P2(w|v)
    l(h) = min(c(h) / (c(h) + t(h)), 1 - floor)   # Witten-Bell; t(h) = distinct words after h
    floor = digit_floor if h is digit words ("four", "four one"), else backoff_floor

This is interpolated Witten-Bell smoothing written in ARPA's back-off form:
an n-gram listed in the file stores its interpolated probability, and a
history's back-off weight is exactly ``(1 - l(h)) * (1 - b)`` (bigram
histories) or ``1 - l(h)`` (trigram histories), so the file is normalised
as written and needs no renormalisation pass.

General English comes from the wheel's generic model (``en-us.lm.bin``,
queried through ``NGramModel.prob``): its 3,000 most frequent words with
their unigram probabilities, and for the 300 most frequent histories (and
the sentence start) the words among the top 1,000 that follow them at least
twice as often as they occur at all ("going to", "i think"). Reachable from
every history through the back-off ``floor``, they keep out-of-domain speech
coming out as ordinary English instead of being forced into the dialogue's
phrases. A templated corpus gives each history many tokens but few distinct
followers, so plain Witten-Bell would leave almost no back-off mass: the
floor is what makes general English reachable mid-sentence.

Numbers read digit by digit are the exception: after "four one" a caller
says another digit, and the same floor let general English in mid-number
("zero one" came out as "here want", "five" as "by"). Histories of digit
words (:data:`DIGIT_WORDS`) get the lower ``digit_floor``; the corpus
supplies the digit strings themselves (a flow whose callers read out phone,
card or ID numbers adds generated ones to its phrases).

Measured on the 2-core reference machine with the bundled receptionist
flow's corpus (~4,500 sentences, ~500 words) + 3,000 generic words, Piper
speech through G.711, weights chosen on phrases that are in neither the
tests nor the benchmark:

- word error on held-out phrasing of that flow 9-11 % (generic model 32 %);
  on its questions phrased unlike any template 33 % (generic 40 %); on
  out-of-domain sentences 43-49 % (generic 13 %; without the generic pairs
  58 %; without any general English every word is a domain word);
- the build takes ~0.8 s once, ~10 ms from the cache; a decoder loads in
  20-40 ms and takes ~9 MB (the generic model with its full dictionary:
  0.23-0.45 s and ~90 MB).

Digit strings in the corpus (~1,500 sentences; build 0.68 -> 0.76 s):
numbers read digit by digit went from 64-72 % of digits wrong to 7-13 %
(the benchmark's numbers) and 5-8 % (18 tuning numbers; 8-12 % without the
digit floor, which was chosen on these), the flow's phrases unchanged. What is
left is mostly acoustic: "zero" loses its /z/ above 4 kHz ("zero one" ->
"year want").

Expectation models. When a step tells the recogniser what it expects (a yes
or no, a day, a doctor's name: :mod:`telephony.speech.expectation`), the
decoder switches to a model of the same corpus with that step's answers
added, each counted so that together they make up ``bias`` of all
sentences (``expectations`` of :func:`build_domain_model`: one model per
kind, built with the domain model and cached with it;
:func:`build_expected_model`: a step's own hints, on first use, not
cached). Each is the domain model's equal in everything else -- the flow's
phrases, general English, the dictionary, which covers the answers of every
kind -- so speech that answers something else is still heard; only the
answers' prior rises. With the generic words read once per process, one
costs ~0.1 s to build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pocketsphinx

from spoken.numbers import DIGIT_WORDS as SPOKEN_DIGITS
from spoken.numbers import REPEATS
from telephony.speech.dictionary import default_dictionary_path, prune_dictionary

__all__ = [
    "DEFAULT_BIAS",
    "DIGIT_WORDS",
    "DOMAIN_DECODER_OPTIONS",
    "DomainModel",
    "GenericEnglish",
    "GenericMix",
    "build_domain_model",
    "build_expected_model",
    "generic_english",
    "remove_stale",
    "write_arpa",
]

logger = logging.getLogger("dialgraph.asr.domain_lm")

BUILD_VERSION = 2  # bump when the model changes for the same corpus (it is in the cache key)
_LOGMATH_BASE = 1.0001  # the base pocketsphinx's NGramModel.prob reports log probabilities in
_NO_PROB = -99.0  # ARPA's log10 "never predicted" (<s> as a word)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?\.?|[a-z]\.[a-z]\.")  # "don't", "p.m.", "mr.", not "'s"
_START, _END = "<s>", "</s>"
_Counts = defaultdict[str, float]  # how often each word follows a history (weighted: float)
DIGIT_WORDS = frozenset([*SPOKEN_DIGITS, *REPEATS])
"""Words of a number read digit by digit ("double five oh"); their histories get ``digit_floor``."""

DOMAIN_DECODER_OPTIONS: Mapping[str, float] = {
    # Language weight, the generic model's own: on held-out domain phrases 5-6.5 gave
    # 11-13 % word error, 8 gave 14 %, 10 gave 16 % (and worse out of domain).
    "lw": 6.5,
}
"""Decoder parameters used with a domain model (see :meth:`PocketsphinxConfig.for_domain`)."""
DEFAULT_BIAS = 0.5
"""Share of all sentences an expectation model gives the expected answers (see the module doc)."""


@dataclass(frozen=True, slots=True)
class GenericMix:
    """How much general English goes into a domain model.

    Attributes:
        words: How many of the generic model's most frequent words to add.
        weight: Share of the unigram distribution given to them (``g`` above).
        backoff_floor: Least probability mass any history leaves for words
            it was never followed by in the corpus.
        bigram_histories: How many of the most frequent words get their
            generic followers (each costs ``bigram_words`` look-ups, ~1 us each).
        bigram_words: Among how many of the most frequent words followers are sought.
        bigram_weight: Share of a history's back-off mass given to its
            generic followers (``b`` above).
        bigram_lift: A follower is kept when ``P(w | h)`` is at least this
            many times ``P(w)`` in the generic model.
        digit_floor: The back-off floor after a digit word (after two, for
            a trigram history): a number read out is seldom interrupted.
    """

    words: int = 3000
    weight: float = 0.3
    backoff_floor: float = 0.3
    bigram_histories: int = 300
    bigram_words: int = 1000
    bigram_weight: float = 0.5
    bigram_lift: float = 2.0
    digit_floor: float = 0.1

    def __post_init__(self) -> None:
        if (
            min(self.words, self.bigram_histories, self.bigram_words) < 0
            or not 0.0 <= self.weight < 1.0
            or not 0.0 < self.backoff_floor < 1.0
            or not 0.0 < self.digit_floor < 1.0
            or not 0.0 <= self.bigram_weight < 1.0
        ):
            raise ValueError(f"GenericMix out of range: {self}")


@dataclass(frozen=True, slots=True)
class DomainModel:
    """A built (or cached) domain model.

    Attributes:
        lm: The ARPA trigram file.
        dictionary: The pronouncing dictionary pruned to the model's words.
        words: How many words the model knows.
        dropped: Corpus words without a pronunciation, left out of the model.
        cached: True when both files came from the cache.
        seconds: Time spent building or finding them.
        searches: The expectation models by name (``expectations`` of
            :func:`build_domain_model`), same dictionary.
    """

    lm: Path
    dictionary: Path
    words: int
    dropped: tuple[str, ...]
    cached: bool
    seconds: float
    searches: Mapping[str, Path] = field(default_factory=dict)
    _inputs: _Inputs | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a model was built from, for the expectation models built later from the same."""

    texts: tuple[tuple[str, ...], ...]
    extra: tuple[str, ...]
    known: frozenset[str]
    mix: GenericMix
    source: Path
    bias: float


def build_domain_model(
    sentences: Iterable[str],
    *,
    cache_dir: Path,
    words: Iterable[str] = (),
    pronunciations: Mapping[str, str] | None = None,
    mix: GenericMix | None = None,
    dictionary: Path | None = None,
    expectations: Mapping[str, Sequence[str]] | None = None,
    bias: float = DEFAULT_BIAS,
) -> DomainModel:
    """Build (or find in ``cache_dir``) the language model and dictionary for a corpus.

    Args:
        sentences: What callers say, one sentence per item, words separated
            by spaces (case and surrounding punctuation are folded).
        cache_dir: Where the files are kept, named by a hash of all inputs;
            created if missing. Safe for several processes at once.
        words: Further words the recogniser must know (each gets a small
            unigram probability even if no sentence uses it).
        pronunciations: ``word -> phones`` (CMUdict style, ``"northwind": "N AO R TH W IH N D"``;
            stress digits are ignored) added to the dictionary: words it lacks
            (names, brands), or another way to say a word it has. Each word
            is in the model even if no sentence uses it.
        mix: How much general English to add (default :class:`GenericMix`).
        dictionary: Pronunciations to take from (default: the wheel's CMUdict).
        expectations: ``name -> answers``: also build, for each, the model
            with those answers weighted in (``searches`` of the result); the
            dictionary then covers their words too.
        bias: The answers' share of an expectation model's sentences.

    Returns:
        Paths for :class:`~telephony.speech.pocketsphinx.PocketsphinxConfig`.

    Raises:
        ValueError: The corpus has no word the dictionary can pronounce, or
            a pronunciation is not one word with phones of the dictionary.
    """
    started = time.perf_counter()
    mix = mix or GenericMix()
    source = dictionary or default_dictionary_path()
    texts = [_tokens(sentence) for sentence in sentences]
    texts = [t for t in texts if t]
    spoken = _pronunciations(pronunciations or {})
    extra = sorted({w for word in words for w in _tokens(word)} | spoken.keys())
    expected = {
        name: [t for t in map(_tokens, answers) if t]
        for name, answers in (expectations or {}).items()
    }
    key = _cache_key(texts, extra, mix, source, spoken, expected=expected, bias=bias)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lm_path = cache_dir / f"domain-{key}.lm"
    dict_path = cache_dir / f"domain-{key}.dict"
    meta_path = cache_dir / f"domain-{key}.json"
    searches = {name: cache_dir / f"domain-{key}.{name}.lm" for name in expected}
    files = [lm_path, dict_path, meta_path, *searches.values()]
    if all(path.exists() for path in files):
        with contextlib.suppress(OSError):
            os.utime(lm_path)  # in use: the newest of the old versions is kept (remove_stale)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        known = frozenset(meta["known"]) if "known" in meta else _dictionary_words(dict_path)
        texts = [t for t in texts if known.issuperset(t)]
        extra = [w for w in extra if w in known]
        return DomainModel(
            lm_path,
            dict_path,
            meta["words"],
            tuple(meta["dropped"]),
            cached=True,
            seconds=time.perf_counter() - started,
            searches=searches,
            _inputs=_Inputs(_frozen(texts), tuple(extra), known, mix, source, bias),
        )

    domain_words = {w for text in texts for w in text} | set(extra)
    answer_words = {w for answers in expected.values() for text in answers for w in text}
    generic = generic_english(mix, dictionary=source) if mix.weight else GenericEnglish({}, {})
    with _atomic(dict_path) as tmp:
        wanted = domain_words | answer_words | generic.unigrams.keys()
        dropped = set(prune_dictionary(wanted, tmp, source=source, extra=spoken))
    if dropped & domain_words:
        logger.warning(
            "domain LM: %d corpus words have no pronunciation and are left out: %s",
            len(dropped & domain_words),
            " ".join(sorted(dropped & domain_words)[:20]),
        )
    texts = [t for t in texts if not dropped.intersection(t)]
    extra = [w for w in extra if w not in dropped]
    generic = generic.without(dropped)
    if not texts and not extra:
        raise ValueError("domain LM: no corpus word has a pronunciation")
    with _atomic(lm_path) as tmp:
        vocabulary = write_arpa(texts, tmp, extra_words=extra, generic=generic, mix=mix)
    known = frozenset(wanted - dropped)
    inputs = _Inputs(_frozen(texts), tuple(extra), known, mix, source, bias)
    for name, answers in expected.items():
        _write_expected(inputs, generic, answers, searches[name])
    with _atomic(meta_path) as tmp:
        meta = {
            "words": vocabulary,
            "dropped": sorted(dropped & domain_words),
            "known": sorted(known),
        }
        tmp.write_text(json.dumps(meta), encoding="utf-8")
    remove_stale(cache_dir, keep=key)
    seconds = time.perf_counter() - started
    logger.info(
        "domain LM built: %d sentences, %d words, %d expectation models, in %.2f s -> %s",
        len(texts),
        vocabulary,
        len(searches),
        seconds,
        lm_path,
    )
    return DomainModel(
        lm_path,
        dict_path,
        vocabulary,
        tuple(meta["dropped"]),
        cached=False,
        seconds=seconds,
        searches=searches,
        _inputs=inputs,
    )


def build_expected_model(model: DomainModel, answers: Sequence[str], path: Path) -> Path:
    """Write one more expectation model of ``model``'s corpus to ``path``, for a step's hints.

    Blocking, ~0.1 s (~0.4 s more the first time in a process, to read the
    generic words). Not cached: a flow may ask with new hints on every call
    (the times still free today), so the caller decides where these go and
    for how long. Answers with a word outside the model's dictionary are
    left out: a word the flow never mentions (its phrases, words and
    pronunciations) cannot be decoded anyway.

    Raises:
        ValueError: ``model`` was not made by :func:`build_domain_model`.
    """
    inputs = model._inputs
    if inputs is None:
        raise ValueError(f"cannot build an expectation model for {model.lm}: not built here")
    generic = GenericEnglish({}, {})
    if inputs.mix.weight:
        generic = generic_english(inputs.mix, dictionary=inputs.source)
        generic = generic.without(set(generic.unigrams) - inputs.known)
    texts = [t for t in map(_tokens, answers) if t]
    _write_expected(inputs, generic, texts, path)
    return path


def _write_expected(
    inputs: _Inputs, generic: GenericEnglish, answers: list[list[str]], path: Path
) -> None:
    """The domain model with ``answers`` weighted to ``inputs.bias`` of the sentences."""
    usable = [a for a in answers if inputs.known.issuperset(a)]
    if len(usable) < len(answers):
        left_out = len(answers) - len(usable)
        logger.debug("%s: %d answers with unknown words left out", path.name, left_out)
    weight = 0.0
    if usable:
        weight = inputs.bias / (1.0 - inputs.bias) * max(len(inputs.texts), 1) / len(usable)
    with _atomic(path) as tmp:
        write_arpa(
            [list(t) for t in inputs.texts],
            tmp,
            extra_words=inputs.extra,
            generic=generic,
            mix=inputs.mix,
            boosted=usable,
            boost=weight,
        )


def _frozen(texts: list[list[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(t) for t in texts)


def _dictionary_words(path: Path) -> frozenset[str]:
    """The words of a pronouncing dictionary (a model cached before "known" was kept)."""
    with path.open(encoding="utf-8") as lines:
        return frozenset(
            line.split(maxsplit=1)[0].split("(", 1)[0] for line in lines if line.strip()
        )


def remove_stale(cache_dir: Path, *, keep: str) -> list[Path]:
    """Delete the models of other corpus versions from ``cache_dir``, all but the newest.

    Every change to the corpus leaves a model behind (~1 MB). The newest
    of the others (by when it was last built or loaded) is kept for a
    process that may still be running it, such as the old one during a
    restart: its decoders load the files whenever a call needs a new one.

    Args:
        cache_dir: The directory :func:`build_domain_model` keeps its files in.
        keep: The cache key of the model just built (``domain-<key>.*``).

    Returns:
        The files deleted.
    """
    versions: defaultdict[str, list[Path]] = defaultdict(list)
    for path in cache_dir.glob("domain-*"):
        version = path.name.removeprefix("domain-").split(".", 1)[0]
        if version != keep and path.suffix in {".lm", ".dict", ".json"}:
            versions[version].append(path)
    newest = max(versions, key=lambda v: max(_mtime(p) for p in versions[v]), default=None)
    removed = []
    for version, paths in versions.items():
        for path in paths if version != newest else ():
            with contextlib.suppress(FileNotFoundError):  # another process was first
                path.unlink()
                removed.append(path)
    if removed:
        logger.info(
            "domain LM: removed %d files of %d older corpus versions from %s (kept %s)",
            len(removed),
            len(versions) - 1,
            cache_dir,
            f"domain-{newest}.*",
        )
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@dataclass(frozen=True, slots=True)
class GenericEnglish:
    """What a domain model borrows from the generic model.

    Attributes:
        unigrams: The most frequent words, with probabilities summing to one.
        bigrams: For frequent histories (``<s>`` among them), the words that
            follow them markedly more often than they occur at all, with
            probabilities summing to one per history.
    """

    unigrams: dict[str, float]
    bigrams: dict[str, dict[str, float]]

    def without(self, words: set[str]) -> GenericEnglish:
        """The same with ``words`` left out (probabilities no longer sum to one)."""
        if not words:
            return self
        return GenericEnglish(
            {w: p for w, p in self.unigrams.items() if w not in words},
            {
                h: {w: p for w, p in nexts.items() if w not in words}
                for h, nexts in self.bigrams.items()
                if h not in words
            },
        )


def generic_english(
    mix: GenericMix, *, lm: Path | None = None, dictionary: Path | None = None
) -> GenericEnglish:
    """Read the generic model's frequent words and word pairs (~0.3 s + ~1 us per pair).

    Only plain words are taken ("don't", "p.m." yes; "'s", "a." no). A pair
    ``h w`` is kept when ``P(w | h) >= bigram_lift * P(w)`` in the generic
    model (collocations such as "going to", not every pair). Read once per
    process for each set of arguments (treat the result as read-only).

    Args:
        mix: How many words and pairs to take.
        lm: The generic model (default: the wheel's ``en-us.lm.bin``).
        dictionary: Where candidate words come from (default: the wheel's CMUdict).
    """
    return _generic_english(mix, lm, dictionary)


@functools.lru_cache(maxsize=4)
def _generic_english(mix: GenericMix, lm: Path | None, dictionary: Path | None) -> GenericEnglish:
    if mix.words <= 0:
        return GenericEnglish({}, {})
    model = pocketsphinx.NGramModel.readfile(
        str(lm or pocketsphinx.get_model_path("en-us/en-us.lm.bin"))
    )
    to_ln = math.log(_LOGMATH_BASE)
    seen: set[str] = set()
    scored: list[tuple[float, str]] = []
    with (dictionary or default_dictionary_path()).open(encoding="utf-8") as lines:
        for line in lines:
            word = line.split(maxsplit=1)[0].split("(", 1)[0] if line.strip() else ""
            if word in seen or not _WORD.fullmatch(word) or (len(word) == 1 and word not in "ai"):
                continue
            seen.add(word)
            scored.append((model.prob([word]), word))
    top = sorted(scored, reverse=True)[: mix.words]
    raw = {word: math.exp(score * to_ln) for score, word in top}
    total = sum(raw.values())
    unigrams = {word: p / total for word, p in raw.items()}

    ranked = [word for _, word in top]
    targets = [*ranked[: mix.bigram_words], _END]
    raw[_END] = math.exp(model.prob([_END]) * to_ln)
    bigrams: dict[str, dict[str, float]] = {}
    for history in [_START, *ranked[: mix.bigram_histories]]:
        strong = {}
        for word in targets:
            p = math.exp(model.prob([word, history]) * to_ln)  # history after the word
            if p >= mix.bigram_lift * raw[word]:
                strong[word] = p
        mass = sum(strong.values())
        if mass > 0:
            bigrams[history] = {word: p / mass for word, p in strong.items()}
    return GenericEnglish(unigrams, bigrams)


def write_arpa(
    texts: Iterable[list[str]],
    path: Path,
    *,
    extra_words: Iterable[str] = (),
    generic: GenericEnglish | None = None,
    mix: GenericMix | None = None,
    boosted: Iterable[list[str]] = (),
    boost: float = 1.0,
) -> int:
    """Write an interpolated Witten-Bell trigram model in ARPA format (see the module doc).

    Args:
        texts: Sentences as word lists (no ``<s>``/``</s>``).
        path: Where to write it.
        extra_words: Words to include even if no sentence uses them.
        generic: General English to mix in.
        mix: The weights of ``generic`` and the back-off floor.
        boosted: More sentences, each counted ``boost`` times (an expectation's answers).
        boost: The weight of each of ``boosted``.

    Returns:
        The number of words in the model (without ``<s>``/``</s>``).
    """
    mix = mix or GenericMix()
    generic = generic or GenericEnglish({}, {})
    uni: _Counts = defaultdict(float)
    follow: list[defaultdict[tuple[str, ...], _Counts]] = [
        defaultdict(lambda: defaultdict(float)) for _ in (1, 2)
    ]
    weighted = [(text, 1.0) for text in texts] + [(text, boost) for text in boosted]
    for text, count in weighted:
        tokens = [_START, *text, _END]
        for token in tokens[1:]:
            uni[token] += count
        for i in range(1, len(tokens)):
            follow[0][tuple(tokens[i - 1 : i])][tokens[i]] += count
            if i >= 2:
                follow[1][tuple(tokens[i - 2 : i])][tokens[i]] += count

    weight = mix.weight if generic.unigrams else 0.0
    p1 = _unigrams(uni, set(extra_words), generic.unigrams, weight)
    ceiling, digit_ceiling = 1.0 - mix.backoff_floor, 1.0 - mix.digit_floor
    p2: dict[tuple[str, ...], float] = {}
    bow1: dict[str, float] = {}
    for v in {v for (v,) in follow[0]} | (generic.bigrams.keys() & (p1.keys() | {_START})):
        nexts: Mapping[str, float] = follow[0].get((v,), {})
        total = sum(nexts.values())
        keep = _keep(nexts, digit_ceiling if v in DIGIT_WORDS else ceiling) if total else 0.0
        pairs = {w: p for w, p in generic.bigrams.get(v, {}).items() if w in p1}
        g = mix.bigram_weight if pairs else 0.0
        # Below the domain's own counts: the generic pairs, then the unigrams.
        for w in nexts.keys() | pairs.keys():
            lower = (1.0 - g) * p1[w] + g * pairs.get(w, 0.0)
            p2[(v, w)] = keep * nexts.get(w, 0.0) / max(total, 1) + (1.0 - keep) * lower
        bow1[v] = (1.0 - keep) * (1.0 - g)
    p3: dict[tuple[str, ...], float] = {}
    bow2: dict[tuple[str, ...], float] = {}
    for (u, v), nexts in follow[1].items():
        keep = _keep(nexts, digit_ceiling if {u, v} <= DIGIT_WORDS else ceiling)
        bow2[(u, v)] = 1.0 - keep
        total = sum(nexts.values())
        for w, c in nexts.items():
            p3[(u, v, w)] = keep * c / total + (1.0 - keep) * p2[(v, w)]

    with path.open("w", encoding="utf-8") as out:
        out.write("\\data\\\n")
        out.write(f"ngram 1={len(p1) + 1}\nngram 2={len(p2)}\nngram 3={len(p3)}\n")
        out.write("\n\\1-grams:\n")
        out.write(f"{_NO_PROB:.4f}\t{_START}\t{_log10(bow1.get(_START, 1.0)):.4f}\n")
        for w in sorted(p1):
            out.write(f"{_log10(p1[w]):.6f}\t{w}\t{_log10(bow1.get(w, 1.0)):.6f}\n")
        out.write("\n\\2-grams:\n")
        for ngram in sorted(p2):
            bow = f"\t{_log10(bow2[ngram]):.6f}" if ngram in bow2 else ""
            out.write(f"{_log10(p2[ngram]):.6f}\t{' '.join(ngram)}{bow}\n")
        out.write("\n\\3-grams:\n")
        for ngram in sorted(p3):
            out.write(f"{_log10(p3[ngram]):.6f}\t{' '.join(ngram)}\n")
        out.write("\n\\end\\\n")
    return len(p1) - 1  # without </s>


def _unigrams(
    counts: Mapping[str, float], extra: set[str], generic: Mapping[str, float], weight: float
) -> dict[str, float]:
    """Witten-Bell unigrams over the domain's words (uniform below), mixed with ``generic``."""
    vocabulary = set(counts) | extra
    total, distinct = sum(counts.values()), len(counts)
    uniform = 1.0 / len(vocabulary)
    domain = {w: (counts.get(w, 0.0) + distinct * uniform) / (total + distinct) for w in vocabulary}
    words = vocabulary | set(generic)
    return {w: (1.0 - weight) * domain.get(w, 0.0) + weight * generic.get(w, 0.0) for w in words}


def _keep(nexts: Mapping[str, float], ceiling: float) -> float:
    """Witten-Bell's weight on a history's own counts, capped to leave the back-off floor."""
    total = sum(nexts.values())
    return min(total / (total + len(nexts)), ceiling)


def _log10(p: float) -> float:
    return math.log10(p) if p > 0 else _NO_PROB


def _tokens(sentence: str) -> list[str]:
    """Lower-case words; punctuation around a word goes, "p.m." and "don't" stay whole."""
    out = []
    for raw in sentence.lower().split():
        word = raw.strip(',;:!?"()')
        if word.endswith(".") and word.count(".") == 1:
            word = word[:-1]  # a full stop, not "p.m."
        if word:
            out.append(word)
    return out


def _pronunciations(given: Mapping[str, str]) -> dict[str, str]:
    """``word -> phones`` in the dictionary's form: lower-case word, upper-case phones."""
    out = {}
    for word, phones in given.items():
        tokens = _tokens(word)
        if len(tokens) != 1:
            raise ValueError(f"pronunciation of {word!r}: give one word per entry")
        cleaned = [p.rstrip("012").upper() for p in str(phones).split()]
        if not cleaned or not all(p.isalpha() for p in cleaned):
            raise ValueError(f"pronunciation of {word!r}: expected phones like 'W IH N'")
        out[tokens[0]] = " ".join(cleaned)
    return dict(sorted(out.items()))


def _cache_key(
    texts: list[list[str]],
    extra: list[str],
    mix: GenericMix,
    dictionary: Path,
    pronunciations: Mapping[str, str],
    *,
    expected: Mapping[str, list[list[str]]],
    bias: float,
) -> str:
    digest = hashlib.sha256()
    stat = dictionary.stat()
    header = [BUILD_VERSION, *dataclasses.astuple(mix), str(dictionary)]
    digest.update(json.dumps([*header, stat.st_size, stat.st_mtime_ns]).encode())
    for text in texts:
        digest.update(" ".join(text).encode())
        digest.update(b"\n")
    digest.update(b"\x00" + " ".join(extra).encode())
    if pronunciations:  # absent from older keys: their caches stay valid
        digest.update(b"\x00" + json.dumps(pronunciations).encode())
    if expected:  # likewise
        digest.update(b"\x00" + json.dumps([bias, sorted(expected.items())]).encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Write to a temporary file next to ``path``; move it into place on success.

    Several workers starting at once may build the same model: each writes
    its own temporary file, and the last rename wins with identical content.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
