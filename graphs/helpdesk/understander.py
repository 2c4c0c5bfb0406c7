"""Which understander the explicit helpdesk graph reads a caller's turn with.

By default the helpdesk's offline rules alone (:data:`graphs.helpdesk.meaning.RULES`):
no key, no network, the same words give the same reading. When
``DIALGRAPH_HELPDESK_MODEL`` is set (``provider:model`` as
``init_chat_model`` takes it, e.g. ``openai:gpt-4.1-mini``, with the
provider's usual key), the rules read every turn first and that chat model
is asked only for the spoken turns the rules did not understand with at
least :data:`MODEL_BELOW` confidence (``dialgraph.Mixed``). It is the same
setting that names the model of the ``create_agent`` variant (``agent.py``),
but here it is never defaulted: unset or empty, the graph stays offline.

The understander is built once per process and setting (:func:`understander`
caches it, so every turn reuses the model's client), and :func:`check_setting`
builds it at start-up, so an unknown provider or a missing key stops the
service with a message that names the setting, not the first caller's turn.
"""

from __future__ import annotations

import functools
import os

from dialgraph import ChatModelUnderstander, Mixed, Understander
from graphs.helpdesk.meaning import MEANING, RULES

__all__ = [
    "INSTRUCTIONS",
    "MODEL_BELOW",
    "MODEL_ENV",
    "ModelSettingError",
    "check_setting",
    "model_name",
    "understander",
]

MODEL_ENV = "DIALGRAPH_HELPDESK_MODEL"
MODEL_BELOW = 0.6  # dialgraph.Mixed's own default: the model is asked for the turns the
# rules missed or read only through a poor recogniser, not for every turn (a caller waits)
INSTRUCTIONS = (
    "You answer the phone for Northwind Broadband, an internet provider: callers ask "
    "about outages by ZIP code, about repair tickets by their six-digit number, open a "
    "ticket for a fault at home, or ask for a person."
)
"""What the model is told about the flow, first in its prompt."""


class ModelSettingError(ValueError):
    """``DIALGRAPH_HELPDESK_MODEL`` names no chat model that can be built here."""


def model_name() -> str:
    """The chat model named by ``DIALGRAPH_HELPDESK_MODEL``; ``""`` (rules only) when unset."""
    return os.environ.get(MODEL_ENV, "").strip()


@functools.cache
def _understander_for(name: str) -> Understander:
    if not name:
        return RULES
    from langchain.chat_models import init_chat_model

    try:
        # temperature 0: the same turn should be read the same way every time
        model = init_chat_model(name, temperature=0)
    except Exception as exc:  # unknown provider, missing package or key: all the setting's
        problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise ModelSettingError(
            f"{MODEL_ENV}={name!r} names no chat model that can be built here ({problem}). "
            "Use provider:model as init_chat_model takes it (e.g. openai:gpt-4.1-mini, "
            "with the provider's key), or unset it to read turns with the offline rules."
        ) from exc
    return Mixed(RULES, ChatModelUnderstander(model, MEANING, instructions=INSTRUCTIONS))


def understander() -> Understander:
    """The explicit graph's understander for the current setting (built once, then reused).

    Raises:
        ModelSettingError: The setting names a model that cannot be built.
    """
    return _understander_for(model_name())


def check_setting() -> None:
    """Build the understander now (start-up), so a wrong setting stops the service.

    Raises:
        ModelSettingError: The setting names a model that cannot be built.
    """
    understander()
