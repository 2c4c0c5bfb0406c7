"""The Prometheus exposition of call metrics."""

from __future__ import annotations

from telephony.metrics import CallMetrics


def test_exposition_counts_calls_turns_and_latency() -> None:
    metrics = CallMetrics()
    metrics.call_started()
    metrics.call_started()
    metrics.turn("speech", 120, 450)
    metrics.turn("dtmf", 10, 90)
    metrics.barge_in("confirmed")
    metrics.error("tts")
    metrics.call_ended("caller hung up (stop)")
    metrics.call_refused("call_token")
    metrics.outbound_answered("machine_end_beep", "message")
    text = metrics.render()
    lines = set(text.splitlines())
    assert "dialgraph_live_calls 1" in lines
    assert 'dialgraph_calls_ended_total{reason="caller_hangup"} 1' in lines
    assert 'dialgraph_turns_total{source="speech"} 1' in lines
    assert 'dialgraph_barge_ins_total{outcome="confirmed"} 1' in lines
    assert 'dialgraph_errors_total{kind="tts"} 1' in lines
    assert 'dialgraph_streams_refused_total{reason="call_token"} 1' in lines
    assert (
        'dialgraph_outbound_answered_total{action="message",answered_by="machine_end_beep"} 1'
        in lines
    )
    # Histogram buckets are cumulative and end with +Inf = count.
    assert 'dialgraph_turn_latency_seconds_bucket{stage="first_audio",le="0.1"} 1' in lines
    assert 'dialgraph_turn_latency_seconds_bucket{stage="first_audio",le="0.5"} 2' in lines
    assert 'dialgraph_turn_latency_seconds_bucket{stage="first_audio",le="+Inf"} 2' in lines
    assert 'dialgraph_turn_latency_seconds_count{stage="first_audio"} 2' in lines
    assert text.endswith("\n")


def test_label_values_are_escaped() -> None:
    metrics = CallMetrics()
    metrics.error('bad"kind\nx')
    assert 'kind="bad\\"kind\\nx"' in metrics.render()
