"""Configuration from the environment (and an optional ``.env`` file).

Every setting is declared once, as a field of :class:`Settings`: its type, its
default, its environment variable and the sentence that documents it. The
``dialgraph --help`` epilog (:func:`settings_help`) and the README's table
(:func:`settings_table`) are generated from those fields, so nothing goes
undocumented and no default is written twice.

Twilio's credentials keep Twilio's usual names (``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``), and the speech vendors' keys theirs; every other
variable is ``DIALGRAPH_<FIELD>``, except the two limits documented under
shorter names (``DIALGRAPH_CALLS_PER_HOUR``, ``DIALGRAPH_CONCURRENT_CALLS``).

How it works: :class:`Settings` is a frozen pydantic-settings model whose only
source is its keywords, so ``Settings(playout_lead_ms=100)`` is the defaults
plus that, whatever the process environment holds. :func:`load_settings` is
the one reader of the environment: pydantic-settings' own environment and
``.env`` sources (the environment wins), then the same validation. A value
that does not parse is a :class:`ConfigError` of one line naming the variable.

These are the runtime's settings: which graph (``DIALGRAPH_GRAPH``), engines,
database, limits. What belongs to a flow (its greeting, vocabulary, names
that are not personal data, its chat model) lives with the flow: its
``PhoneSettings`` and whatever variables it reads itself (the bundled flows
read ``DIALGRAPH_MODEL``). A retired variable (:data:`RETIRED`) is refused
with what replaced it, so an old ``.env`` never silently runs another graph.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasGenerator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

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
    "settings_table",
]


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent; the message says which."""


VOICEMAIL_ACTIONS = ("hangup", "message", "off")  # DIALGRAPH_VOICEMAIL
DEFAULT_GRAPH = ""  # DIALGRAPH_GRAPH: empty = the first graph langgraph.json lists
GRAPH_FORMS = "a langgraph.json id, path/to/file.py:attr or package.module:attr"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # DIALGRAPH_LOG_LEVEL
RETIRED = {"DIALGRAPH_AGENT": "DIALGRAPH_GRAPH"}  # old variable -> what replaced it
_MIN_PLAYOUT_LEAD_MS = 20  # one Twilio media frame

# -- parsers: the text of one variable -> its value ------------------------------


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


def _parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return value


def _spell_hours(hours: tuple[int, int]) -> str:
    """``(9, 20)`` -> ``"9-20"``: calling hours as the variable spells them."""
    return f"{hours[0]}-{hours[1]}"


def _hours_in_a_day(hours: tuple[int, int]) -> tuple[int, int]:
    # One rule for text and tuples (``replace(calling_hours=(8, 25))``): the text form's.
    return parse_calling_hours(_spell_hours(hours))


def _at_least_one_frame(lead_ms: int) -> int:
    if lead_ms < _MIN_PLAYOUT_LEAD_MS:
        raise ValueError(f"must be at least {_MIN_PLAYOUT_LEAD_MS} (one frame)")
    return lead_ms


def _from_text(parse: Callable[[str], object]) -> BeforeValidator:
    """Run ``parse`` on text (the environment's); typed values go to pydantic's own checks."""

    def validate(value: object) -> object:
        return parse(value) if isinstance(value, str) else value

    return BeforeValidator(validate)


class _Secret:
    """Field metadata: the value is a credential, masked in ``repr`` and never echoed in errors."""


# The types of the settings: what each field holds, and how its variable is parsed.
Flag = Annotated[bool, _from_text(_parse_bool)]
BaseURL = Annotated[str, _from_text(_parse_public_url)]
GraphSpec = Annotated[str, _from_text(_parse_graph)]
Voicemail = Annotated[str, _from_text(_parse_voicemail)]
LogLevel = Annotated[str, _from_text(_parse_log_level)]
PlayoutLead = Annotated[int, AfterValidator(_at_least_one_frame)]
CallingHours = Annotated[
    tuple[int, int],
    _from_text(parse_calling_hours),
    AfterValidator(_hours_in_a_day),
    PlainSerializer(_spell_hours, when_used="json"),
]
Secret = Annotated[str, _Secret()]
CheckpointKeys = Annotated[str, _from_text(parse_keys), _Secret()]


def _setting(default: Any, help: str, *, env: str | None = None) -> Any:
    """Declare one setting: its default, its documentation and, if not ``DIALGRAPH_<FIELD>``,
    its variable. Typed ``Any`` as :func:`pydantic.Field` is: the field's annotation is its type.
    """
    return Field(default, description=help, validation_alias=env)


