"""check_target_dao: the contract every target DAO must keep, as runnable checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import attrs

from grouperprov._beans import (
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    bean_problems,
)
from grouperprov._codes import exception_text
from grouperprov._target import (
    AttributeChange,
    Capabilities,
    Operation,
    TargetDAO,
    WriteOutcome,
    capabilities_of,
)

__all__ = ["TargetContractError", "check_target_dao"]

Owner = ProvisioningGroup | ProvisioningEntity


class TargetContractError(AssertionError):
    """A target DAO broke its contract.

    Attributes:
        failures: Every broken rule, in words.
    """

    failures: tuple[str, ...]

    def __init__(self, dao_name: str, failures: Sequence[str]) -> None:
        self.failures = tuple(failures)
        lines = "\n".join(f"  - {f}" for f in self.failures)
        super().__init__(f"{dao_name} breaks the target DAO contract:\n{lines}")


class _Broken(Exception):  # noqa: N818  # a condition, as TargetUnavailable
    """A break the checks cannot go past: a read of non-beans, a write's non-outcomes."""


_BEANS: dict[str, type] = {
    "groups": ProvisioningGroup,
    "entities": ProvisioningEntity,
    "memberships": ProvisioningMembership,
}


def _read(dao: TargetDAO, plural: str) -> list[Any]:
    """``retrieve_all_<plural>()``: beans with text ids, else a :class:`_Broken` naming one."""
    method = f"retrieve_all_{plural}"
    items = list(getattr(dao, method)())
    problem = next(bean_problems(f"{method}()", items, _BEANS[plural]), None)
    if problem is not None:
        raise _Broken(problem)
    return items


def _outcomes(method: str, results: Iterable[object]) -> list[WriteOutcome]:
    """A bulk write's outcomes, or a :class:`_Broken` naming the first that is not one."""
    found = list(results)
    for result in found:
        if not isinstance(result, WriteOutcome):
            msg = f"{method} reported {type(result).__name__} {result!r:.80}, not a WriteOutcome"
            raise _Broken(msg)
    return cast("list[WriteOutcome]", found)


@attrs.frozen(kw_only=True)
class _Kind:
    singular: str
    plural: str
    sample: Owner
    other: Owner
    update_attribute: str | None
    multi_attribute: str | None


def check_target_dao(
    factory: Callable[[], TargetDAO],
    *,
    group: ProvisioningGroup | None = None,
    entity: ProvisioningEntity | None = None,
    update_attribute: str | None = "description",
    multi_valued_attribute: str | None = None,
    entity_update_attribute: str | None = None,
    membership: Callable[[str, str], ProvisioningMembership] | None = None,
) -> None:
    """Check that the DAOs *factory* makes keep the target DAO contract.

    Every declared operation is exercised on a fresh, empty target from
    *factory*. The checks: declared operations are implemented; inserted objects
    read back with their attributes and a target id; updates apply REPLACE (and,
    where declared, ADD and REMOVE, in order) exactly; deletes take effect and
    are idempotent; bulk methods report one :class:`~grouperprov.WriteOutcome`
    per object; reads return beans of their kind with text ids.

    Args:
        factory: Makes a fresh DAO over an empty target (a new temporary database,
            a cleaned directory subtree, a fresh in-memory object).
        group: A group as this target stores it (default: ``cn`` and
            ``description`` attributes). Its id is only a placeholder.
        entity: An entity as this target stores it (default: ``uid`` and ``mail``).
        update_attribute: A single-valued group attribute the checks may replace.
        multi_valued_attribute: A multi-valued group attribute the checks may add
            values to and remove values from (``None``: not checked).
        entity_update_attribute: A single-valued entity attribute to replace.
        membership: Makes a membership object from a group's and an entity's
            target ids (``None``: membership objects are not checked).

    Raises:
        TargetContractError: Listing every rule broken.
    """
    groups = _Kind(
        singular="group",
        plural="groups",
        sample=group
        or ProvisioningGroup(id="check-g1", attributes={"cn": "check-g1", "description": "one"}),
        other=_other(group)
        if group
        else ProvisioningGroup(id="check-g2", attributes={"cn": "check-g2", "description": "two"}),
        update_attribute=update_attribute,
        multi_attribute=multi_valued_attribute,
    )
    entities = _Kind(
        singular="entity",
        plural="entities",
        sample=entity
        or ProvisioningEntity(
            id="check-e1", attributes={"uid": "check-e1", "mail": "e1@example.edu"}
        ),
        other=_other(entity)
        if entity
        else ProvisioningEntity(
            id="check-e2", attributes={"uid": "check-e2", "mail": "e2@example.edu"}
        ),
        update_attribute=entity_update_attribute if entity else "mail",
        multi_attribute=None,
    )
    failures: list[str] = []
    try:
        caps = capabilities_of(factory())
    except TypeError as exc:
        raise TargetContractError(type(factory()).__name__, [str(exc)]) from None
    failures.extend(_declared_are_implemented(factory, caps))
    if failures:  # exercising operations that are not there would only crash
        raise TargetContractError(type(factory()).__name__, failures)
    checks = [_check_owner(factory, caps, kind) for kind in (groups, entities)]
    if membership is not None:
        checks.append(_check_memberships(factory, caps, groups, entities, membership))
    for check in checks:
        try:
            failures.extend(check)
        except _Broken as exc:  # what the check found before it stays listed
            failures.append(str(exc))
    if failures:
        raise TargetContractError(type(factory()).__name__, failures)


