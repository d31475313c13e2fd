"""The Provisioner: full sync from Grouper to a target, with state kept between runs."""

from __future__ import annotations

import enum
import functools
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ._apply import ApplyResult, ChangeOutcome, apply, read_target
from ._arguments import (
    aware_clock,
    check_config_argument,
    check_duration,
    check_source,
    check_store,
    check_target,
    given_name,
    given_names,
    given_pairs,
)
from ._beans import ProvisioningEntity, Scalar
from ._behavior import Behavior, Mode, compared_config, compute_behavior
from ._cache import cached_values, historical_ids
from ._codes import RETRIED_CODES, ObjectError
from ._compare import LEFT_BEHIND, Comparison, ProvisioningWrapper, compare
from ._config import (
    BusyPolicy,
    DeletePolicy,
    FailsafeConfig,
    MembershipType,
    ObjectType,
    ProvisionerConfig,
)
from ._diagnostics import Diagnostics, diagnose
from ._events import ChangeEvent, ControlKind, ControlMessage, RejectedEvent, parse_events
from ._failsafe import check_failsafe, only_groups, plan_stats
from ._gc import paused_gc
from ._incremental import IncrementalSummary, Work
from ._incremental_run import _narrowed_plan, _take_holders, run_incremental
from ._lazy import LazyMap
from ._lease import LeaseKeeper
from ._links import SubjectLinks, link_records, resolve_subject_links
from ._match import Matcher
from ._plan import Action, Change, Plan, count_lines
from ._records import (
    FailsafeState,
    JobLease,
    LogRecord,
    SyncRecord,
    SyncType,
    error_fields,
    replaced,
    unchanged,
)
from ._source import GrouperSnapshot, GrouperSource, Scope, provisionable_scope, read_entities
from ._store import MemorySyncStore, SyncState, SyncStore
from ._target import TargetDAO, TargetData, capabilities_of
from ._translate import Translation, Translator
from .exceptions import ConfigError, SourceError, StalePlanError, TargetUnavailable

__all__ = ["FullPlan", "Provisioner", "SyncResult", "SyncStatus"]

log = logging.getLogger("grouperprov.provisioner")


class SyncStatus(enum.StrEnum):
    """How a run ended."""

    SUCCESS = "SUCCESS"
    """Everything provisionable is in the target."""
    WARNING = "WARNING"
    """Done, with object errors whose codes are not in ``failing_error_codes``."""
    ERROR = "ERROR"
    """Done, with errors of a code in ``failing_error_codes``."""
    CONFIG_ERROR = "CONFIG_ERROR"
    """The configuration is invalid, or asks what the target cannot do, or the target's
    own settings do not fit it (a :class:`~grouperprov.targets.SqlTarget` layout
    column its table lacks); nothing was done: an incremental run's events are all
    processed by the next run."""
    ERROR_FAILSAFE = "ERROR_FAILSAFE"
    """The failsafe tripped, or tripped earlier and is not approved; nothing was written."""
    BUSY = "BUSY"
    """Another run of this provisioner held the job lease for longer than the wait; nothing
    was done."""
    TARGET_UNAVAILABLE = "TARGET_UNAVAILABLE"
    """The target could not be reached, refused the connection, or could not serve a
    read the run needs, such as a table locked past the database's lock timeout
    (:class:`~grouperprov.exceptions.TargetUnavailable`); the run stopped and
    saved nothing: an incremental run's events are all processed by the next
    run. A write that fails this way is not this: its objects get an error."""
    SOURCE_ERROR = "SOURCE_ERROR"
    """The Grouper source gave data that breaks its contract
    (:class:`~grouperprov.exceptions.SourceError`; the message lists each
    problem); nothing was planned or saved: an incremental run's events are
    all processed by the next run."""


TargetView = Callable[[Translator, Translation, TargetData], TargetData]
Key = tuple[ObjectType, Hashable]


def _stopped(
    name: str, sync_type: SyncType, status: SyncStatus, message: str, *, dry_run: bool
) -> SyncResult:
    """The result of a run stopped before it planned: logged, with *message*."""
    log.error("%s: %s", name, message)  # the message is the point
    return SyncResult(
        provisioner=name, sync_type=sync_type, status=status, dry_run=dry_run, message=message
    )


# What stops a run before anything is saved, each with a status of its own.
_STOPPING = (ConfigError, SourceError, TargetUnavailable)


def _stopped_by(
    name: str,
    sync_type: SyncType,
    exc: ConfigError | SourceError | TargetUnavailable,
    *,
    dry_run: bool = False,
) -> SyncResult:
    """The result of a run *exc* stopped before anything was saved.

    A configuration (the target's too) that cannot work is ``CONFIG_ERROR``;
    a snapshot that breaks the source contract ``SOURCE_ERROR``; a target it
    could not reach ``TARGET_UNAVAILABLE``.
    """
    if isinstance(exc, ConfigError):
        return _stopped(name, sync_type, SyncStatus.CONFIG_ERROR, str(exc), dry_run=dry_run)
    if isinstance(exc, SourceError):
        return _stopped(name, sync_type, SyncStatus.SOURCE_ERROR, str(exc), dry_run=dry_run)
    message = f"the target is unavailable; nothing was saved: {exc}"
    return _stopped(name, sync_type, SyncStatus.TARGET_UNAVAILABLE, message, dry_run=dry_run)


@attrs.frozen(kw_only=True)
class SyncResult:
    """What a run did.

    Attributes:
        provisioner: The provisioner's name.
        sync_type: The kind of run.
        status: How it ended.
        dry_run: Whether nothing was meant to be written.
        plan: The plan (``None`` when there was none, as with a config error).
        outcomes: What became of each change that was applied.
        errors: Every object's error, by object type and id.
        failsafe: What tripped the failsafe, in words (empty when it did not).
        timings: Seconds spent per step (``read``, ``plan``, ``apply``, ``store``).
        message: A note for operators (the config error, the failsafe).
        incremental: For an incremental run, what it made of its events.
    """

    provisioner: str
    sync_type: SyncType
    status: SyncStatus
    dry_run: bool = False
    plan: Plan | None = None
    outcomes: tuple[ChangeOutcome, ...] = ()
    errors: Mapping[Key, ObjectError] = attrs.field(factory=dict, hash=False)
    failsafe: tuple[str, ...] = ()
    timings: Mapping[str, float] = attrs.field(factory=dict, hash=False)
    message: str = ""
    incremental: IncrementalSummary | None = None

    def counts(self) -> Counter[tuple[Action, ObjectType]]:
        """Changes carried out successfully, by action and object type."""
        return Counter(
            (o.change.action, o.change.object_type) for o in self.outcomes if o.ok and o.applied
        )

    def error_counts(self) -> Counter[str]:
        """Objects in error, by code."""
        return Counter(e.code.value for e in self.errors.values())

    def summary(self) -> str:
        """The result in a few lines."""
        done = sum(self.counts().values())
        lines = [
            f"{self.sync_type.value} sync of {self.provisioner!r}: {self.status.value}"
            + (" (dry run)" if self.dry_run else "")
            + f", {done} change{'s' if done != 1 else ''} made, "
            f"{len(self.errors)} object{'s' if len(self.errors) != 1 else ''} in error"
        ]
        lines.extend(count_lines(o.change for o in self.outcomes if o.ok and o.applied))
        lines.extend(
            f"  error {code}: {count}" for code, count in sorted(self.error_counts().items())
        )
        if self.plan is not None and self.plan.set_aside:
            lines.append(
                f"  set aside: {len(self.plan.set_aside)} target objects, left alone "
                "(see plan.set_aside)"
            )
        lines.extend(f"  failsafe: {reason}" for reason in self.failsafe)
        if self.incremental is not None:
            lines.append(f"  events: {self.incremental}")
        if self.message:
            lines.append(f"  {self.message}")
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class FullPlan:
    """A full sync's plan with everything needed to apply it and explain it.

    Attributes:
        comparison: The comparison (plan, wrappers, matches).
        scope: What is provisionable.
        translation: The translated Grouper side.
        behavior: What the engine may do.
        failsafe: What trips the failsafe (empty when nothing does).
        blocked: Whether an earlier, unapproved failsafe trip blocks the run.
        state: The sync state the plan was made from.
        timings: Seconds spent per step so far.
        sync_type: ``FULL``, or ``GROUP`` for a group sync.
        groups_only: For a group sync (or an incremental recalc), the ids of
            the groups it covers; ``None``: it covers the whole campus.
        entities_covered: With ``groups_only``: the entities it covers too,
            read with every membership (an incremental recalc's).
        memberships_covered: With ``groups_only``: the memberships it covers
            too, each read from Grouper (an incremental recalc's).
        subject_links: The subject links of the run, when configured.
        started: When planning began, before Grouper was read (the run's
            view of Grouper is as of then; recorded as its ``last_run``).
        partly_seen: The target ids of the membership owners whose values
            the run sees in part (a group sync sees a person's values of its
            groups only).
    """

    comparison: Comparison
    scope: Scope
    translation: Translation
    behavior: Behavior
    failsafe: tuple[str, ...]
    blocked: bool
    state: SyncState
    timings: Mapping[str, float] = attrs.field(factory=dict, hash=False)
    sync_type: SyncType = SyncType.FULL
    groups_only: frozenset[str] | None = None
    entities_covered: frozenset[str] = frozenset()
    memberships_covered: frozenset[tuple[str, str]] = frozenset()
    subject_links: SubjectLinks | None = None
    started: datetime | None = None
    partly_seen: frozenset[str] = frozenset()

    @property
    def plan(self) -> Plan:
        """The plan."""
        return self.comparison.plan


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


