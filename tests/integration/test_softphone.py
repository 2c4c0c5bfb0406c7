"""The softphone against a minimal fake Dialgraph app on loopback.

The fake app is a tiny HTTP server (the voice webhook, answering TwiML) plus
a ``websockets`` server (the media stream); each test gives it a behaviour
for the stream. Everything runs in real time, a second or two per test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve

from telephony.softphone import CallResult, main_call, parse_script, place_call
from telephony.wire.codec import SAMPLE_RATE, ULAW_SILENCE, pcm_to_ulaw, rms_dbfs, ulaw_to_pcm

TOKEN = "test-auth-token"
TONE_MS = 400


def tone(ms: int, freq: float = 440.0, level: float = 0.3) -> bytes:
    t = np.arange(ms * SAMPLE_RATE // 1000) / SAMPLE_RATE
    return pcm_to_ulaw((np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16))


class ToneTTS:
    """The caller's 'voice': a 400 ms tone and 100 ms of silence for any text."""

    name = "tone"

    async def synthesize(self, text: str):
        yield tone(TONE_MS)
        yield bytes([ULAW_SILENCE]) * 800


@dataclass
class Stream:
    """The app's side of one media stream, as the fake sees it.

    A background task reads every message as it arrives (with its arrival
    time); behaviours take them from a queue in order.
    """

    ws: ServerConnection
    signature_ok: bool
    messages: list[tuple[float, dict]] = field(default_factory=list)  # (arrival, message)
    sid: str = ""
    _queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                self.messages.append((time.monotonic(), message))
                if message["event"] == "start":
                    self.sid = message["streamSid"]
                self._queue.put_nowait(message)
        finally:
            self._queue.put_nowait({"event": "<closed>"})

    async def next_message(self) -> dict:
        return await self._queue.get()

    async def drain(self) -> None:
        """Wait until the softphone closes the socket."""
        assert self._reader is not None
        await self._reader

    async def send(self, event: str, **body: object) -> float:
        await self.ws.send(json.dumps({"event": event, "streamSid": self.sid, **body}))
        return time.monotonic()

    async def media(self, ulaw: bytes) -> float:
        return await self.send("media", media={"payload": base64.b64encode(ulaw).decode()})

    async def mark(self, name: str) -> float:
        return await self.send("mark", mark={"name": name})

    def events(self, name: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.messages if m["event"] == name]


Behaviour = Callable[[Stream], Awaitable[None]]


