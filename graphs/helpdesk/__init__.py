"""Northwind Broadband's helpdesk: a second flow shipped with Dialgraph.

Written the way a team would write its own: ``graph.py`` is an explicit
graph that reads each turn through Dialgraph's understanding step (the
offline rules of ``intents.py`` as ``meaning.RULES``; a chat model after
them only when ``DIALGRAPH_HELPDESK_MODEL`` is set, see ``understander.py``),
``agent.py`` the same helpdesk as a ``create_agent`` graph for when a chat
model is configured; both use the tools in ``tools/helpdesk.py`` and the
phone settings in ``settings.py``.
"""