@attrs.define
class Provisioner:
    """Keeps one target in step with Grouper.

    Args:
        config: The provisioner's configuration.
        source: Where Grouper data comes from.
        target: The target's DAO.
        store: Where sync records are kept (default: in memory, for this
            object's lifetime).
        clock: What time it is (for tests): a function that returns
            timezone-aware datetimes (``datetime.now`` alone gives naive
            ones and is refused).
        lease_ttl: How long the job lease lasts without a heartbeat (the
            heartbeat renews it every third of that while a run writes).
        lease_wait: How long a run waits for the lease while another run of
            this provisioner holds it, before it gives up with ``BUSY``.
        checkpoint_interval: During the target writes, the sync records of
            what has been written so far are saved at most this often (after
            the batch that passes it), so a long run that dies part way keeps
            its progress and errors; ``None`` saves them at the end only.

    Raises:
        TypeError: An argument is not of its kind (a dict for *config*, a
            path for *store*, a target class for *target*, a number of
            seconds for a duration); the message says what to pass.
        ValueError: *lease_ttl* is not positive, or another duration is
            negative.
    """

    config: ProvisionerConfig = attrs.field(validator=check_config_argument)
    source: GrouperSource = attrs.field(validator=check_source)
    target: TargetDAO = attrs.field(validator=check_target)
    store: SyncStore = attrs.field(factory=MemorySyncStore, validator=check_store)
    clock: Callable[[], datetime] = attrs.field(default=_utcnow, converter=aware_clock)
    lease_ttl: timedelta = attrs.field(default=timedelta(minutes=2), validator=check_duration)
    lease_wait: timedelta = attrs.field(default=timedelta(minutes=10), validator=check_duration)
    checkpoint_interval: timedelta | None = attrs.field(
        default=timedelta(minutes=1), validator=check_duration
    )
    # Per thread: the lease a run of this thread holds. One attribute for all
    # threads let a thread's apply() take another thread's lease for its own
    # and write while that run wrote.
    _runs: threading.local = attrs.field(factory=threading.local, init=False, repr=False, eq=False)

    @property
    def _keeper(self) -> LeaseKeeper | None:
        keeper: LeaseKeeper | None = getattr(self._runs, "keeper", None)
        return keeper

    def plan_full(self) -> FullPlan:
        """Read both sides and plan a full sync, without writing anything.

        Raises:
            ConfigError: The configuration is invalid or asks for what the
                target cannot do.
            SourceError: The Grouper source gave data that breaks its
                contract (a run returns ``SOURCE_ERROR`` instead).
        """
        with paused_gc():
            return self._plan(None)

    def plan_groups(self, *groups: str | Iterable[str], folder: str | None = None) -> FullPlan:
        """Plan a group sync: the given groups (ids or full names), or a folder's.

        Each group is recalculated with all its memberships: created, updated or
        deleted as a full sync would, while every other group is left alone and
        no entity is deleted. A member it would pair with another's entry
        (renamed onto its ``uid``) is recalculated whole, with whoever's
        record holds that entry, and the entry a move leaves is deleted as a
        full sync deletes it.

        A group deleted from Grouper is named by its id, which its sync record
        keeps (or, for groups not operated, its memberships' records;
        ``grouperprov explain`` finds the record by the target id; the
        delete event carries it): the plan deletes it from the target as a
        full sync would, as the delete policy allows.

        Groups may also be given as one list (``plan_groups(["a:b", "a:c"])``).

        Raises:
            ConfigError: As for :meth:`plan_full`.
            LookupError: A group is neither in Grouper nor, by its id, in the
                sync records; or a folder has no group in Grouper.
            ValueError: Neither a group nor a folder was given (a group sync
                of nothing is a mistake, not a success).
            TypeError: A group or the folder is not a string.
        """
        groups = given_names("groups", groups)
        given_name("folder", folder)
        if not groups and folder is None:
            msg = "a group sync needs groups (ids or full names) or a folder"
            raise ValueError(msg)
        snapshot = self.source.snapshot()
        state = self.store.load(self.config.name)
        by_name = {str(g.get("name")): g.id for g in snapshot.groups}
        known = set(by_name.values())
        selected: set[str] = set()
        for group in groups:
            gid = by_name.get(group, group)
            if gid not in known and not _recorded_group(state, gid):
                msg = (
                    f"no group {group!r} in Grouper, nor a sync record of a group with that"
                    " id (a group deleted from Grouper is named by its id)"
                )
                raise LookupError(msg)
            selected.add(gid)
        if folder is not None:
            inside = {gid for name, gid in by_name.items() if name.startswith(folder + ":")}
            if not inside:
                msg = f"no group under the folder {folder!r} in Grouper"
                raise LookupError(msg)
            selected |= inside
        with paused_gc():
            planned = self._plan(frozenset(selected), snapshot, state)
            moved = _moved_entities(planned)
            if moved:
                planned = self._with_moved(frozenset(selected), moved, snapshot, state)
            return planned

    def _with_moved(
        self,
        selected: frozenset[str],
        moved: Collection[str],
        snapshot: GrouperSnapshot,
        state: SyncState,
    ) -> FullPlan:
        """A group sync that moves people to other entries, planned with those people whole.

        A member renamed onto the ``uid`` of another's entry (two people who
        swap names) is paired with that entry, as a full sync pairs them. A
        group sync, which deletes no entity, moved the member's record and
        left the old entry held by no record. With ``entity_attributes`` it
        sees the selected groups' values alone: it moved that group's value
        to the other entry, and left the member's other values on the old
        one (the other person's, by name, now); under
        ``removed_from_grouper`` for good. So the group sync plans the
        campus, and keeps the selected groups, the members it moves with every
        membership, and whoever's record holds an entry one of them moves to:
        an incremental recalc of them. It deletes the entries the moves leave,
        and a member it moves who has no provisionable membership left, as
        a full sync does (a group sync deletes no other entity).
        """
        whole = self._plan(None, snapshot, state)
        work = Work(groups=set(selected), entities=set(moved))
        _take_holders(whole, work)
        return _narrowed_plan(
            self.config, whole, work, failsafe_groups=None, sync_type=SyncType.GROUP
        )

    def _plan(
        self,
        selected: frozenset[str] | None,
        snapshot: GrouperSnapshot | None = None,
        state: SyncState | None = None,
        *,
        target_data: TargetData | None = None,
        target_view: TargetView | None = None,
        failsafe_config: FailsafeConfig | None = None,
        failsafe_groups: Collection[str] | None = None,
        updated: Mapping[ObjectType, Collection[str]] | None = None,
    ) -> FullPlan:
        """Plan from *snapshot*, *state* and *target_data* (each read in full when not given).

        A plan of part of the campus (an incremental recalc) passes the part it
        read, *target_view* (what of the target it compares, given the
        translation), *failsafe_config* (the thresholds it can measure),
        *failsafe_groups* (the groups whose true size it knows) and *updated*
        (the groups and entities whose attributes it compares; see
        :func:`~grouperprov.compare`).
        """
        timings: dict[str, float] = {}
        started = self.clock()
        start = time.perf_counter()
        capabilities = capabilities_of(self.target)
        translator = Translator(compared_config(self.config, capabilities))
        behavior = compute_behavior(self.config, capabilities)
        state = state or self.store.load(self.config.name)
        snapshot = snapshot or self.source.snapshot()
        if target_data is None:
            target_data = read_target(self.target, behavior)
        timings["read"] = time.perf_counter() - start
        start = time.perf_counter()
        scope = provisionable_scope(self.config, snapshot)
        if selected is None:
            scope = self._kept_entities(scope, behavior, state)
        else:
            former = _former_members(self.config, state, selected)
            scope = _narrow(self._with_former(scope, former, state), selected, former)
            # A group sync never deletes entities: the others are not looked at.
            behavior = attrs.evolve(
                behavior, entities=attrs.evolve(behavior.entities, delete=Mode.OFF)
            )
        subject_links = None
        if self.config.subject_link is not None:
            # Resolved once and cached in the records; a rotating few refreshed.
            seed = max((t.isoformat() for t in state.provisioner.last_run.values()), default="")
            entities, subject_links = resolve_subject_links(
                self.config.subject_link, scope.entities, state, seed=seed
            )
            scope = attrs.evolve(scope, entities=entities)
        groups = [g for g in snapshot.groups if g.id in scope.groups]
        # The scope has checked that its memberships' groups and entities are in it.
        translation = translator._translate_all(  # noqa: SLF001  # same package
            groups, scope.entities.values(), scope.memberships, scope.metadata(), checked=True
        )
        if subject_links is not None and subject_links.errors:
            translation = _without_links(translation, subject_links)
        hidden: dict[str, frozenset[Scalar]] = {}
        if selected is not None:
            target_data = _target_of(
                translator, translation, target_data, state, selected, hidden=hidden
            )
        if target_view is not None:
            target_data = target_view(translator, translation, target_data)
        # Target links follow renames: a group whose name no longer matches is
        # paired with the object it was last synced to.
        records, linked = state.target_index()
        historical = {
            object_type: historical_ids(translator, object_type, state.records.values())
            for object_type in (ObjectType.GROUP, ObjectType.ENTITY)
            if _cached_attributes(self.config)[object_type]
        }
        comparison = compare(
            translator,
            behavior,
            translation,
            target_data,
            records=records,
            historical=historical,
            linked=linked,
            updated=updated,
            hidden_values=hidden,
        )
        failsafe_state = state.provisioner.failsafe
        blocked = failsafe_state is not None and failsafe_state.blocking
        approved = failsafe_state is not None and not failsafe_state.blocking
        failsafe: tuple[str, ...] = ()
        if blocked:
            assert failsafe_state is not None  # noqa: S101  # blocked means there is one
            failsafe = failsafe_state.reasons
        elif not approved:
            stats = only_groups(
                plan_stats(comparison, translator, groups=failsafe_groups), failsafe_groups
            )
            failsafe = check_failsafe(failsafe_config or self.config.failsafe, stats)
        timings["plan"] = time.perf_counter() - start
        return FullPlan(
            comparison=comparison,
            scope=scope,
            translation=translation,
            behavior=behavior,
            failsafe=failsafe,
            blocked=blocked,
            state=state,
            timings=timings,
            sync_type=SyncType.FULL if selected is None else SyncType.GROUP,
            groups_only=selected,
            subject_links=subject_links,
            started=started,
            partly_seen=frozenset(t for t, values in hidden.items() if values),
        )

    def _kept_entities(self, scope: Scope, behavior: Behavior, state: SyncState) -> Scope:
        """*scope* with the entities that leave it but stay in the target, to manage their values.

        With ``entity_attributes`` and entities never deleted (people that the
        identity system owns), an entity that loses its last provisionable
        membership keeps its entry; it stays managed, with no membership
        values, so that the values grouperprov put there are removed.
        """
        if (
            behavior.membership_type is not MembershipType.ENTITY_ATTRIBUTES
            or behavior.entities.delete.on
            or not behavior.memberships.operate
        ):
            return scope
        entities = (key[1] for key in state.records if key[0] is ObjectType.ENTITY)
        return self._kept_in_view(scope, entities, state)

    def _kept_in_view(self, scope: Scope, entities: Iterable[Hashable], state: SyncState) -> Scope:
        """*scope* with those of *entities* it lacks that the records say are in the target."""
        gone = sorted(
            str(entity)
            for entity in entities
            if entity not in scope.entities
            and (record := state.records.get((ObjectType.ENTITY, entity))) is not None
            and record.in_target
            and record.target_id is not None
        )
        if not gone:
            return scope
        kept = {e.id: e for e in read_entities(self.source, gone)}
        return attrs.evolve(scope, entities={**scope.entities, **kept})

    def _with_former(self, scope: Scope, former: Collection[str], state: SyncState) -> Scope:
        """*scope* with the former members of a group sync's groups that have left it.

        With ``entity_attributes``, a member whose last provisionable
        membership was in a selected group (the group deleted, or the member
        gone from it) is in no scope; a group sync never deletes entities, so
        it keeps the entry in view, to take the group's value off it (as a
        full sync does with entities that are not deleted). Only entities
        the records say are in the target are read.
        """
        return self._kept_in_view(scope, former, state)

    def diagnostics(
        self, *, group: str | None = None, subject: str | None = None, write: bool = False
    ) -> Diagnostics:
        """Run one group and/or subject through the pipeline and report each step.

        The report (:class:`~grouperprov.Diagnostics`, printable and
        JSON-compatible) has the configuration with secrets masked, the
        target's capabilities, the behaviour, what Grouper has, what the sync
        records say, the translation, the target's object, the match and the
        plan. With a group, the plan is that of a group sync of the group; with
        a subject alone, the changes of a full plan that concern the subject.
        A target that cannot be read (``TargetUnavailable``, or a
        ``ConfigError`` of the target's own) ends the report with a
        ``target`` step that says why, after the steps that need no target.

        Args:
            group: A group's id or full name.
            subject: A member id or subject id.
            write: Also apply the plan (a group sync of the group; for a subject
                alone, only its own changes), holding the job lease and
                recording it, and add a ``write`` step with the result. The
                failsafe applies as to any run.

        Raises:
            ValueError: Neither a group nor a subject was given.
            TypeError: The group or the subject is not a string.
            LookupError: The group or subject is not in Grouper.
            ConfigError: As for :meth:`plan_full`.
        """
        given_name("group", group)
        given_name("subject", subject)
        with paused_gc():
            return diagnose(self, group=group, subject=subject, write=write)

    def incremental_sync(
        self, events: Iterable[ChangeEvent | RejectedEvent | Mapping[str, Any]] = ()
    ) -> SyncResult:
        """Process a batch of change-log events (and the pending control messages).

        Events are :class:`~grouperprov.ChangeEvent` values or plain dicts
        (see :func:`~grouperprov.parse_event`); an event that cannot be
        understood is kept in the store's error queue with the reason and
        the rest of the batch goes on. So is each
        :class:`~grouperprov.RejectedEvent` given (those
        :func:`~grouperprov.parse_grouper_message` returns). Membership adds and deletes that agree
        with the sync records are applied as they are; everything else is
        recalculated from both sides (see the incremental sync docs). The
        last sequence number is saved with the run's records, so a consumer
        that restarts resumes after it; events at or before it are dropped.

        Returns the same :class:`SyncResult` as a full sync, with
        :attr:`SyncResult.incremental` saying what became of the events.
        ``BUSY`` means another run held the job lease (``when_busy``): no
        event was processed.
        """
        good, rejected = parse_events(events)
        now = self.clock()
        rejected = [r if r.received else attrs.evolve(r, received=now) for r in rejected]
        wait = (
            self.lease_wait
            if self.config.incremental.when_busy is BusyPolicy.WAIT
            else timedelta(0)
        )

        def run() -> SyncResult:
            with paused_gc():  # a recalculation plans as a full sync does
                return run_incremental(self, good, rejected)

        return self._holding_lease(SyncType.INCREMENTAL, run, wait=wait)

    def request_sync(
        self,
        *,
        groups: str | Iterable[str] = (),
        entities: str | Iterable[str] = (),
        memberships: Iterable[tuple[str, str]] = (),
        full: bool = False,
        requested_by: str,
    ) -> ControlMessage:
        """Ask the next incremental run to recalculate objects, or to run a full sync.

        The "provision group" button: the message is kept in the store until
        an incremental run carries it out and acknowledges it (see
        :meth:`~grouperprov.stores.SyncStore.controls`). Groups are ids or full names (with all
        their memberships); entities are member ids. A lone string is one
        group or entity, and a lone (group, member) pair one membership.

        Raises:
            ValueError: Nothing to recalculate and not *full*; a membership
                that is not a pair; no *requested_by*.
            TypeError: A group or entity that is not a string.
        """
        who: object = requested_by  # whatever was passed
        if not isinstance(who, str) or not who.strip():
            msg = f"request_sync needs requested_by (who asks), not {who!r}"
            raise ValueError(msg)
        message = ControlMessage(
            id=uuid.uuid4().hex,
            kind=ControlKind.FULL_SYNC if full else ControlKind.SYNC_OBJECTS,
            requested_by=requested_by,
            requested_at=self.clock(),
            groups=given_names("groups", [groups]),
            entities=given_names("entities", [entities]),
            memberships=given_pairs(memberships),
        )
        if not full and not (message.groups or message.entities or message.memberships):
            msg = "request_sync needs groups, entities or memberships (or full=True)"
            raise ValueError(msg)
        self.store.add_control(self.config.name, message)
        return message

    def sync_group(
        self, *groups: str | Iterable[str], folder: str | None = None, dry_run: bool = False
    ) -> SyncResult:
        """Plan and apply a group sync (see :meth:`plan_groups`); *dry_run* plans only."""
        return self._run(SyncType.GROUP, lambda: self.plan_groups(*groups, folder=folder), dry_run)

    def full_sync(self, *, dry_run: bool = False, asynchronous: bool = False) -> SyncResult:
        """Plan and apply a full sync; with *dry_run*, plan only (nothing is written).

        With *asynchronous*, the full sync writes nothing to the target: it
        asks the incremental path (one control message) to recalculate every
        group, entity and membership its plan would change or reports in
        error, and returns the plan.
        """
        if not asynchronous:
            return self._run(SyncType.FULL, self.plan_full, dry_run)
        planned = self.plan_full()
        wanted, left = _recalculated(planned)
        groups = {str(i) for i in wanted[ObjectType.GROUP]}
        entities = {str(i) for i in wanted[ObjectType.ENTITY]}
        memberships = {(str(g), str(e)) for g, e in wanted[ObjectType.MEMBERSHIP]}
        message = None
        if groups or entities or memberships:
            message = self.request_sync(
                groups=sorted(groups),
                entities=sorted(entities),
                memberships=sorted(memberships),
                requested_by=f"asynchronous full sync of {self.config.name}",
            )
        return SyncResult(
            provisioner=self.config.name,
            sync_type=SyncType.FULL,
            status=SyncStatus.SUCCESS,
            dry_run=True,
            plan=planned.plan,
            timings=planned.timings,
            message=(
                f"asynchronous: recalculation requested ({message.id})"
                if message is not None
                else "asynchronous: nothing to recalculate"
            )
            + (
                f"; {left} target objects no Grouper object is linked to are left "
                "for a synchronous full sync"
                if left
                else ""
            ),
        )

    def _run(self, sync_type: SyncType, plan: Callable[[], FullPlan], dry_run: bool) -> SyncResult:
        def run() -> SyncResult:
            # One pause from the plan to the records, and not while waiting for
            # the lease: paused twice, the collector would run in between over
            # everything the plan holds (a collection of the youngest
            # generation walks all that was made while it was off).
            with paused_gc():
                return self._plan_and_apply(sync_type, plan, dry_run=dry_run)

        if dry_run:  # reads only: no lease needed
            return run()
        return self._holding_lease(sync_type, run)

    def _holding_lease(
        self,
        sync_type: SyncType,
        work: Callable[[], SyncResult],
        *,
        wait: timedelta | None = None,
    ) -> SyncResult:
        """Run *work* holding the job lease (``BUSY`` if it never came), then give it back."""
        keeper = LeaseKeeper(
            self.store,
            self.config.name,
            sync_type,
            ttl=self.lease_ttl,
            wait=self.lease_wait if wait is None else wait,
            clock=self.clock,
        )
        if not keeper.acquire():
            return self._busy(sync_type, keeper.blocked_by)
        self._runs.keeper = keeper
        try:
            return work()
        finally:
            self._runs.keeper = None
            keeper.release()

    def _busy(self, sync_type: SyncType, holder: JobLease | None) -> SyncResult:
        held = (
            f"held by {holder.holder} ({holder.sync_type.value} sync, expires "
            f"{holder.expires.isoformat()})"
            if holder is not None
            else "held by another run"
        )
        message = (
            f"the job lease of {self.config.name!r} is {held}; "
            f"waited {self.lease_wait.total_seconds():g} s, nothing was done"
        )
        log.warning("%s", message)
        return SyncResult(
            provisioner=self.config.name,
            sync_type=sync_type,
            status=SyncStatus.BUSY,
            message=message,
        )

    def _plan_and_apply(
        self, sync_type: SyncType, plan: Callable[[], FullPlan], *, dry_run: bool
    ) -> SyncResult:
        try:
            planned = plan()
        except _STOPPING as exc:
            return _stopped_by(self.config.name, sync_type, exc, dry_run=dry_run)
        return self.apply(planned, dry_run=dry_run)

    def apply(self, planned: FullPlan, *, dry_run: bool = False) -> SyncResult:
        """Apply a plan from :meth:`plan_full` (unless the failsafe stops it) and record it.

        The writes hold the provisioner's job lease (:meth:`full_sync` holds it
        for the whole run); a status of ``BUSY`` means another run held it for
        longer than ``lease_wait``.

        A plan is applied once, before any other run of this provisioner: a
        run that finished after it was made (or this plan applied already)
        makes it stale, and it is refused before anything is written.

        Raises:
            LeaseLostError: The lease was taken over during the run (its
                heartbeat failed for longer than ``lease_ttl``); the sync
                records were not written, and the next full sync repairs them.
            StalePlanError: Another run of this provisioner, or this plan,
                was applied after the plan was made; nothing was written.
            ValueError: The plan is another provisioner's.
        """
        if planned.plan.provisioner != self.config.name:
            msg = (
                f"the plan is of {planned.plan.provisioner!r}, not of {self.config.name!r}: "
                "apply it with its own provisioner"
            )
            raise ValueError(msg)
        with paused_gc():  # the writes and records of a campus: millions of objects too
            if dry_run or self._keeper is not None:
                return self._apply(planned, dry_run=dry_run)

            def fresh() -> SyncResult:
                self._refuse_stale(planned)
                return self._apply(planned, dry_run=False)

            return self._holding_lease(planned.sync_type, fresh)

    def _refuse_stale(self, planned: FullPlan) -> None:
        """Raise :class:`StalePlanError` if a run saved its records after *planned* was made.

        Applied twice, a plan inserted its objects twice (into a target that
        makes its own ids), and every later run met them as ambiguous
        matches; applied after a newer run, it undid that run's changes.
        """
        then = planned.state.provisioner
        now = self.store.load_records(self.config.name, ()).provisioner
        if now.last_run == then.last_run and now.last_sequence == then.last_sequence:
            return
        if planned.started is not None and now.last_run.get(planned.sync_type) == planned.started:
            why = "it was applied already"
        else:
            runs = [
                f"a {sync_type.value} sync of {when.isoformat()}"
                for sync_type, when in sorted(now.last_run.items(), key=lambda kv: kv[1])
                if then.last_run.get(sync_type) != when
            ]
            why = f"{', '.join(runs) or 'an incremental run'} saved its records since it was made"
        msg = f"the plan of {self.config.name!r} is stale: {why}; nothing was written: plan again"
        raise StalePlanError(msg)

    def _check_lease(self) -> None:
        if self._keeper is not None:
            self._keeper.check()

    def _apply(
        self,
        planned: FullPlan,
        *,
        dry_run: bool,
        queue: _Queue | None = None,
        only: Callable[[Key], bool] | None = None,
    ) -> SyncResult:
        """Apply *planned* and record it.

        *queue* (incremental runs) is saved with the records: the last sequence
        number, rejected events, acknowledged control messages. *only* limits
        the records written to the objects it accepts (and those written to).
        """
        now = self.clock()
        if only is None and planned.sync_type is SyncType.GROUP and planned.entities_covered:
            only = _recorded_part(planned)  # a group sync with members whole (_with_moved)
        errors = self._plan_errors(planned)
        timings = dict(planned.timings)
        if planned.failsafe:
            for reason in planned.failsafe:
                log.error("%s: failsafe: %s", self.config.name, reason)
            if not dry_run and not planned.blocked:
                self._check_lease()
                record = attrs.evolve(
                    planned.state.provisioner,
                    failsafe=FailsafeState(tripped_at=now, reasons=planned.failsafe),
                )
                self.store.save(
                    record,
                    (),
                    log=self._log(
                        SyncStatus.ERROR_FAILSAFE, now, "failsafe tripped", planned.sync_type
                    ),
                )
            return SyncResult(
                provisioner=self.config.name,
                sync_type=planned.sync_type,
                status=SyncStatus.ERROR_FAILSAFE,
                dry_run=dry_run,
                plan=planned.plan,
                errors=errors,
                failsafe=planned.failsafe,
                timings=timings,
                message="nothing was written; approve the run to go ahead"
                if not planned.blocked
                else "blocked by an earlier failsafe trip that is not approved",
            )
        if dry_run:
            return SyncResult(
                provisioner=self.config.name,
                sync_type=planned.sync_type,
                status=self._status(errors),
                dry_run=True,
                plan=planned.plan,
                errors=errors,
                timings=timings,
            )
        start = time.perf_counter()
        self._check_lease()
        # Read only: nothing is written, so no record may say it was (the
        # run's log, rejected events and the events' sequence are kept).
        read_only = planned.behavior.read_only
        intents = [] if read_only else _insert_intents(planned, now)
        if intents:
            # Written ahead: a process killed during the target writes must not
            # leave what it inserted looking pre-existing to the next run.
            self.store.save(planned.state.provisioner, intents)
        result = apply(
            planned.plan,
            self.target,
            planned.behavior,
            checkpoint=None
            if self.checkpoint_interval is None
            else lambda partial: self._checkpoint(planned, partial, errors, now),
            checkpoint_seconds=0.0
            if self.checkpoint_interval is None
            else self.checkpoint_interval.total_seconds(),
            member_values=lambda owner_id: planned.translation.membership_values.get(
                owner_id, {}
            ).values(),
        )
        timings["apply"] = time.perf_counter() - start
        errors.update(result.object_errors())
        start = time.perf_counter()
        status = self._status(errors)
        self._log_errors(errors)
        queue = queue or _Queue()
        record = attrs.evolve(
            planned.state.provisioner,
            failsafe=None,
            last_run=planned.state.provisioner.last_run
            if read_only
            else {
                **planned.state.provisioner.last_run,
                planned.sync_type: planned.started or now,
            },
            last_sequence=queue.last_sequence
            if queue.last_sequence is not None
            else planned.state.provisioner.last_sequence,
        )
        keeper = _RecordKeeper(
            planned,
            result,
            errors,
            now,
            cached=_cached_attributes(self.config),
            wanted=only,
            ahead=intents,
        )
        records = [] if read_only else keeper.records()
        if records and planned.groups_only is not None:
            # A run of part of the campus: the subject-link records of the members
            # whose memberships it recorded, from their other memberships' records.
            records += link_records(self.config, self.store, records, now)
        self._check_lease()
        summary = f"{len(result.outcomes)} changes" + (
            " (read only: none sent)" if read_only else ""
        )
        if queue.summary is not None:
            summary += f"; {queue.summary}"
        self.store.save(
            record,
            records,
            log=self._log(status, now, summary, planned.sync_type),
            rejected=queue.rejected,
            acknowledged=queue.acknowledged(status, now),
        )
        timings["store"] = time.perf_counter() - start
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s: %s sync %s: %s, %d objects in error (%s)",
                self.config.name,
                planned.sync_type.value,
                status.value,
                summary,
                len(errors),
                ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()),
            )
        return SyncResult(
            provisioner=self.config.name,
            sync_type=planned.sync_type,
            status=status,
            plan=planned.plan,
            outcomes=result.outcomes,
            errors=errors,
            timings=timings,
        )

    def _checkpoint(
        self,
        planned: FullPlan,
        partial: ApplyResult,
        plan_errors: Mapping[Key, ObjectError],
        now: datetime,
    ) -> None:
        """Save the records of what the run has written so far (nothing else changes)."""
        errors = {**plan_errors, **partial.object_errors()}
        keeper = _RecordKeeper(
            planned,
            partial,
            errors,
            now,
            cached=_cached_attributes(self.config),
            wanted=lambda _key: False,  # the objects written so far only
        )
        records = keeper.records()
        self._check_lease()
        self.store.save(planned.state.provisioner, records)
        log.info(
            "%s: checkpoint: %d changes applied, %d sync records saved",
            self.config.name,
            len(partial.outcomes),
            len(records),
        )

    def approve_failsafe(self, approved_by: str) -> FailsafeState:
        """Let the next run go ahead despite the failsafe that tripped (recorded with who and when).

        Returns:
            The trip, with its approval, as now recorded.

        Raises:
            LookupError: The failsafe has not tripped.
            ValueError: *approved_by* is not a name (an approval by ``None``
                approved nothing: the trip stayed blocking).
        """
        who: object = approved_by  # whatever was passed
        if not isinstance(who, str) or not who.strip():
            msg = f"approve_failsafe needs who approves, not {who!r}"
            raise ValueError(msg)
        state = self.store.load(self.config.name)
        tripped = state.provisioner.failsafe
        if tripped is None:
            msg = f"the failsafe of {self.config.name!r} has not tripped"
            raise LookupError(msg)
        approval = attrs.evolve(tripped, approved_by=approved_by, approved_at=self.clock())
        self.store.save(attrs.evolve(state.provisioner, failsafe=approval), ())
        return approval

    # -- helpers ---------------------------------------------------------------

    def _plan_errors(self, planned: FullPlan) -> dict[Key, ObjectError]:
        errors: dict[Key, ObjectError] = {
            (e.object_type, e.object_id): e.error for e in planned.plan.errors
        }
        for gid, error in planned.scope.errors.items():
            errors[(ObjectType.GROUP, gid)] = error
        if planned.subject_links is not None:
            for eid, error in planned.subject_links.errors.items():
                errors.setdefault((ObjectType.ENTITY, eid), error)
        return errors

    def _status(self, errors: Mapping[Key, ObjectError]) -> SyncStatus:
        if not errors:
            return SyncStatus.SUCCESS
        failing = set(self.config.failing_error_codes)
        if any(e.code in failing for e in errors.values()):
            return SyncStatus.ERROR
        return SyncStatus.WARNING

    def _log_errors(self, errors: Mapping[Key, ObjectError]) -> None:
        shown: Counter[str] = Counter()
        for (object_type, object_id), error in errors.items():
            shown[error.code.value] += 1
            if shown[error.code.value] <= self.config.logged_errors_per_code:
                log.warning("%s %r: %s", object_type.value, object_id, error)
        for code, count in shown.items():
            hidden = count - self.config.logged_errors_per_code
            if hidden > 0:
                log.warning(
                    "%s: %d more objects with %s not logged one by one",
                    self.config.name,
                    hidden,
                    code,
                )

    def _log(
        self,
        status: SyncStatus,
        now: datetime,
        summary: str,
        sync_type: SyncType = SyncType.FULL,
    ) -> LogRecord:
        return LogRecord(
            provisioner=self.config.name,
            sync_type=sync_type,
            started=now,
            finished=self.clock(),
            status=status.value,
            summary=summary,
        )


