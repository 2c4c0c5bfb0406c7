"""``python -m telephony.cli``: the ``dialgraph`` command."""

from telephony.cli.main import main

raise SystemExit(main())
