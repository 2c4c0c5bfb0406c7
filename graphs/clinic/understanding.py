"""Which understander reads a clinic caller's turn: the rules, and a chat model if one is set.

Every turn is read by the clinic's offline rules (:func:`graphs.clinic.meaning.reader`,
told what the last reply asked for). When ``DIALGRAPH_MODEL`` names a chat
model, ``dialgraph.Mixed`` asks it too, for the turns the rules were unsure
of (an intent or a value below :data:`ASK_MODEL_BELOW`), with the clinic's
:data:`~graphs.clinic.meaning.MEANING` as its schema; the surer reading of
each part wins, and a model that fails or is slow leaves the rules' reading
as it was. Without a model (``local``, the default) nothing leaves the
machine and no key is needed.
"""

from __future__ import annotations

import functools

from dialgraph import ChatModelUnderstander, Mixed, RuleUnderstander, Understander
from graphs.clinic.meaning import MEANING, reader
from graphs.clinic.models import get_chat_model
from graphs.clinic.nlu import Expect

__all__ = ["ASK_MODEL_BELOW", "INSTRUCTIONS", "understander"]

ASK_MODEL_BELOW = 0.6
"""The rules' confidence under which the chat model is asked as well."""

INSTRUCTIONS = (
    "You read what callers say to a medical clinic's receptionist on the phone. "
    "The words come from speech recognition: lower case, numbers as words, "
    "names and words misheard as others that sound alike."
)


@functools.cache
def _rules(expect: Expect | None) -> RuleUnderstander:
    return RuleUnderstander(reader(expect))


@functools.cache
def _model(spec: str) -> ChatModelUnderstander | None:
    chat = get_chat_model(spec)
    return None if chat is None else ChatModelUnderstander(chat, MEANING, instructions=INSTRUCTIONS)


def understander(model: str, expect: Expect | None) -> Understander:
    """The understander for a turn: the rules told ``expect``, mixed with the chat model
    ``model`` names (a ``DIALGRAPH_MODEL`` value) unless it is ``local``.

    Raises:
        ModelSpecError: ``model`` is not one of the documented forms.
    """
    rules = _rules(expect)
    asked = _model(model)
    return rules if asked is None else Mixed(rules, asked, below=ASK_MODEL_BELOW)
