"""The Riverside Family Clinic receptionist as an explicit LangGraph (issue 15).

``graph.py`` is the flow (one node per step, the stage and the booking
details in typed state, ``state.py``); ``policy.py`` decides what a turn
asks for and what a task needs next; ``reading.py`` reads a turn;
``replies.py`` and ``results.py`` say things. It reuses the old clinic's
NLU, words, tools and phone settings (``graphs.voice_agent``), which it is
to replace.
"""