def _recalculated(planned: FullPlan) -> tuple[dict[ObjectType, set[Any]], int]:
    """What an asynchronous full sync asks the incremental path to recalculate.

    By object type, the Grouper ids of every object the plan would change or
    reports in error, and how many target objects no record links to a
    Grouper object (left for a synchronous full sync). A change is named by
    what a recalculation of it goes through:

    - a group or entity by its Grouper id; a target-only one (a delete)
      through the record of the Grouper object it was synced from;
    - a membership object by its Grouper id; a target-only one (a delete,
      whose id is the target's) through its record;
    - a member value by the memberships behind it; one no membership is
      behind (a value to remove), and a replaced membership list, through
      their owner, whose recalculation removes what Grouper does not have.
    """
    # Grouper ids: str for groups and entities, (group, entity) for memberships.
    wanted: dict[ObjectType, set[Any]] = {t: set() for t in ObjectType}
    by_target, _ = planned.state.target_index()
    owner = planned.behavior.membership_owner
    left = 0
    for change in planned.plan.changes:
        object_type = change.object_type
        object_id: Hashable = change.object_id
        if object_type is ObjectType.MEMBERSHIP and change.memberships and owner is not None:
            wanted[ObjectType.MEMBERSHIP].update(change.memberships)
            continue
        if (
            object_type is ObjectType.MEMBERSHIP
            and change.owner_id is not None
            and (owner is not None or change.action is Action.REPLACE)
        ):
            wanted[owner or ObjectType.GROUP].add(change.owner_id)
            continue
        if change.action is Action.DELETE:
            record = by_target[object_type].get(change.target_id or object_id)
            if record is None:
                left += 1
                continue
            object_id = record.grouper_id
        wanted[object_type].add(object_id)
    for error in planned.plan.errors:
        wanted[error.object_type].add(error.object_id)
    return wanted, left


