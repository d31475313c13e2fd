"""A mapping whose values are built on access, for the millions of objects nobody looks at."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, ItemsView, Iterator, Mapping, ValuesView
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
X = TypeVar("X")


class LazyMap(Mapping[K, V], Generic[K, V, X]):
    """Values given outright, plus values built from a seed when they are asked for.

    Args:
        explicit: Values as they are.
        lazy: Seeds by key (disjoint from *explicit*); the value of a key is
            ``build(key, seed)``, built again on each access.
        build: How a value is built.
    """

    def __init__(
        self, explicit: Mapping[K, V], lazy: Mapping[K, X], build: Callable[[K, X], V]
    ) -> None:
        # (For a plain union of two disjoint mappings, see merged().)
        self.explicit = explicit
        self.lazy = lazy
        self._build = build

    def __getitem__(self, key: K) -> V:
        if key in self.explicit:
            return self.explicit[key]
        return self._build(key, self.lazy[key])

    def __iter__(self) -> Iterator[K]:
        return itertools.chain(self.explicit, self.lazy)

    def __len__(self) -> int:
        return len(self.explicit) + len(self.lazy)

    def __contains__(self, key: object) -> bool:
        return key in self.explicit or key in self.lazy


class _Merged(Mapping[K, V]):
    """Two disjoint mappings read as one, without copying either."""

    def __init__(self, first: Mapping[K, V], second: Mapping[K, V]) -> None:
        self._first = first
        self._second = second

    def __getitem__(self, key: K) -> V:
        if key in self._first:
            return self._first[key]
        return self._second[key]

    def __iter__(self) -> Iterator[K]:
        return itertools.chain(self._first, self._second)

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def __contains__(self, key: object) -> bool:
        return key in self._first or key in self._second

    def values(self) -> ValuesView[V]:
        return _MergedValues(self)

    def items(self) -> ItemsView[K, V]:
        return _MergedItems(self)


class _MergedValues(ValuesView[V]):
    def __init__(self, merged: _Merged[Any, V]) -> None:
        super().__init__(merged)
        self._merged = merged

    def __iter__(self) -> Iterator[V]:
        parts = self._merged._first, self._merged._second  # noqa: SLF001  # same module
        return itertools.chain(parts[0].values(), parts[1].values())


class _MergedItems(ItemsView[K, V]):
    def __init__(self, merged: _Merged[K, V]) -> None:
        super().__init__(merged)
        self._merged = merged

    def __iter__(self) -> Iterator[tuple[K, V]]:
        parts = self._merged._first, self._merged._second  # noqa: SLF001  # same module
        return itertools.chain(parts[0].items(), parts[1].items())


def merged(first: Mapping[K, V], second: Mapping[K, V]) -> Mapping[K, V]:
    """*first* and *second* (disjoint) as one mapping, iterated at the speed of dicts."""
    return _Merged(first, second)