def _other(bean: Owner) -> Owner:
    """A second object like *bean*, with every string value made distinct."""
    changed = {
        name: f"{value}-2" if isinstance(value, str) else value
        for name, value in bean.attributes.items()
    }
    return bean.with_attributes(changed)


def _declared_are_implemented(
    factory: Callable[[], TargetDAO], caps: Capabilities
) -> Iterator[str]:
    kind = type(factory())
    for op in caps.operations:
        if getattr(kind, op.value) is getattr(TargetDAO, op.value):
            yield f"declares {op.value} but does not implement it"


def _insert(
    dao: TargetDAO, caps: Capabilities, kind: _Kind, beans: Sequence[Owner]
) -> tuple[list[str], list[str]]:
    """Insert *beans*; return (failures, target ids of what was stored)."""
    failures: list[str] = []
    bulk = Operation(f"insert_{kind.plural}")
    if caps.can(bulk):
        outcomes = _outcomes(bulk.value, getattr(dao, bulk.value)(list(beans)))
        if len(outcomes) != len(beans):
            failures.append(
                f"{bulk.value} returned {len(outcomes)} outcomes for {len(beans)} objects"
            )
        failures.extend(
            f"{bulk.value} failed for a valid object: {o.error}" for o in outcomes if not o.ok
        )
    else:
        single = getattr(dao, f"insert_{kind.singular}")
        for bean in beans:
            single(bean)
    stored = _read_all(dao, kind)
    ids: list[str] = []
    for bean in beans:
        found = _find(stored, bean)
        if found is None:
            failures.append(
                f"an inserted {kind.singular} does not read back with its attributes: "
                f"{dict(bean.attributes)}"
            )
        else:
            ids.append(found.id)
    return failures, ids


def _read_all(dao: TargetDAO, kind: _Kind) -> list[Owner]:
    return _read(dao, kind.plural)


def _find(stored: Sequence[Owner], bean: Owner) -> Owner | None:
    for candidate in stored:
        if all(_same(candidate.get(n), v) for n, v in bean.attributes.items()):
            return candidate
    return None


def _same(have: object, want: object) -> bool:
    def as_set(value: object) -> frozenset[Scalar]:
        if value is None:
            return frozenset()
        if isinstance(value, frozenset):
            return frozenset(str(v) for v in value)
        return frozenset((str(value),))

    return as_set(have) == as_set(want)


