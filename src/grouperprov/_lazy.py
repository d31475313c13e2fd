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


def _seed(_key: object, seed: V) -> V:
    return seed


class _Merged(LazyMap[K, V, V]):
    """Two disjoint mappings read as one, without copying either.

    A :class:`LazyMap` whose seeds are the values themselves, so values and
    items are iterated straight from the two mappings.
    """

    def __init__(self, first: Mapping[K, V], second: Mapping[K, V]) -> None:
        super().__init__(first, second, _seed)

    def values(self) -> ValuesView[V]:
        return _MergedValues(self)

    def items(self) -> ItemsView[K, V]:
        return _MergedItems(self)


class _MergedValues(ValuesView[V]):
    def __init__(self, merged: _Merged[Any, V]) -> None:
        super().__init__(merged)
        self._merged = merged

    def __iter__(self) -> Iterator[V]:
        return itertools.chain(self._merged.explicit.values(), self._merged.lazy.values())


class _MergedItems(ItemsView[K, V]):
    def __init__(self, merged: _Merged[K, V]) -> None:
        super().__init__(merged)
        self._merged = merged

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return itertools.chain(self._merged.explicit.items(), self._merged.lazy.items())


def merged(first: Mapping[K, V], second: Mapping[K, V]) -> Mapping[K, V]:
    """*first* and *second* (disjoint) as one mapping, iterated at the speed of dicts."""
    return _Merged(first, second)
