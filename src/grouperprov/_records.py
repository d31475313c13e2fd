"""Sync records: what grouperprov knows of each object between runs."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

import attrs

from ._config import ObjectType

__all__ = ["SyncRecord"]


@attrs.frozen(kw_only=True)
class SyncRecord:
    """The state grouperprov keeps for one group, entity or membership.

    Attributes:
        object_type: Which kind of object.
        grouper_id: Grouper's id (a membership's is ``(group_id, entity_id)``).
        target_id: The target's id of the object (its target link), if known.
        provisionable: Whether Grouper wants the object in the target now.
        provisionable_start: When it last became provisionable; ``None`` if it
            never was (Grouper never knew it as provisionable).
        provisionable_end: When it stopped being provisionable.
        in_target: Whether the object is in the target.
        in_target_start: When it was last seen arriving in the target.
        in_target_end: When it was last seen leaving the target.
        inserted_by_us: Whether grouperprov inserted it (``False``: it was
            there before, or someone else put it there).
    """

    object_type: ObjectType
    grouper_id: Hashable
    target_id: Hashable | None = None
    provisionable: bool = False
    provisionable_start: datetime | None = None
    provisionable_end: datetime | None = None
    in_target: bool = False
    in_target_start: datetime | None = None
    in_target_end: datetime | None = None
    inserted_by_us: bool = False

    @property
    def known_to_grouper(self) -> bool:
        """Whether Grouper ever provisioned this object."""
        return self.provisionable or self.provisionable_start is not None
