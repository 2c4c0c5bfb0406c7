"""Tests for telephony.wire.twiml: the webhook's answers, read back as Twilio would."""

import xml.etree.ElementTree as ET

from telephony.wire.calltoken import TOKEN_PARAMETER
from telephony.wire.twiml import connect_stream_twiml, hang_up_twiml


def test_connect_stream_carries_every_parameter_and_the_token_last() -> None:
    params = {"caller": "+14155550100", "called": "+14155550199", "direction": "inbound"}
    root = ET.fromstring(connect_stream_twiml("wss://example.test/twilio/media", params, "tok"))
    assert [child.tag for child in root] == ["Connect"]
    connect = root.find("Connect")
    assert connect is not None
    (stream,) = list(connect)
    assert stream.tag == "Stream" and stream.attrib["url"] == "wss://example.test/twilio/media"
    sent = [(p.attrib["name"], p.attrib["value"]) for p in stream.findall("Parameter")]
    assert sent == [*params.items(), (TOKEN_PARAMETER, "tok")]


def test_hang_up_says_the_message_first_or_nothing() -> None:
    said = ET.fromstring(hang_up_twiml("Please call back later."))
    assert [(child.tag, child.text) for child in said] == [
        ("Say", "Please call back later."),
        ("Hangup", None),
    ]
    assert [child.tag for child in ET.fromstring(hang_up_twiml())] == ["Hangup"]
