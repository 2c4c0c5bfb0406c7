"""The graph runtime: the phone contract, the loader and the runner.

Public names are re-exported by the ``dialgraph`` package; see
``docs/graph-contract.md``.
"""
