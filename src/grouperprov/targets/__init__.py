"""Built-in targets.

- :class:`SqliteTableTarget`: groups and membership rows in a SQLite file, using
  only the standard library (for the demo, tests and small set-ups).
"""

from __future__ import annotations

from grouperprov.targets._table import SqliteTableTarget

__all__ = ["SqliteTableTarget"]
