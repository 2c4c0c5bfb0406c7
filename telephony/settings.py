"""Configuration from the environment (and an optional ``.env`` file).

Every setting is declared once in :data:`SETTINGS` with its environment
variable, type, default and a one-line description; ``dialgraph --help`` and
the README's table are generated from that list, so nothing goes undocumented.

Twilio's credentials keep Twilio's usual names (``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``); everything else is prefixed ``DIALGRAPH_``.

These are the runtime's settings: which graph (``DIALGRAPH_GRAPH``), engines,
database, limits. What belongs to a flow (its greeting, vocabulary, names
that are not personal data, its chat model) lives with the flow: its
``PhoneSettings`` and whatever variables it reads itself (the bundled flows
read ``DIALGRAPH_MODEL``). A retired variable (:data:`RETIRED`) is refused
with what replaced it, so an old ``.env`` never silently runs another graph.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from memory.encryption import parse_keys
from telephony.admission.compliance import DEFAULT_CALLING_HOURS, parse_calling_hours

__all__ = [
    "DEFAULT_GRAPH",
    "GRAPH_FORMS",
    "RETIRED",
    "SETTINGS",
    "VOICEMAIL_ACTIONS",
    "ConfigError",
    "Setting",
    "Settings",
    "load_settings",
    "settings_help",
]


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent; the message says which."""


VOICEMAIL_ACTIONS = ("hangup", "message", "off")  # DIALGRAPH_VOICEMAIL
DEFAULT_GRAPH = ""  # DIALGRAPH_GRAPH: empty = the first graph langgraph.json lists
GRAPH_FORMS = "a langgraph.json id, path/to/file.py:attr or package.module:attr"
RETIRED = {"DIALGRAPH_AGENT": "DIALGRAPH_GRAPH"}  # old variable -> what replaced it


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _parse_graph(raw: str) -> str:
    return raw.strip()  # "": the first graph langgraph.json lists


def _parse_voicemail(raw: str) -> str:
    value = raw.strip().lower()
    if value not in VOICEMAIL_ACTIONS:
        raise ValueError(f"expected one of {', '.join(VOICEMAIL_ACTIONS)}, got {raw!r}")
    return value


def _parse_public_url(raw: str) -> str:
    raw = raw.strip().rstrip("/")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// base URL, got {raw!r}")
    if parts.query or parts.fragment:
        raise ValueError("the public base URL takes no query string or fragment")
    return raw


