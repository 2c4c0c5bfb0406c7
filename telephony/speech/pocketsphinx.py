"""Offline speech recognition: pocketsphinx 5 with the US English model from its wheel.

How it works, per call::

    20 ms frames, 8 kHz PCM16
      -> 30 ms windows -> pocketsphinx.Endpointer (WebRTC-style VAD)     [event loop, ~2 us each]
      -> speech only, from the endpointer's decision window (~0.3 s) before it
      -> batches of >= 100 ms -> decode thread:
           gain (set once per utterance from its onset), 8 -> 16 kHz,
           Decoder.process_raw, Decoder.hyp() for a partial every >= 200 ms of audio
      -> end of speech (endpointer): flush the resampler, end_utt -> final

The endpointer runs on the event loop because it is cheap; the decoder only
ever sees speech, so silence (most of a call: the agent talking) costs no
thread hop and no search, and the decoder cannot emit words in silence.
Audio time, not wall time, paces partials, so tests feed audio as fast as
the decoder takes it.

Measured on the 2-core reference machine (generic model, Piper speech through
G.711, other work running): a Decoder takes 0.26-0.45 s to create and ~90 MB
(~45 MB with a pruned dictionary); decoding costs 0.13-0.19 of one core per
second of caller speech (0.07-0.11 averaged over a call with pauses); the
final arrives 0.4-0.65 s of audio after the last loud frame (the endpointer
waits for ~0.3 s of non-speech after the VAD's own hangover), plus 10-45 ms
of CPU for ``end_utt``.

Decisions, each measured:

- The pocketsphinx binding holds the GIL inside every C call, so a decode
  thread frees the event loop only *between* calls. Audio goes to the
  decoder in pieces of at most 40 ms (~5 ms of GIL each), and the ``fwdflat``
  rescoring pass is off by default: it made ``end_utt`` hold the GIL for
  75-140 ms (vs 10-45 ms) for no measurable accuracy gain. With two calls
  decoding at once the loop ran a 5 ms timer at most ~30 ms late. Creating
  a Decoder holds the GIL for its whole load, hence the per-process pool
  reused call after call, filled at start-up by :meth:`PocketsphinxSTT.warm_up`.
- Upsampling uses soxr's "QQ" (cubic) recipe: with the generic 16 kHz model,
  word error on telephone speech was 12-23 % with it and 33-73 % with "HQ",
  whose steep filter leaves 4-8 kHz empty (unlike anything the model was
  trained on). "QQ" also adds no delay.
- Cepstral mean normalisation starts from a telephone prior
  (:data:`TELEPHONE_CMN_PRIOR`) instead of the model's wideband default, and is
  reset to it for every call, so no caller's line leaks into the next call:
  word error on a call's first utterance fell from 23-27 % to 12-15 %.
- Each utterance is brought to a fixed level (``target_level_dbfs``) with a
  gain computed from the endpointer's decision window: the features are not
  level invariant, and quiet lines (speech 20-30 dB below Piper's) went from
  45-92 % word error to 28-38 %.

A domain language model, dictionary, grammar or key phrase goes in through
:class:`PocketsphinxConfig`; :func:`~telephony.speech.dictionary.prune_dictionary`
writes a dictionary restricted to a vocabulary.

What the next turn is expected to be (:meth:`PocketsphinxSTT.expect`, after
every agent reply) picks the language model of the caller's next utterance.
A domain configuration holds, beside the flow's model, one model per kind of
answer (yes/no, day, time, number, digits, choice, name: the flow's corpus
with that kind's answers weighted in, :mod:`telephony.speech.domain_lm`),
each a named search in every decoder; a step with hints gets its own model,
built on a decode thread the first time a step asks with them (~0.1 s of
CPU; at most :data:`MAX_HINT_MODELS` kept, in memory only). At the start
of an utterance the decode thread activates the best search the decoder
has (``activate_search``: well under a microsecond), so the switch never
lands mid-utterance and never costs the event loop. Each model is loaded
once per process and shared by the decoders (~2 MB each, ~13 MB for the
seven kinds); a search costs a decoder ~2.3 MB and a few ms to add (hint
searches: at most :data:`MAX_HINT_SEARCHES` per decoder, the least recently
used removed). Measured (``bench/bench_expect.py``, a bundled flow's corpus, other
work running): a decoder with the seven kind searches takes 23.5 MB instead
of 7.5 MB and 80-140 ms instead of 25-40 ms to create (so :meth:`warm_up`
matters more); ``expect()`` takes ~1 us on the loop, choosing and
activating a search ~0.2 us. Against a grammar per kind with a word loop
for anything else (JSGF), the alternative: that decoded at 0.8-11 x real
time (50-400 loop words, vs 0.03 x) and garbled the requests it was meant
to keep ("can i talk cook person"), so it was not taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
)
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pocketsphinx

from telephony.speech.base import AudioFrame, CallInfo, Expectation, ProviderError, Transcript
from telephony.speech.domain_lm import (
    DEFAULT_BIAS,
    DOMAIN_DECODER_OPTIONS,
    DomainModel,
    build_domain_model,
    build_expected_model,
)
from telephony.speech.expectation import (
    HINTS_PREFIX,
    KIND_SEARCHES,
    ExpectationBoard,
    Listening,
    answers,
    kind_answers,
    searches_for,
)
from telephony.wire.codec import SAMPLE_RATE, Rebuffer, Resampler, rms_dbfs

__all__ = [
    "DECODER_SAMPLE_RATE",
    "MAX_HINT_MODELS",
    "MAX_HINT_SEARCHES",
    "TELEPHONE_CMN_PRIOR",
    "PocketsphinxConfig",
    "PocketsphinxSTT",
]

logger = logging.getLogger("dialgraph.asr.pocketsphinx")

_PROVIDER = "pocketsphinx"
DECODER_SAMPLE_RATE = 16000  # the en-us acoustic model in the wheel is trained on 16 kHz audio
_MAX_PIECE_SAMPLES = DECODER_SAMPLE_RATE * 40 // 1000  # 40 ms per process_raw: ~5 ms GIL hold
_MAX_CUT_DB = 12.0  # loud lines are turned down at most this much (boost is config.max_gain_db)
_INT16_MIN, _INT16_MAX = -32768, 32767
_DECODE_THREADS = 4  # the decoder holds the GIL, so more threads add queueing, not speed
MAX_HINT_SEARCHES = 8  # per decoder (~2.3 MB each); steps with hints are few in a flow
MAX_HINT_MODELS = 32  # per process (~2 MB each): a flow may ask with new hints every call
_DEFAULT_SEARCH = "_default"  # pocketsphinx's name for the search the decoder was created with

# Initial cepstral mean for 8 kHz telephone speech upsampled with "QQ": the
# decoder's live CMN after 24 utterances of Piper speech (12 sentences that are
# not in the tests, twice) through G.711, rounded. The model's own default
# ("40,3,-1") describes wideband microphone audio.
TELEPHONE_CMN_PRIOR = "50.8,12.1,-7.8,12.7,0.2,-0.1,-2.9,-1.3,-10.4,11.0,-5.6,5.4,-6.2"

_DecoderOption = str | int | float | bool
_T = TypeVar("_T")


@dataclass(frozen=True)
class PocketsphinxConfig:
    """What to load into each decoder and how to find utterances.

    At most one of ``lm``, ``jsgf`` and ``keyphrase`` may be set; with none,
    the wheel's generic trigram model is used.

    Attributes:
        hmm: Acoustic model directory (default: the wheel's en-us model).
        lm: N-gram language model (ARPA or binary), e.g. one built from the
            dialogue's vocabulary.
        dictionary: Pronouncing dictionary (default: the wheel's CMUdict); see
            :func:`~telephony.speech.dictionary.prune_dictionary`.
        jsgf: JSGF grammar file (grammar search instead of the n-gram model).
        keyphrase: A single key phrase to spot (keyword search).
        fwdflat: Run the flat-lexicon rescoring pass at the end of an
            utterance (costs 60-100 ms of GIL-holding CPU per utterance).
        bestpath: Run the lattice best-path pass (10-30 ms).
        cmn_prior: Initial cepstral mean, comma-separated; ``None`` keeps the
            model's default.
        resampler_quality: soxr recipe for 8 -> 16 kHz (see the module doc).
        target_level_dbfs: Each utterance is amplified so that the loudest
            30 ms of its onset reaches this RMS level (``None``: no gain).
        max_gain_db: Most boost applied to a quiet line.
        vad_mode: Endpointer aggressiveness, 0 (loose) to 3 (strict).
        vad_window_s: Endpointer decision window in seconds; also the pre-roll
            kept before speech and roughly the end-of-speech delay.
        vad_ratio: Fraction of the window that must agree to switch state.
        batch_ms: Speech buffered before one trip to the decode thread.
        partial_interval_ms: Least audio between two partial transcripts.
        options: Further decoder parameters by pocketsphinx name
            (e.g. ``{"beam": 1e-60}``); these win over the fields above.
        searches: Expectation models by name (``yes_no``, ...), each added
            to every decoder as a search (see the module doc).
        domain: The domain model the expectation models come from; steps
            with hints get models of its corpus (``None``: kinds only).
    """

    hmm: Path | None = None
    lm: Path | None = None
    dictionary: Path | None = None
    jsgf: Path | None = None
    keyphrase: str | None = None
    fwdflat: bool = False
    bestpath: bool = True
    cmn_prior: str | None = TELEPHONE_CMN_PRIOR
    resampler_quality: str = "QQ"
    target_level_dbfs: float | None = -14.0
    max_gain_db: float = 30.0
    vad_mode: int = pocketsphinx.Vad.LOOSE
    vad_window_s: float = pocketsphinx.Endpointer.DEFAULT_WINDOW
    vad_ratio: float = pocketsphinx.Endpointer.DEFAULT_RATIO
    batch_ms: int = 100
    partial_interval_ms: int = 200
    options: Mapping[str, _DecoderOption] = field(default_factory=dict)
    searches: Mapping[str, Path] = field(default_factory=dict)
    domain: DomainModel | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        searches = [name for name in ("lm", "jsgf", "keyphrase") if getattr(self, name)]
        if len(searches) > 1:
            raise ValueError(f"PocketsphinxConfig takes one search, got {' and '.join(searches)}")
        if self.batch_ms <= 0 or self.partial_interval_ms < 0:
            raise ValueError("PocketsphinxConfig batch_ms must be > 0 and partial_interval_ms >= 0")
        self.make_endpointer()  # fail at configuration time, not on the first call

    @classmethod
    def for_domain(
        cls,
        corpus: Iterable[str],
        *,
        cache_dir: Path,
        words: Iterable[str] = (),
        pronunciations: Mapping[str, str] | None = None,
        expectations: bool = True,
        bias: float = DEFAULT_BIAS,
        **settings: Any,
    ) -> PocketsphinxConfig:
        """A configuration with a language model built from ``corpus`` (sentences callers say).

        Built by :mod:`telephony.speech.domain_lm`, or found in ``cache_dir`` (``var/asr``):
        blocking, ~1.5 s once per corpus (~0.8 s without ``expectations``),
        ~10 ms cached. ``words`` and ``pronunciations`` (``word -> phones``)
        extend the vocabulary and the dictionary. ``expectations``: also the
        model of each kind of answer, for :meth:`PocketsphinxSTT.expect`,
        the answers making up ``bias`` of its sentences. ``settings``: other fields.
        """
        kinds = {kind: kind_answers(kind) for kind in KIND_SEARCHES} if expectations else None
        model = build_domain_model(
            corpus,
            cache_dir=cache_dir,
            words=words,
            pronunciations=pronunciations,
            expectations=kinds,
            bias=bias,
        )
        options = {**DOMAIN_DECODER_OPTIONS, **settings.pop("options", {})}
        return cls(
            lm=model.lm,
            dictionary=model.dictionary,
            options=options,
            searches=model.searches,
            domain=model if expectations else None,
            **settings,
        )

    def make_endpointer(self) -> pocketsphinx.Endpointer:
        """A new endpointer for 8 kHz audio with these settings.

        Raises:
            ValueError: The window, ratio or mode is out of range.
        """
        return pocketsphinx.Endpointer(
            window=self.vad_window_s,
            ratio=self.vad_ratio,
            vad_mode=self.vad_mode,
            sample_rate=SAMPLE_RATE,
        )

    def decoder_options(self) -> dict[str, _DecoderOption]:
        """Keyword arguments for ``pocketsphinx.Decoder``."""
        options: dict[str, _DecoderOption] = {
            "loglevel": "FATAL",  # pocketsphinx logs every step to stderr otherwise
            "samprate": DECODER_SAMPLE_RATE,
            "fwdflat": self.fwdflat,
            "bestpath": self.bestpath,
        }
        for name, value in (
            ("hmm", self.hmm),
            ("lm", self.lm),
            ("dict", self.dictionary),
            ("jsgf", self.jsgf),
            ("keyphrase", self.keyphrase),
        ):
            if value is not None:
                options[name] = str(value)
        if self.cmn_prior is not None:
            options["cmninit"] = self.cmn_prior
        options.update(self.options)
        return options


@dataclass(eq=False)
class _PooledDecoder:
    """A decoder and the hint searches it holds, least recently used first."""

    decoder: pocketsphinx.Decoder
    hint_searches: OrderedDict[str, None] = field(default_factory=OrderedDict)


class _DecoderPool:
    """Idle decoders of one configuration, shared by all calls in the process.

    A decoder's cepstral mean is reset when it is handed out, so a reused one
    behaves like a new one. The pool also holds the expectation models, loaded
    once and shared by its decoders, and the builds of hint models.
    """

    def __init__(
        self,
        options: dict[str, _DecoderOption],
        max_idle: int,
        searches: Mapping[str, Path],
        domain: DomainModel | None,
    ) -> None:
        self._options = options
        self._max_idle = max_idle
        self._searches = dict(searches)
        self._domain = domain
        self._idle: list[_PooledDecoder] = []
        self._initial_cmn = ""  # a new decoder's cepstral mean, as get_cmn() shows it
        self._models: dict[str, pocketsphinx.NGramModel] = {}  # loaded, by search name
        self._builds: OrderedDict[str, Future[Path]] = OrderedDict()  # hint models, LRU first
        self._hints_tmp: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    def take_idle(self) -> _PooledDecoder | None:
        with self._lock:
            pooled = self._idle.pop() if self._idle else None
        if pooled is not None:
            try:
                pooled.decoder.set_cmn(self._initial_cmn)
            except (RuntimeError, ValueError) as exc:
                raise ProviderError(_PROVIDER, f"cannot reset decoder: {exc}") from exc
        return pooled

    def create(self) -> _PooledDecoder:
        """Load a new decoder with its searches (blocking, holding the GIL: ~0.26 s
        with the generic model, 80-140 ms with a domain model and its kind models)."""
        try:
            decoder = pocketsphinx.Decoder(**self._options)
            for name, path in self._searches.items():
                decoder.add_lm(name, self._model(name, path, decoder))
        except (RuntimeError, ValueError, OSError) as exc:
            raise ProviderError(_PROVIDER, f"cannot create decoder: {exc}") from exc
        self._initial_cmn = decoder.get_cmn()
        return _PooledDecoder(decoder)

    def give_back(self, pooled: _PooledDecoder) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(pooled)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def biased(self) -> bool:
        """Whether this configuration has expectation models at all."""
        return bool(self._searches)

    def _model(
        self, name: str, path: Path, decoder: pocketsphinx.Decoder
    ) -> pocketsphinx.NGramModel:
        """A model loaded once per process (~20 ms), in the decoders' own log base."""
        with self._lock:
            model = self._models.get(name)
        if model is None:
            model = pocketsphinx.NGramModel(decoder.config, decoder.get_logmath(), str(path))
            with self._lock:
                model = self._models.setdefault(name, model)
        return model

    def prepare(self, expectation: Expectation | None) -> list[Future[Path]]:
        """Start building the hint model an expectation names, if it is new (non-blocking).

        Returns the builds it names, started now or before. At most
        :data:`MAX_HINT_MODELS` are kept, the least recently asked for
        dropped first (a decoder keeps what it holds; asked again, it is rebuilt).
        """
        domain = self._domain
        if expectation is None or domain is None:
            return []
        builds = []
        for name in searches_for(expectation):
            if not name.startswith(HINTS_PREFIX):
                continue
            with self._lock:
                build = self._builds.get(name)
                if build is None:
                    path = self._hint_dir() / f"{name}.lm"
                    build = _executor().submit(
                        build_expected_model, domain, answers(expectation), path
                    )
                    self._builds[name] = build
                    build.add_done_callback(functools.partial(self._built, name))
                self._builds.move_to_end(name)
                while len(self._builds) > MAX_HINT_MODELS:
                    dropped, _ = self._builds.popitem(last=False)
                    self._models.pop(dropped, None)
            builds.append(build)
        return builds

    def _hint_dir(self) -> Path:
        """Where hint models wait to be loaded (each file is deleted once it is)."""
        if self._hints_tmp is None:
            self._hints_tmp = tempfile.TemporaryDirectory(prefix="dialgraph-expect-")
        return Path(self._hints_tmp.name)

    def _built(self, name: str, build: Future[Path]) -> None:
        error = None if build.cancelled() else build.exception()
        if build.cancelled() or error is not None:
            logger.warning("expectation model %s could not be built: %r", name, error)
            with self._lock:
                if self._builds.get(name) is build:
                    del self._builds[name]  # the next expect() tries again
        else:
            logger.info("expectation model %s built", name)

    def _hint_model(
        self, name: str, decoder: pocketsphinx.Decoder
    ) -> pocketsphinx.NGramModel | None:
        """A built hint model, loaded (its file then deleted); ``None`` until it is built."""
        with self._lock:
            model = self._models.get(name)
            build = self._builds.get(name)
        if model is not None or build is None or not build.done() or build.cancelled():
            return model
        if build.exception() is not None:
            return None
        with self._load_lock:  # one thread loads and deletes the file
            with self._lock:
                model = self._models.get(name)
            if model is None:
                path = build.result()
                model = pocketsphinx.NGramModel(decoder.config, decoder.get_logmath(), str(path))
                path.unlink(missing_ok=True)
                with self._lock:
                    if self._builds.get(name) is build:  # not dropped meanwhile
                        self._models[name] = model
        return model

    def activate(self, pooled: _PooledDecoder, wanted: tuple[str, ...]) -> str:
        """Switch ``pooled`` to the first of ``wanted`` it can decode with (decode thread).

        A hint model built since the decoder last asked is added to it first
        (~3 ms, once; its first use in the process also loads it, ~20 ms);
        one that cannot be loaded is skipped with a warning. Returns the
        search's name; ``""`` for the flow's own model.
        """
        decoder = pooled.decoder
        for name in wanted:
            if name in self._searches:
                decoder.activate_search(name)
                return name
            if name in pooled.hint_searches:
                pooled.hint_searches.move_to_end(name)
                decoder.activate_search(name)
                return name
            try:
                model = self._hint_model(name, decoder)
                if model is None:
                    continue
                decoder.add_lm(name, model)
            except (RuntimeError, ValueError, OSError) as exc:
                logger.warning("expectation model %s not used: %s", name, exc)
                continue
            decoder.activate_search(name)
            pooled.hint_searches[name] = None
            if len(pooled.hint_searches) > MAX_HINT_SEARCHES:
                oldest, _ = pooled.hint_searches.popitem(last=False)
                decoder.remove_search(oldest)
            return name
        if decoder.current_search() != _DEFAULT_SEARCH:
            decoder.activate_search()
        return ""


_POOLS: dict[tuple[tuple[str, str], ...], _DecoderPool] = {}
_POOLS_LOCK = threading.Lock()
_EXECUTOR: ThreadPoolExecutor | None = None


def _pool_for(config: PocketsphinxConfig, max_idle: int) -> _DecoderPool:
    options = config.decoder_options()
    searches = {f"search:{name}": str(path) for name, path in config.searches.items()}
    key = tuple(sorted((name, repr(value)) for name, value in {**options, **searches}.items()))
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = _DecoderPool(options, max_idle, config.searches, config.domain)
    return pool


def _executor() -> ThreadPoolExecutor:
    """The decode threads, separate from asyncio's default executor.

    Other engines (Piper) share the default one; a long synthesis queued there
    must not delay a caller's final transcript.
    """
    global _EXECUTOR  # noqa: PLW0603 - created on first use, once per process
    with _POOLS_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="pocketsphinx")
    return _EXECUTOR


@dataclass(frozen=True, slots=True)
class _Start:
    """Decode step: a new utterance begins; its audio is to be multiplied by ``gain``,
    and decoded with the first of ``searches`` the decoder has (none: the flow's model)."""

    gain: float
    searches: tuple[str, ...] = ()


_END = None  # decode step: the utterance is over
_Step = _Start | bytes | None


class _CallRecognizer:
    """One call's endpointer and decoder: the synchronous core of ``transcribe``.

    The event loop calls :meth:`feed` (voice activity only) and
    :meth:`take_steps`; a decode thread runs :meth:`run` on those steps
    (start, speech bytes, end). They never overlap for one call, and ``lock``
    keeps the decoder from being returned to the pool while a decode thread
    still holds it. What the call expects is read when an utterance starts,
    on the loop side, and goes to the decode thread with the start.
    """

    def __init__(
        self,
        pooled: _PooledDecoder,
        config: PocketsphinxConfig,
        pool: _DecoderPool,
        listening: Listening,
    ) -> None:
        self.pooled = pooled
        self.decoder = pooled.decoder
        self.lock = threading.Lock()
        self.in_utterance = False  # decoder side: start_utt called, end_utt not yet
        self.broken = False
        self.utterances = 0
        self.biased = 0  # utterances decoded with an expectation model
        self._config = config
        self._pool = pool
        self._listening = listening
        self._endpointer = config.make_endpointer()
        # Loop side. The endpointer hands speech out one window at a time,
        # delayed by its decision window; the windows that made it decide
        # "speech" are kept here to set the utterance's gain.
        self._windows = Rebuffer(self._endpointer.frame_bytes // 2)
        per_decision = round(config.vad_window_s / self._endpointer.frame_length)
        self._recent: deque[np.ndarray] = deque(maxlen=max(per_decision, 1))
        self._open = False
        self._steps: list[_Step] = []
        self._pending_bytes = 0
        self._batch_bytes = SAMPLE_RATE * config.batch_ms // 1000 * 2
        # Decode side, counted in 8 kHz samples of audio.
        self._resampler = Resampler(
            SAMPLE_RATE, DECODER_SAMPLE_RATE, quality=config.resampler_quality
        )
        self._partial_every = SAMPLE_RATE * config.partial_interval_ms // 1000
        self._since_partial = 0
        self._last_text = ""
        self._sent_partial = False
        self._gain = 1.0

    # -- event loop side -------------------------------------------------

    def feed(self, pcm: np.ndarray) -> bool:
        """Run voice activity on the next audio; return True if a decode trip is due."""
        endpointer = self._endpointer
        try:
            for window in self._windows.feed(pcm):
                self._recent.append(window)
                speech = endpointer.process(window.tobytes())
                if speech is not None:
                    self._add_speech(speech, ended=not endpointer.in_speech)
        except (IndexError, ValueError) as exc:
            raise ProviderError(_PROVIDER, f"endpointer failed: {exc}") from exc
        return self._pending_bytes >= self._batch_bytes or _END in self._steps

    def end_of_audio(self) -> bool:
        """The caller's audio ended: close an open utterance; return True if a trip is due."""
        if self._endpointer.in_speech:
            # end_stream returns the speech the endpointer still holds back; it
            # rejects an empty buffer, so pad the last window.
            rest = self._windows.flush(pad=True) or [np.zeros(self._windows.window, np.int16)]
            try:
                speech = self._endpointer.end_stream(rest[0].tobytes())
            except (IndexError, ValueError) as exc:
                raise ProviderError(_PROVIDER, f"endpointer failed: {exc}") from exc
            self._add_speech(speech or b"", ended=True)
        elif self._open:
            self._add_speech(b"", ended=True)
        return bool(self._steps)

    def take_steps(self) -> list[_Step]:
        steps, self._steps, self._pending_bytes = self._steps, [], 0
        return steps

    def _add_speech(self, speech: bytes, *, ended: bool) -> None:
        if not self._open:
            self._open = True
            wanted = searches_for(self._listening.expectation) if self._pool.biased else ()
            self._steps.append(_Start(self._onset_gain(), wanted))
        if speech:
            self._steps.append(speech)
            self._pending_bytes += len(speech)
        if ended:
            self._open = False
            self._steps.append(_END)

    def _onset_gain(self) -> float:
        """Gain that brings the loudest window of the speech onset to the target level.

        The onset is the endpointer's decision window (at least ``vad_ratio``
        speech), so its loudest 30 ms is a syllable, not a pause.
        """
        target = self._config.target_level_dbfs
        if target is None or not self._recent:
            return 1.0
        loudest = max(rms_dbfs(window) for window in self._recent)
        gain_db = min(max(target - loudest, -_MAX_CUT_DB), self._config.max_gain_db)
        return float(10 ** (gain_db / 20))

    # -- decode thread side ------------------------------------------------

    def run(self, steps: list[_Step]) -> list[Transcript]:
        """Decode speech and close utterances (blocking; one decode thread at a time)."""
        results: list[Transcript] = []
        with self.lock:
            try:
                for step in steps:
                    if isinstance(step, _Start):
                        self._start_utterance(step)
                    elif step is _END:
                        final = self._finish_utterance()
                        if final is not None:
                            results.append(final)
                    else:
                        self._decode(np.frombuffer(step, dtype=np.int16))
                partial = self._partial()
                if partial is not None:
                    results.append(partial)
            except (RuntimeError, ValueError) as exc:
                self.broken = True
                raise ProviderError(_PROVIDER, f"decoding failed: {exc}") from exc
        return results

    def _start_utterance(self, start: _Start) -> None:
        # Between utterances, so an expectation never changes one in progress.
        if self._pool.biased and self._pool.activate(self.pooled, start.searches):
            self.biased += 1
        self.decoder.start_utt()
        self.in_utterance = True
        self._gain = start.gain
        self._since_partial = 0
        self._last_text = ""
        self._sent_partial = False

    def _decode(self, pcm8: np.ndarray) -> None:
        if self._gain != 1.0:
            pcm8 = np.clip(pcm8 * self._gain, _INT16_MIN, _INT16_MAX).astype(np.int16)
        self._process(self._resampler.process(pcm8))
        self._since_partial += pcm8.size

    def _process(self, pcm16: np.ndarray) -> None:
        # An empty buffer makes process_raw raise; small pieces let the event
        # loop take the GIL between them.
        for start in range(0, pcm16.size, _MAX_PIECE_SAMPLES):
            self.decoder.process_raw(pcm16[start : start + _MAX_PIECE_SAMPLES].tobytes())

    def _partial(self) -> Transcript | None:
        if not self.in_utterance or self._since_partial < self._partial_every:
            return None
        self._since_partial = 0
        text = self._hypothesis()
        if not text or text == self._last_text:
            return None
        self._last_text = text
        self._sent_partial = True
        return Transcript(text, is_final=False)

    def _finish_utterance(self) -> Transcript | None:
        self._process(self._resampler.flush())
        self.decoder.end_utt()
        self.in_utterance = False
        self.utterances += 1
        text = self._hypothesis()
        # Noise can open an utterance that decodes to nothing: say nothing,
        # unless partials were sent and the listener needs to see them settle.
        if not text and not self._sent_partial:
            return None
        return Transcript(text, is_final=True)

    def _hypothesis(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def abandon(self) -> bool:
        """End any open utterance (the call went away mid-speech); return True if reusable."""
        with self.lock:
            if self.in_utterance and not self.broken:
                try:
                    self.decoder.end_utt()
                except (RuntimeError, ValueError):
                    self.broken = True
                self.in_utterance = False
            return not self.broken


class PocketsphinxSTT:
    """pocketsphinx as a :class:`~telephony.speech.base.SpeechToText`.

    One instance serves every call; each ``transcribe`` takes a decoder from
    a per-process pool and returns it when the call's audio ends.
    :meth:`expect` biases a call's next utterances towards the answers a
    step expects (with a domain configuration; otherwise it is kept and unused).

    Args:
        config: Model, search and endpointing settings (default: the
            generic model tuned for telephone audio).
        max_idle: Decoders kept for reuse after calls end (~90 MB each with
            the generic model).
    """

    name = "pocketsphinx"

    def __init__(self, config: PocketsphinxConfig | None = None, *, max_idle: int = 4) -> None:
        self.config = config or PocketsphinxConfig()
        self._pool = _pool_for(self.config, max_idle)
        self._board = ExpectationBoard()

    def __repr__(self) -> str:
        return f"PocketsphinxSTT({self.config!r})"

    @property
    def idle_decoders(self) -> int:
        """Decoders loaded and waiting for a call (shared by all instances with this config)."""
        return self._pool.idle

    async def warm_up(self, decoders: int = 1) -> None:
        """Load decoders until ``decoders`` wait idle, so the first calls do not pay for it.

        Each load holds the GIL for ~0.26 s (the event loop stalls meanwhile):
        do this at start-up, not during calls.
        """
        made = [await self._run(self._pool.create) for _ in range(decoders - self._pool.idle)]
        for pooled in made:
            self._pool.give_back(pooled)

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None:
        """What ``call``'s next turn is expected to be, from its next utterance on.

        Cheap (event loop): a step with hints that no step asked with before
        starts its model's build on a decode thread; until it is ready the
        kind's model serves.
        """
        self._board.expect(call.call_sid, expectation)
        if self._pool.biased:
            self._pool.prepare(expectation)

    async def prepare(self, expectation: Expectation | None) -> None:
        """Build the model a step with hints needs now, instead of on first use.

        For steps known in advance (start-up, tests, benchmarks); a failed
        build is logged and the kind's model serves, as in a call.
        """
        if self._pool.biased:
            for build in self._pool.prepare(expectation):
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(build)

    async def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncGenerator[Transcript, None]:
        """Recognise the caller's audio until it ends.

        Yields a partial transcript at most every ``partial_interval_ms`` of
        speech (only when the words changed) and one final transcript per
        utterance the endpointer found (none for silence or for noise that
        decoded to nothing).

        Raises:
            ProviderError: The decoder could not be created or failed.
        """
        listening = self._board.open(call.call_sid)
        try:
            pooled = self._pool.take_idle()
            if pooled is None:
                pooled = await self._run(self._pool.create)
        except BaseException:
            self._board.close(call.call_sid, listening)
            raise
        recognizer = _CallRecognizer(pooled, self.config, self._pool, listening)
        try:
            async for frame in audio:
                if recognizer.feed(frame.pcm):
                    for transcript in await self._run(recognizer.run, recognizer.take_steps()):
                        yield transcript
            if recognizer.end_of_audio():
                for transcript in await self._run(recognizer.run, recognizer.take_steps()):
                    yield transcript
            logger.debug(
                "[%s] audio ended after %d utterances (%d with an expectation model)",
                call.call_sid,
                recognizer.utterances,
                recognizer.biased,
            )
        finally:
            self._board.close(call.call_sid, listening)
            self._release(recognizer)

    def _release(self, recognizer: _CallRecognizer) -> None:
        """Give the decoder back without awaiting (this runs when the generator closes)."""
        if recognizer.lock.acquire(blocking=False):
            busy = recognizer.in_utterance
            recognizer.lock.release()
            if not busy:
                if not recognizer.broken:
                    self._pool.give_back(recognizer.pooled)
                return
        # A decode thread still holds the decoder, or an utterance is open
        # (end_utt costs CPU): finish in the background.
        with contextlib.suppress(RuntimeError):  # RuntimeError: shut down, the process is exiting
            _executor().submit(self._abandon, recognizer)

    def _abandon(self, recognizer: _CallRecognizer) -> None:
        if recognizer.abandon():
            self._pool.give_back(recognizer.pooled)

    @staticmethod
    async def _run(function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(_executor(), function, *args)
