"""Dialogue memory: where a call's state and what outlives it are kept.

- :mod:`memory.checkpointer`: ``open_checkpointer`` (SQLite file by default,
  Postgres when a database URL is set), ``make_checkpointer`` for
  ``langgraph.json``, ``prune_checkpoints``.
- :mod:`memory.store`: ``open_store``, ``make_store`` and ``CallerMemory``
  (name, last visit... per phone number).
- :mod:`memory.window`: ``windowed_messages(n)``, the bounded ``messages``
  reducer that keeps every turn's cost flat.
- :mod:`memory.transcripts`: the append-only, redacted per-call transcript;
  picks the backend (JSON-lines files, :mod:`memory.transcripts_file`; rows in
  Postgres, :mod:`memory.transcripts_pg`), both built on
  :mod:`memory.transcripts_base`, which imports neither.

Nothing here imports ``telephony`` or ``graphs``. Submodules are not
re-exported, so ``langgraph.json`` can load ``memory/checkpointer.py`` alone.
"""
