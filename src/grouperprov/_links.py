"""Subject links: the value a target knows a person by, resolved once and cached.

See :class:`~grouperprov.SubjectLinkConfig`. The links live in the entities'
sync records (``SyncRecord.subject_link``); a run resolves only the subjects
without one, plus a bounded, rotating set of cached ones to refresh.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from ._beans import ProvisioningEntity, is_text
from ._codes import ObjectError, SyncErrorCode, exception_text
from ._config import MembershipType, ObjectType, ProvisionerConfig, SubjectLinkConfig
from ._records import SyncRecord, replaced
from ._sources import TranslationContext, resolve_function
from ._store import RecordKey, SyncState, SyncStore, provisionable_pairs
from .exceptions import TargetUnavailable

__all__ = ["SubjectLinks", "link_records", "resolve_subject_links"]


@attrs.frozen(kw_only=True)
class SubjectLinks:
    """The subject links of one run.

    Attributes:
        values: Every provisionable entity's link by member id (``None``: it
            has none).
        changed: The entities whose link is new or different this run.
        calls: How many times the function was called.
        refreshed: The entities whose cached link was resolved again.
        errors: Entities whose resolution failed, with the error (ERR).
    """

    values: Mapping[str, str | None]
    changed: frozenset[str]
    calls: int
    refreshed: frozenset[str]
    errors: Mapping[str, ObjectError]


def _link_text(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        msg = f"the function returned {type(raw).__name__} {raw!r}, not a str, an int or None"
        raise TypeError(msg)
    if isinstance(raw, str) and not is_text(raw):
        # Kept, it would be saved as its escape and written as that in the next run.
        msg = f"the function returned {raw!r}, which has a lone surrogate (not UTF-8 text)"
        raise ValueError(msg)
    return str(raw)


def _rank(seed: str, entity_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{entity_id}".encode(), digest_size=8).digest()


def resolve_subject_links(
    config: SubjectLinkConfig,
    entities: Mapping[str, ProvisioningEntity],
    state: SyncState,
    *,
    seed: str,
) -> tuple[dict[str, ProvisioningEntity], SubjectLinks]:
    """Give each entity its subject link, from the records or from the function.

    Args:
        config: The subject link settings.
        entities: The provisionable entities by member id.
        state: The sync state, with the cached links.
        seed: Chooses which cached links are refreshed (a different seed each
            run gives a different set).

    Returns:
        The entities with the link in the configured field, and what was done.
    """
    function = resolve_function(config.function)
    records = state.records
    cached: dict[str, str] = {}
    for eid in entities:
        record = records.get((ObjectType.ENTITY, eid))
        if record is not None and record.subject_link is not None:
            cached[eid] = record.subject_link
    refresh = frozenset(
        heapq.nsmallest(config.refresh_per_run, cached, key=lambda e: _rank(seed, e))
        if config.refresh_per_run
        else ()
    )
    values: dict[str, str | None] = {}
    changed: set[str] = set()
    errors: dict[str, ObjectError] = {}
    out: dict[str, ProvisioningEntity] = {}
    calls = 0
    for eid, bean in entities.items():
        old = cached.get(eid)
        value = old
        if old is None or eid in refresh:
            calls += 1
            try:
                value = _link_text(
                    function(TranslationContext(object_type=ObjectType.ENTITY, bean=bean))
                )
            except TargetUnavailable:
                # The system it looks subjects up in is down (LdapTarget.subject_dn's
                # directory): the run stops, rather than wait for it once per subject.
                raise
            except Exception as exc:  # noqa: BLE001  # a user's function may raise anything
                errors[eid] = ObjectError(
                    SyncErrorCode.ERR,
                    f"subject link failed: {exception_text(exc)}",
                    config.attribute,
                )
            else:
                if value != old:
                    changed.add(eid)
        values[eid] = value
        out[eid] = bean.with_attributes({config.attribute: value})
    return out, SubjectLinks(
        values=values,
        changed=frozenset(changed),
        calls=calls,
        refreshed=refresh,
        errors=errors,
    )


def link_records(
    config: ProvisionerConfig, store: SyncStore, written: Sequence[SyncRecord], now: datetime
) -> list[SyncRecord]:
    """The entity records that only cache subject links, as *written* leaves their members.

    With entities not operated (``group_attributes``), an entity's record
    only caches its subject link, and says whether Grouper provisions the
    member at all: a full sync records it provisionable when the member is in
    a provisioned group, and not when they left the last one. A run of part
    of the campus (an incremental run, a group sync) does not read the
    members' other memberships, so it cannot tell; their records can. For
    each member of a membership record in *written*, the record of the
    member (unless *written* has it: the run resolved the link, and knows)
    is made to say what the member's membership records say, those written
    first: provisionable while one of them is. Only the records that change
    are returned, to be saved with *written*.
    """
    if (
        config.subject_link is None
        or config.entities.operate
        or config.memberships.type is not MembershipType.GROUP_ATTRIBUTES
    ):
        return []  # no such records: entities play a part, and are covered
    membership, entity = ObjectType.MEMBERSHIP, ObjectType.ENTITY
    by_key = {(r.object_type, r.grouper_id): r for r in written}
    # The members of the memberships written: those with one provisionable are
    # provisioned; of the others, only those who left one need their other
    # memberships' records read.
    provisioned: set[str] = set()
    leaving: set[str] = set()
    for record in written:
        if record.object_type is membership and isinstance(record.grouper_id, tuple):
            member = str(record.grouper_id[1])
            (provisioned if record.provisionable else leaving).add(member)
    members = {m for m in provisioned | leaving if (entity, m) not in by_key}
    if not members:
        return []
    left = sorted((leaving - provisioned) & members)
    keys: list[RecordKey] = [(entity, m) for m in sorted(members)]
    pairs = getattr(store, "_provisioned_pairs", None)  # grouperprov's own stores
    if pairs is not None and left:
        # Only whether a member has a provisionable membership left: the
        # pairs, through the index by member, no record built (the records
        # of 100,000 memberships took 0.7 s in SQLite; see bench_links.py).
        stored = store.load_records(config.name, keys).records
        found: Iterable[tuple[str, str]] = pairs(config.name, left)
    else:
        stored = store.load_records(config.name, keys, members=left).records
        found = provisionable_pairs(stored)
    for pair in found:
        if (membership, pair) not in by_key:  # as the run left it, above
            provisioned.add(pair[1])
    out: list[SyncRecord] = []
    for member in sorted(members):
        old = stored.get((entity, member))
        if old is None:
            continue  # no link cached: nothing to say
        wanted = member in provisioned
        if old.provisionable == wanted:
            continue
        out.append(
            replaced(
                old,
                provisionable=wanted,
                provisionable_start=now if wanted else old.provisionable_start,
                provisionable_end=None if wanted else now,
                last_sync=now,
            )
        )
    return out
