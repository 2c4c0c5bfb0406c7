"""Placing a call: webhook, TwiML, media stream, recording.

:func:`place_call` does what Twilio does when a phone rings a Dialgraph
number: it POSTs the signed voice webhook, follows the TwiML answer, opens
the signed media WebSocket and hands it to :class:`~.stream.MediaStream`.
Whatever the app does (answers, refuses, hangs up) ends up in the returned
:class:`~.result.CallResult`; only a bad script or a failing caller voice
raise.
"""

from __future__ import annotations

import functools
import logging
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from telephony.clock import Clock, MonotonicClock
from telephony.speech.base import ProviderError, TextToSpeech

from . import twilio_side
from .audio import prepare_audio
from .result import CallResult, write_stereo_wav
from .script import Script, ScriptError, load_script
from .stream import CallerLine, Conversation, MediaStream

__all__ = [
    "CALLER_PITCH",
    "DEFAULT_CALLED",
    "DEFAULT_CALLER",
    "default_caller_voice",
    "main_call",
    "place_call",
]

logger = logging.getLogger(__name__)

CALLER_PITCH = 1.15  # the caller's Piper voice, pitched up so it differs from the agent's
DEFAULT_CALLER = "+15550100123"
DEFAULT_CALLED = "+15550100999"
HTTP_TIMEOUT_S = 15.0  # webhook answer; a Dialgraph app answers in milliseconds
OPEN_TIMEOUT_S = 10.0  # media WebSocket handshake
CLOSE_TIMEOUT_S = 3.0  # wait for the app's close frame after ours
MAX_MESSAGE_BYTES = 1 << 20  # largest app message accepted (a media payload is ~1 kB)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms of blocking CPU: once per process,
    # not once per call (it stalls the other calls' real-time audio).
    return ssl.create_default_context()


def default_caller_voice() -> TextToSpeech:
    """Piper at :data:`CALLER_PITCH` (raises ProviderError without the extra)."""
    from telephony.speech.piper import PiperTTS  # optional GPL extra: import on use

    return PiperTTS(pitch=CALLER_PITCH)


async def place_call(
    base_url: str,
    script: Script,
    *,
    auth_token: str | None = None,
    caller: str = DEFAULT_CALLER,
    called: str = DEFAULT_CALLED,
    tts: TextToSpeech | None = None,
    record_to: Path | None = None,
    clock: Clock | None = None,
    print_progress: Callable[[str], None] | None = None,
    conversation: Conversation | None = None,
    call_sid: str = "",
    line: CallerLine | None = None,
) -> CallResult:
    """Call a Dialgraph app the way Twilio would and run ``script`` as the caller.

    Args:
        base_url: The app's base URL (``http://127.0.0.1:8080``); the webhook
            is ``{base_url}/twilio/voice``, the stream URL comes from the TwiML.
        script: What the caller does (see :func:`load_script`).
        auth_token: Twilio auth token to sign requests with (``None``: unsigned).
        caller: The caller's number (``From``).
        called: The number called (``To``).
        tts: The caller's voice for ``say`` steps (default: Piper, pitched up).
        record_to: Write a stereo WAV here (left caller, right agent).
        clock: Time source (default: the monotonic clock).
        print_progress: Called with one line per notable event.
        conversation: A caller that decides as the call goes (see
            :data:`~telephony.softphone.stream.Conversation`); its ``say``
            steps use the step numbers of ``script``'s, whose audio is
            prepared before the call. Default: ``script``'s steps in order.
        call_sid: The call's CallSid (default: a new one), for a caller that
            must know it before the call, e.g. to route it to its own state.
        line: What the caller's audio goes through on its way (noise, lost
            frames); default: nothing, the synthesised audio as it is.

    Returns:
        The outcome, per-turn timing and counters; see :class:`CallResult`.

    Raises:
        ScriptError: A ``play`` file is unreadable or a ``say`` produced no audio.
        ProviderError: The caller's voice is unavailable or failed.
    """
    progress = print_progress or _ignore
    if tts is None and script.texts:
        tts = default_caller_voice()
    utterances = await prepare_audio(script, tts)

    result = CallResult(call_sid=call_sid or twilio_side.new_sid("CA"))
    account_sid = twilio_side.new_sid("AC")
    webhook = f"{base_url.rstrip('/')}/twilio/voice"
    params = twilio_side.webhook_params(
        call_sid=result.call_sid, account_sid=account_sid, caller=caller, called=called
    )
    headers = (
        {"X-Twilio-Signature": twilio_side.sign(auth_token, webhook, params)} if auth_token else {}
    )
    progress(f"calling {called} from {caller}: POST {webhook}")
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, verify=_tls_context()) as http:
            response = await http.post(webhook, data=params, headers=headers)
    except httpx.HTTPError as exc:
        result.detail = f"cannot reach {webhook}: {exc!r}"
        return result
    result.http_status, result.twiml = response.status_code, response.text
    if response.status_code != httpx.codes.OK:
        result.outcome = "rejected"
        result.detail = f"webhook answered HTTP {response.status_code}"
        return result
    try:
        answer = twilio_side.parse_twiml(response.text)
    except twilio_side.WireError as exc:
        result.detail = str(exc)
        return result
    if not answer.connects:
        result.outcome = "not_connected"
        result.detail = f"TwiML did not connect a stream: {answer.describe()}"
        return result

    headers = (
        {"X-Twilio-Signature": twilio_side.sign(auth_token, answer.stream_url)}
        if auth_token
        else {}
    )
    progress(f"TwiML connects the call: opening {answer.stream_url}")
    try:
        ws = await connect(
            answer.stream_url,
            additional_headers=headers,
            compression=None,  # Twilio does not negotiate permessage-deflate
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
        )
    except InvalidStatus as exc:
        result.outcome = "rejected"
        result.http_status = exc.response.status_code
        result.detail = f"media WebSocket handshake refused with HTTP {exc.response.status_code}"
        return result
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        result.outcome = "failed"
        result.detail = f"cannot open {answer.stream_url}: {exc!r}"
        return result
    result.stream_sid = twilio_side.new_sid("MZ")
    stream = MediaStream(
        ws,
        result,
        clock=clock or MonotonicClock(),
        utterances=utterances,
        parameters=answer.parameters,
        account_sid=account_sid,
        progress=progress,
        line=line,
        voice=tts,
    )
    try:
        await stream.run(conversation or script.steps)
    finally:
        await ws.close()
    if record_to is not None:
        write_stereo_wav(record_to, result.caller_audio, result.agent_audio)
        result.recording = record_to
    return result


def _ignore(_line: str) -> None:
    pass


async def main_call(
    url: str,
    script_path: str | Path,
    record: str | Path | None = None,
    auth_token: str | None = None,
) -> int:
    """The ``dialgraph call URL --script FILE`` command: place one call, print the report.

    Returns:
        The exit status: 0 if the call connected and ended normally, 1 if it
        did not, 2 if the script or the caller's voice is unusable.
    """
    try:
        script = load_script(script_path)
        result = await place_call(
            url,
            script,
            auth_token=auth_token or None,
            record_to=Path(record) if record else None,
            print_progress=print,
        )
    except (ScriptError, ProviderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.ok else 1