def _check_owner(
    factory: Callable[[], TargetDAO], caps: Capabilities, kind: _Kind
) -> Iterator[str]:
    can_insert = caps.can(Operation(f"insert_{kind.singular}")) or caps.can(
        Operation(f"insert_{kind.plural}")
    )
    if not (can_insert and caps.can(Operation(f"retrieve_all_{kind.plural}"))):
        return
    dao = factory()
    failures, ids = _insert(dao, caps, kind, [kind.sample, kind.other])
    yield from failures
    if len(ids) != 2:  # noqa: PLR2004  # the two objects inserted
        return
    if len(set(ids)) != 2:  # noqa: PLR2004
        yield f"two inserted {kind.plural} read back with the same target id {ids[0]!r}"
    yield from _check_update(dao, caps, kind, ids[0])
    yield from _check_delete(dao, caps, kind, ids)


def _current(dao: TargetDAO, kind: _Kind, target_id: str) -> Owner | None:
    return next((b for b in _read_all(dao, kind) if b.id == target_id), None)


def _update(
    dao: TargetDAO, caps: Capabilities, kind: _Kind, bean: Owner, changes: Sequence[AttributeChange]
) -> list[str]:
    bulk = Operation(f"update_{kind.plural}")
    if caps.can(bulk):
        outcomes = _outcomes(bulk.value, getattr(dao, bulk.value)([(bean, list(changes))]))
        if len(outcomes) != 1:
            return [f"{bulk.value} returned {len(outcomes)} outcomes for 1 update"]
        return [f"{bulk.value} failed for a valid update: {o.error}" for o in outcomes if not o.ok]
    getattr(dao, f"update_{kind.singular}")(bean, list(changes))
    return []


def _check_update(dao: TargetDAO, caps: Capabilities, kind: _Kind, target_id: str) -> Iterator[str]:
    if not (
        caps.can(Operation(f"update_{kind.singular}"))
        or caps.can(Operation(f"update_{kind.plural}"))
    ):
        return
    bean = _current(dao, kind, target_id)
    assert bean is not None  # noqa: S101  # just read back
    if kind.update_attribute:
        yield from _update(
            dao, caps, kind, bean, [AttributeChange.replace(kind.update_attribute, "changed")]
        )
        after = _current(dao, kind, target_id)
        if after is None or not _same(after.get(kind.update_attribute), "changed"):
            yield f"a REPLACE of {kind.update_attribute!r} on a {kind.singular} did not take effect"
    if kind.multi_attribute and caps.value_changes:
        name = kind.multi_attribute
        current = _current(dao, kind, target_id) or bean
        yield from _update(
            dao,
            caps,
            kind,
            current,
            [
                AttributeChange.add(name, ["check-a", "check-b"]),
                AttributeChange.remove(name, ["check-a"]),
            ],
        )
        after = _current(dao, kind, target_id)
        values = after.values(name) if after else frozenset()
        if "check-b" not in values or "check-a" in values:
            shown = sorted(map(str, values))
            yield f"ADD then REMOVE on {name!r} did not apply in order (values now {shown})"


def _check_delete(dao: TargetDAO, caps: Capabilities, kind: _Kind, ids: list[str]) -> Iterator[str]:
    bulk = Operation(f"delete_{kind.plural}")
    single = Operation(f"delete_{kind.singular}")
    if not (caps.can(bulk) or caps.can(single)):
        return
    beans = [b for b in _read_all(dao, kind) if b.id in ids]
    for _ in range(2):  # the second time checks idempotency
        if caps.can(bulk):
            outcomes = _outcomes(bulk.value, getattr(dao, bulk.value)(beans))
            if len(outcomes) != len(beans):
                yield f"{bulk.value} returned {len(outcomes)} outcomes for {len(beans)} objects"
            yield from (f"{bulk.value} failed: {o.error}" for o in outcomes if not o.ok)
        else:
            for bean in beans:
                try:
                    getattr(dao, single.value)(bean)
                except Exception as exc:  # noqa: BLE001  # reported as a broken rule
                    yield (
                        f"{single.value} of an already deleted {kind.singular} raised "
                        f"{exception_text(exc)}"
                    )
    left = [b.id for b in _read_all(dao, kind) if b.id in ids]
    if left:
        yield f"deleted {kind.plural} still read back: {left}"


