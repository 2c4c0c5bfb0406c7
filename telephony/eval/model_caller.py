"""The caller played by a chat model, from a persona and a goal (the way hosted test suites work).

A scenario with a ``goal`` (and, optionally, a ``persona``) is played by any
LangChain chat model (``dialgraph eval --caller-model openai:gpt-4.1-mini``,
or ``DIALGRAPH_EVAL_CALLER_MODEL``; ``init_chat_model`` spells it). The
scenario's rules still answer first (the deterministic parts: a card
number, a barge-in); what no rule answers, the model does, seeing what the
agent said each turn as the caller heard it, and choosing to say something,
press keys, stay silent or hang up. Its answer comes back as structured
output (:class:`CallerTurn`, through function calling, which every
OpenAI-compatible server speaks).

The judges are the same as for a scripted caller: the outcome decides,
not the model's opinion of the call. A model that fails (a dead server, an
answer that does not parse) ends the call: the caller hangs up and the
failure says why, in one line.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from telephony.eval.caller import EXACT, MODEL_FAILED, ScriptedCaller
from telephony.eval.scenario import Action, Scenario

__all__ = ["CallerTurn", "ModelCaller", "caller_for", "load_caller_model"]

log = logging.getLogger(__name__)

_PROMPT = """\
You are playing a person who phones a business, to test its voice agent. Stay in \
character; never say you are an AI or a test.

Who you are: {persona}
What you want from this call: {goal}

Each message you get is what the agent just said, as you heard it on a phone line \
(words may be misheard; "(nothing)" means it said nothing). Answer as a caller would: \
short spoken sentences, no lists or symbols, numbers as you would say them. Give the \
details your goal needs when you are asked for them. To key digits on the phone's \
keypad, choose "press". Once your goal is met, or it clearly cannot be met, say \
goodbye; when the agent has said goodbye too, or after your goodbye, choose "hangup"."""


class CallerTurn(BaseModel):
    """What the caller does next."""

    action: Literal["say", "press", "silence", "hangup"] = Field(
        description="say: speak `text`; press: key the digits in `text`; silence: say "
        "nothing this turn; hangup: end the call"
    )
    text: str = Field(default="", description="the words to say, or the digits to key")


def load_caller_model(spec: str) -> BaseChatModel:
    """The chat model named ``spec`` (``provider:model``, as ``init_chat_model`` takes it).

    Raises:
        ValueError: ``spec`` names no provider or model that is installed.
    """
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(spec, temperature=0.3)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"caller model {spec!r}: {str(exc).splitlines()[0]}") from None


class ModelCaller(ScriptedCaller):
    """One call's caller: the scenario's rules first, then the chat model.

    Args:
        scenario: The scenario (its ``goal`` and ``persona``).
        model: The chat model playing the caller.
        similarity: How alike a rule's phrase must be to the reply's words.
    """

    def __init__(
        self, scenario: Scenario, model: BaseChatModel, *, similarity: float = EXACT
    ) -> None:
        super().__init__(scenario, similarity=similarity)
        self._model: Any = model.with_structured_output(CallerTurn, method="function_calling")
        persona = scenario.persona or "an ordinary caller, polite and a little hurried"
        self._history: list[BaseMessage] = [
            SystemMessage(_PROMPT.format(persona=persona, goal=scenario.goal))
        ]

    async def respond(self, reply: str) -> Action:
        """The caller's next action after the agent said ``reply``."""
        self._history.append(HumanMessage(reply.strip() or "(nothing)"))
        if (action := self._first_match(reply, barge_in_only=False)) is not None:
            self._remember(action)
            return action
        try:
            turn = await self._model.ainvoke(self._history)
            action = _action(turn)
        except Exception as exc:  # any failure of the model ends this call, not the run
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            log.warning("the caller's model failed: %s", problem)
            self.matched.append(f"{MODEL_FAILED}: {problem}")
            return Action(kind="hangup")
        self.matched.append(f"model: {action.describe()}")
        self._remember(action)
        return action

    def _remember(self, action: Action) -> None:
        self._history.append(AIMessage(action.describe()))


def _action(turn: Any) -> Action:
    """The model's structured answer as an action (a ``say`` with no words is a silence)."""
    if not isinstance(turn, CallerTurn):
        raise ValueError(f"expected a CallerTurn, got {type(turn).__name__}")
    text = turn.text.strip()
    if turn.action == "press":
        digits = "".join(c for c in text if c in "0123456789*#")
        if not digits:
            raise ValueError(f"press needs keys, got {text!r}")
        return Action(kind="press", text=digits)
    if turn.action == "say" and text:
        return Action(kind="say", text=text)
    return Action(kind="hangup" if turn.action == "hangup" else "silence")


def caller_for(
    scenario: Scenario, model: BaseChatModel | None, *, similarity: float = EXACT
) -> ScriptedCaller:
    """The caller for one call: the model plays a scenario with a goal, the rules any other."""
    if scenario.goal and model is not None:
        return ModelCaller(scenario, model, similarity=similarity)
    return ScriptedCaller(scenario, similarity=similarity)
