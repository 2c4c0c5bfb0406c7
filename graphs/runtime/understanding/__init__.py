"""Understanding a caller turn: one pluggable step from words to an intent and slots.

How it works. A flow declares what it can understand once, as a
:class:`Meaning` (its intents with a line and a few example sentences, its
slots with a kind: a date, a time, a choice among names, N digits...). An
:class:`Understander` turns one :class:`~graphs.runtime.contract.CallerTurn`
(its words, the recogniser's confidence and other readings) into an
:class:`Understanding`: an intent, a yes or a no, and slot values, each with a
confidence in [0, 1] and the words it came from. Three understanders:

- :class:`RuleUnderstander` wraps a flow's own offline function (pure, sync,
  no key). Its confidences say how a value was found (:data:`EXACT` phrase,
  :data:`INFERRED` from what the step asked, :data:`FUZZY` spelling or sound)
  and are scaled by the recogniser's confidence; the recogniser's other
  readings are read too, a little less trusted, for what the best one lacked.
  :func:`match_choice` (known names against every reading, by spelling and by
  sound) and :func:`yes_no` (a yes or a no in its many spoken forms) are the
  offline helpers any flow can use in such a function.
- :class:`ChatModelUnderstander` asks any LangChain chat model, through a
  function call whose schema is built from the :class:`Meaning`. A failing
  model (network, timeout, an answer that does not parse) understands
  nothing and says so in one log line: it never raises into the graph.
- :class:`Mixed` reads with the rules first and asks the model only when the
  rules are unsure, so a flow stays fast and keyless where rules suffice.

Everything here is flow-agnostic: it names no flow, and a graph calls it from
a node (``await understander.understand(turn, expecting=spec)``). The results
are plain frozen dataclasses of strings and numbers; :meth:`Understanding.as_dict`
gives the JSON form to keep in a graph's state.

The modules, one concern each, imported one way (each imports only
``meaning``, never another of its siblings):

- ``meaning``: the types and the protocols (what was understood, what a flow
  can understand, the confidences, :class:`Understander`, :class:`RuleFunction`).
- ``understanders``: :class:`RuleUnderstander` and :class:`Mixed`, no model.
- ``answers``: :func:`yes_no`.
- ``choices``: :func:`match_choice` and its sound code.
- ``chat_model``: :class:`ChatModelUnderstander`, its prompt and
  :func:`understanding_schema`.
"""

from graphs.runtime.understanding.answers import yes_no
from graphs.runtime.understanding.chat_model import ChatModelUnderstander, understanding_schema
from graphs.runtime.understanding.choices import match_choice
from graphs.runtime.understanding.meaning import (
    EXACT,
    FUZZY,
    INFERRED,
    Answer,
    IntentSpec,
    Meaning,
    RuleFunction,
    Slot,
    SlotKind,
    SlotSpec,
    Understander,
    Understanding,
)
from graphs.runtime.understanding.understanders import Mixed, RuleUnderstander

__all__ = [
    "EXACT",
    "FUZZY",
    "INFERRED",
    "Answer",
    "ChatModelUnderstander",
    "IntentSpec",
    "Meaning",
    "Mixed",
    "RuleFunction",
    "RuleUnderstander",
    "Slot",
    "SlotKind",
    "SlotSpec",
    "Understander",
    "Understanding",
    "match_choice",
    "understanding_schema",
    "yes_no",
]