def _check_memberships(
    factory: Callable[[], TargetDAO],
    caps: Capabilities,
    groups: _Kind,
    entities: _Kind,
    membership: Callable[[str, str], ProvisioningMembership],
) -> Iterator[str]:
    needed = (Operation.RETRIEVE_ALL_MEMBERSHIPS,)
    if not all(caps.can(op) for op in needed):
        return
    dao = factory()
    ids: list[str] = []
    for kind in (groups, entities):
        # A target that does not hold this kind (a membership table without an
        # entity table) refers to it by the id the engine gives.
        if not (
            caps.can(Operation(f"insert_{kind.singular}"))
            or caps.can(Operation(f"insert_{kind.plural}"))
        ):
            ids.append(kind.sample.id)
            continue
        failures, inserted = _insert(dao, caps, kind, [kind.sample])
        if failures or not inserted:
            return  # reported by the group and entity checks
        ids.append(inserted[0])
    group_id, entity_id = ids
    bean = membership(group_id, entity_id)
    if caps.can(Operation.INSERT_MEMBERSHIPS):
        outcomes = _outcomes("insert_memberships", dao.insert_memberships([bean]))
        if len(outcomes) != 1 or not outcomes[0].ok:
            yield f"insert_memberships did not report success for a valid membership: {outcomes}"
    elif caps.can(Operation.INSERT_MEMBERSHIP):
        dao.insert_membership(bean)
    elif caps.can(Operation.REPLACE_GROUP_MEMBERSHIPS):
        group = next(g for g in _read(dao, "groups") if g.id == group_id)
        dao.replace_group_memberships(group, [bean])
    else:
        return
    stored = _read(dao, "memberships")
    if not any(m.group_id == bean.group_id and m.entity_id == bean.entity_id for m in stored):
        yield "an inserted membership does not read back with its group and entity ids"
        return
    target = next(
        m for m in stored if m.group_id == bean.group_id and m.entity_id == bean.entity_id
    )
    for _ in range(2):
        if caps.can(Operation.DELETE_MEMBERSHIPS):
            outcomes = _outcomes("delete_memberships", dao.delete_memberships([target]))
            if len(outcomes) != 1 or not outcomes[0].ok:
                yield f"delete_memberships did not report success: {outcomes}"
        elif caps.can(Operation.DELETE_MEMBERSHIP):
            dao.delete_membership(target)
    deletes = caps.can(Operation.DELETE_MEMBERSHIPS) or caps.can(Operation.DELETE_MEMBERSHIP)
    if deletes and any(
        m.group_id == bean.group_id and m.entity_id == bean.entity_id
        for m in _read(dao, "memberships")
    ):
        yield "a deleted membership still reads back"
    if not deletes and caps.can(Operation.REPLACE_GROUP_MEMBERSHIPS):
        yield from _check_list_goes_with_group(dao, caps, groups, group_id)


def _check_list_goes_with_group(
    dao: TargetDAO, caps: Capabilities, groups: _Kind, group_id: str
) -> Iterator[str]:
    """A target that only replaces lists removes a deleted group's list with it."""
    deletes = caps.can(Operation.DELETE_GROUPS) or caps.can(Operation.DELETE_GROUP)
    if not deletes or list(_check_delete(dao, caps, groups, [group_id])):
        return  # no group deletes, or ones the group checks report broken
    if any(m.group_id == group_id for m in _read(dao, "memberships")):
        yield (
            "a deleted group's membership objects still read back: a target that only "
            "replaces membership lists must remove a group's list with the group "
            "(see TargetDAO.replace_group_memberships)"
        )