@dataclass(frozen=True, slots=True)
class Setting:
    """One documented setting."""

    field: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "twilio_account_sid",
        "TWILIO_ACCOUNT_SID",
        "",
        "Twilio account SID (AC...), used for REST call control.",
        secret=False,
    ),
    Setting(
        "twilio_auth_token",
        "TWILIO_AUTH_TOKEN",
        "",
        "Twilio auth token. When set, every webhook, status callback and media "
        "handshake must carry a valid X-Twilio-Signature.",
        secret=True,
    ),
    Setting(
        "public_url",
        "DIALGRAPH_PUBLIC_URL",
        "",
        "Base URL Twilio reaches (e.g. https://abc.example.com). Stream URLs are "
        "derived from it (https -> wss, http -> ws) and signatures are checked "
        "against it. Empty: use the request's own URL.",
        _parse_public_url,
    ),
    Setting(
        "trust_forwarded",
        "DIALGRAPH_TRUST_FORWARDED",
        False,
        "Rebuild the public URL from X-Forwarded-Proto/Host when no public URL is "
        "set (only behind a proxy you control).",
        _parse_bool,
    ),
    Setting("host", "DIALGRAPH_HOST", "127.0.0.1", "Address `dialgraph serve` binds."),
    Setting("port", "DIALGRAPH_PORT", 8080, "Port `dialgraph serve` binds.", int),
    Setting(
        "var_dir",
        "DIALGRAPH_VAR_DIR",
        "var",
        "Directory for databases, transcripts and recordings.",
        Path,
    ),
    Setting("log_level", "DIALGRAPH_LOG_LEVEL", "INFO", "Logging level (DEBUG, INFO, ...)."),
    Setting(
        "call_token_secret",
        "DIALGRAPH_CALL_TOKEN_SECRET",
        "",
        "Key that signs the per-call token passed to the media stream. Empty: the "
        "auth token, or a random per-process key without one. Set it when several "
        "workers share calls.",
        secret=True,
    ),
    Setting(
        "call_token_ttl",
        "DIALGRAPH_CALL_TOKEN_TTL",
        60.0,
        "Seconds a call token stays valid between the webhook and the media stream's start.",
        float,
    ),
    Setting(
        "start_timeout",
        "DIALGRAPH_START_TIMEOUT",
        10.0,
        "Seconds a media socket may stay open without a valid start message.",
        float,
    ),
    Setting(
        "max_message_bytes",
        "DIALGRAPH_MAX_MESSAGE_BYTES",
        64 * 1024,
        "Largest media-stream message accepted; larger ones end that stream.",
        int,
    ),
    Setting(
        "max_inbound_rate",
        "DIALGRAPH_MAX_INBOUND_RATE",
        250.0,
        "Inbound messages per second (over 2 s of the stream's own time: Twilio's "
        "media timestamps, so a backlog after a stall is no flood) above which a "
        "stream is treated as a flood and closed. Twilio sends 50/s.",
        float,
    ),
    Setting(
        "max_unauthenticated",
        "DIALGRAPH_MAX_UNAUTHENTICATED",
        256,
        "Media sockets that may wait for their start and token at once; more are "
        "refused (close 1013). Each costs a few tens of kB until it authenticates.",
        int,
    ),
    Setting(
        "max_unauthenticated_per_address",
        "DIALGRAPH_MAX_UNAUTHENTICATED_PER_ADDRESS",
        32,
        "The same per client address, applied only with DIALGRAPH_TRUST_FORWARDED "
        "(then the address is the forwarded one; Twilio and proxies share few "
        "addresses, so without it only the global cap applies). 0: no per-address cap.",
        int,
    ),
    Setting(
        "header_timeout",
        "DIALGRAPH_HEADER_TIMEOUT",
        10.0,
        "Seconds a connection may take to send a request's headers (`dialgraph "
        "serve`); slower ones are closed. 0: no limit.",
        float,
    ),
    Setting(
        "idle_timeout",
        "DIALGRAPH_IDLE_TIMEOUT",
        5,
        "Seconds an idle keep-alive HTTP connection is kept open (`dialgraph serve`).",
        int,
    ),
    Setting(
        "playout_lead_ms",
        "DIALGRAPH_PLAYOUT_LEAD_MS",
        120,
        "How far ahead of real time agent audio is sent to Twilio. More absorbs "
        "network jitter; less makes pause and clear sharper.",
        int,
    ),
    Setting(
        "database_url",
        "DIALGRAPH_DATABASE_URL",
        "",
        "Checkpoints, the store (caller memory), the side-effect ledger and the flow's own "
        "tables (and transcripts, on Postgres): `postgresql://...` or `sqlite:///path`. "
        "Empty: SQLite file `var/dialgraph.db`. `langgraph dev` reads the same variable.",
        secret=True,
    ),
    Setting(
        "checkpoint_key",
        "DIALGRAPH_CHECKPOINT_KEY",
        "",
        "Keys that encrypt checkpoints and caller memory at rest, comma-separated, newest "
        "first (e.g. `openssl rand -hex 32`). Empty: `var/dialgraph.key`, generated on "
        "first start. `off`: plain text. Every worker and Studio need the same keys.",
        parse_keys,
        secret=True,
    ),
    Setting(
        "today",
        "DIALGRAPH_TODAY",
        "",
        "Pin the flow's date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM, in the flow's time zone) "
        "for demos and tests. Empty: the real date.",
    ),
    Setting(
        "assemblyai_api_key",
        "ASSEMBLYAI_API_KEY",
        "",
        "AssemblyAI key, for DIALGRAPH_STT=assemblyai (fails over to pocketsphinx per call).",
        secret=True,
    ),
    Setting(
        "elevenlabs_api_key",
        "ELEVENLABS_API_KEY",
        "",
        "ElevenLabs key, for DIALGRAPH_TTS=elevenlabs (fails over to Piper per call).",
        secret=True,
    ),
    Setting(
        "elevenlabs_voice_id",
        "ELEVENLABS_VOICE_ID",
        "",
        "ElevenLabs voice id, for DIALGRAPH_TTS=elevenlabs.",
    ),
    Setting(
        "elevenlabs_model",
        "DIALGRAPH_ELEVENLABS_MODEL",
        "eleven_flash_v2_5",
        "ElevenLabs model (the flash models answer fastest).",
    ),
    Setting(
        "vad",
        "DIALGRAPH_VAD",
        "silero",
        "Voice activity detector: `silero` (offline, model in the wheel; enables two-step "
        "barge-in and silence-based turn ends) or `none` (turns end on recogniser finals).",
    ),
    Setting(
        "vad_start_threshold",
        "DIALGRAPH_VAD_START_THRESHOLD",
        0.5,
        "Speech probability at or above which a 32 ms window counts as voice.",
        float,
    ),
    Setting(
        "vad_stop_threshold",
        "DIALGRAPH_VAD_STOP_THRESHOLD",
        0.35,
        "Probability below which a window counts as silence (the gap is the hysteresis).",
        float,
    ),
    Setting(
        "vad_start_ms",
        "DIALGRAPH_VAD_START_MS",
        64,
        "Voice needed before caller speech starts (one click does not pause the agent).",
        int,
    ),
    Setting(
        "vad_stop_ms",
        "DIALGRAPH_VAD_STOP_MS",
        192,
        "Silence needed before caller speech stops; holds through pauses between words.",
        int,
    ),
    Setting(
        "end_silence_ms",
        "DIALGRAPH_END_SILENCE_MS",
        300,
        "Silence after the caller's speech that ends the turn once a final transcript exists.",
        int,
    ),
    Setting(
        "unfinished_silence_ms",
        "DIALGRAPH_UNFINISHED_SILENCE_MS",
        800,
        "The same after unfinished words ('and', 'um', 'at', a number being spoken).",
        int,
    ),
    Setting(
        "final_hold_ms",
        "DIALGRAPH_FINAL_HOLD_MS",
        2000,
        "Longest wait for silence after the last new words (noise cannot hold a turn open).",
        int,
    ),
    Setting(
        "barge_in_confirm_ms",
        "DIALGRAPH_BARGE_IN_CONFIRM_MS",
        500,
        "Caller voice over the agent that confirms an interruption without a recognised word.",
        int,
    ),
    Setting(
        "barge_in_resume_ms",
        "DIALGRAPH_BARGE_IN_RESUME_MS",
        1200,
        "Longest the agent stays paused for unconfirmed caller sound (a cough, 'mhm').",
        int,
    ),
    Setting(
        "barge_in_late_word_ms",
        "DIALGRAPH_BARGE_IN_LATE_WORD_MS",
        1000,
        "After resuming, how long a recognised word (a short 'no') still interrupts.",
        int,
    ),
    Setting(
        "early_answer_ms",
        "DIALGRAPH_EARLY_ANSWER_MS",
        1500,
        "A 'yes'/'mhm' said this close to the end of a question is kept as its answer.",
        int,
    ),
    Setting(
        "reprompt_after_ms",
        "DIALGRAPH_REPROMPT_AFTER_MS",
        7000,
        "Caller silence after the agent finished before it reprompts.",
        int,
    ),
    Setting(
        "silence_reprompts",
        "DIALGRAPH_SILENCE_REPROMPTS",
        1,
        "Reprompts before a silent call is ended politely.",
        int,
    ),
    Setting(
        "echo_suppression",
        "DIALGRAPH_ECHO_SUPPRESSION",
        True,
        "Ignore caller-side sound that is the agent's own audio coming back (speakerphones).",
        _parse_bool,
    ),
    Setting(
        "echo_max_delay_ms",
        "DIALGRAPH_ECHO_MAX_DELAY_MS",
        400,
        "Longest echo delay searched, from play time to arrival.",
        int,
    ),
    Setting(
        "redis_url",
        "DIALGRAPH_REDIS_URL",
        "",
        "Redis URL (e.g. `redis://127.0.0.1:6379/0`) for rate limits shared by all "
        "workers. Empty: limits are kept per process.",
        secret=True,
    ),
    Setting(
        "redis_prefix",
        "DIALGRAPH_REDIS_PREFIX",
        "dialgraph",
        "Namespace for this deployment's Redis keys.",
    ),
    Setting(
        "calls_per_hour_per_caller",
        "DIALGRAPH_CALLS_PER_HOUR",
        10,
        "Calls one caller number may start in any hour (0: no limit).",
        int,
    ),
    Setting(
        "concurrent_per_caller",
        "DIALGRAPH_CONCURRENT_PER_CALLER",
        2,
        "Live calls one caller number may have at once (0: no limit).",
        int,
    ),
    Setting(
        "concurrent_total",
        "DIALGRAPH_CONCURRENT_CALLS",
        100,
        "Live calls the deployment takes at once (0: no limit).",
        int,
    ),
    Setting(
        "max_call_seconds",
        "DIALGRAPH_MAX_CALL_SECONDS",
        1200.0,
        "Longest a call may run before a polite goodbye (0: no limit).",
        float,
    ),
    Setting(
        "max_turns",
        "DIALGRAPH_MAX_TURNS",
        100,
        "Most agent replies in one call (0: no limit).",
        int,
    ),
    Setting(
        "max_llm_tokens",
        "DIALGRAPH_MAX_LLM_TOKENS",
        200000,
        "Most LLM tokens, prompt + reply, in one call (0: no limit).",
        int,
    ),
    Setting(
        "graph",
        "DIALGRAPH_GRAPH",
        DEFAULT_GRAPH,
        "The LangGraph graph to put on the phone: a langgraph.json id (`echo` repeats what "
        "it recognised: a line check), `path/to/file.py:attr` or `package.module:attr`; "
        "empty: the first graph langgraph.json lists. "
        "The attribute is a compiled graph, a StateGraph builder or a per-call factory; the "
        "module's `phone` attribute holds its PhoneSettings. `--graph` overrides it.",
        _parse_graph,
    ),
    Setting(
        "tts",
        "DIALGRAPH_TTS",
        "piper",
        "Text-to-speech engine: `piper` (offline, needs the piper extra), `elevenlabs` "
        "(cloud, falls back to Piper per call) or `none`.",
    ),
    Setting(
        "stt",
        "DIALGRAPH_STT",
        "pocketsphinx",
        "Speech recogniser: `pocketsphinx` (offline), `assemblyai` (cloud, falls back to "
        "pocketsphinx per call) or `none` (keypad input only).",
    ),
    Setting(
        "outbound_from",
        "DIALGRAPH_OUTBOUND_FROM",
        "",
        "Your Twilio number (E.164) that `dialgraph dial` calls from.",
    ),
    Setting(
        "dnc_list",
        "DIALGRAPH_DNC_LIST",
        "var/dnc.txt",
        "Do-not-call list checked before every outbound call: one number per line, "
        "`#` comments. A missing file refuses every outbound call (create it empty "
        "if nobody has opted out).",
        Path,
    ),
    Setting(
        "calling_hours",
        "DIALGRAPH_CALLING_HOURS",
        "9-20",
        "Hours outbound calls may ring, START-END in the callee's local time (from "
        "the number; END exclusive).",
        parse_calling_hours,
    ),
    Setting(
        "voicemail",
        "DIALGRAPH_VOICEMAIL",
        "hangup",
        "When a machine answers an outbound call: `hangup`, `message` (leave "
        "DIALGRAPH_VOICEMAIL_MESSAGE after the beep) or `off` (no detection).",
        _parse_voicemail,
    ),
    Setting(
        "voicemail_message",
        "DIALGRAPH_VOICEMAIL_MESSAGE",
        "",
        "What `message` leaves on a machine: the same words for everyone, no personal data. "
        "Empty: the flow's own (`PhoneSettings.voicemail_message`, else a neutral one).",
    ),
    Setting(
        "voicemail_timeout",
        "DIALGRAPH_VOICEMAIL_TIMEOUT",
        30,
        "Seconds Twilio may take to tell a machine from a person (then: `unknown`, streamed).",
        int,
    ),
    Setting(
        "twilio_api_url",
        "DIALGRAPH_TWILIO_API_URL",
        "",
        "Twilio REST API base URL. Empty: https://api.twilio.com. Only for pointing "
        "call control at a local fake Twilio in tests and demos.",
        _parse_public_url,
    ),
)

