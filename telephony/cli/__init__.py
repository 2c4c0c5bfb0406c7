"""The ``dialgraph`` command line: serve, call, demo, new, dial, transcript, rekey.

``main`` is re-exported so the console script (``telephony.cli:main``) and
``python -m telephony.cli`` stay the entry points.
"""

from telephony.cli.main import main

__all__ = ["main"]
