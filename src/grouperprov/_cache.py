"""Cached attribute values: what a sync record remembers of a group's or entity's target form.

See :attr:`~grouperprov.ObjectConfig.cached_attributes`. Each run stores the
values in :attr:`~grouperprov.SyncRecord.links`; the next run offers them to
matching as historical matching ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from ._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership
from ._config import ObjectType
from ._match import MatchingId
from ._records import SyncRecord
from ._sources import scalar_to_str
from ._translate import Translator

__all__ = ["cached_values", "historical_ids"]

Bean = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership


def _text(bean: Bean | None, name: str) -> str | None:
    if bean is None:
        return None
    value = bean.get(name)
    if isinstance(value, frozenset):
        if len(value) != 1:
            return None
        (value,) = value
    if value is None or value == "":
        return None
    return scalar_to_str(value)


def cached_values(
    names: tuple[str, ...],
    written: Bean | None,
    seen: Bean | None,
    old: tuple[str | None, ...],
) -> tuple[str | None, ...]:
    """The values to cache: as this run wrote them, else as it read them, else as cached.

    Args:
        names: The cached attributes, in order.
        written: The object as this run wrote it (inserted or updated), if it did.
        seen: The object as the target returned it (read, or stored by an insert).
        old: The values cached so far (shorter when the configuration grew).
    """
    values: list[str | None] = []
    for index, name in enumerate(names):
        value = _text(written, name) or _text(seen, name)
        if value is None and index < len(old):
            value = old[index]
        values.append(value)
    return tuple(values)


def historical_ids(
    translator: Translator,
    object_type: ObjectType,
    records: Iterable[SyncRecord],
) -> dict[Hashable, tuple[MatchingId, ...]]:
    """Matching ids made of cached values, by Grouper id, for the matcher's historical round.

    Only the matching keys whose attributes are all cached count; a record
    lacking one of the values gives no id for that key.
    """
    config = translator.config
    section = config.groups if object_type is ObjectType.GROUP else config.entities
    position = {name: index for index, name in enumerate(section.cached_attributes)}
    keys = [key for key in section.matching if all(name in position for name in key)]
    found: dict[Hashable, tuple[MatchingId, ...]] = {}
    if not keys:
        return found
    for record in records:
        if record.object_type is not object_type or not record.links:
            continue
        ids = [
            mid
            for key in keys
            if (mid := _matching_id(translator, object_type, key, position, record.links))
        ]
        if ids:
            found[record.grouper_id] = tuple(ids)
    return found


def _matching_id(
    translator: Translator,
    object_type: ObjectType,
    key: tuple[str, ...],
    position: Mapping[str, int],
    links: tuple[str | None, ...],
) -> MatchingId | None:
    forms: list[Hashable] = []
    for name in key:
        index = position[name]
        value = links[index] if index < len(links) else None
        if value is None:
            return None
        form = translator.target_compare_form(object_type, name, value)
        if form is None:
            return None
        forms.append(form)
    return MatchingId("+".join(key), tuple(forms))