@attrs.frozen(kw_only=True)
class _Queue:
    """What an incremental run saves with its records."""

    last_sequence: int | None = None
    rejected: tuple[RejectedEvent, ...] = ()
    controls: tuple[ControlMessage, ...] = ()
    summary: IncrementalSummary | None = None

    def acknowledged(self, status: SyncStatus, now: datetime) -> list[ControlMessage]:
        outcome = f"{status.value}: {self.summary}" if self.summary else status.value
        return [attrs.evolve(m, acknowledged_at=now, outcome=outcome) for m in self.controls]


def _insert_intents(planned: FullPlan, now: datetime) -> list[SyncRecord]:
    """Records saying "grouperprov inserts this", saved before the target writes.

    Only where a delete policy relies on knowing what grouperprov inserted
    (``inserted_by_us``), and only for objects not already recorded so. The
    member values written with the insert of a new owner (a group or person
    with no record yet, whose own intent is written) have none: the owner's
    intent stands for them (see :meth:`_RecordKeeper._intended`). The
    record is otherwise unchanged (not in the target yet); the records saved
    after the run are made from the records as they were before it, so an
    insert that fails leaves no trace of this.
    """
    watched = {
        t for t in ObjectType if planned.behavior.of(t).delete_policy is DeletePolicy.INSERTED_BY_US
    }
    if not watched:
        return []
    records = planned.state.records
    # New owners (no record yet) whose intent is written: the values written
    # with their inserts need none of their own (see _RecordKeeper._intended).
    owner = planned.behavior.membership_owner
    new_owners = (
        {
            change.object_id
            for change in planned.plan.changes
            if change.action is Action.INSERT
            and change.object_type is owner
            and (owner, change.object_id) not in records
        }
        if owner in watched
        else set()
    )
    intents: list[SyncRecord] = []
    for change in planned.plan.changes:
        if change.action is not Action.INSERT or change.object_type not in watched:
            continue
        with_new_owner = change.with_owner and change.owner_id in new_owners
        for object_id in change.memberships or (change.object_id,):
            old = records.get((change.object_type, object_id))
            if old is not None and old.inserted_by_us:
                continue
            if with_new_owner and old is None:
                continue
            intents.append(
                attrs.evolve(old, inserted_by_us=True)
                if old is not None
                else SyncRecord(
                    object_type=change.object_type,
                    grouper_id=object_id,
                    provisionable=True,
                    provisionable_start=now,
                    inserted_by_us=True,
                )
            )
    return intents