@dataclass
class FakeApp:
    behaviour: Behaviour
    twiml: str | None = None
    webhooks: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    http_port: int = 0
    ws_port: int = 0
    close_at_once: bool = False  # close the stream with 1008 before reading anything

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        headers = {}
        while (line := (await reader.readline()).decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        params = dict(parse_qsl(body.decode()))
        path = request_line.split()[1]
        ok = RequestValidator(TOKEN).validate(
            f"{self.url}{path}", params, headers.get("x-twilio-signature", "")
        )
        self.webhooks.append((params, ok))
        if not ok:
            status, answer = "403 Forbidden", "bad signature"
        else:
            status = "200 OK"
            answer = self.twiml or (
                f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
                f'<Stream url="ws://127.0.0.1:{self.ws_port}/twilio/media">'
                f'<Parameter name="caller" value="{params["From"]}"/>'
                f'<Parameter name="token" value="t-{params["CallSid"]}"/>'
                f"</Stream></Connect></Response>"
            )
        data = answer.encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()

    async def _ws(self, ws: ServerConnection) -> None:
        if self.close_at_once:
            await ws.close(1008, "bad signature")
            return
        url = f"ws://127.0.0.1:{self.ws_port}{ws.request.path}"
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        stream = Stream(ws, RequestValidator(TOKEN).validate(url, {}, signature))
        self.streams.append(stream)
        stream.start_reading()
        assert (await stream.next_message())["event"] == "connected"
        assert (await stream.next_message())["event"] == "start"
        await self.behaviour(stream)
        await stream.drain()


async def run_call(
    behaviour: Behaviour, script: str, tmp_path: Path | None = None, **kwargs: object
) -> tuple[CallResult, FakeApp, list[str]]:
    app = FakeApp(behaviour, twiml=kwargs.pop("twiml", None))  # type: ignore[arg-type]
    refuse = kwargs.pop("refuse_stream", False)
    app.close_at_once = bool(kwargs.pop("close_at_once", False))
    http = await asyncio.start_server(app._http, "127.0.0.1", 0)

    def process_request(connection: ServerConnection, request: object) -> object:
        return connection.respond(403, "bad signature\n") if refuse else None

    async with serve(app._ws, "127.0.0.1", 0, process_request=process_request) as ws_server, http:
        app.http_port = http.sockets[0].getsockname()[1]
        app.ws_port = ws_server.sockets[0].getsockname()[1]
        lines: list[str] = []
        options: dict = {"auth_token": TOKEN, "tts": ToneTTS(), "print_progress": lines.append}
        options.update(kwargs)
        result = await asyncio.wait_for(
            place_call(app.url, parse_script(script, base_dir=tmp_path), **options), 15
        )
    return result, app, lines


def voiced(ulaw: bytes) -> bool:
    return rms_dbfs(ulaw_to_pcm(ulaw)) > -40


# -- behaviours -----------------------------------------------------------------


async def echo_once(stream: Stream) -> None:
    """Wait for the caller to speak and pause 200 ms, send it back, then a mark."""
    heard, silent = bytearray(), 0
    while True:
        message = await stream.next_message()
        if message["event"] != "media":
            return
        frame = base64.b64decode(message["media"]["payload"])
        if voiced(frame):
            heard += frame
            silent = 0
        elif heard:
            silent += 1
            if silent == 10:
                break
    await stream.media(bytes(heard))  # all at once: the playback buffer paces it
    await stream.mark("echo-1")
    await stream.drain()


# -- tests ----------------------------------------------------------------------


async def test_signed_call_echo_marks_timing_and_recording(tmp_path: Path) -> None:
    script = """
    [[step]]
    say = "hello"
    [[step]]
    wait_for_agent = true
    quiet_ms = 300
    [[step]]
    hangup = true
    """
    wav_path = tmp_path / "call.wav"
    result, app, lines = await run_call(echo_once, script, record_to=wav_path)

    assert result.ok and result.outcome == "completed", result.summary()
    # Twilio's webhook, signed; the stream handshake, signed over the ws:// URL.
    ((params, webhook_ok),) = app.webhooks
    assert webhook_ok and params["CallSid"] == result.call_sid
    assert params["CallSid"].startswith("CA") and len(params["CallSid"]) == 34
    assert params["Direction"] == "inbound" and params["CallStatus"] == "ringing"
    (stream,) = app.streams
    assert stream.signature_ok

    messages = [m for _, m in stream.messages]
    assert [m["event"] for m in messages[:2]] == ["connected", "start"]
    start = messages[1]
    assert start["sequenceNumber"] == "1" and start["streamSid"] == result.stream_sid
    assert start["start"]["customParameters"] == {
        "caller": "+15550100123",
        "token": f"t-{result.call_sid}",
    }
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    assert messages[-1]["event"] == "stop"
    sequence = [int(m["sequenceNumber"]) for m in messages[1:]]
    assert sequence == list(range(1, len(sequence) + 1))
    media = [m["media"] for m in messages if m["event"] == "media"]
    assert [int(m["chunk"]) for m in media] == list(range(1, len(media) + 1))
    assert [int(m["timestamp"]) for m in media] == [20 * i for i in range(len(media))]
    assert all(len(base64.b64decode(m["payload"])) == 160 for m in media)
    assert len(media) == result.frames_sent

    # Real time: frames arrive at 50 per second.
    times = [t for t, m in stream.events("media")]
    assert times[-1] - times[0] == pytest.approx((len(times) - 1) * 0.02, abs=0.1)

    # The mark comes back once its 400 ms of audio has been played, not before.
    ((mark_at, mark),) = stream.events("mark")
    assert mark["mark"] == {"name": "echo-1"} and result.marks_echoed == 1
    (turn,) = result.turns
    assert turn.kind == "say" and turn.start_ms == 0 and turn.end_ms == TONE_MS
    assert 170 <= turn.response_ms < 400  # the fake answers on the 10th silent frame
    assert turn.response_ms <= turn.heard_ms <= turn.response_ms + 40
    played_for = mark_at - stream.messages[0][0] - (turn.first_audio_played_ms or 0) / 1000
    assert played_for >= TONE_MS / 1000 - 0.03

    # The recording: caller left, agent right, on one time axis.
    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert pcm.shape[0] == result.frames_sent * 160

    def level(channel: int, start_ms: float, end_ms: float) -> float:
        return rms_dbfs(np.ascontiguousarray(pcm[int(start_ms * 8) : int(end_ms * 8), channel]))

    played = turn.first_audio_played_ms
    assert level(0, 0, TONE_MS) > -20 and level(1, 0, TONE_MS) < -60
    assert level(1, played, played + TONE_MS) > -20 and level(0, played, played + TONE_MS) < -60
    assert result.agent_ms_played == pytest.approx(TONE_MS, abs=20)
    assert any("agent speaking" in line for line in lines)


async def test_clear_drops_buffered_audio_and_echoes_pending_marks() -> None:
    timeline: dict[str, float] = {}

    async def talk_then_clear(stream: Stream) -> None:
        timeline["sent"] = await stream.media(tone(2000))
        await stream.mark("long")
        await asyncio.sleep(0.3)
        timeline["clear"] = await stream.send("clear")
        await asyncio.sleep(0.2)
        await stream.media(tone(100))
        timeline["after"] = await stream.mark("after")
        await stream.drain()

    script = "[[step]]\npause_ms = 900\n[[step]]\nhangup = true"
    result, app, _ = await run_call(talk_then_clear, script)

    (stream,) = app.streams
    marks = {m["mark"]["name"]: t for t, m in stream.events("mark")}
    assert list(marks) == ["long", "after"]
    assert marks["long"] - timeline["clear"] < 0.1  # echoed at once on clear
    assert marks["after"] - timeline["after"] >= 0.08  # after its 100 ms played
    assert result.clears_received == 1 and result.marks_echoed == 2
    assert result.agent_ms_cleared == pytest.approx(1700, abs=80)
    assert result.agent_ms_played == pytest.approx(400, abs=80)

    agent = ulaw_to_pcm(result.agent_audio)
    frames = [rms_dbfs(agent[i : i + 160]) > -40 for i in range(0, agent.size, 160)]
    runs = np.flatnonzero(np.diff(np.r_[0, frames, 0]))
    assert len(runs) == 4  # two bursts: ~300 ms before the clear, 100 ms after
    assert (runs[1] - runs[0]) * 20 == pytest.approx(300, abs=60)
    assert (runs[3] - runs[2]) * 20 == 100


async def test_barge_in_starts_after_agent_audio_and_dtmf_is_sent() -> None:
    timeline: dict[str, float] = {}

    async def speak_long(stream: Stream) -> None:
        await asyncio.sleep(0.2)
        timeline["agent"] = await stream.media(tone(1500, freq=300))
        await stream.drain()

    script = """
    [[step]]
    barge_in_after_ms = 300
    say = "stop, please"
    [[step]]
    dtmf = "1#"
    [[step]]
    hangup = true
    """
    result, app, _ = await run_call(speak_long, script)

    (stream,) = app.streams
    first_voiced = next(
        t for t, m in stream.events("media") if voiced(base64.b64decode(m["media"]["payload"]))
    )
    assert first_voiced - timeline["agent"] == pytest.approx(0.3, abs=0.08)
    barge, keys = result.turns
    assert barge.barge_in and barge.kind == "say"
    dtmf = [m["dtmf"] for _, m in stream.events("dtmf")]
    assert dtmf == [
        {"track": "inbound_track", "digit": "1"},
        {"track": "inbound_track", "digit": "#"},
    ]
    assert keys.kind == "dtmf" and keys.text == "1#" and result.dtmf_sent == 2
    assert result.outcome == "completed"


async def test_app_closing_first_is_reported_with_its_code() -> None:
    async def fail(stream: Stream) -> None:
        await asyncio.sleep(0.1)
        await stream.ws.close(1011, "agent failed")

    started = time.monotonic()
    result, _, lines = await run_call(fail, "[[step]]\npause_ms = 5000")
    assert time.monotonic() - started < 2  # the script stops with the call
    assert result.outcome == "remote_closed" and not result.ok
    assert (result.closed_by, result.close_code, result.close_reason) == (
        "app",
        1011,
        "agent failed",
    )
    assert "closed by app with 1011 'agent failed'" in result.summary()
    assert any("app closed the stream: 1011" in line for line in lines)


async def test_twiml_without_a_stream_ends_the_call() -> None:
    twiml = "<Response><Say>All lines are busy.</Say><Hangup/></Response>"
    result, app, _ = await run_call(echo_once, "[[step]]\nsay = 'hi'", twiml=twiml)
    assert result.outcome == "not_connected" and not app.streams
    assert result.detail == 'TwiML did not connect a stream: Say: "All lines are busy."; Hangup'


async def test_a_wrongly_signed_webhook_is_rejected() -> None:
    result, app, _ = await run_call(echo_once, "[[step]]\nsay = 'hi'", auth_token="wrong")
    assert result.outcome == "rejected" and result.http_status == 403
    assert not app.streams


async def test_an_unreachable_app_is_a_failed_call() -> None:
    script = parse_script("[[step]]\npause_ms = 100")
    result = await place_call("http://127.0.0.1:9", script)
    assert result.outcome == "failed" and "cannot reach" in result.detail


async def test_a_refused_stream_handshake_is_reported() -> None:
    result, _, _ = await run_call(echo_once, "[[step]]\nsay = 'hi'", refuse_stream=True)
    assert result.outcome == "rejected" and result.http_status == 403
    assert "handshake refused with HTTP 403" in result.detail


async def test_main_call_prints_the_report_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "keys.toml"
    script.write_text("[[step]]\ndtmf = '1'\n[[step]]\nwait_for_agent = true\nquiet_ms = 200\n")

    async def answer_keys(stream: Stream) -> None:
        while (await stream.next_message())["event"] != "dtmf":
            pass
        await stream.media(tone(200))

    app = FakeApp(answer_keys)
    http = await asyncio.start_server(app._http, "127.0.0.1", 0)
    async with serve(app._ws, "127.0.0.1", 0) as ws_server, http:
        app.http_port = http.sockets[0].getsockname()[1]
        app.ws_port = ws_server.sockets[0].getsockname()[1]
        status = await main_call(app.url, script, tmp_path / "rec.wav", TOKEN)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "completed" in out and "turn 1 (step 1, dtmf)" in out
    assert (tmp_path / "rec.wav").stat().st_size > 44


async def test_main_call_exits_2_on_a_bad_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await main_call("http://127.0.0.1:9", tmp_path / "none.toml") == 2
    assert "cannot read script" in capsys.readouterr().err


async def test_a_stream_closed_before_start_is_reported() -> None:
    async def refuse(stream: Stream) -> None:
        pass  # run_call's handler closes at once when asked to

    result, _, _ = await run_call(refuse, "[[step]]\npause_ms = 100", close_at_once=True)
    assert result.outcome == "remote_closed"
    assert (result.close_code, result.close_reason) == (1008, "bad signature")


class JitteryNoisyLine:
    """A line that hums between utterances, drops nothing and holds every 5th frame 60 ms."""

    def __init__(self) -> None:
        self.sent = 0

    def degrade(self, audio: bytes) -> list[bytes]:
        return [
            audio[i : i + 160].ljust(160, bytes([ULAW_SILENCE])) for i in range(0, len(audio), 160)
        ]

    def silence(self, n_frames: int) -> list[bytes]:
        return [tone(20, freq=120, level=0.02)] * n_frames

    def send_delays(self, n_frames: int) -> list[float]:
        delays = [60.0 if (self.sent + i) % 5 == 0 else 0.0 for i in range(n_frames)]
        self.sent += n_frames
        return delays


async def test_a_line_carries_noise_between_utterances_and_keeps_frames_in_order() -> None:
    async def listen(stream: Stream) -> None:
        await stream.drain()

    script = """
    [[step]]
    pause_ms = 200
    [[step]]
    say = "hello"
    [[step]]
    pause_ms = 200
    [[step]]
    hangup = true
    """
    line = JitteryNoisyLine()
    result, app, _ = await run_call(listen, script, line=line)
    (stream,) = app.streams
    media = stream.events("media")
    chunks = [int(m["media"]["chunk"]) for _, m in media]
    assert chunks == sorted(chunks) and len(chunks) == result.frames_sent  # order kept, none lost
    frames = [base64.b64decode(m["media"]["payload"]) for _, m in media]
    # The hum, not digital silence, before the caller speaks; the tone while speaking.
    assert all(rms_dbfs(ulaw_to_pcm(f)) > -60 for f in frames[:5])
    assert any(voiced(f) for f in frames)
    assert line.sent == result.frames_sent  # every frame went through the line's jitter
    assert result.outcome == "completed"


class CountingToneTTS(ToneTTS):
    """The tone voice, remembering what it was asked to say."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str):
        self.texts.append(text)
        async for chunk in super().synthesize(text):
            yield chunk


async def test_a_conversation_may_say_words_the_script_did_not_hold() -> None:
    """A caller played by a model says new words: the softphone voices them when they come."""
    from telephony.softphone.script import Hangup, Say

    async def listen(stream: Stream) -> None:
        await stream.drain()

    async def converse(_stream: object):
        yield Say(number=7, text="a sentence nobody scripted")
        yield Hangup(number=8)

    voice = CountingToneTTS()
    script = """
    [[step]]
    pause_ms = 100
    """
    result, app, _ = await run_call(listen, script, tts=voice, conversation=converse)
    (stream,) = app.streams
    assert voice.texts == ["a sentence nobody scripted"]  # synthesised during the call
    (turn,) = result.turns
    assert turn.kind == "say" and turn.text == "a sentence nobody scripted"
    assert any(voiced(base64.b64decode(m["media"]["payload"])) for _, m in stream.events("media"))
    assert result.outcome == "completed"
