"""The Riverside Family Clinic receptionist: a worked example of a Dialgraph flow.

Two graphs share the clinic's tools, words and phone settings:

- ``graph.py`` (langgraph.json id ``clinic``, the default): an explicit
  LangGraph, one node per step, the stage and the booking details in typed
  state (``state.py``); ``policy.py`` decides what a turn asks for and what a
  task needs next, ``reading.py`` reads a turn with the clinic's offline
  NLU (``nlu.py``, ``answers.py``), ``replies.py``, ``words.py``,
  ``phrases.py`` and ``results.py`` say things. It needs no key.
- ``agent.py`` (id ``clinic_agent``): the same tools driven by a chat model
  named by ``DIALGRAPH_MODEL`` (``models.py``).

``settings.py`` holds the phone settings (``lifecycle.py`` their hooks,
``greeting.py`` the greeting, ``vocabulary.py`` the words the recogniser is
built for), ``context.py`` the per-call run context, ``meaning.py`` the
clinic's intents and slots for :mod:`dialgraph`'s understanding step,
``demo.toml`` the demo caller's script and ``evals/`` the simulated callers.
"""
