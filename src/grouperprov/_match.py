"""Matching: pairing translated Grouper objects with target objects.

Each object type has ordered matching keys (one attribute, or several for a
composite key). An object's *matching id* for a key is the key's name and the
compare forms of its attributes' values (case folded where the attribute is case
insensitive), or nothing when a value is missing.

The rules, applied key by key in order, then to target links (the target id
a sync record keeps), then to historical values:

1. A translated object and a target object are paired only when they are the
   only two objects (one per side, among those not yet paired or set aside)
   with a matching id.
2. Two or more translated objects with the same matching id all get MAT; so
   does one translated object whose matching id several target objects have.
   The target objects involved are set aside, never treated as extra (so
   never deleted because of an ambiguity). Two or more target objects sharing
   a matching id that no translated object has take no part in later keys
   either (the mirror of MAT); a target link may still pair one of them. At
   the end those left are extra (candidates for delete, as the delete policy
   says) when no translated object answers to any of their matching ids, or
   has one of them as a historical value; otherwise they stay set aside.
3. A translated object with no matching id at all gets MAT; a target object
   with none is set aside, unless a target link leads to it: then it is
   paired through the link (its values were blanked in the target; the
   update gives them back).
4. Objects paired, given MAT or set aside take no part in later keys.
5. A single-valued attribute that holds several values on one side (an LDAP
   entry's ``cn`` with an alias, a person with two ``uid`` values) matches
   by any of them: after each key's round, such objects are paired with the
   one free object whose matching id is one of their values, when each is
   the other's only candidate; otherwise both get MAT or are set aside, as in
   rule 2. The update that follows gives the attribute its one value.

Pairing therefore never uses an object twice, and swapping the two sides gives
the same pairs, reversed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

import attrs

from ._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership, Scalar
from ._codes import ObjectError, SyncErrorCode
from ._config import MatchingKey, ObjectType
from ._translate import Translator

__all__ = ["LINK_KEY", "MatchResult", "Matcher", "MatchingId"]

IdT = TypeVar("IdT", bound=Hashable)
TargetIdT = TypeVar("TargetIdT", bound=Hashable)
_K = TypeVar("_K", bound=Hashable)
Bean = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership


LINK_KEY = "target link"
"""The key of a :class:`MatchingId` that paired an object through its target link."""


@attrs.frozen
class MatchingId:
    """One matching id: which key, and the compare forms of its values.

    Attributes:
        key: The key's name (``"cn"``, or ``"cn+ou"`` for a composite key).
        values: The compare forms of the key's attribute values, in key order.
    """

    key: str
    values: tuple[Hashable, ...]

    def __str__(self) -> str:
        shown = ", ".join(repr(v) for v in self.values)
        return f"{self.key}={shown}" if len(self.values) == 1 else f"{self.key}=({shown})"


@attrs.frozen(kw_only=True)
class MatchResult(Generic[IdT, TargetIdT]):
    """The outcome of matching one object type.

    Attributes:
        pairs: Translated object id -> the target object id it is paired with.
        matched_by: Translated object id -> the matching id that paired it.
        unmatched_translated: Translated objects with no counterpart (candidates
            for insert), in input order.
        unmatched_target: Target objects with no counterpart (candidates for
            delete), in input order.
        errors: MAT errors by translated object id.
        set_aside: Target objects left out of pairing, with the reason: neither
            paired nor to be treated as extra.
    """

    pairs: Mapping[IdT, TargetIdT]
    matched_by: Mapping[IdT, MatchingId]
    unmatched_translated: tuple[IdT, ...]
    unmatched_target: tuple[TargetIdT, ...]
    errors: Mapping[IdT, ObjectError]
    set_aside: Mapping[TargetIdT, str]


def _key_name(key: MatchingKey) -> str:
    return "+".join(key)


class Matcher:
    """Matching ids, search keys and pairing for one object type.

    Args:
        translator: The compiled configuration (for compare forms).
        object_type: Groups, entities or memberships.
    """

    def __init__(self, translator: Translator, object_type: ObjectType) -> None:
        config = translator.config
        section = (
            config.groups
            if object_type is ObjectType.GROUP
            else config.entities
            if object_type is ObjectType.ENTITY
            else config.memberships
        )
        self._translator = translator
        self._object_type = object_type
        self._keys: tuple[MatchingKey, ...] = section.matching
        self._search: tuple[str, ...] = section.search

    @property
    def keys(self) -> tuple[str, ...]:
        """The names of the matching keys, in order."""
        return tuple(_key_name(k) for k in self._keys)

    def matching_ids(self, bean: Bean) -> tuple[MatchingId | None, ...]:
        """One matching id per key, in key order; ``None`` where a value is missing."""
        ids: list[MatchingId | None] = []
        for key in self._keys:
            values: list[Hashable] = []
            for name in key:
                form = self._translator.compare_form(self._object_type, name, bean.get(name))
                if form is None:
                    break
                values.append(form)
            else:
                ids.append(MatchingId(_key_name(key), tuple(values)))
                continue
            ids.append(None)
        return tuple(ids)

    def ids_answered(self, bean: Bean) -> set[MatchingId]:
        """Every matching id *bean* can be paired by (a set, in no order).

        Its own ids, and for an attribute that holds several values, one per
        value (rule 5).
        """
        answered: set[MatchingId] = set()
        for mid in self.matching_ids(bean):
            if mid is not None:
                answered.update(self._alternatives(mid) or (mid,))
        return answered

    def search_keys(self, bean: Bean) -> tuple[tuple[str, Scalar], ...]:
        """The (attribute, value) pairs a target can look *bean* up by, in order.

        Only configured search attributes with one non-empty value are given,
        as the bean holds them (not case folded).
        """
        keys: list[tuple[str, Scalar]] = []
        for name in self._search:
            value = bean.get(name)
            if isinstance(value, frozenset):
                if len(value) != 1:
                    continue
                (value,) = value
            if value is None or value == "":
                continue
            keys.append((name, value))
        return tuple(keys)

    def match(
        self,
        translated: Mapping[IdT, Bean],
        target: Mapping[TargetIdT, Bean],
        *,
        historical: Mapping[IdT, Iterable[MatchingId]] | None = None,
        linked: Mapping[IdT, TargetIdT] | None = None,
    ) -> MatchResult[IdT, TargetIdT]:
        """Pair translated objects with target objects (see the module rules).

        Args:
            translated: Translated beans by their (Grouper) id.
            target: Target beans (normalised) by their target id.
            historical: Earlier matching ids of translated objects (cached values,
                to follow a rename); tried after every current key.
            linked: Target links of translated objects (the target id their sync
                record keeps), tried after every current key and before
                historical values: an object whose current values match
                nothing, such as a renamed group, is paired with the target
                object it was last synced to, if that is still there and free
                (or set aside only for having no matching value). Two objects
                linked to the same target object both get MAT.
        """
        t_ids = {tid: self.matching_ids(bean) for tid, bean in translated.items()}
        g_ids = {gid: self.matching_ids(bean) for gid, bean in target.items()}
        state = _State[IdT, TargetIdT]()
        for tid, ids in t_ids.items():
            if all(i is None for i in ids):
                state.errors[tid] = ObjectError(
                    SyncErrorCode.MAT,
                    f"no value for any matching key ({', '.join(self.keys) or 'none configured'})",
                )
        unkeyed: set[TargetIdT] = set()
        for gid, ids in g_ids.items():
            if all(i is None for i in ids):
                state.set_aside[gid] = "no value for any matching key"
                unkeyed.add(gid)
        for position in range(len(self._keys)):
            state.pair_round(
                {t: ids[position] for t, ids in t_ids.items() if ids[position] is not None},
                {g: ids[position] for g, ids in g_ids.items() if ids[position] is not None},
            )
            self._several_values_round(state, position, t_ids, g_ids)
        if linked:
            state.linked_round(linked, translated, target, unkeyed | state.unclaimed)
        if historical:
            target_index: dict[MatchingId, TargetIdT | None] = {}
            for gid, ids in g_ids.items():
                for mid in ids:
                    if mid is not None:
                        # A historical value must lead to exactly one target object.
                        target_index[mid] = None if mid in target_index else gid
            candidates: dict[IdT, tuple[MatchingId, ...]] = {
                t: tuple(historical.get(t, ())) for t in t_ids
            }
            state.historical_round(candidates, target_index)
        if state.unclaimed:
            self._release_unclaimed(state, t_ids, g_ids, historical or {})
        return MatchResult(
            pairs=state.pairs,
            matched_by=state.matched_by,
            unmatched_translated=tuple(t for t in t_ids if state.free_translated(t)),
            unmatched_target=tuple(g for g in g_ids if state.free_target(g)),
            errors=state.errors,
            set_aside=state.set_aside,
        )

    def _release_unclaimed(
        self,
        state: _State[IdT, TargetIdT],
        t_ids: Mapping[IdT, tuple[MatchingId | None, ...]],
        g_ids: Mapping[TargetIdT, tuple[MatchingId | None, ...]],
        historical: Mapping[IdT, Iterable[MatchingId]],
    ) -> None:
        """Rule 2: shared values no translated object has; the objects left are extra.

        Found by editing a target by hand: two rows of one membership, whose
        group then left Grouper, were set aside in every run and never
        deleted, under every delete policy. An object stays set aside when a
        translated object could be its counterpart: one answers to one of its
        matching ids, on any key, or had one of them.
        """
        claimed: set[MatchingId] = set()
        for tid, ids in t_ids.items():
            for mid in ids:
                if mid is not None:
                    claimed.update(self._alternatives(mid) or (mid,))
            claimed.update(historical.get(tid, ()))
        for gid in state.unclaimed:
            answered = (
                one
                for mid in g_ids[gid]
                if mid is not None
                for one in self._alternatives(mid) or (mid,)
            )
            if claimed.isdisjoint(answered):
                del state.set_aside[gid]

    @staticmethod
    def _alternatives(mid: MatchingId | None) -> tuple[MatchingId, ...]:
        """The ids *mid* stands for when an attribute holds several values; else ().

        Matching attributes are single-valued (the configuration checks it):
        a set is what an object read from the target holds instead of one value.
        """
        if mid is None:
            return ()
        options: list[list[Hashable]] = []
        several = False
        for value in mid.values:
            if isinstance(value, frozenset):
                several = True
                options.append(sorted(value, key=repr))
            else:
                options.append([value])
        if not several or math.prod(map(len, options)) > _MOST_ALTERNATIVES:
            return ()
        return tuple(MatchingId(mid.key, combo) for combo in itertools.product(*options))

    def _several_values_round(
        self,
        state: _State[IdT, TargetIdT],
        position: int,
        t_ids: Mapping[IdT, tuple[MatchingId | None, ...]],
        g_ids: Mapping[TargetIdT, tuple[MatchingId | None, ...]],
    ) -> None:
        """Rule 5: pair objects through the values of an attribute that holds several."""
        # Found with set operations (in C): most objects are paired by now.
        t_left = t_ids.keys() - state.pairs.keys() - state.errors.keys()
        g_left = g_ids.keys() - state.taken - state.set_aside.keys()
        if not t_left or not g_left:
            return  # from empty, or everything paired
        # In input order, so that what is reported is the same every run.
        t_free = {t: ids[position] for t, ids in t_ids.items() if t in t_left}
        g_free = {g: ids[position] for g, ids in g_ids.items() if g in g_left}
        t_alt = {t: a for t, mid in t_free.items() if (a := self._alternatives(mid))}
        g_alt = {g: a for g, mid in g_free.items() if (a := self._alternatives(mid))}
        if not t_alt and not g_alt:
            return  # the usual case: one value each
        # Free target objects by each id they answer to; (object, answered as several).
        index: dict[MatchingId, list[tuple[TargetIdT, bool]]] = {}
        for g, mid in g_free.items():
            for one in g_alt.get(g) or ((mid,) if mid is not None else ()):
                index.setdefault(one, []).append((g, g in g_alt))
        found: dict[IdT, dict[TargetIdT, MatchingId]] = {}
        claimed: dict[TargetIdT, list[IdT]] = {}
        for t, mid in t_free.items():
            several = t in t_alt
            for one in t_alt.get(t) or ((mid,) if mid is not None else ()):
                for g, g_several in index.get(one, ()):
                    if (several or g_several) and g not in found.get(t, {}):
                        found.setdefault(t, {})[g] = one
                        claimed.setdefault(g, []).append(t)
        for t, targets in found.items():
            if len(targets) == 1:
                ((g, one),) = targets.items()
                if len(claimed[g]) == 1:
                    state.pair(t, g, one)
                    continue
                shown = ", ".join(repr(c) for c in claimed[g])
                why = f"the matching values of {len(claimed[g])} objects ({shown}) lead to {g!r}"
            else:
                shown = ", ".join(repr(g) for g in targets)
                why = f"its matching values lead to {len(targets)} target objects ({shown})"
            state.errors[t] = ObjectError(SyncErrorCode.MAT, why)
        for g, claimants in claimed.items():
            if len(claimants) > 1 or len(found[claimants[0]]) > 1:
                state.set_aside[g] = "matching values of several objects lead to it"


# Of an attribute that holds several values: more combinations than this are not tried.
_MOST_ALTERNATIVES = 64


@attrs.define
class _State(Generic[IdT, TargetIdT]):
    pairs: dict[IdT, TargetIdT] = attrs.Factory(dict)
    matched_by: dict[IdT, MatchingId] = attrs.Factory(dict)
    errors: dict[IdT, ObjectError] = attrs.Factory(dict)
    set_aside: dict[TargetIdT, str] = attrs.Factory(dict)
    # Set aside for sharing a matching id no translated object has (and nothing since).
    unclaimed: set[TargetIdT] = attrs.Factory(set)
    _taken: set[TargetIdT] = attrs.Factory(set)

    @property
    def taken(self) -> set[TargetIdT]:
        """The target objects paired so far."""
        return self._taken

    def free_translated(self, tid: IdT) -> bool:
        return tid not in self.pairs and tid not in self.errors

    def free_target(self, gid: TargetIdT) -> bool:
        return gid not in self._taken and gid not in self.set_aside

    def pair_round(
        self,
        translated: Mapping[IdT, MatchingId | None],
        target: Mapping[TargetIdT, MatchingId | None],
    ) -> None:
        """Pair on one key; the mappings give each object's matching id for it."""
        t_index, t_shared = self._index(translated, self.pairs, self.errors)
        g_index, g_shared = self._index(target, self._taken, self.set_aside)
        for mid, tid in t_index.items():
            gid = g_index.get(mid)
            if gid is None and mid not in t_shared:
                continue  # one Grouper object, nothing in the target: it stays free
            gids = g_shared.get(mid) or ([] if gid is None else [gid])
            self._settle(mid, t_shared.get(mid) or [tid], gids)
        for mid, gids in g_shared.items():
            if mid not in t_index:
                # The mirror of two translated objects sharing an id (MAT): the
                # target objects take no part in later keys (see rule 2).
                for gid in gids:
                    self.set_aside[gid] = (
                        f"matching value {mid} is shared by {len(gids)} target objects"
                    )
                    self.unclaimed.add(gid)

    @staticmethod
    def _index(
        ids: Mapping[_K, MatchingId | None], *taken: Collection[_K]
    ) -> tuple[dict[MatchingId, _K], dict[MatchingId, list[_K]]]:
        """The free objects by matching id: the first of each, and all of those shared.

        Most ids belong to one object: no list is made for those.
        """
        first: dict[MatchingId, _K] = {}
        shared: dict[MatchingId, list[_K]] = {}
        one, two = taken
        for key, mid in ids.items():
            if mid is None or key in one or key in two:
                continue
            found = first.setdefault(mid, key)
            if found is not key:  # setdefault gives back the key it was passed when new
                shared.setdefault(mid, [found]).append(key)
        return first, shared

    def linked_round(
        self,
        linked: Mapping[IdT, TargetIdT],
        translated: Mapping[IdT, object],
        present: Mapping[TargetIdT, object],
        linkable: Collection[TargetIdT],
    ) -> None:
        """Pair through target links.

        *linkable*: target objects set aside that a link may still lead to (for
        lack of any value, or for sharing one no translated object has).
        """
        claims: dict[TargetIdT, list[tuple[IdT, MatchingId]]] = {}
        for tid, gid in linked.items():
            if (
                tid in translated
                and self.free_translated(tid)
                and gid in present
                and (self.free_target(gid) or gid in linkable)
            ):
                claims.setdefault(gid, []).append((tid, MatchingId(LINK_KEY, (gid,))))
        self._award(claims, "the target links", "the target link of {n} objects")

    def historical_round(
        self,
        candidates: Mapping[IdT, tuple[MatchingId, ...]],
        target_index: Mapping[MatchingId, TargetIdT | None],
    ) -> None:
        claims: dict[TargetIdT, list[tuple[IdT, MatchingId]]] = {}
        for tid, mids in candidates.items():
            if not self.free_translated(tid) or not mids:
                continue
            found: dict[TargetIdT, MatchingId] = {}
            for mid in mids:
                if mid in target_index and target_index[mid] is None:
                    self.errors[tid] = ObjectError(
                        SyncErrorCode.MAT,
                        f"historical matching value {mid} matches several target objects",
                    )
                    break
                gid = target_index.get(mid)
                if gid is not None and self.free_target(gid):
                    found.setdefault(gid, mid)
            else:
                if len(found) > 1:
                    shown = ", ".join(repr(g) for g in found)
                    self.errors[tid] = ObjectError(
                        SyncErrorCode.MAT,
                        f"historical matching values match {len(found)} target objects ({shown})",
                    )
                elif found:
                    (gid,) = found
                    claims.setdefault(gid, []).append((tid, found[gid]))
        self._award(
            claims, "historical matching values", "claimed by the historical values of {n} objects"
        )

    def pair(self, tid: IdT, gid: TargetIdT, mid: MatchingId) -> None:
        self.pairs[tid] = gid
        self.matched_by[tid] = mid
        self._taken.add(gid)

    def _award(
        self,
        claims: Mapping[TargetIdT, list[tuple[IdT, MatchingId]]],
        what: str,
        aside: str,
    ) -> None:
        """Pair each target object claimed once; several claims are MAT, and it is set aside."""
        for gid, claimants in claims.items():
            self.unclaimed.discard(gid)
            if len(claimants) == 1:
                ((tid, mid),) = claimants
                self.pair(tid, gid, mid)
                self.set_aside.pop(gid, None)  # set aside, and a link leads to it
                continue
            shown = ", ".join(repr(t) for t, _ in claimants)
            for tid, _ in claimants:
                self.errors[tid] = ObjectError(
                    SyncErrorCode.MAT,
                    f"{what} of {len(claimants)} objects ({shown}) "
                    f"lead to the same target object {gid!r}",
                )
            self.set_aside[gid] = aside.format(n=len(claimants))

    def _settle(self, mid: MatchingId, tids: list[IdT], gids: list[TargetIdT]) -> None:
        if len(tids) > 1:
            shown = ", ".join(repr(t) for t in tids)
            for tid in tids:
                self.errors[tid] = ObjectError(
                    SyncErrorCode.MAT,
                    f"matching value {mid} is shared by {len(tids)} Grouper objects ({shown})",
                )
            for gid in gids:
                self.set_aside[gid] = (
                    f"matching value {mid} is shared by {len(tids)} Grouper objects"
                )
        elif len(gids) > 1:
            (tid,) = tids
            shown = ", ".join(repr(g) for g in gids)
            self.errors[tid] = ObjectError(
                SyncErrorCode.MAT,
                f"matching value {mid} matches {len(gids)} target objects ({shown})",
            )
            for gid in gids:
                self.set_aside[gid] = f"matching value {mid} matches several target objects"
        elif gids:
            (tid,) = tids
            (gid,) = gids
            self.pair(tid, gid, mid)