class _RecordKeeper:
    """Sync records after a run: what is provisionable, what is in the target, who put it there."""

    def __init__(
        self,
        planned: FullPlan,
        result: ApplyResult,
        errors: Mapping[Key, ObjectError],
        now: datetime,
        *,
        cached: Mapping[ObjectType, tuple[str, ...]],
        wanted: Callable[[Key], bool] | None = None,
        ahead: Iterable[SyncRecord] = (),
    ) -> None:
        self.planned = planned
        # Records written ahead of the target writes (insert intents): with the
        # records the run started from, what the store holds now.
        self.ahead: dict[Key, SyncRecord] = {(r.object_type, r.grouper_id): r for r in ahead}
        # Only the records of the objects *wanted* accepts, and of those written
        # to, are kept (the others are not even built: a narrowed run is small).
        self.wanted = wanted
        self.cached = cached
        self.result = result
        self.errors = errors
        self.now = now
        self.old = planned.state.records
        self.out: dict[Key, SyncRecord] = {}
        self.links = {
            t: {**planned.plan.links.get(t, {}), **result.links.get(t, {})}
            for t in (ObjectType.GROUP, ObjectType.ENTITY)
        }
        self.applied: dict[Key, ChangeOutcome] = {}
        # Records changed because of a write to the target (a checkpoint saves only those).
        self.touched: set[Key] = set()
        # Entities outside a narrowed run whose subject link alone it records.
        self._linked: set[Key] = set()
        self._shared_ids = planned.state.shared_target_ids()
        # The memberships behind a membership value that several produce, by its target id.
        self._sharing: dict[Hashable, frozenset[Key]] = {}
        self._by_target = planned.state.target_index()[0]
        self._recorded_by = self._by_target[ObjectType.MEMBERSHIP]
        for outcome in result.outcomes:
            change = outcome.change
            # A membership value or a replaced list stands for the memberships behind it.
            keys = change.memberships or (change.object_id,)
            for key in keys:
                self.applied[(change.object_type, key)] = outcome
        # The records that hold another object's failed delete (see _failed_deletes).
        self._moved_errors: dict[Key, ObjectError] = {}
        # The memberships a replaced list of values adds, by id() of its change (see _writes).
        self._added: dict[int, frozenset[tuple[str, str]]] = {}
        # Memberships whose old target form (their record's) a failed delete left there.
        self._stale: set[Key] = set()
        # Old records whose object another took over in this run (see _claim).
        self._claimed: set[Key] = set()
        # Groups and entities paired with an object another record held: that record's id.
        self._took_over: dict[Key, Hashable] = {}
        # The groups and entities, by type and target id, whose delete failed.
        self._undeleted: set[tuple[ObjectType, Hashable]] = set()
        # Records of groups Grouper deleted that keep another's old object whose
        # delete failed (see _adopter): that object's target id, and whose it was.
        self._adopted: dict[Key, tuple[Hashable, Key]] = {}
        # Member values a failed removal left on an object its owner took over
        # from another (see _hand_over): by the record that takes each, the
        # record it was under, its target id and the error.
        self._handed: dict[Key, tuple[Key, Hashable, ObjectError]] = {}
        self.errors = self._failed_deletes(errors)

    def _failed_deletes(self, errors: Mapping[Key, ObjectError]) -> Mapping[Key, ObjectError]:
        """*errors*, with a failed delete's error also on the records of the object deleted.

        An object only the target has (a group or membership Grouper
        deleted, a group left out, the old form of a renamed group's member
        value) is deleted under its target id; the records that hold that
        id get the error, so that it is retried. It is put before a data
        error the record has (MEM: the group left out, still in the target).
        A membership whose record holds the old form keeps it, while it is
        in the target (see :meth:`_membership`): the record of its new form
        would not say that the old one is left, and only a record makes a
        value Grouper's to remove in a run narrowed to a few objects.
        """
        moved = self._moved_errors
        for outcome in self.result.outcomes:
            if outcome.ok:
                continue
            change = outcome.change
            error = outcome.error
            assert error is not None  # noqa: S101  # failures have errors
            holders: Sequence[Key]
            if change.object_type is ObjectType.MEMBERSHIP and _left_behind(change):
                # Values left on the object their owner answered to before: the
                # owner's record keeps that object, with the error, until a retry
                # removes them (see _provisionable). Moved at once, no record held
                # the object, and no run looked at it again.
                owner = self.planned.behavior.membership_owner or ObjectType.ENTITY
                self._undeleted.add((owner, change.target_id))
                holders = self._holders(owner, change.target_id)
            elif change.action is Action.REPLACE and change.object_type is ObjectType.MEMBERSHIP:
                # As for a failed value delete below: the values the list was to
                # remove stay, each recorded under its owner now or kept stale.
                removed = [(ObjectType.MEMBERSHIP, m) for m in change.removed]
                handed = self._hand_over(change, removed, error)
                self._stale.update(k for k in removed if k not in handed.values())
                holders = [*self._replace_failed(change), *handed]
            elif change.action is not Action.DELETE:
                continue
            elif change.object_type is ObjectType.MEMBERSHIP:
                held_by: list[Key] = [(ObjectType.MEMBERSHIP, m) for m in change.memberships]
                held_by = held_by or list(self._holders(ObjectType.MEMBERSHIP, change.object_id))
                handed = self._hand_over(change, held_by, error)
                held_by = [k for k in held_by if k not in handed.values()]
                self._stale.update(held_by)
                holders = [*held_by, *handed, *self._owner_now(change, held_by)]
            else:
                # Deleted under its target id, for an object only the target has: the
                # records that hold it (for one Grouper has, its own, whose error it is).
                holders = self._holders(change.object_type, change.object_id)
                adopter = self._adopter(change.object_type, change.object_id, holders)
                if adopter is not None:
                    holders = [adopter]
                else:
                    self._undeleted.add((change.object_type, change.object_id))
            for key in holders:
                held = errors.get(key)
                if held is None or held.code not in RETRIED_CODES:
                    moved[key] = error
                    self.touched.add(key)
        if not self._handed:
            return {**errors, **moved} if moved else errors
        # The record a value left does not keep its failed removal's error,
        # unless another failure of the run names it.
        handed_ids = {target_id for _, target_id, _ in self._handed.values()}
        named = {
            (o.change.object_type, m)
            for o in self.result.outcomes
            if not o.ok and o.change.object_id not in handed_ids
            for m in o.change.memberships or (o.change.object_id,)
        }
        dropped = self._handed_from - named
        return {k: e for k, e in {**errors, **moved}.items() if k not in dropped}

    @functools.cached_property
    def _handed_from(self) -> frozenset[Key]:
        """The records whose values were handed over (see :meth:`_hand_over`)."""
        return frozenset(left for left, _, _ in self._handed.values())

    def _adopter(
        self, object_type: ObjectType, target_id: Hashable, holders: Sequence[Key]
    ) -> Key | None:
        """The record that keeps an old object whose delete failed, when its own moved on.

        A group renamed to the name of a group Grouper deleted takes over the
        deleted group's object, and its own old object is deleted. When that
        delete fails, the deleted group's record, free now, keeps the old
        object, with the error (as the record of a group Grouper deleted
        keeps its object until a delete is done): a retry deletes it by that
        record's link, whatever the renamed group does next. ``None`` when
        there is no such record (the other group was renamed away, and its
        record is in use): the renamed group's record keeps its old object
        then (see :meth:`_provisionable`).
        """
        if len(holders) != 1:
            return None
        (holder,) = holders
        links = self.links.get(object_type, {})
        now = links.get(str(holder[1]))
        if now is None or now == target_id:
            return None  # not paired elsewhere: the record keeps its own object
        for other in self._holders(object_type, now):
            if other != holder and str(other[1]) not in links and other not in self._adopted:
                self._adopted[other] = (target_id, holder)
                return other
        return None

    def _hand_over(
        self, change: Change, held_by: Sequence[Key], error: ObjectError
    ) -> dict[Key, Key]:
        """The records that take a member value whose removal failed, by the record it was under.

        A group that takes over the object of a group that left (deleted, or
        renamed away, in the same batch) finds that group's members on it,
        and removes those the records say are grouperprov's (the other
        group's). When such a removal fails, the value is recorded under the
        owner it is on now, as the membership of its member in that owner:
        not provisionable, in the target, with the error and what the other
        group's record said (inserted by grouperprov, since when Grouper
        provisioned it). A retry finds the value as grouperprov's and
        removes it. Left under the other group, whose object this is no
        longer, no retry found it, and under ``inserted_by_us`` or
        ``removed_from_grouper`` it stayed for good. (The member may be in
        the owner now, with a value in error, INV say: its record is then
        provisionable, and says the old value is in the target.)
        """
        owner_type = self.planned.behavior.membership_owner
        owner_id = change.owner_id
        if owner_type is None or owner_id is None:
            return {}
        index = 0 if owner_type is ObjectType.GROUP else 1
        handed: dict[Key, Key] = {}
        for key in held_by:
            mid, old = key[1], self.old.get(key)
            if not isinstance(mid, tuple) or mid[index] == owner_id or old is None:
                continue
            value_id: Hashable = change.object_id  # the value as the target holds it
            if change.value is None:  # in a replaced list: the value as recorded
                recorded = old.target_id
                assert isinstance(recorded, tuple)  # noqa: S101  # a value's: (owner, value)
                value_id = (owner_id, recorded[1])
            taker: Key = (
                ObjectType.MEMBERSHIP,
                (owner_id, mid[1]) if index == 0 else (mid[0], owner_id),
            )
            self._handed[taker] = (key, value_id, error)
            handed[taker] = key
        return handed

    def _replace_failed(self, change: Change) -> tuple[Key, ...]:
        """The records that hold a failed replaced list's error, besides its memberships'.

        The list is as it was: the memberships behind the new list keep
        their old forms while those are in the target (a renamed group's
        old name in ``isMemberOf``), and the owner holds the error too. (So
        do the memberships whose old values the list was to remove, the
        caller's part: one whose new value the list does not hold, the
        renamed group's insert failed, kept nothing in the target, and no
        retry removed its old value.) A retry then recalculates the owner
        and its whole list, the values the list was to remove included,
        which no membership of the new list would name.
        """
        self._stale.update((ObjectType.MEMBERSHIP, m) for m in change.memberships)
        assert change.owner_id is not None  # noqa: S101  # a replaced list has its owner
        owner = self.planned.behavior.membership_owner or ObjectType.GROUP
        return ((owner, change.owner_id),)

    @functools.cached_property
    def _groups_by_link(self) -> dict[Hashable, list[str]]:
        """The groups by their target id (this run's links)."""
        linked: dict[Hashable, list[str]] = {}
        for gid, tid in self.links[ObjectType.GROUP].items():
            linked.setdefault(tid, []).append(gid)
        return linked

    def _owner_now(self, change: Change, held_by: Sequence[Key]) -> tuple[Key, ...]:
        """The owner a failed membership delete's object has now, when its records miss it.

        The object may be one no record holds: a value the target holds for
        no membership Grouper gives or a record knows (a group that took
        over a target group by its name, with another group's members). Or
        its records name another owner: the group deleted, whose name
        another group took, so that a retry of the membership reads nothing.
        Then the owner's record holds the error too, and a retry
        recalculates the owner, values and membership objects all.
        """
        behavior = self.planned.behavior
        owner_type = behavior.membership_owner or ObjectType.GROUP
        index = 0 if owner_type is ObjectType.GROUP else 1
        if change.owner_id is not None:
            owner_id: Hashable = change.owner_id
        else:
            # A membership object, by its group's target id: the group linked to it now.
            target_group = change.object_id[0] if isinstance(change.object_id, tuple) else None
            groups = self._groups_by_link.get(target_group, [])
            if len(groups) != 1:
                return ()
            owner_id = groups[0]
        if held_by and all(
            isinstance(key[1], tuple) and key[1][index] == owner_id for key in held_by
        ):
            return ()  # its own records: a retry of them reads it
        return ((owner_type, owner_id),)

    def _unwanted(self, key: Key) -> bool:
        """Whether *key*'s record is left alone: not wanted, and not written to by this run."""
        wanted = self.wanted
        return (
            wanted is not None
            and key not in self.applied
            and key not in self.touched
            and key not in self._linked
            and not wanted(key)
        )

    def _record(self, key: Key, **changes: object) -> SyncRecord:
        """Update a record; updates of one record in one run build on each other."""
        base = self.out.get(key) or self.old.get(key)
        if self._unwanted(key):
            return base or SyncRecord(object_type=key[0], grouper_id=key[1])
        if (
            base is not None
            and base.error_code not in RETRIED_CODES
            and changes.get("error_code", base.error_code) not in RETRIED_CODES
            and all(getattr(base, name) == value for name, value in changes.items())
        ):
            # Nothing new: kept as it is (records() leaves it out unless the
            # store holds something else for it), not built again. A data
            # error found again is nothing new; a retried one is (its
            # last_sync paces the retries).
            self.out[key] = base
            return base
        # A new record is built at once (not a blank one evolved): one per new object.
        record = (
            SyncRecord(object_type=key[0], grouper_id=key[1], last_sync=self.now, **changes)  # type: ignore[arg-type]  # keyword fields of SyncRecord
            if base is None
            else replaced(base, last_sync=self.now, **changes)
        )
        self.out[key] = record
        return record

    def _membership_target_id(self, outcome: ChangeOutcome, object_id: tuple[str, str]) -> Hashable:
        """The target id of a membership object this run wrote."""
        if outcome.stored is not None and outcome.change.action is Action.INSERT:
            return outcome.stored.id
        group_id, entity_id = object_id
        return (
            self.links[ObjectType.GROUP].get(group_id, group_id),
            self.links[ObjectType.ENTITY].get(entity_id, entity_id),
        )

    def _since(self, old: SyncRecord | None) -> datetime:
        """When a provisionable object became so: as recorded, else now."""
        return old.provisionable_start if old and old.provisionable_start else self.now

    def _error_fields(self, key: Key) -> dict[str, object]:
        return error_fields(self.old.get(key), self.errors.get(key), self.now)

    def records(self) -> list[SyncRecord]:
        """Every record the run changed (that is wanted), each once, in its final state.

        A record that only says the run saw its object as recorded is left out
        (see :func:`~grouperprov._records.unchanged`): a full sync of a campus
        that has not changed writes no records.
        """
        self._update_all()
        ahead, old = self.ahead, self.old
        return [
            record
            for key, record in self.out.items()
            if (stored := ahead.get(key) or old.get(key)) is None
            or (record is not stored and not unchanged(stored, record))
        ]

    def _update_all(self) -> None:
        seen: set[Key] = set()
        links = self.links
        cached = self.cached
        for object_type in (ObjectType.GROUP, ObjectType.ENTITY):
            for wrapper in self.planned.comparison.wrappers[object_type].values():
                if wrapper.grouper is None:
                    self._target_only(object_type, wrapper.object_id)
                    continue
                key = (object_type, wrapper.object_id)
                seen.add(key)
                linked = links[object_type].get(str(wrapper.object_id))
                if linked is None and key in self.errors:
                    kept = self._kept_aside(key)
                    linked = None if kept is None else str(kept)
                self._provisionable(key, linked)
                if cached[object_type]:
                    self._cache(key, wrapper, cached[object_type])
        for key, (target_id, holder) in self._adopted.items():
            self._keeps(key, target_id, self.old[holder], in_target_end=None)
        for gid in self.planned.scope.errors:
            # Left out with an error (MEM): the error is kept on the group's record,
            # also when this run deleted the group from the target; a group left
            # out is not provisionable (it must not be in the target).
            key = (ObjectType.GROUP, gid)
            if key in self.errors:
                seen.add(key)
                base = self.out.get(key) or self.old.get(key)
                self._record(key, **self._error_fields(key), **self._ended(base))
        self._memberships(seen)
        self._subject_links(seen)
        self._values_deleted(seen)
        self._memberships_in_error(seen)
        self._values_handed_over(seen)
        unseen = self.old.keys() - seen  # in C: a no-change run sees every record
        if not unseen:
            return
        self._memberships_left(unseen)
        for key, old in self.old.items():
            if (
                key[0] is not ObjectType.MEMBERSHIP
                and key in unseen
                and (old.provisionable or old.error_code is not None or key in self.errors)
                and self._covered(key)
            ):
                # Out of Grouper's wish: not provisionable; a failed delete's error is
                # kept, and an error is over once the object is out of the target.
                self._record(key, **self._ended(old), **self._error_over(key, old))

    def _ended(self, record: SyncRecord | None) -> dict[str, object]:
        """The fields that end a record's provisionable span now (none if it has ended)."""
        if record is None or not record.provisionable:
            return {}
        return {"provisionable": False, "provisionable_end": self.now}

    def _values_deleted(self, seen: Collection[Key]) -> None:
        """The records of the membership values this run removed: not in the target now.

        A value is known by the memberships its change names (held in another
        form than written), else by the records that hold its target id; the
        memberships Grouper has (*seen*, recorded already) are left alone: the
        same value may have been written again for another one. Found with a
        recalc of a membership Grouper removed: the value went, and its
        record, outside the groups the run covers, still said "in the target".
        """
        for outcome in self.result.outcomes:
            change = outcome.change
            if not (
                outcome.ok
                and change.action is Action.DELETE
                and change.object_type is ObjectType.MEMBERSHIP
                and change.value is not None
            ):
                continue
            keys: list[Key] = [(ObjectType.MEMBERSHIP, m) for m in change.memberships]
            keys = keys or list(self._holders(ObjectType.MEMBERSHIP, change.object_id))
            for key in keys:
                old = self.out.get(key) or self.old.get(key)
                if key not in seen and old is not None and old.in_target:
                    self.touched.add(key)
                    self._record(key, in_target=False, in_target_end=self.now)

    def _values_handed_over(self, seen: set[Key]) -> None:
        """Record the member values a failed removal left on an object taken over (_hand_over)."""
        for taker, (left, target_id, _) in self._handed.items():
            old = self.old[left]
            seen.add(taker)
            recorded = self.out.get(taker)
            provisionable: dict[str, object] = (
                {}  # in Grouper, its value in error: recorded as such already
                if recorded is not None and recorded.provisionable
                else {
                    "provisionable": False,
                    "provisionable_start": old.provisionable_start,
                    "provisionable_end": old.provisionable_end or self.now,
                }
            )
            self._keeps(taker, target_id, old, **provisionable, **self._error_fields(taker))

    def _keeps(self, key: Key, target_id: Hashable, was: SyncRecord, **fields: object) -> None:
        """Record that *key* now holds *target_id*, an object that the record *was* held.

        The object is in the target still (a delete or removal of it
        failed), as that record said, and grouperprov's as it said.
        """
        self.touched.add(key)
        self._record(
            key,
            target_id=target_id,
            in_target=True,
            in_target_start=was.in_target_start,
            inserted_by_us=was.inserted_by_us,
            **fields,
        )

    def _memberships_in_error(self, seen: set[Key]) -> None:
        """Record the memberships Grouper gives whose translation failed (INV, REQ, LEN).

        With membership values, such a membership has no value, and so neither
        a change nor a wrapper: without this, its error was in the run's
        result but in no record (membership objects always had one), and an
        incremental run did not know the member was provisioned by it.
        """
        membership = ObjectType.MEMBERSHIP
        for mid in self.planned.translation.membership_errors:
            key: Key = (membership, mid)
            if key in seen or key not in self.errors:
                continue
            seen.add(key)
            self._record(
                key,
                provisionable=True,
                provisionable_start=self._since(self.old.get(key)),
                provisionable_end=None,
                **self._error_fields(key),
            )

    def _subject_links(self, seen: set[Key]) -> None:
        """Cache each entity's subject link in its record (made if entities are not operated)."""
        links = self.planned.subject_links
        if links is None:
            return
        operated = self.planned.behavior.entities.operate
        for eid, value in links.values.items():
            key: Key = (ObjectType.ENTITY, eid)
            seen.add(key)
            if key in self.out:  # recorded as an operated entity already
                self._record(key, subject_link=value)
                continue
            old = self.old.get(key)
            if self._unwanted(key):
                # Outside what a narrowed run covers (a member of a group it read
                # in part): its link is cached, and nothing else is said of it;
                # its errors, narrowed away, are not this run's to clear. Found
                # by a fuzzer: every linked entity's LEN was cleared so.
                if old is not None and old.subject_link != value:
                    self._linked.add(key)
                    self._record(key, subject_link=value)
                elif old is None and not operated:  # a record of its link alone
                    self._linked.add(key)
                    self._record(
                        key, subject_link=value, provisionable=True, provisionable_start=self.now
                    )
                continue
            if (
                old is not None
                and old.provisionable
                and old.subject_link == value
                and old.error_code is None
                and key not in self.errors
            ):
                continue  # nothing new: not written again
            self._record(
                key,
                subject_link=value,
                provisionable=True,
                provisionable_start=self._since(old),
                provisionable_end=None,
                **self._error_fields(key),
            )

    def _covered(self, key: Key) -> bool:
        """Whether the run looked at this object: what Grouper says of it is known.

        A group sync covers its groups (with their memberships); an
        incremental recalc its groups, its entities (each read with every
        membership) and its memberships. An object a run covers that Grouper
        does not give is not provisionable now.
        """
        planned = self.planned
        only = planned.groups_only
        if only is None:
            return True
        object_type, object_id = key
        if object_type is ObjectType.GROUP:
            return object_id in only
        if object_type is ObjectType.ENTITY:
            return object_id in planned.entities_covered
        return isinstance(object_id, tuple) and (
            object_id[0] in only
            or object_id[1] in planned.entities_covered
            or object_id in planned.memberships_covered
        )

    def _claim(self, key: Key, target_id: Hashable) -> None:
        """*key* is paired with *target_id*: an old record that had it no longer does.

        A group renamed to the name of a group deleted in the same batch takes
        over that group's target object (and its memberships theirs). The
        memberships behind one membership value share its target id: none of
        them takes it from another.
        """
        for other in self._holders(key[0], target_id):
            if (
                other == key
                or other in self._sharing.get(target_id, ())
                or not self._covered(other)
            ):
                continue
            current = self.out.get(other)
            if current is not None and current.target_id != target_id:
                continue  # recorded elsewhere by this run already
            if self.links.get(other[0], {}).get(str(other[1])) is not None:
                continue  # paired with another target object: recorded by its own step
            self.touched.add(other)
            self._claimed.add(other)
            self._record(other, in_target=False, in_target_end=self.now, target_id=None)

    def _provisionable(self, key: Key, target_id: str | None) -> None:
        if target_id is not None:
            self._claim(key, target_id)
        if self._unwanted(key):
            return  # what _record would do, without working out the fields
        old = self.old.get(key)
        outcome = self.applied.get(key)
        inserted = outcome is not None and outcome.ok and outcome.change.action is Action.INSERT
        in_target = target_id is not None or inserted
        ours = (old is not None and old.inserted_by_us) or inserted
        if target_id is not None and (old is None or old.target_id != target_id):
            ours = self._taken_over(key, target_id) or ours
            if old is not None and (key[0], old.target_id) in self._undeleted:
                # Paired with another object (a group renamed onto a name another
                # group left, whose object it took over), while the delete of its
                # own old object failed: the record keeps the old object, with the
                # error, until a retry deletes it. Moved at once, no record held
                # the old object, and no retry found it; under inserted_by_us
                # nothing said any more that grouperprov inserted it.
                target_id, ours = str(old.target_id), old.inserted_by_us
        self._record(
            key,
            target_id=target_id,
            provisionable=True,
            provisionable_start=self._since(old),
            provisionable_end=None,
            in_target=in_target,
            in_target_start=(old.in_target_start if old and old.in_target else self.now)
            if in_target
            else None,
            inserted_by_us=ours,
            **self._owner_error(key, old, target_id),
        )

    def _owner_error(
        self, key: Key, old: SyncRecord | None, target_id: str | None
    ) -> dict[str, object]:
        """A group's or entity's error fields; a retried error is kept where the run saw part of it.

        An owner of membership values whose list the run sees in part (a
        group sync sees a person's values of its groups only) may hold the
        error of a list that failed, kept on it so that a retry recalculates
        it whole: the values out of view (a deleted group's) are a retry's
        to remove. Cleared by such a run, the retry never came, and they
        stayed.
        """
        if (
            key[0] is self.planned.behavior.membership_owner
            and target_id is not None
            and target_id in self.planned.partly_seen
            and key not in self.errors
            and old is not None
            and old.error_code in RETRIED_CODES
        ):
            return {}
        return self._error_fields(key)

    def _taken_over(self, key: Key, target_id: Hashable) -> bool:
        """Whether *key* took over a target object that another record says grouperprov inserted.

        A new group named as a group Grouper deleted in the same batch
        matches that group's object by name, and takes it over. The object
        is still grouperprov's: kept as "found in the target", it was never
        deleted under ``inserted_by_us`` once the new group went too. The
        record it took the object from is noted in ``_took_over``, where
        :meth:`_membership_taken_over` finds the member values it had.
        """
        taken = False
        for other in self._holders(key[0], target_id):
            held = self.old.get(other)
            if other != key and held is not None:
                self._took_over[key] = other[1]
                taken = taken or held.inserted_by_us
        return taken

    def _membership_taken_over(self, key: Key, target_id: Hashable) -> bool:
        """Whether a membership found in the target is one grouperprov wrote for another.

        Known by its target id (a membership object, a person's ``isMemberOf``
        value), or for a group's member value, by the value under the group
        whose object this one's group took over (see :meth:`_taken_over`).
        Found as "already there", it was never removed under
        ``inserted_by_us``: a person kept a deleted group's name, a row named
        a deleted group.
        """
        held = self._by_target[ObjectType.MEMBERSHIP]
        other = held.get(target_id)
        if other is not None and other.grouper_id != key[1] and other.inserted_by_us:
            # The same object or value, another membership's (a group that took a
            # deleted group's name: the same isMemberOf value, the same row).
            return True
        owner = self.planned.behavior.membership_owner
        if owner is None or not self._took_over or not isinstance(target_id, tuple):
            return False
        previous = self._took_over.get((owner, target_id[0]))
        other = held.get((previous, target_id[1])) if previous is not None else None
        return other is not None and other.inserted_by_us

    def _cache(self, key: Key, wrapper: ProvisioningWrapper, names: tuple[str, ...]) -> None:
        """Keep the cached attributes' values: as written by this run, else as read."""
        outcome = self.applied.get(key)
        written = (
            wrapper.translated.bean
            if outcome is not None and outcome.ok and wrapper.translated is not None
            else None
        )
        seen = outcome.stored if outcome is not None and outcome.stored is not None else None
        seen = seen or wrapper.native
        record = self.out.get(key)
        if record is None:
            return  # not wanted
        values = cached_values(names, written, seen, record.links)
        if values != record.links:
            self.out[key] = attrs.evolve(record, links=values)

    def _target_only(self, object_type: ObjectType, target_id: Hashable) -> None:
        outcome = self.applied.get((object_type, target_id))
        if outcome is None or not outcome.ok or outcome.change.action is not Action.DELETE:
            return  # a failed delete: its records hold the error (see _failed_deletes)
        for key in self._holders(object_type, target_id):
            again = self.applied.get(key)
            if again is not None and again.ok and again.change.action is Action.INSERT:
                continue  # replaced by this run's insert (a rename changed its matching id)
            current = self.out.get(key)
            if current is not None and current.in_target and current.target_id != target_id:
                continue  # paired with another target object by this run (a rename)
            self.touched.add(key)
            self._record(key, in_target=False, in_target_end=self.now, target_id=None)

    def _holders(self, object_type: ObjectType, target_id: Hashable) -> Sequence[Key]:
        """The keys of the old records that hold *target_id* (see :meth:`SyncState.holders`)."""
        return self.planned.state.holders(object_type, target_id)

    def _as_recorded(self, key: Key, target_id: Hashable | None) -> bool:
        """Whether a membership in the target, not written by this run, is as its record says.

        Its record holds this target id, and no other record does (nothing
        to claim); it is in the target, provisionable since a known time,
        with no error; and the run has no error for it and has not recorded
        it otherwise: the general path of :meth:`_membership` would give the
        record back unchanged, which :meth:`records` leaves out, so nothing
        is done for it at all (a no-change sync of a million memberships
        does only this check for each, written out in :meth:`_memberships`).
        """
        if target_id is None:
            return False
        record = self._recorded_by.get(target_id)
        return (
            record is not None
            and record.grouper_id == key[1]
            and _settled(record)
            and (ObjectType.MEMBERSHIP, target_id) not in self._shared_ids
            and key not in self.errors
            and key not in self.out
        )

    def _membership(
        self, key: Key, target_id: Hashable | None, *, in_target: bool, inserted: bool
    ) -> None:
        """Record a provisionable membership (the origin kept, errors as of this run)."""
        if in_target and not inserted and self._as_recorded(key, target_id):
            return
        old = self.old.get(key)
        if (
            in_target
            and not inserted
            and target_id is not None
            and (old is None or not old.inserted_by_us)
        ):
            inserted = self._membership_taken_over(key, target_id)
        if key in self._stale and old is not None and old.in_target:
            # Its old form's delete failed: the record holds that form (and the
            # error) until a retry removes it, where this run's moves took it.
            target_id, in_target = self._moved_row(old.target_id), True
        if in_target and target_id is not None:
            self._claim(key, target_id)
        if old is None and key not in self.out and key not in self.errors:
            # A new membership without an error (most of a sync from empty):
            # what the general path below gives, built at once.
            if not self._unwanted(key):
                self.out[key] = self._new_membership(
                    key, target_id, in_target=in_target, inserted=inserted
                )
            return
        self._record(
            key,
            target_id=target_id,
            provisionable=True,
            provisionable_start=self._since(old),
            in_target=in_target,
            inserted_by_us=(old.inserted_by_us if old else False) or inserted,
            **self._error_fields(key),
        )

    def _new_membership(
        self, key: Key, target_id: Hashable | None, *, in_target: bool, inserted: bool
    ) -> SyncRecord:
        """The record of a membership new to the records, found without an error."""
        return SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=key[1],
            last_sync=self.now,
            target_id=target_id,
            provisionable=True,
            provisionable_start=self.now,
            in_target=in_target,
            inserted_by_us=inserted,
        )

    def _writes(self, outcome: ChangeOutcome, membership: Hashable) -> bool:
        """Whether a membership value change other than an insert wrote *membership*'s value.

        A replaced list writes the values it adds (``Change.added``): the
        others were in the target before it, and are not grouperprov's
        because the list that holds them was replaced. (An insert writes
        its values: the caller checks that first, on the hot path.)
        """
        change = outcome.change
        if change.action is not Action.REPLACE or not change.added:
            return False
        added = self._added.get(id(change))
        if added is None:
            added = self._added[id(change)] = frozenset(change.added)
        return membership in added

    def _intended(self, owner_id: str) -> bool:
        """Whether a membership owner's record is an insert intent of a run that did not finish.

        A run saves such an intent for a new owner before inserting it with
        its member values, and no intent for the values themselves: they
        were written with the owner, so the values found in the target with
        an owner whose insert was never recorded as done are grouperprov's.
        A run that finishes replaces every intent by the record of what it
        did (``last_sync`` set), so only a killed run leaves one.
        """
        owner = self.planned.behavior.membership_owner
        old = self.old.get((owner, owner_id)) if owner is not None else None
        return old is not None and old.inserted_by_us and old.last_sync is None

    def _memberships(self, seen: set[Key]) -> None:
        translation = self.planned.translation
        applied, errors, out = self.applied, self.errors, self.out
        membership, remember, shared = ObjectType.MEMBERSHIP, seen.add, self._shared_ids
        recorded = self._recorded_by.get
        before, unfiltered = self.old, self.wanted is None
        for owner_id, values in translation.membership_values.items():
            ours = self._intended(owner_id)
            for value in values.values():
                value_id = (owner_id, value.value)
                record = recorded(value_id)
                if len(value.memberships) > 1:
                    self._sharing[value_id] = frozenset((membership, m) for m in value.memberships)
                for mid in value.memberships:
                    key: Key = (membership, mid)
                    remember(key)
                    if (
                        record is not None
                        and record.grouper_id == mid
                        and _settled(record)
                        and (membership, value_id) not in shared
                        and key not in applied
                        and key not in errors
                        and key not in out
                    ):
                        continue  # the value was there already, as recorded (_as_recorded)
                    outcome = applied.get(key)
                    inserted = (
                        outcome is not None
                        and outcome.ok
                        and (outcome.change.action is Action.INSERT or self._writes(outcome, mid))
                    )
                    if (
                        inserted
                        and record is None
                        and unfiltered
                        and key not in before
                        and key not in out
                        and key not in errors
                        and (membership, value_id) not in shared
                    ):
                        # Written with its value and new to the records (most of a sync
                        # from empty): what _membership gives, built at once.
                        out[key] = self._new_membership(
                            key, value_id, in_target=True, inserted=True
                        )
                        continue
                    # No change planned and no error: the value was there already.
                    in_target = outcome.ok if outcome is not None else key not in errors
                    self._membership(
                        key,
                        value_id,
                        in_target=in_target,
                        inserted=inserted or (in_target and ours),
                    )
        wrappers = self.planned.comparison.wrappers[ObjectType.MEMBERSHIP]
        where = self._moved_membership
        if isinstance(wrappers, LazyMap):
            # Settled memberships: in the target as they should be, nothing planned.
            settled: Iterable[tuple[Any, Hashable]] = wrappers.lazy.items()
            if self.result.moved:
                settled = [(mid, where(settled_id)) for mid, settled_id in settled]
            for mid, settled_id in settled:
                key = (ObjectType.MEMBERSHIP, mid)
                seen.add(key)
                self._membership(key, settled_id, in_target=True, inserted=False)
            wrappers = wrappers.explicit
        for object_id, wrapper in wrappers.items():
            if wrapper.grouper is None:
                self._target_only(ObjectType.MEMBERSHIP, object_id)
                continue
            key = (ObjectType.MEMBERSHIP, object_id)
            seen.add(key)
            outcome = self.applied.get(key)
            target_id: Hashable | None = (
                where(wrapper.native.id) if wrapper.native is not None else None
            )
            inserted = (
                outcome is not None
                and outcome.ok
                and outcome.change.action in (Action.INSERT, Action.REPLACE)
                and target_id is None
            )
            if inserted and outcome is not None:
                target_id = self._membership_target_id(outcome, object_id)  # type: ignore[arg-type]  # a membership id
            elif target_id is None and key in self.errors:
                target_id = self._kept_aside(key)
            self._membership(key, target_id, in_target=target_id is not None, inserted=inserted)

    def _kept_aside(self, key: Key) -> Hashable | None:
        """The target id an object in error keeps: its record's, if that object was set aside.

        Found by fuzzing hand edits: a second row holding a membership's
        values (or a second group of the same name) made it MAT, and both
        target objects were set aside (left alone). The record then said it
        was not in the target, and held neither: once Grouper removed it,
        nothing said that the object grouperprov had inserted was its own,
        and under ``inserted_by_us`` it stayed for good.
        """
        old = self.old.get(key)
        if old is None or not old.in_target or old.target_id is None:
            return None
        if old.target_id not in self.planned.comparison.matches[key[0]].set_aside:
            return None
        if key[0] is ObjectType.MEMBERSHIP:
            return self._moved_membership(old.target_id)
        return old.target_id

    def _moved_membership(self, target_id: Hashable) -> Hashable:
        """A membership object's target id, after the moves of its group and entity this run made.

        A rename that moves a group (its key, its DN) moves the membership
        objects that name it, as a cascade does: their records take the new
        id, also when nothing about them changed.
        """
        moved = self.result.moved
        if not moved or not isinstance(target_id, tuple):
            return target_id
        group_id, entity_id = target_id
        return (
            moved.get(ObjectType.GROUP, {}).get(group_id, group_id),
            moved.get(ObjectType.ENTITY, {}).get(entity_id, entity_id),
        )

    def _moved_row(self, target_id: Hashable) -> Hashable:
        """*target_id* after this run's moves, if memberships are objects (see _moved_membership).

        A member value names no object of the target by its key: it stays.
        """
        if self.planned.behavior.membership_owner is not None:
            return target_id
        return self._moved_membership(target_id)

    def _memberships_left(self, unseen: Collection[Key]) -> None:
        """Record the memberships of old records this run did not see: not provisionable now."""
        lists = [
            o.change
            for o in self.result.outcomes
            if o.ok
            and o.change.action is Action.REPLACE
            and o.change.object_type is ObjectType.MEMBERSHIP
        ]
        replaced = {change.owner_id for change in lists}
        # The values of another owner's memberships a list removed (a group that
        # took over that owner's object, with its members).
        removed = {(ObjectType.MEMBERSHIP, m) for change in lists for m in change.removed}
        for key, old in self.old.items():
            if key[0] is ObjectType.MEMBERSHIP and key in unseen and self._covered(key):
                # By the value as recorded, or by the membership a delete of the value
                # as the target held it names (a DN in another case).
                outcome = self.applied.get((ObjectType.MEMBERSHIP, old.target_id)) or (
                    self.applied.get(key)
                )
                gone = outcome is not None and outcome.ok and outcome.change.action is Action.DELETE
                # Its value is left where another record now holds it (see _hand_over),
                # or another membership took its row over (see _claim): two people
                # who swap names, one of whom left the group. Recorded again as
                # still there, both records held the row, and a recalc of the
                # one who left read that record alone and deleted the other's row.
                gone = gone or key in self._handed_from or key in removed or key in self._claimed
                # A membership that is not provisionable any more left with a replaced list.
                gone = gone or (isinstance(key[1], tuple) and key[1][0] in replaced)
                if gone:
                    self.touched.add(key)
                # Still there, it went with its group or entity where this run moved
                # them (a rename that moves a key moves the rows that name it).
                moved = {} if gone else {"target_id": self._moved_row(old.target_id)}
                self._record(
                    key,
                    provisionable=False,
                    provisionable_end=self.now if old.provisionable else old.provisionable_end,
                    in_target=old.in_target and not gone,
                    in_target_end=self.now if gone else old.in_target_end,
                    **moved,
                    # A failed delete of it has its error (see _failed_deletes).
                    **self._error_over(key, old, gone=gone),
                )

    def _error_over(self, key: Key, old: SyncRecord, *, gone: bool = False) -> dict[str, object]:
        """The error fields of a record whose object leaves Grouper's wish, out of the target.

        Nothing is left to do for it: an error it had (an INV that kept it
        out of the target) is over, and is cleared, as an incremental run
        clears it. One the run found for it (or for an object still in the
        target, a failed delete) is kept. *gone*: this run took it out of
        the target (a replaced list without it): a failed delete's error is
        over too.
        """
        error = self.errors.get(key)
        if error is not None:
            return error_fields(old, error, self.now)
        current = self.out.get(key) or old
        if (current.in_target and not gone) or current.error_code is None:
            return {}
        return error_fields(old, None, self.now)


