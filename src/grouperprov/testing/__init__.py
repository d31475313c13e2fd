"""Tools for testing provisioners, targets and configurations.

``grouperprov.testing.strategies`` holds Hypothesis strategies for beans and
configurations; it needs the ``testing`` extra (``pip install grouperprov[testing]``).
"""

from __future__ import annotations

__all__: list[str] = []
