"""Understanding a turn with any LangChain chat model, through one function call.

:func:`understanding_schema` turns a flow's :class:`~.meaning.Meaning` into
the function's schema; the prompt gives the model the turn's readings, the
recogniser's confidence, what the step expects and today's date; the answer
is checked against the meaning before it becomes an
:class:`~.meaning.Understanding`. LangChain is imported only when a model is
asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from graphs.runtime.contract import CallerTurn, call_facts
from graphs.runtime.understanding.meaning import (
    Answer,
    Meaning,
    Slot,
    SlotSpec,
    Understanding,
    _words_of,
)
from spoken.words import fold

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["DEFAULT_MODEL_TIMEOUT_S", "TOOL_NAME", "ChatModelUnderstander", "understanding_schema"]

log = logging.getLogger(__name__)

TOOL_NAME = "Understanding"
DEFAULT_MODEL_TIMEOUT_S = 5.0  # a caller waits on the line: longer is dead air, not help
_PROMPT = """\
{instructions}You read one turn of a caller on a phone line and say what it means by \
calling {tool}. The words come from a speech recogniser: lower case, numbers as words, \
often misheard (a name heard as words that sound like it). Read the best reading together \
with the other readings and choose what the caller most likely meant.

Intents: the one the turn asks for, or null when it asks for none of them (a word \
mentioned is not a request: "a person at my door" does not ask for a person).
{intents}

Slots: fill only those the turn gives, and leave the rest out.
{slots}

answer: "yes" or "no" when the turn answers a yes/no question, else null. correction: true \
when the caller corrects something said before ("no, wednesday"). Every confidence is in \
[0, 1]: how sure you are, given the readings and the recogniser's confidence. heard: the \
caller's words the value came from."""
_KIND_WORDS: dict[str, str] = {
    "date": "a date, YYYY-MM-DD",
    "time": "a time of day, HH:MM, 24-hour",
    "name": "a person's name",
    "number": "a whole number",
    "text": "the caller's own words",
}
_EXPECTED: dict[str, str] = {
    "yes_no": "a yes or a no",
    "date": "a day",
    "time": "a time of day",
    "number": "a number",
    "name": "a person's name",
    "text": "anything",
}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _kind_words(spec: SlotSpec) -> str:
    if spec.kind == "choice":
        return "one of: " + ", ".join(spec.choices)
    if spec.kind == "digits":
        return f"{spec.length} digits" if spec.length else "digits"
    return _KIND_WORDS[spec.kind]


def _value_schema(spec: SlotSpec) -> dict[str, Any]:
    if spec.kind == "choice":
        return {"type": "string", "enum": list(spec.choices)}
    if spec.kind == "number":
        return {"type": "integer"}
    schema: dict[str, Any] = {"type": "string", "description": _kind_words(spec)}
    if spec.kind == "digits" and spec.length:
        schema["pattern"] = f"^[0-9]{{{spec.length}}}$"
    return schema


def _confidence_schema(of: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "description": f"how sure of {of}"}


def understanding_schema(meaning: Meaning) -> dict[str, Any]:
    """The function schema a model fills for one turn: the meaning's intents as an
    enum, each slot as an object of its value, confidence and the words heard."""
    slots = {
        name: {
            "type": "object",
            "description": spec.description,
            "properties": {
                "value": _value_schema(spec),
                "confidence": _confidence_schema("the value"),
                "heard": {"type": "string", "description": "the caller's words it came from"},
            },
            "required": ["value", "confidence", "heard"],
        }
        for name, spec in meaning.slots.items()
    }
    return {
        "title": TOOL_NAME,
        "description": "What the caller's turn means.",
        "type": "object",
        "properties": {
            "intent": {
                "type": ["string", "null"],
                "enum": [*meaning.intents, None],
                "description": "what the caller asks for, or null",
            },
            "intent_confidence": _confidence_schema("the intent"),
            "answer": {"type": ["string", "null"], "enum": ["yes", "no", None]},
            "answer_confidence": _confidence_schema("the answer"),
            "correction": {"type": "boolean"},
            "slots": {"type": "object", "properties": slots, "additionalProperties": False},
        },
        "required": ["intent", "intent_confidence", "answer", "answer_confidence", "slots"],
    }


def _system_prompt(meaning: Meaning, instructions: str) -> str:
    intents = "\n".join(
        f"- {name}: {spec.description}"
        + (
            " For example: " + "; ".join(json.dumps(e) for e in spec.examples)
            if spec.examples
            else ""
        )
        for name, spec in meaning.intents.items()
    )
    slots = "\n".join(
        f"- {name} ({_kind_words(spec)}): {spec.description}"
        for name, spec in meaning.slots.items()
    )
    lead = instructions.strip() + "\n\n" if instructions.strip() else ""
    return _PROMPT.format(
        instructions=lead, tool=TOOL_NAME, intents=intents, slots=slots or "(none)"
    )


def _expected(expecting: Mapping[str, Any] | None) -> str:
    spec = expecting or {}
    kind = str(spec.get("kind") or "")
    if kind == "choice":
        return "one of: " + ", ".join(str(c) for c in spec.get("choices") or ())
    if kind == "digits":
        size = int(spec.get("max_digits") or 0)
        return f"{size} digits" if size else "digits"
    return _EXPECTED.get(kind, "nothing in particular")


def _turn_prompt(turn: CallerTurn, expecting: Mapping[str, Any] | None, today: dt.date) -> str:
    from spoken.names import weekday_name

    lines = [
        f"Today: {weekday_name(today).title()} {today.isoformat()}",
        f"The question just asked expects: {_expected(expecting)}",
    ]
    if turn["source"] == "dtmf":
        return "\n".join([*lines, f"Keys pressed: {turn.get('digits') or turn['text']}"])
    confidence = turn.get("confidence")
    lines.append(
        "Recogniser confidence: "
        + ("not given" if confidence is None else f"{float(confidence):.2f}")
    )
    lines.append(f"Best reading: {json.dumps(turn['text'])}")
    if others := turn.get("alternatives"):
        lines.append("Other readings: " + " | ".join(json.dumps(t) for t in others))
    return "\n".join(lines)


def _unit(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def _slot_value(spec: SlotSpec, value: Any) -> str | int | None:
    """A model's value in the form the rules give, or ``None`` when it does not fit."""
    if spec.kind == "number":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    text = " ".join(str(value).split()) if isinstance(value, (str, int)) else ""
    if not text:
        return None
    if spec.kind == "date":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    if spec.kind == "time":
        m = _TIME.match(text)
        return f"{int(m.group(1)):02d}:{m.group(2)}" if m else None
    if spec.kind == "choice":
        by_words = {fold(c): c for c in spec.choices}
        return by_words.get(fold(text))
    if spec.kind == "digits":
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits if digits and (not spec.length or len(digits) == spec.length) else None
    return text.title() if spec.kind == "name" else text


