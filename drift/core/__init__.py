"""The pure statistics: column summaries, windows, reference profiles (and their codec), the
drift engine and its report, performance metrics, the delayed-label join, the stat tests and
``compare``.

May import: numpy, scipy, pandas, pydantic (the option models in ``options`` are plain
validated values), the standard library, ``drift.errors`` and ``drift.ports``. Nothing else of
``drift`` and no I/O: no files, sockets, web framework or SDK (tests/test_layers.py checks it).
"""
