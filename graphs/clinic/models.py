"""The clinic's chat models, chosen by one setting (``DIALGRAPH_MODEL``).

- ``local`` (the default): no chat model. The clinic graph understands
  callers with its offline rules alone; ``clinic_agent`` refuses to start.
- ``openai:<model>``: OpenAI's API through ``langchain-openai`` (``OPENAI_API_KEY``).
- ``openai-compatible:<base_url>|<model>``: any server speaking the Chat
  Completions API (vLLM, llama.cpp server, Ollama), e.g.
  ``openai-compatible:http://127.0.0.1:11434/v1|llama3.1``. The key is
  ``OPENAI_API_KEY`` if set, else a placeholder (local servers ignore it).
"""

from __future__ import annotations

import functools
import os

from langchain_core.language_models import BaseChatModel
from langchain_core.utils import convert_to_secret_str

__all__ = ["ModelSpecError", "get_chat_model"]


class ModelSpecError(ValueError):
    """The model setting is not one of the documented forms."""


@functools.cache
def get_chat_model(spec: str) -> BaseChatModel | None:
    """The chat model named by ``spec``, ``None`` for ``local`` (cached: clients are reused).

    Raises:
        ModelSpecError: ``spec`` is not one of the documented forms.
    """
    if spec == "local":
        return None
    kind, _, rest = spec.partition(":")
    if kind == "openai" and rest:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=rest,
            streaming=True,
            stream_usage=True,  # token counts for the per-call budget
            temperature=0.2,
            max_retries=1,
            timeout=20,
        )
    if kind == "openai-compatible" and "|" in rest:
        from langchain_openai import ChatOpenAI

        base_url, _, model = rest.partition("|")
        return ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=convert_to_secret_str(os.environ.get("OPENAI_API_KEY") or "not-needed"),
            streaming=True,
            stream_usage=True,
            temperature=0.2,
            max_retries=1,
            timeout=20,
        )
    raise ModelSpecError(
        f"unknown model {spec!r}: use 'local', 'openai:<model>' or "
        "'openai-compatible:<base_url>|<model>'"
    )
