"""Call tokens, and the settings `dialgraph serve` refuses to start with.

The settings themselves (parsing, the environment, ``.env``) are tested in
``test_settings.py``.
"""

from __future__ import annotations

import pytest

from telephony.cli.preflight import check_for_serving
from telephony.settings import load_settings
from telephony.wire.calltoken import CallTokenError, CallTokens

CALL = "CA" + "a" * 32


PARAMS = {"caller": "+15551230000", "called": "+15550001111", "direction": "inbound"}


def test_token_round_trip_and_refusals() -> None:
    tokens = CallTokens("k", ttl=60)
    token = tokens.issue(CALL, PARAMS, now=1000.0)
    tokens.check(token, CALL, PARAMS, now=1059.0)
    tokens.check(token, CALL, {**PARAMS, "token": token}, now=1000.0)  # as start carries it
    expiry = token.split(".")[1]
    cases = [
        (None, CALL, PARAMS, 1000.0, "no call token"),
        ("garbage", CALL, PARAMS, 1000.0, "malformed"),
        (token, "CA" + "b" * 32, PARAMS, 1000.0, "does not match"),
        (token, CALL, PARAMS, 1061.0, "expired"),
        (CallTokens("other").issue(CALL, PARAMS, now=1000.0), CALL, PARAMS, 1000.0, "not match"),
        (token.replace(expiry, "9999999999"), CALL, PARAMS, 1000.0, "does not match"),
    ]
    for candidate, call_sid, params, now, message in cases:
        with pytest.raises(CallTokenError, match=message):
            tokens.check(candidate, call_sid, params, now=now)


@pytest.mark.parametrize(
    "params",
    [
        {**PARAMS, "caller": "+15557650002"},  # another caller's memory
        {**PARAMS, "called": "+15550002222"},
        {**PARAMS, "direction": "outbound"},
        {k: v for k, v in PARAMS.items() if k != "caller"},  # a parameter dropped
        {**PARAMS, "extra": "x"},  # a parameter added
        {**PARAMS, "caller": "+15551230000 "},
        {"caller": "+15551230000", "called": "+15550001111direction", "direction": ""},
        {"caller": "+15551230000called", "called": "+15550001111", "direction": "inbound"},
    ],
    ids=["caller", "called", "direction", "dropped", "added", "space", "shifted", "shifted-key"],
)
def test_a_token_binds_every_parameter(params: dict[str, str]) -> None:
    tokens = CallTokens("k")
    token = tokens.issue(CALL, PARAMS)
    with pytest.raises(CallTokenError, match="does not match"):
        tokens.check(token, CALL, params)


def test_parameter_order_does_not_matter_and_empty_means_absent() -> None:
    tokens = CallTokens("k")
    token = tokens.issue(CALL, {"direction": "inbound", "caller": ""})
    tokens.check(token, CALL, {"direction": "inbound"})  # Twilio may drop an empty <Parameter>
    tokens.check(tokens.issue(CALL, PARAMS), CALL, dict(reversed(PARAMS.items())))


@pytest.mark.parametrize(
    "token",
    [
        "v2.",
        "v2..",
        "v2.1.2.3",
        "v1.99999999999.AAAAAAAAAAAAAAAAAAAAAAAA",  # the old version
        "v2." + "9" * 5000 + ".AAAAAAAAAAAAAAAAAAAAAAAA",  # int() would refuse 4300+ digits
        "v2." + "9" * 400 + ".AAAAAAAAAAAAAAAAAAAAAAAA",  # a float would overflow
        "v2.-5.AAAAAAAAAAAAAAAAAAAAAAAA",
        "v2.١٢٣.AAAAAAAAAAAAAAAAAAAAAAAA",  # Arabic-Indic digits pass str.isdigit()
        "v2.1000.ÄAAAAAAAAAAAAAAAAAAAAAAA",  # compare_digest raises TypeError on non-ASCII
        "v2.1000.AAAAAAAAAAAAAAAAAAAAAAA\ud800",
        "v2.1000.AAAA",
        "v2.1000.AAAAAAAAAAAAAAAAAAAAAAAA\n",
        " v2.1000.AAAAAAAAAAAAAAAAAAAAAAAA",
        "x" * 100_000,
        "\x00",
    ],
)
def test_malformed_tokens_are_a_call_token_error_only(token: str) -> None:
    with pytest.raises(CallTokenError, match="malformed call token"):
        CallTokens("k").check(token, CALL, PARAMS, now=1000.0)


def test_any_text_as_a_token_or_parameter_is_a_call_token_error_only() -> None:
    tokens = CallTokens("k")
    token = tokens.issue(CALL, PARAMS, now=1000.0)
    odd = ["", "é", "\ud800", "\x00", "=", ":", ",", "9" * 5000, "\n"]
    for value in odd:
        for params in ({**PARAMS, "caller": value}, {value: "x", **PARAMS}):
            with pytest.raises(CallTokenError):
                tokens.check(token + value, CALL, params, now=1000.0)
            if value:
                with pytest.raises(CallTokenError, match="does not match"):
                    tokens.check(token, CALL, params, now=1000.0)
            tokens.check(tokens.issue(CALL, params, now=1000.0), CALL, params, now=1000.0)
    with pytest.raises(CallTokenError, match="malformed"):
        tokens.check(token, CALL, {"caller": 5}, now=1000.0)  # type: ignore[dict-item]


def test_tokens_without_a_secret_are_per_process() -> None:
    token = CallTokens("").issue(CALL, PARAMS)
    with pytest.raises(CallTokenError):
        CallTokens("").check(token, CALL, PARAMS)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"DIALGRAPH_PUBLIC_URL": "https://abc.example.com"}, "TWILIO_AUTH_TOKEN is not set"),
        ({"DIALGRAPH_HOST": "0.0.0.0"}, "TWILIO_AUTH_TOKEN is not set"),
        (
            {"DIALGRAPH_PUBLIC_URL": "http://abc.example.com", "TWILIO_AUTH_TOKEN": "t"},
            "plain http",
        ),
        ({"DIALGRAPH_STT": "assemblyai"}, "ASSEMBLYAI_API_KEY"),
    ],
)
def test_serve_refuses_unsafe_production_settings(env: dict[str, str], problem: str) -> None:
    settings = load_settings(env, env_file=None)
    problems = check_for_serving(settings)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "env",
    [
        {},  # loopback development
        {"DIALGRAPH_PUBLIC_URL": "https://abc.example.com", "TWILIO_AUTH_TOKEN": "t"},
        {"DIALGRAPH_PUBLIC_URL": "http://127.0.0.1:8080", "TWILIO_AUTH_TOKEN": "t"},
    ],
)
def test_serve_accepts_safe_settings(env: dict[str, str]) -> None:
    assert check_for_serving(load_settings(env, env_file=None)) == []
