"""The TwiML the voice webhook answers with, built with the ``twilio`` SDK's builders.

Pure: strings in, XML out. Which answer a call gets is decided elsewhere
(:mod:`telephony.web.routes` with :mod:`telephony.admission.limits` and
:mod:`telephony.outbound.dial`). The ``<Dial>`` of a transfer is built with
its REST request (:func:`telephony.outbound.twilio_rest.transfer_twiml`),
where the target is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from telephony.wire.calltoken import TOKEN_PARAMETER

__all__ = ["connect_stream_twiml", "hang_up_twiml"]


def connect_stream_twiml(url: str, params: Mapping[str, str], token: str) -> str:
    """TwiML that connects the call to the media stream at ``url``.

    Everything the session needs travels as ``<Parameter>``s, because Twilio
    ignores a query string on the stream URL; they come back in
    ``start.customParameters``. ``token`` must be issued over ``params``: the
    session refuses a stream whose parameters differ from what it signs.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = Stream(url=url)
    for name, value in params.items():
        stream.parameter(name=name, value=value)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    connect.append(stream)
    response.append(connect)
    xml: str = response.to_xml()  # twilio is untyped
    return xml


def hang_up_twiml(message: str = "") -> str:
    """TwiML that says ``message`` (if any), then hangs up.

    For an outbound call a machine answered (the voicemail message, or
    nothing) and for a call refused at admission (its apology).
    """
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    xml: str = response.to_xml()  # twilio is untyped
    return xml