def _settled(record: SyncRecord) -> bool:
    """In the target, provisionable since a known time, and no error recorded."""
    return (
        record.in_target
        and record.provisionable
        and record.provisionable_start is not None
        and record.error_code is None
        and record.error_message is None
        and record.error_time is None
    )


def _cached_attributes(config: ProvisionerConfig) -> dict[ObjectType, tuple[str, ...]]:
    return {
        ObjectType.GROUP: config.groups.cached_attributes,
        ObjectType.ENTITY: config.entities.cached_attributes,
    }


def _without_links(translation: Translation, links: SubjectLinks) -> Translation:
    """Mark the entities whose subject link failed and who have none: not written."""
    entities = dict(translation.entities)
    for eid, error in links.errors.items():
        translated = entities.get(eid)
        if translated is not None and links.values.get(eid) is None:
            entities[eid] = attrs.evolve(translated, errors=(error, *translated.errors))
    return attrs.evolve(translation, entities=entities)


def _recorded_group(state: SyncState, group_id: str) -> bool:
    """Whether the sync records know a group by this id: its own, or a membership's.

    Groups that are not operated have no records of their own; their
    memberships' records name them (an entitlement on people).
    """
    if (ObjectType.GROUP, group_id) in state.records:
        return True
    return any(
        key[0] is ObjectType.MEMBERSHIP and isinstance(key[1], tuple) and key[1][0] == group_id
        for key in state.records
    )