class ChatModelUnderstander:
    """Any LangChain chat model as an :class:`Understander`, through structured output.

    The model gets the meaning's intents (with examples) and slots, the turn's
    best reading and other readings, the recogniser's confidence, what the
    step expects and today's date, and answers by calling one function whose
    schema is :func:`understanding_schema`. Its answer is checked against the
    meaning: an intent it does not declare, or a value that does not fit its
    slot (a date that is not a date, a choice not on the list), is left out.
    The call is tagged ``nostream``: nothing of it is spoken.

    A model that fails (network, timeout, no function call, an answer that
    does not parse) understands nothing: an :class:`Understanding` with
    intent ``None`` and confidence 0, and one warning line in the log.

    Args:
        model: The chat model (``init_chat_model("openai:gpt-4.1-mini")``).
        meaning: What the flow understands.
        instructions: A few words about the flow, put first in the prompt
            ("You answer the phone for a family practice.").
        timeout_s: How long a caller may wait for the model (``None``: no limit).
    """

    def __init__(
        self,
        model: BaseChatModel,
        meaning: Meaning,
        *,
        instructions: str = "",
        timeout_s: float | None = DEFAULT_MODEL_TIMEOUT_S,
    ) -> None:
        self.meaning = meaning
        self.schema = understanding_schema(meaning)
        self.system_prompt = _system_prompt(meaning, instructions)
        self.timeout_s = timeout_s
        try:
            structured = model.with_structured_output(self.schema, method="function_calling")
        except (TypeError, ValueError, NotImplementedError):  # a model without that method
            structured = model.with_structured_output(self.schema)
        self._model = structured.with_config(tags=["nostream"], run_name="understand")

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """Ask the model what ``turn`` means (nothing understood when it fails)."""
        from langchain_core.messages import HumanMessage, SystemMessage

        text = _words_of(turn)
        if not text:
            return Understanding(source="model", text=text)
        messages = [
            SystemMessage(self.system_prompt),
            HumanMessage(_turn_prompt(turn, expecting, today or call_facts().local_date())),
        ]
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._model.ainvoke(messages)
            return self._understanding(answer, text)
        except Exception as exc:  # any failure understands nothing; the call goes on
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            log.warning("understanding: the model failed, nothing understood (%s)", problem)
            return Understanding(source="model", text=text)

    def _understanding(self, answer: Any, text: str) -> Understanding:
        if not isinstance(answer, Mapping):
            raise ValueError(f"no {TOOL_NAME} call in the model's answer")
        intent = answer.get("intent")
        known = isinstance(intent, str) and intent in self.meaning.intents
        said = answer.get("answer")
        slots: dict[str, Slot] = {}
        for name, got in (answer.get("slots") or {}).items():
            spec = self.meaning.slots.get(name)
            if spec is None or not isinstance(got, Mapping):
                continue
            value = _slot_value(spec, got.get("value"))
            if value is not None:
                heard = got.get("heard")
                slots[name] = Slot(
                    value, _unit(got.get("confidence")), heard if isinstance(heard, str) else ""
                )
        return Understanding(
            intent=cast(str, intent) if known else None,
            intent_confidence=_unit(answer.get("intent_confidence")) if known else 0.0,
            answer=cast(Answer, said) if said in ("yes", "no") else None,
            answer_confidence=_unit(answer.get("answer_confidence"))
            if said in ("yes", "no")
            else 0.0,
            slots=slots,
            correction=answer.get("correction") is True,
            source="model",
            text=text,
        )
