"""A mapping whose values are built on access, for the millions of objects nobody looks at."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Generic, TypeVar

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