class Settings(BaseSettings):
    """The resolved configuration: :func:`load_settings` reads it from the environment.

    ``Settings(**values)`` is the defaults plus ``values`` and never reads the
    environment or ``.env`` (tests build it directly). Frozen: derive a variant
    with :meth:`replace`. A value that does not validate is a :class:`ConfigError`.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",  # a misspelt keyword is an error, not a setting silently ignored
        case_sensitive=True,  # variable names are exact, as the shell's are
        enable_decoding=False,  # values are text for our parsers, never JSON
        alias_generator=AliasGenerator(validation_alias=lambda field: f"DIALGRAPH_{field.upper()}"),
        validate_by_name=True,  # Settings(port=...)
        validate_by_alias=True,  # ... and the environment's DIALGRAPH_PORT=...
    )

    twilio_account_sid: str = _setting(
        "",
        "Twilio account SID (AC...), used for REST call control.",
        env="TWILIO_ACCOUNT_SID",
    )
    twilio_auth_token: Secret = _setting(
        "",
        "Twilio auth token. When set, every webhook, status callback and media handshake must "
        "carry a valid `X-Twilio-Signature`.",
        env="TWILIO_AUTH_TOKEN",
    )
    public_url: BaseURL = _setting(
        "",
        "Base URL Twilio reaches (e.g. `https://abc.example.com`). Stream URLs are derived "
        "from it (`https` -> `wss`, `http` -> `ws`) and signatures are checked against it. "
        "Empty: use the request's own URL.",
    )
    trust_forwarded: Flag = _setting(
        False,
        "Rebuild the public URL from `X-Forwarded-Proto`/`Host` when no public URL is set "
        "(only behind a proxy you control).",
    )
    host: str = _setting(
        "127.0.0.1",
        "Address `dialgraph serve` binds.",
    )
    port: int = _setting(
        8080,
        "Port `dialgraph serve` binds.",
    )
    var_dir: Path = _setting(
        Path("var"),
        "Directory for databases, transcripts and recordings.",
    )
    eval_caller_model: str = _setting(
        "",
        "`dialgraph eval`: the chat model that plays scenarios with a `goal` (a persona's "
        "caller), as `init_chat_model` names it, e.g. `openai:gpt-4.1-mini` (its key from "
        "the provider's own variable, e.g. `OPENAI_API_KEY`); `--caller-model` overrides it. "
        "Empty: those scenarios are skipped and the scripted callers run alone.",
    )
    log_level: LogLevel = _setting(
        "INFO",
        "Logging level: `DEBUG`, `INFO`, `WARNING` or `ERROR`.",
    )
    call_token_secret: Secret = _setting(
        "",
        "Key that signs the per-call token passed to the media stream. Empty: the auth token, "
        "or a random per-process key. Set it when several workers share calls.",
    )
    call_token_ttl: float = _setting(
        60.0,
        "Seconds a call token stays valid between the webhook and the stream's `start`.",
    )
    start_timeout: float = _setting(
        10.0,
        "Seconds a media socket may stay open without a valid `start`.",
    )
    max_message_bytes: int = _setting(
        64 * 1024,
        "Largest media-stream message accepted; larger ones end that stream (close 1009).",
    )
    max_inbound_rate: float = _setting(
        250.0,
        "Inbound messages per second (over 2 s of the stream's own time: Twilio's media "
        "timestamps, so a backlog after a stall is no flood) above which a stream is a flood "
        "and is closed. Twilio sends 50/s.",
    )
    max_unauthenticated: int = _setting(
        256,
        "Media sockets that may wait for their `start` and token at once; more are refused "
        "(close 1013). Each costs a few tens of kB until it authenticates.",
    )
    max_unauthenticated_per_address: int = _setting(
        32,
        "The same per client address, applied only with `DIALGRAPH_TRUST_FORWARDED` (then the "
        "address is the forwarded one; Twilio and proxies share few addresses, so without it "
        "only the global cap applies). 0: no per-address cap.",
    )
    header_timeout: float = _setting(
        10.0,
        "Seconds a connection may take to send a request's headers (`dialgraph serve`); "
        "slower ones are closed. 0: no limit.",
    )
    idle_timeout: int = _setting(
        5,
        "Seconds an idle keep-alive HTTP connection is kept open (`dialgraph serve`).",
    )
    playout_lead_ms: PlayoutLead = _setting(
        120,
        "How far ahead of real time agent audio is sent to Twilio. More absorbs network "
        "jitter; less makes pause and `clear` sharper.",
    )
    outbound_from: str = _setting(
        "",
        "Your Twilio number (E.164) that `dialgraph dial` calls from.",
    )
    dnc_list: Path = _setting(
        Path("var/dnc.txt"),
        "Do-not-call list checked before every outbound call: one number per line, `#` "
        "comments. A missing file refuses every outbound call (create it empty if nobody has "
        "opted out).",
    )
    calling_hours: CallingHours = _setting(
        DEFAULT_CALLING_HOURS,
        "Hours outbound calls may ring, START-END in the callee's local time (from the "
        "number; END exclusive).",
    )
    voicemail: Voicemail = _setting(
        "hangup",
        "When an answering machine picks up an outbound call: `hangup` (Twilio's "
        "`MachineDetection=Enable`: hang up as soon as it is detected), `message` "
        "(`DetectMessageEnd`: wait for the greeting's beep, leave "
        "`DIALGRAPH_VOICEMAIL_MESSAGE`, hang up) or `off` (no detection: everything that "
        "answers talks to the graph). A fax is always hung up on; a person, or `unknown`, is "
        "streamed.",
    )
    voicemail_message: str = _setting(
        "",
        "What `message` says to a machine (TwiML `<Say>`). Empty: the flow's own words "
        '(`PhoneSettings.voicemail_message`, else "Hello, this is <name>. Please call us '
        'back. Goodbye."). The same words for every callee: put no personal or health details '
        "in it, since anyone with access to the mailbox hears it.",
    )
    voicemail_timeout: int = _setting(
        30,
        "Seconds Twilio may listen before deciding (`MachineDetectionTimeout`); undecided "
        "calls arrive as `unknown` and are streamed. Detection is synchronous: the callee "
        "hears silence until Twilio decides.",
    )
    twilio_api_url: BaseURL = _setting(
        "",
        "Twilio REST API base URL. Empty: https://api.twilio.com. Only for pointing call "
        "control at a local fake Twilio in tests.",
    )
    database_url: Secret = _setting(
        "",
        "Checkpoints, the store (caller memory), the side-effect ledger and the flow's own "
        "tables, e.g. a booking calendar (and call transcripts, on Postgres): "
        "`postgresql://...` or `sqlite:///path`. Empty: `var/dialgraph.db`. `langgraph dev` "
        "reads the same variable.",
    )
    checkpoint_key: CheckpointKeys = _setting(
        "",
        "Keys that encrypt checkpoints and caller memory (the store) at rest, "
        "comma-separated, newest first (e.g. `openssl rand -hex 32`, 16 characters at least): "
        "a stolen disk, backup or dump shows no conversation and no caller. Empty: "
        "`var/dialgraph.key` (under `DIALGRAPH_VAR_DIR`), generated on the first start of a "
        "single machine; copy it or set this variable so every worker and Studio (`langgraph "
        "dev`) share it. `off`: plain text, for inspecting the database with SQL (anyone who "
        "reads the database or a backup then reads every call). Losing the key loses "
        "conversation state and caller memory (bookings live in the calendar, unaffected). "
        "See [Encryption at rest](#encryption-at-rest) for rotation.",
    )
    today: str = _setting(
        "",
        "Pin the flow's date (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`, in the flow's time zone) "
        "for demos and tests. Empty: the real date.",
    )
    vad: str = _setting(
        "silero",
        "Voice activity detector: `silero` (offline, model in the wheel; enables two-step "
        "barge-in and silence-based turn ends) or `none` (turns end on recogniser finals).",
    )
    vad_start_threshold: float = _setting(
        0.5,
        "Speech probability at or above which a 32 ms window counts as voice.",
    )
    vad_stop_threshold: float = _setting(
        0.35,
        "Probability below which a window counts as silence (the gap is the hysteresis).",
    )
    vad_start_ms: int = _setting(
        64,
        "Voice needed before caller speech starts (one click does not pause the agent).",
    )
    vad_stop_ms: int = _setting(
        192,
        "Silence needed before caller speech stops; holds through pauses between words.",
    )
    end_silence_ms: int = _setting(
        300,
        "Silence after the caller's speech that ends the turn once a final transcript exists.",
    )
    unfinished_silence_ms: int = _setting(
        800,
        "The same after unfinished words ('and', 'um', 'at', a number being spoken).",
    )
    final_hold_ms: int = _setting(
        2000,
        "Longest wait for silence after the last new words (noise cannot hold a turn open).",
    )
    barge_in_confirm_ms: int = _setting(
        500,
        "Caller voice over the agent that confirms an interruption without a recognised word.",
    )
    barge_in_resume_ms: int = _setting(
        1200,
        "Longest the agent stays paused for unconfirmed caller sound (a cough, 'mhm').",
    )
    barge_in_late_word_ms: int = _setting(
        1000,
        "After resuming, how long a recognised word (a short 'no') still interrupts.",
    )
    early_answer_ms: int = _setting(
        1500,
        "A 'yes'/'mhm' said this close to the end of a question is kept as its answer.",
    )
    reprompt_after_ms: int = _setting(
        7000,
        "Caller silence after the agent finished before it reprompts.",
    )
    silence_reprompts: int = _setting(
        1,
        "Reprompts before a silent call is ended politely.",
    )
    echo_suppression: Flag = _setting(
        True,
        "Ignore caller-side sound that is the agent's own audio coming back (speakerphones).",
    )
    echo_max_delay_ms: int = _setting(
        400,
        "Longest echo delay searched, from play time to arrival.",
    )
    redis_url: Secret = _setting(
        "",
        "Redis URL (e.g. `redis://127.0.0.1:6379/0`) for rate limits shared by all workers. "
        "Empty: limits are kept per process.",
    )
    redis_prefix: str = _setting(
        "dialgraph",
        "Namespace for this deployment's Redis keys.",
    )
    calls_per_hour_per_caller: int = _setting(
        10,
        "Calls one caller number may start in any hour (0: no limit). Over a limit the caller "
        "hears a short apology (TwiML `<Say>` + `<Hangup/>`), never an error.",
        env="DIALGRAPH_CALLS_PER_HOUR",
    )
    concurrent_per_caller: int = _setting(
        2,
        "Live calls one caller number may have at once (0: no limit).",
    )
    concurrent_total: int = _setting(
        100,
        "Live calls the deployment takes at once (0: no limit).",
        env="DIALGRAPH_CONCURRENT_CALLS",
    )
    max_call_seconds: float = _setting(
        1200.0,
        "Longest a call may run before a polite goodbye (0: no limit).",
    )
    max_turns: int = _setting(
        100,
        "Most agent replies in one call (0: no limit).",
    )
    max_llm_tokens: int = _setting(
        200000,
        "Most LLM tokens in one call, prompt and reply, as the model reports them (OpenAI "
        "streams its usage); estimated from the reply's text for models that report none (0: "
        "no limit). Each turn resends the conversation window, so prompts dominate: ~1-3k "
        "tokens a turn.",
    )
    graph: GraphSpec = _setting(
        DEFAULT_GRAPH,
        "The graph to put on the phone (`--graph` overrides it): a `langgraph.json` id (this "
        "repository's are listed under [What is here](#what-is-here)), "
        "`path/to/file.py:attr` or `package.module:attr`; empty: the first graph "
        "`langgraph.json` lists. The attribute is a compiled graph, a `StateGraph` builder "
        "or a per-call factory; the module's `phone` attribute holds its `PhoneSettings` "
        "(greeting, voicemail words, recogniser hints, redaction rules). A name that loads "
        "nothing stops start-up with one line saying why. Replaces `DIALGRAPH_AGENT`, which "
        "is refused if still set.",
    )
    tts: str = _setting(
        "piper",
        "Text-to-speech: `piper` (offline; the `piper` extra, which `make` installs), "
        "`elevenlabs` (cloud, falls back to Piper per call) or `none`.",
    )
    stt: str = _setting(
        "pocketsphinx",
        "Speech recogniser: `pocketsphinx` (offline), `assemblyai` (cloud, falls back to "
        "pocketsphinx per call) or `none` (keypad only).",
    )
    assemblyai_api_key: Secret = _setting(
        "",
        "AssemblyAI key, for `DIALGRAPH_STT=assemblyai` (fails over to pocketsphinx per call).",
        env="ASSEMBLYAI_API_KEY",
    )
    elevenlabs_api_key: Secret = _setting(
        "",
        "ElevenLabs key, for `DIALGRAPH_TTS=elevenlabs` (fails over to Piper per call).",
        env="ELEVENLABS_API_KEY",
    )
    elevenlabs_voice_id: str = _setting(
        "",
        "ElevenLabs voice id, for `DIALGRAPH_TTS=elevenlabs`.",
        env="ELEVENLABS_VOICE_ID",
    )
    elevenlabs_model: str = _setting(
        "eleven_flash_v2_5",
        "ElevenLabs model (the flash models answer fastest).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the keywords: :func:`load_settings` alone reads the environment."""
        return (init_settings,)

    if not TYPE_CHECKING:  # type checkers keep the keyword __init__ declared by the fields

        def __init__(self, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise ConfigError(_problem(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied, validated as construction is.

        Raises:
            ConfigError: A changed value does not validate, or is no setting.
        """
        return Settings(**{**dict(self), **changes})

    @property
    def stream_url(self) -> str:
        """The media-stream WebSocket URL for the configured public base URL."""
        if not self.public_url:
            return ""
        parts = urlsplit(self.public_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}/twilio/media"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # pydantic's repr and str both list these: secrets that are set show as ***.
        for name, value in dict(self).items():
            yield name, "***" if value and _is_secret(type(self).model_fields[name]) else value


def _is_secret(info: FieldInfo) -> bool:
    return any(isinstance(marker, _Secret) for marker in info.metadata)


def _env(info: FieldInfo) -> str:
    assert isinstance(info.validation_alias, str)  # every field has one: env= or DIALGRAPH_<FIELD>
    return info.validation_alias


_ENV_OF = {name: _env(info) for name, info in Settings.model_fields.items()}
_FIELD_OF = {env: name for name, env in _ENV_OF.items()}

# pydantic's error types for the fields' base types, said the way our parsers say theirs
_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true/false",
}


def _problem(exc: ValidationError) -> str:
    """One line naming each variable that did not validate and what is wrong with it."""
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        field = key if key in _ENV_OF else _FIELD_OF.get(key)
        if field is None:
            problems.append(f"{key}: no such setting")
            continue
        if error["type"] == "value_error":  # our parsers: their message says it all
            what = str(error["msg"]).removeprefix("Value error, ")
        else:
            message = str(error["msg"])  # pydantic's: "Input should be ..."
            what = _EXPECTED.get(error["type"]) or message[:1].lower() + message[1:]
            if not _is_secret(Settings.model_fields[field]):
                what += f", got {error['input']!r}"
        problems.append(f"{_ENV_OF[field]}: {what}")
    return "; ".join(problems)


# -- reading the environment ---------------------------------------------------


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` by default).

    ``load_settings(environ)`` reads what it is given, so tests and
    ``dialgraph.testing`` never see (or need to patch) the process environment.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The hook DotEnvSettingsSource overrides too: where the variables come from.
        return self._environ


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Resolve settings from ``environ`` (default ``os.environ``) and ``env_file``.

    Values in the environment win over the ``.env`` file; other variables in
    either are ignored (they belong to the flow, or to nobody).

    Raises:
        ConfigError: A value does not parse (the message names its variable),
            or a retired variable is set (the message says what replaced it).
    """
    environment = _Environment(os.environ if environ is None else environ)
    env_file_source = DotEnvSettingsSource(
        Settings, env_file=env_file, dotenv_filtering="only_existing"
    )
    variables = {**env_file_source.env_vars, **environment.env_vars}
    for env, replacement in RETIRED.items():
        if retired := (variables.get(env) or "").strip():
            raise ConfigError(f"{env} is retired: use {replacement}={retired}")
    return Settings(**{**env_file_source(), **environment()})


# -- documentation: --help and the README's table ---------------------------------


def _spelled(value: object) -> str:
    """A default (JSON-serialised) as one would write it in the environment."""
    if value in ("", None):
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One documented setting, derived from its field of :class:`Settings`."""

    field: str
    env: str
    default: Any
    shown: str  # the default as --help and the README show it: (empty), false, 60, 9-20
    help: str  # Markdown, as in the README's table
    secret: bool = False

    def parse(self, raw: str) -> Any:
        """The value the text ``raw`` in this setting's variable gives.

        Raises:
            ConfigError: ``raw`` does not parse (the message names the variable).
        """
        variable: dict[str, Any] = {self.env: raw}  # text, as the environment holds it
        return getattr(Settings(**variable), self.field)


def _declared() -> tuple[Setting, ...]:
    shown = Settings().model_dump(mode="json")
    return tuple(
        Setting(
            field=name,
            env=_ENV_OF[name],
            default=info.default,
            shown=_spelled(shown[name]),
            help=info.description or "",
            secret=_is_secret(info),
        )
        for name, info in Settings.model_fields.items()
    )


SETTINGS: tuple[Setting, ...] = _declared()

_LINK = re.compile(r"\[([^\]]+)\]\(#[^)]*\)")  # a Markdown link to a README section


def settings_help() -> str:
    """Every environment variable with its default and description (the ``--help`` epilog)."""
    lines = []
    for s in SETTINGS:
        lines.append(f"  {s.env:<30} default {s.shown}")
        text = _LINK.sub(r'"\1" in the README', s.help)
        lines.extend(textwrap.wrap(text, 74, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def settings_table() -> str:
    """The README's settings table (Markdown), one row per setting, in declaration order."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [f"| `{s.env}` | {cell(s.shown)} | {cell(s.help)} |" for s in SETTINGS]
    return "\n".join(["| variable | default | meaning |", "| --- | --- | --- |", *rows])
