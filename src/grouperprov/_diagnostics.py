"""Diagnostics: one group and/or subject through the pipeline, step by step.

:meth:`Provisioner.diagnostics <grouperprov.Provisioner.diagnostics>` builds a
:class:`Diagnostics` report: the configuration (secrets masked), the target's
capabilities, the behaviour computed from both, what Grouper has, what the
store knows, the translation, the target's object, the match, the plan, and,
when asked, what writing it did. Each step is readable text and plain data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._apply import read_target
from ._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership
from ._behavior import compute_behavior
from ._codes import ObjectError
from ._config import MembershipType, ObjectType
from ._narrow import narrowed, per_value, with_needed_inserts
from ._plan import _CONVERTER, Change, _bean_out, _id_out
from ._records import SyncType
from ._report import explain_object
from ._target import TargetData, capabilities_of
from ._translate import Translated
from .exceptions import ConfigError, TargetUnavailable

if TYPE_CHECKING:
    from ._provisioner import FullPlan, Provisioner, SyncResult
    from ._source import GrouperSnapshot
    from ._store import SyncState

__all__ = ["DiagnosticStep", "Diagnostics"]

_SECRET = re.compile(
    r"pass(word|wd|phrase)?|secret|token|credential|api_?key|private", re.IGNORECASE
)
MASK = "********"
_SHOWN = 20  # members listed by name before "and N more"
_OwnerT = TypeVar("_OwnerT", ProvisioningGroup, ProvisioningEntity)
_PLURAL = {ObjectType.GROUP: "groups", ObjectType.ENTITY: "entities"}


@attrs.frozen(kw_only=True)
class DiagnosticStep:
    """One step of a diagnostics run.

    Attributes:
        name: The step (``config``, ``capabilities``, ``behavior``, ``source``,
            ``records``, ``translation``, ``target``, ``match``, ``plan``,
            ``write``).
        lines: What it found, in words.
        data: The same as plain, JSON-compatible data.
    """

    name: str
    lines: tuple[str, ...]
    data: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class Diagnostics:
    """A diagnostics report (see :meth:`grouperprov.Provisioner.diagnostics`).

    Attributes:
        provisioner: The provisioner's name.
        group: The Grouper id of the group looked at, if any.
        subject: The Grouper id of the entity looked at, if any.
        steps: The steps, in pipeline order.
        result: When writes were asked for, the run's result.
    """

    provisioner: str
    group: str | None
    subject: str | None
    steps: tuple[DiagnosticStep, ...]
    result: SyncResult | None = None

    def step(self, name: str) -> DiagnosticStep:
        """The step called *name*.

        Raises:
            KeyError: There is no such step in this report.
        """
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def __str__(self) -> str:
        about = ", ".join(
            f"{kind} {value!r}"
            for kind, value in (("group", self.group), ("subject", self.subject))
            if value is not None
        )
        lines = [f"diagnostics of provisioner {self.provisioner!r} ({about})"]
        for step in self.steps:
            lines.append(f"== {step.name} ==")
            lines.extend(f"  {line}" for line in step.lines)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-compatible)."""
        return {
            "provisioner": self.provisioner,
            "group": self.group,
            "subject": self.subject,
            "steps": [
                {"name": s.name, "lines": list(s.lines), "data": dict(s.data)} for s in self.steps
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)


def mask_secrets(data: object) -> object:
    """A copy of *data* with the value of every key that names a secret masked.

    Keys are secret when they contain ``password``, ``secret``, ``token``,
    ``credential``, ``api_key`` or ``private`` (any case).
    """
    if isinstance(data, Mapping):
        return {
            key: MASK
            if isinstance(key, str) and _SECRET.search(key) and value is not None
            else mask_secrets(value)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [mask_secrets(item) for item in data]
    return data


def _error_out(error: ObjectError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code.value, "message": error.message, "attribute": error.attribute}


def _attributes_text(bean: ProvisioningGroup | ProvisioningEntity | ProvisioningMembership) -> str:
    if not bean.attributes:
        return "(no attributes)"
    return ", ".join(f"{name}={value!r}" for name, value in sorted(bean.attributes.items()))


class _Diagnoser:
    def __init__(self, provisioner: Provisioner, group: str | None, subject: str | None) -> None:
        self.p = provisioner
        self.snapshot: GrouperSnapshot = provisioner.source.snapshot()
        # Loaded once: planning uses it, and it finds objects gone from Grouper.
        self.state: SyncState = provisioner.store.load(provisioner.config.name)
        self._known: set[tuple[ObjectType, Hashable]] | None = None
        self.group: ProvisioningGroup | None = None
        self.subject: ProvisioningEntity | None = None
        self.gid: str | None = None
        self.eid: str | None = None
        if group is not None:
            self.group = self._find(self.snapshot.groups, group, "name")
            self.gid = self.group.id if self.group else self._recorded(ObjectType.GROUP, group)
        if subject is not None:
            self.subject = self._find(self.snapshot.entities, subject, "subject_id")
            self.eid = (
                self.subject.id if self.subject else self._recorded(ObjectType.ENTITY, subject)
            )

    def _owners(self) -> list[tuple[ObjectType, str]]:
        """The group and entity looked at, by object type."""
        return [
            (object_type, object_id)
            for object_type, object_id in (
                (ObjectType.GROUP, self.gid),
                (ObjectType.ENTITY, self.eid),
            )
            if object_id is not None
        ]

    # -- finding the objects ----------------------------------------------------

    @staticmethod
    def _find(beans: Iterable[_OwnerT], wanted: str, name_field: str) -> _OwnerT | None:
        for bean in beans:
            if wanted in (bean.id, bean.get(name_field)):
                return bean
        return None

    def _recorded(self, object_type: ObjectType, wanted: str) -> str:
        """*wanted* as the id of an object gone from Grouper that the sync records know."""
        if self._known is None:
            known: set[tuple[ObjectType, Hashable]] = set()
            for kind, key in self.state.records:
                known.add((kind, key))
                if kind is ObjectType.MEMBERSHIP and isinstance(key, tuple):
                    known.update(((ObjectType.GROUP, key[0]), (ObjectType.ENTITY, key[1])))
            self._known = known
        if (object_type, wanted) in self._known:
            return wanted
        what = (
            f"no group {wanted!r} in Grouper (neither an id nor a full name)"
            if object_type is ObjectType.GROUP
            else f"no subject {wanted!r} among Grouper's members (neither a member id "
            "nor a subject id)"
        )
        msg = f"{what}, and no sync record of {self.p.config.name!r} has that id"
        raise LookupError(msg)

    # -- the steps ----------------------------------------------------------------

    def run(self, *, write: bool) -> Diagnostics:
        steps = [self._config(), self._capabilities()]
        target_data, unread = self._read_target()
        planned = self.p._plan(  # noqa: SLF001  # the provisioner's own planning
            frozenset({self.gid}) if self.gid is not None else None,
            self.snapshot,
            self.state,
            target_data=target_data,
        )
        steps.append(
            DiagnosticStep(
                name="behavior",
                lines=tuple(str(planned.behavior).splitlines()),
                data={
                    "membership_type": planned.behavior.membership_type.value,
                    **{
                        t.value + "s": str(planned.behavior.of(t))
                        for t in (ObjectType.GROUP, ObjectType.ENTITY, ObjectType.MEMBERSHIP)
                    },
                },
            )
        )
        steps += [self._source(planned), self._records(planned), self._translation(planned)]
        if unread is not None:
            # What a run that stops there would say; the steps before it still tell.
            steps.append(unread)
            return Diagnostics(
                provisioner=self.p.config.name,
                group=self.gid,
                subject=self.eid,
                steps=tuple(steps),
            )
        steps += [self._target(planned), self._match(planned)]
        changes = self._changes(planned)
        steps.append(self._plan_step(planned, changes))
        result = None
        if write:
            result = self._write(planned, changes)
            steps.append(
                DiagnosticStep(
                    name="write",
                    lines=tuple(result.summary().splitlines()),
                    data={
                        "status": result.status.value,
                        "outcomes": [
                            {
                                "change": o.change.describe(),
                                "ok": o.ok,
                                "error": _error_out(o.error),
                            }
                            for o in result.outcomes
                        ],
                    },
                )
            )
        return Diagnostics(
            provisioner=self.p.config.name,
            group=self.gid,
            subject=self.eid,
            steps=tuple(steps),
            result=result,
        )

    def _read_target(self) -> tuple[TargetData, DiagnosticStep | None]:
        """What the target holds; where it cannot be read, nothing and the step that says why.

        A target that cannot be reached, or whose own settings do not fit
        (a :class:`~grouperprov.targets.SqlTarget` layout its tables lack),
        is what an operator runs diagnostics for: the report shows the steps
        that need no target, then the reason, rather than raise it.
        """
        behavior = compute_behavior(self.p.config, capabilities_of(self.p.target))
        try:
            return read_target(self.p.target, behavior), None
        except (TargetUnavailable, ConfigError) as exc:
            kind = type(exc).__name__
            step = DiagnosticStep(
                name="target",
                lines=(
                    f"the target could not be read ({kind}): {exc}",
                    "the match, the plan and any write need it: none was done",
                ),
                data={"error": {"type": kind, "message": str(exc)}},
            )
            return TargetData(), step

    def _config(self) -> DiagnosticStep:
        data = mask_secrets(self.p.config.to_dict())
        assert isinstance(data, dict)  # noqa: S101  # a mapping stays a mapping
        text = json.dumps(data, indent=2, sort_keys=True, default=str)
        target = type(self.p.target)
        store = type(self.p.store)
        lines = (
            f"target: {target.__module__}.{target.__qualname__}",
            f"store: {store.__module__}.{store.__qualname__}",
            *text.splitlines(),
        )
        return DiagnosticStep(name="config", lines=lines, data={"config": data})

    def _capabilities(self) -> DiagnosticStep:
        caps = capabilities_of(self.p.target)
        return DiagnosticStep(
            name="capabilities",
            lines=tuple(str(caps).splitlines()),
            data={
                "operations": sorted(op.value for op in caps.operations),
                "batch_sizes": {op.value: n for op, n in caps.batch_sizes.items()},
                "value_changes": caps.value_changes,
                "attributes": {t.value: sorted(names) for t, names in caps.attributes.items()},
                "case_insensitive": {
                    t.value: sorted(names) for t, names in caps.case_insensitive.items()
                },
            },
        )

    def _source(self, planned: FullPlan) -> DiagnosticStep:
        scope = planned.scope
        lines: list[str] = []
        data: dict[str, Any] = {}
        gid, eid = self.gid, self.eid
        if self.group is None and gid is not None:
            lines.append(f"group {gid!r}: not in Grouper (the sync records know it)")
            data["group"] = {"bean": None, "provisionable": False, "why": "not in Grouper"}
        if self.group is not None and gid is not None:
            decided = scope.groups.get(gid)
            if decided is not None:
                why = (
                    f"provisionable (marker on {decided.marked_at!r}, "
                    f"scope {decided.marker.scope.value})"
                )
            elif gid in scope.errors:
                why = f"not provisionable: {scope.errors[gid]}"
            else:
                why = f"not provisionable: {scope.excluded.get(gid, 'unknown')}"
            members = sorted(m.entity_id for m in self.snapshot.memberships if m.group_id == gid)
            lines.append(f"group {self.group.get('name')!r} [{gid}]: {why}")
            lines.append(f"  attributes: {_attributes_text(self.group)}")
            lines.append(f"  members in Grouper: {len(members)}" + _listed(members))
            data["group"] = {
                "bean": _bean_out(self.group),
                "provisionable": decided is not None,
                "why": why,
                "members": members,
            }
        if self.subject is None and eid is not None:
            lines.append(
                f"subject {eid!r}: not a member of any group in Grouper (the sync records know it)"
            )
            data["subject"] = {"bean": None, "provisionable": False, "groups": []}
        if self.subject is not None and eid is not None:
            in_scope = eid in scope.entities
            groups = sorted(m.group_id for m in self.snapshot.memberships if m.entity_id == eid)
            lines.append(
                f"subject {self.subject.get('subject_id')!r} [{eid}]: "
                + ("provisionable" if in_scope else self._why_not_entity())
            )
            lines.append(f"  attributes: {_attributes_text(self.subject)}")
            lines.append(f"  groups in Grouper: {len(groups)}" + _listed(groups))
            data["subject"] = {
                "bean": _bean_out(self.subject),
                "provisionable": in_scope,
                "groups": groups,
            }
            links = planned.subject_links
            if links is not None and eid in links.values:
                how = (
                    "the lookup failed"
                    if eid in links.errors
                    else "resolved this run"
                    if eid in links.changed or eid in links.refreshed
                    else "cached"
                )
                lines.append(f"  subject link: {links.values[eid]!r} ({how})")
                if eid in links.errors:
                    lines.append(f"  subject link error: {links.errors[eid]}")
                data["subject"]["subject_link"] = links.values[eid]
            if gid is not None:
                member = gid in groups
                lines.append(f"membership of the subject in the group: {'yes' if member else 'no'}")
                data["membership"] = member
        return DiagnosticStep(name="source", lines=tuple(lines), data=data)

    def _why_not_entity(self) -> str:
        settings = self.p.config.provisionable
        assert self.subject is not None  # noqa: S101  # only asked about a subject
        source = self.subject.get("subject_source_id")
        if settings.subject_sources and source not in settings.subject_sources:
            return f"not provisionable: its source {source!r} is not in subject_sources"
        if self.gid is not None:
            return "not provisionable here: not a provisionable member of this group"
        return "not provisionable: not a member of any provisionable group" + (
            f" (or not a member of {settings.required_group!r})" if settings.required_group else ""
        )

    def _records(self, planned: FullPlan) -> DiagnosticStep:
        lines: list[str] = []
        data: dict[str, Any] = {}
        for object_type, object_id in self._owners():
            text = explain_object(planned.state, object_type, object_id)
            lines.extend(text.splitlines())
            record = planned.state.records.get((object_type, object_id))
            data[object_type.value] = (
                None
                if record is None
                else {
                    "target_id": _id_out(record.target_id),  # type: ignore[arg-type]  # str or tuple
                    "provisionable": record.provisionable,
                    "in_target": record.in_target,
                    "inserted_by_us": record.inserted_by_us,
                    "links": list(record.links),
                    "subject_link": record.subject_link,
                    "error_code": record.error_code.value if record.error_code else None,
                    "error_message": record.error_message,
                }
            )
        return DiagnosticStep(name="records", lines=tuple(lines), data=data)

    def _translation(self, planned: FullPlan) -> DiagnosticStep:
        translation = planned.translation
        lines: list[str] = []
        data: dict[str, Any] = {}
        tables: dict[ObjectType, Mapping[str, Translated[Any]]] = {
            ObjectType.GROUP: translation.groups,
            ObjectType.ENTITY: translation.entities,
        }
        for object_type, object_id in self._owners():
            if not planned.behavior.of(object_type).operate:
                lines.append(f"{object_type.value}: {_PLURAL[object_type]} are not operated on")
                data[object_type.value] = None
                continue
            translated = tables[object_type].get(object_id)
            if translated is None:
                lines.append(f"{object_type.value}: not translated (not provisionable here)")
                data[object_type.value] = None
                continue
            lines.append(f"{object_type.value}: {_attributes_text(translated.bean)}")
            if translated.create_only:
                shown = ", ".join(f"{k}={v!r}" for k, v in sorted(translated.create_only.items()))
                lines.append(f"  create only: {shown}")
            lines.extend(f"  error: {e}" for e in translated.errors)
            data[object_type.value] = {
                "bean": _bean_out(translated.bean),
                "create_only": {k: _plain(v) for k, v in translated.create_only.items()},
                "errors": [_error_out(e) for e in translated.errors],
            }
        if self.gid is not None and self.eid is not None:
            mid = (self.gid, self.eid)
            if planned.behavior.membership_type is MembershipType.MEMBERSHIP_OBJECTS:
                membership = translation.memberships.get(mid)
                if membership is not None:
                    lines.append(f"membership: {_attributes_text(membership.bean)}")
                    lines.extend(f"  error: {e}" for e in membership.errors)
                    data["membership"] = {
                        "bean": _bean_out(membership.bean),
                        "errors": [_error_out(e) for e in membership.errors],
                    }
            else:
                owner = self.gid if planned.behavior.membership_owner is ObjectType.GROUP else None
                owner = owner or self.eid
                values = [
                    v.value
                    for v in translation.membership_values.get(owner, {}).values()
                    if mid in v.memberships
                ]
                if values:
                    attribute = self.p.config.memberships.attribute
                    name = attribute.name if attribute is not None else "?"
                    shown = ", ".join(repr(v) for v in values)
                    lines.append(f"membership: the value {shown} of {owner!r}'s {name}")
                    data["membership"] = {"attribute": name, "values": values}
            error = translation.membership_errors.get(mid)
            if error:
                lines.extend(f"  membership error: {e}" for e in error)
                data["membership_errors"] = [_error_out(e) for e in error]
        return DiagnosticStep(name="translation", lines=tuple(lines), data=data)

    def _target(self, planned: FullPlan) -> DiagnosticStep:
        wrappers = planned.comparison.wrappers
        lines: list[str] = []
        data: dict[str, Any] = {}
        for object_type, object_id in self._owners():
            if not planned.behavior.of(object_type).operate:
                lines.append(f"{object_type.value}: {_PLURAL[object_type]} are not operated on")
                data[object_type.value] = None
                continue
            wrapper = wrappers.get(object_type, {}).get(object_id)
            native = wrapper.native if wrapper is not None else None
            if native is None:
                lines.append(f"{object_type.value}: no matching object in the target")
                data[object_type.value] = None
            else:
                lines.append(f"{object_type.value}: {native.id!r}: {_attributes_text(native)}")
                data[object_type.value] = _bean_out(native)
        if self.gid is not None and self.eid is not None:
            wrapper = wrappers.get(ObjectType.MEMBERSHIP, {}).get((self.gid, self.eid))
            if wrapper is not None and wrapper.native is not None:
                lines.append(f"membership: {_attributes_text(wrapper.native)}")
                data["membership"] = _bean_out(wrapper.native)
        return DiagnosticStep(name="target", lines=tuple(lines), data=data)

    def _match(self, planned: FullPlan) -> DiagnosticStep:
        matches = planned.comparison.matches
        lines: list[str] = []
        data: dict[str, Any] = {}
        for object_type, object_id in self._owners():
            result = matches.get(object_type)
            if result is None:
                lines.append(f"{object_type.value}: {_PLURAL[object_type]} are not operated on")
                data[object_type.value] = None
                continue
            target_id = result.pairs.get(object_id)
            by = result.matched_by.get(object_id)
            error = result.errors.get(object_id)
            if target_id is not None:
                lines.append(f"{object_type.value}: paired with {target_id!r} by {by}")
            elif error is not None:
                lines.append(f"{object_type.value}: {error}")
            elif object_id in result.unmatched_translated:
                lines.append(f"{object_type.value}: no target object matches (insert candidate)")
            else:
                lines.append(f"{object_type.value}: not matched (not provisionable here)")
            data[object_type.value] = {
                "target_id": _id_out(target_id) if target_id is not None else None,  # type: ignore[arg-type]  # str or tuple
                "matched_by": str(by) if by is not None else None,
                "error": _error_out(error),
            }
        return DiagnosticStep(name="match", lines=tuple(lines), data=data)

    def _concerns(self, object_id: Hashable) -> bool:
        """Whether a plan's object id is the group's, the entity's or a membership of them."""
        if isinstance(object_id, tuple):
            return bool(object_id[0] == self.gid or object_id[1] == self.eid)
        return object_id is not None and object_id in (self.gid, self.eid)

    def _involves(self, change: Change) -> bool:
        if change.object_type is ObjectType.MEMBERSHIP:
            return self._concerns(change.owner_id) or any(
                self._concerns(p) for p in _pairs(change) if isinstance(p, tuple)
            )
        return self._concerns(change.object_id)

    def _changes(self, planned: FullPlan) -> tuple[Change, ...]:
        if self.gid is not None:
            # A group sync of the group: every change of it is the group's.
            return tuple(planned.plan.changes)
        # With them, the inserts of the groups the subject's new memberships need.
        changes = per_value(planned.plan.changes, planned.translation)
        own = [c for c in changes if self._involves(c)]
        return with_needed_inserts(changes, own)

    def _plan_step(self, planned: FullPlan, changes: tuple[Change, ...]) -> DiagnosticStep:
        lines: list[str] = []
        for change in changes:
            lines.append(change.describe())
            lines.extend(f"  because {reason}" for reason in change.reasons)
        errors = [e for e in planned.plan.errors if self._concerns(e.object_id)]
        lines.extend(f"{e.object_type.value} {e.object_id!r} left alone: {e.error}" for e in errors)
        if planned.failsafe:
            lines.extend(f"failsafe: {reason}" for reason in planned.failsafe)
        if not lines:
            lines.append("nothing to do: the target agrees with Grouper")
        return DiagnosticStep(
            name="plan",
            lines=tuple(lines),
            data={
                "changes": [_CONVERTER.unstructure(c) for c in changes],
                "errors": [
                    {
                        "object_type": e.object_type.value,
                        "object_id": _id_out(e.object_id),
                        "error": _error_out(e.error),
                    }
                    for e in errors
                ],
                "failsafe": list(planned.failsafe),
            },
        )

    def _write(self, planned: FullPlan, changes: tuple[Change, ...]) -> SyncResult:
        if self.gid is not None:
            # The plan of a group sync of the group: applied as sync_group would.
            return self.p.apply(planned)
        # A subject alone: only its changes, as a group sync covering no group
        # (so no other object's records change, and no full sync is recorded).
        narrowed_plan = narrowed(
            planned,
            self.p.config,
            changes,
            sync_type=SyncType.GROUP,
            groups_only=frozenset(),
        )
        return self.p.apply(narrowed_plan)


def _pairs(change: Change) -> tuple[Hashable, ...]:
    """A membership change's object id and the memberships behind it."""
    return (change.object_id, *change.memberships)


def _listed(ids: list[str]) -> str:
    if not ids:
        return ""
    shown = ", ".join(ids[:_SHOWN])
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return f" ({shown}{more})"


def _plain(value: object) -> object:
    return sorted(value, key=str) if isinstance(value, frozenset) else value


def diagnose(
    provisioner: Provisioner, *, group: str | None, subject: str | None, write: bool
) -> Diagnostics:
    """Build the report of :meth:`Provisioner.diagnostics`."""
    if group is None and subject is None:
        msg = "diagnostics needs a group, a subject or both"
        raise ValueError(msg)
    return _Diagnoser(provisioner, group, subject).run(write=write)
