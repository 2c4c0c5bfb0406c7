"""Northwind Broadband's helpdesk: a second flow shipped with Dialgraph.

Written the way a team would write its own: ``graph.py`` is an explicit
graph (no chat model), ``agent.py`` the same helpdesk as a ``create_agent``
graph for when a chat model is configured; both use the tools in
``tools/helpdesk.py`` and the phone settings in ``settings.py``.
"""
