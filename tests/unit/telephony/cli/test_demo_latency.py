"""The demo's latency breakdown lines the caller's and the server's clocks up."""

from __future__ import annotations

from telephony.call.report import TurnTiming
from telephony.cli.demo import format_latency, latency_table
from telephony.softphone import CallResult
from telephony.softphone import TurnTiming as CallerTurn


def test_turns_are_matched_by_time_and_split_into_stages() -> None:
    result = CallResult(started_at=100.0)
    result.turns = [
        CallerTurn(
            1, 2, "say", "what time do you close", end_ms=5000, first_audio_received_ms=5700
        ),
        CallerTurn(2, 4, "dtmf", "1", end_ms=9000, first_audio_received_ms=9100),
        CallerTurn(3, 6, "say", "never answered", end_ms=12000),
    ]
    server = [
        TurnTiming(2, "speech", input_at=105.5, first_token_at=105.52, first_audio_at=105.65),
        TurnTiming(3, "dtmf", input_at=109.01, first_token_at=109.02, first_audio_at=109.08),
    ]
    rows = latency_table(result, server)
    assert [r["turn"] for r in rows] == [1, 2]
    assert rows[0]["speech_end_to_asr_final"] == 500
    assert rows[0]["asr_final_to_first_token"] == 20
    assert rows[0]["first_token_to_first_audio"] == 130
    assert rows[0]["speech_end_to_first_audio_heard"] == 700
    assert rows[1]["speech_end_to_asr_final"] == 10
    table = format_latency(rows)
    assert table.splitlines()[2].startswith("| 1 | what time do you close | 500 ms")
