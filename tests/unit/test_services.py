"""Setting names -> engines, with the cloud engines failing over to offline ones."""

from __future__ import annotations

import pytest

from telephony.providers.fallback import FallbackSTT, FallbackTTS
from telephony.services import make_stt, make_tts
from telephony.settings import ConfigError, load_settings


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