def _left_behind(change: Change) -> bool:
    """Whether *change* removes values left on an object their owner no longer answers to."""
    return change.target_id is not None and any(r.rule == LEFT_BEHIND for r in change.reasons)


def _recorded_part(planned: FullPlan) -> Callable[[Key], bool]:
    """Whether a record is of what *planned*, a plan of the whole campus narrowed, covers."""
    groups = planned.groups_only or frozenset()
    entities, memberships = planned.entities_covered, planned.memberships_covered

    def wanted(key: Key) -> bool:
        object_type, object_id = key
        if object_type is ObjectType.GROUP:
            return object_id in groups
        if object_type is ObjectType.ENTITY:
            # The others' subject links the plan resolved are cached all the
            # same (the record keeper writes the link alone): see _subject_links.
            return object_id in entities
        return isinstance(object_id, tuple) and (
            object_id in memberships or object_id[0] in groups or object_id[1] in entities
        )

    return wanted


def _moved_entities(planned: FullPlan) -> list[str]:
    """Who a group sync pairs with a target object not their record's (entities operated)."""
    records = planned.state.records
    moved: list[str] = []
    for entity_id, target_id in planned.plan.links.get(ObjectType.ENTITY, {}).items():
        record = records.get((ObjectType.ENTITY, entity_id))
        if (
            record is not None
            and record.in_target
            and record.target_id is not None
            and record.target_id != target_id
        ):
            moved.append(entity_id)
    return moved


