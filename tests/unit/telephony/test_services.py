"""Setting names -> engines, with the cloud engines failing over to offline ones."""

from __future__ import annotations

import re

import pytest

from telephony.services import as_flow, domain_recogniser_config, make_stt, make_tts, open_flow
from telephony.settings import ConfigError, load_settings
from telephony.speech.fallback import FallbackSTT, FallbackTTS


def settings(**env: str):
    return load_settings(env, env_file=None)


def test_offline_defaults() -> None:
    assert make_stt(settings()).name == "pocketsphinx"
    assert make_tts(settings()).name == "piper"
    assert make_stt(settings(DIALGRAPH_STT="none")) is None
    assert make_tts(settings(DIALGRAPH_TTS="none")) is None


def test_cloud_engines_fail_over_to_the_offline_ones() -> None:
    stt = make_stt(settings(DIALGRAPH_STT="assemblyai", ASSEMBLYAI_API_KEY="k"))
    assert isinstance(stt, FallbackSTT)
    assert (stt.primary.name, stt.fallback.name) == ("assemblyai", "pocketsphinx")
    tts = make_tts(
        settings(DIALGRAPH_TTS="elevenlabs", ELEVENLABS_API_KEY="k", ELEVENLABS_VOICE_ID="v")
    )
    assert isinstance(tts, FallbackTTS)
    assert (tts.primary.name, tts.fallback.name) == ("elevenlabs", "piper")
    assert "k" not in repr(tts.primary).replace("kind", "")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIALGRAPH_STT": "assemblyai"}, "ASSEMBLYAI_API_KEY"),
        ({"DIALGRAPH_TTS": "elevenlabs"}, "ELEVENLABS_API_KEY"),
        ({"DIALGRAPH_STT": "whisper"}, "unknown engine"),
        ({"DIALGRAPH_TTS": "espeak"}, "unknown engine"),
    ],
)
def test_misconfigured_engines_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_stt(settings(**env)) if "STT" in next(iter(env)) else make_tts(settings(**env))


def test_the_cloud_recogniser_favours_the_flows_key_terms() -> None:
    stt = make_stt(
        settings(DIALGRAPH_STT="assemblyai", ASSEMBLYAI_API_KEY="k"),
        keyterms=("Acme Fibre", "router", "acme fibre"),
    )
    assert stt.primary.keyterms == ("Acme Fibre", "router")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "DIALGRAPH_GRAPH: unknown graph 'nope': give a langgraph.json id"),
        ("graphs/x.py:g", "DIALGRAPH_GRAPH: graphs/x.py:g: no such file"),
        ("telephony.nothing:graph", "cannot import 'telephony.nothing'"),
        ("graphs.echo:nothing", "the module has no attribute 'nothing'"),
        ("graphs.echo:GREETING", "GREETING is a str; expected a compiled graph"),
    ],
)
def test_a_graph_that_loads_nothing_is_one_configuration_line(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_flow(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_graphs_handed_over_as_objects_are_checked_for_the_phone() -> None:
    from langgraph.graph import StateGraph
    from typing_extensions import TypedDict

    from dialgraph import PhoneSettings
    from graphs import echo

    assert as_flow("echo").id == "echo"
    flow = as_flow(echo.builder, phone=PhoneSettings(name="Acme"))
    assert (flow.graph, flow.phone.name) == (echo.builder, "Acme")
    assert as_flow(echo.graph).phone == PhoneSettings()  # an object brings no settings

    class NoMessages(TypedDict):
        count: int

    builder = StateGraph(NoMessages)
    builder.add_node("count", lambda state: {"count": state["count"] + 1})
    builder.set_entry_point("count")
    with pytest.raises(ConfigError, match="no 'messages' channel"):
        as_flow(builder.compile())


async def test_only_a_flow_with_phrases_gets_a_domain_language_model(tmp_path) -> None:
    from dialgraph import SpeechHints

    offline = settings(DIALGRAPH_VAR_DIR=str(tmp_path))
    assert await domain_recogniser_config(offline, SpeechHints(keyterms=("Acme",))) is None
    keypad_only = settings(DIALGRAPH_STT="none", DIALGRAPH_VAR_DIR=str(tmp_path))
    assert await domain_recogniser_config(keypad_only, SpeechHints(phrases=("hi",))) is None
    with pytest.raises(ConfigError, match="pronunciation of 'acme'"):
        await domain_recogniser_config(
            offline, SpeechHints(phrases=("call acme",), pronunciations={"acme": "AE K M IY 7"})
        )


def test_malformed_redaction_rules_stop_the_flow_at_load_time() -> None:
    from dialgraph import PhoneSettings, Redaction
    from graphs import echo

    phone = PhoneSettings(redaction=Redaction(keep_patterns=("T-(",)))
    with pytest.raises(ConfigError, match=re.escape("phone.redaction: redaction pattern 'T-('")):
        as_flow(echo.graph, phone=phone)