_BY_FIELD = {s.field: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration. Build it with :func:`load_settings`."""

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    public_url: str = ""
    trust_forwarded: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    call_token_secret: str = ""
    call_token_ttl: float = 60.0
    start_timeout: float = 10.0
    max_message_bytes: int = 64 * 1024
    max_inbound_rate: float = 250.0
    max_unauthenticated: int = 256
    max_unauthenticated_per_address: int = 32
    header_timeout: float = 10.0
    idle_timeout: int = 5
    playout_lead_ms: int = 120
    database_url: str = ""
    checkpoint_key: str = ""
    today: str = ""
    assemblyai_api_key: str = ""
    elevenlabs_api_key: str = ""
    elevenlabs_voice_id: str = ""
    elevenlabs_model: str = "eleven_flash_v2_5"
    vad: str = "silero"
    vad_start_threshold: float = 0.5
    vad_stop_threshold: float = 0.35
    vad_start_ms: int = 64
    vad_stop_ms: int = 192
    end_silence_ms: int = 300
    unfinished_silence_ms: int = 800
    final_hold_ms: int = 2000
    barge_in_confirm_ms: int = 500
    barge_in_resume_ms: int = 1200
    barge_in_late_word_ms: int = 1000
    early_answer_ms: int = 1500
    reprompt_after_ms: int = 7000
    silence_reprompts: int = 1
    echo_suppression: bool = True
    echo_max_delay_ms: int = 400
    redis_url: str = ""
    redis_prefix: str = "dialgraph"
    calls_per_hour_per_caller: int = 10
    concurrent_per_caller: int = 2
    concurrent_total: int = 100
    max_call_seconds: float = 1200.0
    max_turns: int = 100
    max_llm_tokens: int = 200000
    graph: str = DEFAULT_GRAPH
    tts: str = "piper"
    stt: str = "pocketsphinx"
    outbound_from: str = ""
    dnc_list: Path = Path("var/dnc.txt")
    calling_hours: tuple[int, int] = DEFAULT_CALLING_HOURS
    voicemail: str = "hangup"
    voicemail_message: str = ""
    voicemail_timeout: int = 30
    twilio_api_url: str = ""

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @property
    def stream_url(self) -> str:
        """The media-stream WebSocket URL for the configured public base URL."""
        if not self.public_url:
            return ""
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/twilio/media"

    def __repr__(self) -> str:
        shown = []
        for s in SETTINGS:
            value = getattr(self, s.field)
            shown.append(f"{s.field}={'***' if s.secret and value else repr(value)}")
        return f"Settings({', '.join(shown)})"


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Resolve settings from ``environ`` (default ``os.environ``) and ``env_file``.

    Values in the environment win over the ``.env`` file. Raises
    :class:`ConfigError` naming the variable when a value does not parse.
    """
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    for env, replacement in RETIRED.items():
        if retired := values.get(env, "").strip():
            raise ConfigError(f"{env} is retired: use {replacement}={retired}")
    resolved: dict[str, Any] = {}
    for s in SETTINGS:
        raw = values.get(s.env)
        if raw is None:
            continue
        try:
            resolved[s.field] = s.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{s.env}: {exc}") from None
    settings = Settings(**resolved)
    if settings.playout_lead_ms < 20:
        raise ConfigError("DIALGRAPH_PLAYOUT_LEAD_MS must be at least 20 (one frame)")
    return settings


def settings_help() -> str:
    """Every environment variable with its default and description."""
    lines = []
    for s in SETTINGS:
        default = "(empty)" if s.default in ("", None) else str(s.default)
        lines.append(f"  {s.env:<30} default {default}")
        lines.extend(textwrap.wrap(s.help, 74, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def setting(field: str) -> Setting:
    """The declaration of one setting (for error messages)."""
    return _BY_FIELD[field]