def _former_members(
    config: ProvisionerConfig, state: SyncState, selected: frozenset[str]
) -> frozenset[str]:
    """With ``entity_attributes``: who the records say holds a value of a selected group.

    A member who left a selected group keeps its value on their entry until
    a run looks at them: a group sync of the group now does, as a full sync
    would (the value goes; their other groups' values stay, see
    :func:`_selected_values`).
    """
    if config.memberships.type is not MembershipType.ENTITY_ATTRIBUTES:
        return frozenset()
    return frozenset(
        str(grouper_id[1])
        for (object_type, grouper_id), record in state.records.items()
        if object_type is ObjectType.MEMBERSHIP
        and isinstance(grouper_id, tuple)
        and grouper_id[0] in selected
        and record.in_target
    )


def _narrow(scope: Scope, selected: frozenset[str], former: frozenset[str]) -> Scope:
    """The part of *scope* a group sync of *selected* covers (*former*: members kept in view)."""
    memberships = tuple(m for m in scope.memberships if m.group_id in selected)
    members = {m.entity_id for m in memberships} | former
    return Scope(
        groups={g: p for g, p in scope.groups.items() if g in selected},
        entities={e: b for e, b in scope.entities.items() if e in members},
        memberships=memberships,
        errors={g: e for g, e in scope.errors.items() if g in selected},
        excluded={g: r for g, r in scope.excluded.items() if g in selected},
    )


def _target_of(
    translator: Translator,
    translation: Translation,
    target: TargetData,
    state: SyncState,
    selected: frozenset[str],
    *,
    hidden: dict[str, frozenset[Scalar]],
) -> TargetData:
    """The part of the target a group sync of *selected* may change.

    Its groups: those matching a selected group, or linked to one in the sync
    records (a selected group no longer provisionable); their membership
    objects, those of a linked group object the target lost, and those the
    records of the selected groups' memberships hold (found by fuzzing hand
    edits: a group row deleted by hand, its rows left, and a group sync that
    did not see them moved their records, or dropped a record's hold on an
    old row whose delete had failed, so the rows stayed for good);
    every entity (a group sync never deletes entities), with only the values
    of the selected groups in view (the others go to *hidden*, by entity).
    """
    matcher = Matcher(translator, ObjectType.GROUP)
    wanted = {
        mid
        for translated in translation.groups.values()
        for mid in matcher.matching_ids(translated.bean)
        if mid is not None
    }
    # The target ids the records of the selected groups hold, and of their memberships.
    linked: set[Hashable] = set()
    held: set[Hashable] = set()
    for (object_type, grouper_id), record in state.records.items():
        if record.target_id is None:
            continue
        if object_type is ObjectType.GROUP and grouper_id in selected:
            linked.add(record.target_id)
        elif (
            object_type is ObjectType.MEMBERSHIP
            and isinstance(grouper_id, tuple)
            and grouper_id[0] in selected
        ):
            held.add(record.target_id)
    groups = tuple(
        g
        for g in target.groups
        if g.id in linked
        or not wanted.isdisjoint(matcher.ids_answered(translator.from_target(ObjectType.GROUP, g)))
    )
    # And the membership objects of a selected group's object that is gone (a
    # hand delete of its row), and those its memberships' records hold.
    kept = {g.id for g in groups} | linked
    return TargetData(
        groups=groups,
        entities=_selected_values(translator, translation, target.entities, held, hidden=hidden),
        memberships=tuple(
            m for m in target.memberships if m.group_id in kept or (held and m.id in held)
        ),
    )


def _selected_values(
    translator: Translator,
    translation: Translation,
    entities: tuple[ProvisioningEntity, ...],
    held: Collection[Hashable],
    *,
    hidden: dict[str, frozenset[Scalar]],
) -> tuple[ProvisioningEntity, ...]:
    """*entities* with only the membership values a group sync may change.

    *held*: the target ids the records of the selected groups' memberships
    hold (for membership values, ``(owner, value)``).

    The values taken out of view go to *hidden*, by entity target id: a
    target that only replaces whole lists is sent them back with the list
    (they were dropped from it, and people lost their other groups).

    With ``entity_attributes``, a person's values (``eduPersonEntitlement``)
    come from all their groups, and the plan of a group sync knows the
    selected groups' memberships alone: every other value looked as if
    Grouper no longer had it, and was removed. The values kept in view are
    those the selected groups give now, and those their sync records say
    they gave (a member who left, a group renamed or deleted).
    """
    name = translator.membership_attribute
    if name is None or translator.config.memberships.type is not MembershipType.ENTITY_ATTRIBUTES:
        return entities
    allowed: set[Hashable] = set()
    for values in translation.membership_values.values():
        allowed.update(values)
    for target_id in held:
        if isinstance(target_id, tuple):
            allowed.update(_forms(translator, name, target_id[1]))
    # Every target entity passes here: where strings are their own compare
    # forms (the usual case), a set intersection keeps the allowed ones.
    plain = translator.strings_are_forms(ObjectType.ENTITY, name)
    narrowed: list[ProvisioningEntity] = []
    for entity in entities:
        value = entity.get(name)
        if not isinstance(value, frozenset):
            value = frozenset() if value is None else frozenset((value,))
        if plain and all(type(v) is str for v in value):
            kept = value.intersection(allowed)
        else:
            kept = frozenset(v for v in value if allowed.intersection(_forms(translator, name, v)))
        if kept == value:
            narrowed.append(entity)
            continue
        hidden[entity.id] = value - kept
        narrowed.append(entity.with_attributes({name: kept or None}))
    return tuple(narrowed)


def _forms(translator: Translator, name: str, value: object) -> frozenset[Hashable]:
    """The compare forms of one membership value read from the target (none if ignored)."""
    form = translator.target_compare_form(ObjectType.ENTITY, name, frozenset((value,)))  # type: ignore[arg-type]  # a value as read
    return form if isinstance(form, frozenset) else frozenset(() if form is None else (form,))
