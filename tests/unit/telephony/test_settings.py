"""Settings: the environment and ``.env`` in, a typed frozen model out, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.settings import (
    SETTINGS,
    ConfigError,
    Settings,
    load_settings,
    settings_help,
)

KEY = "k" * 32  # long enough for DIALGRAPH_CHECKPOINT_KEY


@pytest.mark.parametrize(
    ("public_url", "stream_url"),
    [
        ("https://abc.example.com", "wss://abc.example.com/twilio/media"),
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/twilio/media"),
        ("https://example.com/prefix/", "wss://example.com/prefix/twilio/media"),
        ("", ""),
    ],
)
def test_stream_url_follows_public_url_scheme(public_url: str, stream_url: str) -> None:
    settings = load_settings({"DIALGRAPH_PUBLIC_URL": public_url}, env_file=None)
    assert settings.stream_url == stream_url


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"DIALGRAPH_PORT": " 9000 "}, "port", 9000),
        ({"DIALGRAPH_CALL_TOKEN_TTL": "90"}, "call_token_ttl", 90.0),
        ({"DIALGRAPH_VAR_DIR": "/srv/dialgraph"}, "var_dir", Path("/srv/dialgraph")),
        ({"DIALGRAPH_TRUST_FORWARDED": "on"}, "trust_forwarded", True),
        ({"DIALGRAPH_TRUST_FORWARDED": " Yes "}, "trust_forwarded", True),
        ({"DIALGRAPH_ECHO_SUPPRESSION": "off"}, "echo_suppression", False),
        ({"DIALGRAPH_ECHO_SUPPRESSION": ""}, "echo_suppression", False),
        (
            {"DIALGRAPH_PUBLIC_URL": " https://abc.example.com/ "},
            "public_url",
            "https://abc.example.com",
        ),
        ({"DIALGRAPH_CALLING_HOURS": " 8 - 19 "}, "calling_hours", (8, 19)),
        ({"DIALGRAPH_CHECKPOINT_KEY": "OFF"}, "checkpoint_key", "off"),
        ({"DIALGRAPH_CHECKPOINT_KEY": f"{KEY}, {KEY}x"}, "checkpoint_key", f"{KEY},{KEY}x"),
        ({"DIALGRAPH_PLAYOUT_LEAD_MS": "20"}, "playout_lead_ms", 20),
        # Twilio's and the vendors' own names, and the two shorter limit names
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "twilio_account_sid", "AC123"),
        ({"ELEVENLABS_VOICE_ID": "v1"}, "elevenlabs_voice_id", "v1"),
        ({"DIALGRAPH_CALLS_PER_HOUR": "3"}, "calls_per_hour_per_caller", 3),
        ({"DIALGRAPH_CONCURRENT_CALLS": "7"}, "concurrent_total", 7),
    ],
)
def test_variables_parse_to_typed_values(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(load_settings(env, env_file=None), field) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIALGRAPH_PORT": "eighty"}, "DIALGRAPH_PORT: expected a whole number, got 'eighty'"),
        ({"DIALGRAPH_MAX_CALL_SECONDS": "long"}, "DIALGRAPH_MAX_CALL_SECONDS: expected a number"),
        ({"DIALGRAPH_PUBLIC_URL": "ftp://x"}, "DIALGRAPH_PUBLIC_URL: expected an http://"),
        ({"DIALGRAPH_PUBLIC_URL": "https://x/?a=1"}, "no query"),
        ({"DIALGRAPH_TRUST_FORWARDED": "maybe"}, "DIALGRAPH_TRUST_FORWARDED: expected true/false"),
        ({"DIALGRAPH_PLAYOUT_LEAD_MS": "5"}, "DIALGRAPH_PLAYOUT_LEAD_MS: must be at least 20"),
        ({"DIALGRAPH_VOICEMAIL": "sometimes"}, "DIALGRAPH_VOICEMAIL: expected one of hangup"),
        ({"DIALGRAPH_VOICEMAIL_TIMEOUT": "half a minute"}, "DIALGRAPH_VOICEMAIL_TIMEOUT"),
        ({"DIALGRAPH_LOG_LEVEL": "loud"}, "DIALGRAPH_LOG_LEVEL: expected one of DEBUG, INFO"),
        ({"DIALGRAPH_CALLING_HOURS": "9-25"}, "DIALGRAPH_CALLING_HOURS: calling hours must"),
        ({"DIALGRAPH_CALLING_HOURS": "nine"}, "DIALGRAPH_CALLING_HOURS: expected calling hours"),
        ({"DIALGRAPH_CHECKPOINT_KEY": "short"}, "DIALGRAPH_CHECKPOINT_KEY: key 1 is shorter"),
        # retired variables say what replaced them, so an old .env never runs another graph
        ({"DIALGRAPH_AGENT": "echo"}, "DIALGRAPH_AGENT is retired: use DIALGRAPH_GRAPH=echo"),
        (
            {"DIALGRAPH_AGENT": "clinic", "DIALGRAPH_GRAPH": "helpdesk"},
            "DIALGRAPH_AGENT is retired",
        ),
    ],
)
def test_bad_settings_name_the_variable_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=None)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value), "one line, never pydantic's report"


def test_every_bad_variable_is_named_on_the_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DIALGRAPH_PORT": "x", "DIALGRAPH_MAX_TURNS": "many"}, env_file=None)
    assert str(caught.value) == (
        "DIALGRAPH_PORT: expected a whole number, got 'x'; "
        "DIALGRAPH_MAX_TURNS: expected a whole number, got 'many'"
    )


def test_a_secret_is_never_repeated_in_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DIALGRAPH_CHECKPOINT_KEY": "hunter2"}, env_file=None)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN") as caught:
        Settings().replace(twilio_auth_token=12345678)
    assert "12345678" not in str(caught.value)


def test_constructing_settings_never_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALGRAPH_PORT", "9999")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-the-environment")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DIALGRAPH_VAR_DIR=from-the-file\n")
    settings = Settings(playout_lead_ms=100)
    assert (settings.port, settings.twilio_auth_token, settings.var_dir) == (8080, "", Path("var"))
    assert settings.playout_lead_ms == 100
    assert settings == Settings(playout_lead_ms=100) == Settings().replace(playout_lead_ms=100)
    # only load_settings reads them
    loaded = load_settings()
    assert (loaded.port, loaded.twilio_auth_token) == (9999, "from-the-environment")
    assert loaded.var_dir == Path("from-the-file")


def test_replace_validates_as_construction_does() -> None:
    settings = Settings(public_url="https://abc.example.com")
    changed = settings.replace(port=9000, public_url="https://new.example.com/")
    assert (changed.port, changed.public_url) == (9000, "https://new.example.com")
    assert settings.port == 8080, "the original is unchanged"
    cases = [
        ({"port": "eighty"}, "DIALGRAPH_PORT: expected a whole number"),
        ({"playout_lead_ms": 10}, "DIALGRAPH_PLAYOUT_LEAD_MS: must be at least 20"),
        ({"calling_hours": (8, 25)}, "DIALGRAPH_CALLING_HOURS: calling hours must satisfy"),
        ({"voicemail": "sometimes"}, "DIALGRAPH_VOICEMAIL: expected one of"),
        ({"public_url": "ftp://x"}, "DIALGRAPH_PUBLIC_URL"),
        ({"no_such_setting": 1}, "no_such_setting: no such setting"),
    ]
    for changes, message in cases:
        with pytest.raises(ConfigError, match=message):
            settings.replace(**changes)
    with pytest.raises(ConfigError, match="DIALGRAPH_PLAYOUT_LEAD_MS"):
        Settings(playout_lead_ms=5)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]
    assert hash(settings) == hash(Settings())


def test_voicemail_settings() -> None:
    defaults = load_settings({}, env_file=None)
    assert defaults.voicemail == "hangup"  # detection on, machines hung up on
    # empty: the flow's own words (PhoneSettings.voicemail())
    assert defaults.voicemail_message == "" and defaults.voicemail_timeout == 30
    env = {
        "DIALGRAPH_VOICEMAIL": " Message ",
        "DIALGRAPH_VOICEMAIL_MESSAGE": "Please call the clinic back.",
        "DIALGRAPH_VOICEMAIL_TIMEOUT": "45",
    }
    settings = load_settings(env, env_file=None)
    assert settings.voicemail == "message"
    assert settings.voicemail_message == "Please call the clinic back."
    assert settings.voicemail_timeout == 45
    assert load_settings({"DIALGRAPH_LOG_LEVEL": "debug"}, env_file=None).log_level == "DEBUG"
    assert load_settings({"DIALGRAPH_VOICEMAIL": "OFF"}, env_file=None).voicemail == "off"


def test_the_graph_setting() -> None:
    assert load_settings({}, env_file=None).graph == ""  # the first graph in langgraph.json
    settings = load_settings({"DIALGRAPH_GRAPH": " flows/desk.py:graph "}, env_file=None)
    assert settings.graph == "flows/desk.py:graph"
    # the chat model is the flow's setting, read by the bundled flows, not the runtime's
    assert "DIALGRAPH_MODEL" not in {s.env for s in SETTINGS}
    assert load_settings({"DIALGRAPH_MODEL": "openai:gpt-4o-mini"}, env_file=None) == Settings()


def test_a_retired_variable_in_the_env_file_is_refused_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DIALGRAPH_AGENT=echo\n")
    with pytest.raises(ConfigError, match="use DIALGRAPH_GRAPH=echo"):
        load_settings({}, env_file=env_file)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DIALGRAPH_PORT=9000\nTWILIO_AUTH_TOKEN=from-file\n"
        "OPENAI_API_KEY=the-flow-s\nDIALGRAPH_MODEL=openai:gpt-4o-mini\n"  # not ours: ignored
    )
    settings = load_settings({"DIALGRAPH_PORT": "9100"}, env_file=env_file)
    assert settings.port == 9100
    assert settings.twilio_auth_token == "from-file"
    assert load_settings({}, env_file=tmp_path / "missing.env") == Settings()


def test_secrets_are_masked_in_repr_and_str() -> None:
    settings = Settings(
        twilio_auth_token="tok-sesame",
        database_url="postgresql://user:pw-sesame@db/calls",
        checkpoint_key=KEY,
        twilio_account_sid="AC-shown",
    )
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "sesame" not in text and KEY not in text
        assert "twilio_auth_token='***'" in text and "AC-shown" in text
    assert "twilio_auth_token=''" in repr(Settings()), "an unset secret shows as empty"
    secret = {s.env for s in SETTINGS if s.secret}
    assert secret == {
        "TWILIO_AUTH_TOKEN",
        "DIALGRAPH_CALL_TOKEN_SECRET",
        "DIALGRAPH_DATABASE_URL",
        "DIALGRAPH_CHECKPOINT_KEY",
        "DIALGRAPH_REDIS_URL",
        "ASSEMBLYAI_API_KEY",
        "ELEVENLABS_API_KEY",
    }


def test_every_setting_is_declared_once_and_documented() -> None:
    assert [s.field for s in SETTINGS] == list(Settings.model_fields)
    envs = [s.env for s in SETTINGS]
    assert len(set(envs)) == len(envs)
    own_names = {
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "ASSEMBLYAI_API_KEY",
        "ELEVENLABS_API_KEY",
        "ELEVENLABS_VOICE_ID",
    }
    assert {e for e in envs if not e.startswith("DIALGRAPH_")} == own_names
    text = settings_help()
    defaults = Settings()
    for s in SETTINGS:
        assert s.help and f"  {s.env} " in text
        # --help and the README show the real default: it parses back to it
        assert s.parse("" if s.shown == "(empty)" else s.shown) == s.default
        assert getattr(defaults, s.field) == s.default, s.env
    # README links are spelt out in --help
    assert '"Encryption at rest" in the README' in text and "](#" not in text


@pytest.mark.parametrize(
    ("value", "shown"),
    [("trust_forwarded", "false"), ("call_token_ttl", "60"), ("calling_hours", "9-20")],
)
def test_defaults_are_shown_as_the_environment_spells_them(value: str, shown: str) -> None:
    assert {s.field: s.shown for s in SETTINGS}[value] == shown
