"""Subject links: resolved once, cached in the sync records, refreshed a few per run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from grouperprov import (
    ObjectType,
    Provisioner,
    ProvisionerConfig,
    SyncErrorCode,
    SyncStatus,
    TranslationContext,
)
from grouperprov.exceptions import ConfigError, TargetUnavailable
from grouperprov.stores import MemorySyncStore, SqliteSyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "wiki"


class Directory:
    """A stand-in for an expensive lookup (LDAP, a REST call): counts its calls."""

    def __init__(self) -> None:
        self.eppn = {f"u{i}": f"u{i}@campus.edu" for i in range(4)}
        self.calls: Counter[str] = Counter()
        self.broken: set[str] = set()

    def __call__(self, ctx: TranslationContext) -> object:
        subject = str(ctx.field("subject_id"))
        self.calls[subject] += 1
        if subject in self.broken:
            msg = f"directory timed out for {subject}"
            raise TimeoutError(msg)
        return self.eppn.get(subject)


def _config(directory: Directory, **link: Any) -> ProvisionerConfig:
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "eppn"},
            },
            "subject_link": {"function": directory, "attribute": "eppn", **link},
        }
    )


def _source() -> InMemorySource:
    source = InMemorySource()
    source.add_group("apps:wiki:editors")
    source.add_group("apps:wiki:readers")
    for i in range(4):
        source.add_subject(f"u{i}")
        source.add_member("apps:wiki:readers", f"u{i}")
    source.add_member("apps:wiki:editors", "u0")
    source.mark("apps:wiki", P)
    return source


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def _provisioner(
    directory: Directory, store: Any = None, target: Any = None, **link: Any
) -> Provisioner:
    kwargs: dict[str, Any] = {"clock": Clock()}
    if store is not None:
        kwargs["store"] = store
    return Provisioner(
        _config(directory, **link),
        _source(),
        target or InMemoryTarget(id_attributes={"group": "cn"}),
        **kwargs,
    )


def _members(target: InMemoryTarget, cn: str) -> frozenset[object]:
    value = target.groups[cn].get("member")
    assert isinstance(value, frozenset)
    return value


def test_each_subject_is_resolved_once_and_the_link_is_cached(tmp_path: Path) -> None:
    directory = Directory()
    store = SqliteSyncStore(tmp_path / "state.db")
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = _provisioner(directory, store, target)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert directory.calls == Counter({f"u{i}": 1 for i in range(4)})
    assert _members(target, "editors") == {"u0@campus.edu"}
    assert len(_members(target, "readers")) == 4
    record = store.load(P).records[(ObjectType.ENTITY, "mem-u2")]
    assert record.subject_link == "u2@campus.edu"
    assert record.provisionable
    # Later runs, even by another process on the same store, reuse the links.
    again = _provisioner(directory, SqliteSyncStore(tmp_path / "state.db"), target)
    planned = again.plan_full()
    assert planned.subject_links is not None
    assert planned.subject_links.calls == 0
    assert not planned.plan.changes
    again.full_sync()
    assert sum(directory.calls.values()) == 4


def test_a_new_subject_alone_is_resolved() -> None:
    directory = Directory()
    prov = _provisioner(directory)
    prov.full_sync()
    directory.eppn["u9"] = "nine@campus.edu"
    assert isinstance(prov.source, InMemorySource)
    prov.source.add_subject("u9")
    prov.source.add_member("apps:wiki:editors", "u9")
    prov.full_sync()
    assert directory.calls["u9"] == 1
    assert sum(directory.calls.values()) == 5
    assert isinstance(prov.target, InMemoryTarget)
    assert _members(prov.target, "editors") == {"u0@campus.edu", "nine@campus.edu"}


def test_refreshes_are_bounded_per_run_and_rotate() -> None:
    directory = Directory()
    prov = _provisioner(directory, refresh_per_run=1)
    prov.full_sync()
    refreshed: set[str] = set()
    for _ in range(12):
        planned = prov.plan_full()
        assert planned.subject_links is not None
        assert planned.subject_links.calls == 1
        assert len(planned.subject_links.refreshed) == 1
        refreshed |= planned.subject_links.refreshed
        prov.apply(planned)
    # A different subject comes up as runs go by (12 runs, 4 subjects).
    assert len(refreshed) > 1


def test_a_refreshed_link_that_changed_updates_the_target() -> None:
    directory = Directory()
    prov = _provisioner(directory, refresh_per_run=4)
    prov.full_sync()
    directory.eppn["u0"] = "zero@campus.edu"
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS
    assert isinstance(prov.target, InMemoryTarget)
    assert _members(prov.target, "editors") == {"zero@campus.edu"}
    assert "u0@campus.edu" not in _members(prov.target, "readers")
    record = prov.store.load(P).records[(ObjectType.ENTITY, "mem-u0")]
    assert record.subject_link == "zero@campus.edu"


def test_a_failing_lookup_is_an_error_on_that_subject_only_and_is_retried() -> None:
    directory = Directory()
    directory.broken.add("u1")
    prov = _provisioner(directory)
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    error = result.errors[(ObjectType.ENTITY, "mem-u1")]
    assert error.code is SyncErrorCode.ERR
    assert error.message == "subject link failed: TimeoutError: directory timed out for u1"
    assert isinstance(prov.target, InMemoryTarget)
    assert _members(prov.target, "readers") == {
        "u0@campus.edu",
        "u2@campus.edu",
        "u3@campus.edu",
    }
    record = prov.store.load(P).records[(ObjectType.ENTITY, "mem-u1")]
    assert record.error_code is SyncErrorCode.ERR
    assert record.subject_link is None
    # Fixed: the next run resolves it, provisions it and clears the error.
    directory.broken.clear()
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert "u1@campus.edu" in _members(prov.target, "readers")
    record = prov.store.load(P).records[(ObjectType.ENTITY, "mem-u1")]
    assert record.error_code is None
    assert record.subject_link == "u1@campus.edu"


def test_a_failing_refresh_keeps_the_cached_link() -> None:
    directory = Directory()
    prov = _provisioner(directory, refresh_per_run=4)
    prov.full_sync()
    directory.broken.add("u2")
    result = prov.full_sync()
    assert result.errors[(ObjectType.ENTITY, "mem-u2")].code is SyncErrorCode.ERR
    assert isinstance(prov.target, InMemoryTarget)
    assert "u2@campus.edu" in _members(prov.target, "readers")
    record = prov.store.load(P).records[(ObjectType.ENTITY, "mem-u2")]
    assert record.subject_link == "u2@campus.edu"
    assert record.error_code is SyncErrorCode.ERR


def test_a_function_returning_something_else_than_text_is_an_error() -> None:
    directory = Directory()
    directory.eppn["u3"] = ["not", "text"]  # type: ignore[assignment]  # the bad value under test
    prov = _provisioner(directory)
    result = prov.full_sync()
    assert result.errors[(ObjectType.ENTITY, "mem-u3")].message == (
        "subject link failed: TypeError: the function returned list ['not', 'text'], "
        "not a str, an int or None"
    )


def test_incremental_membership_adds_write_the_members_links(tmp_path: Path) -> None:
    """A cached link is used; a new subject's is resolved once, then cached.

    Before, every membership added by an incremental run as the event said
    got REQ ("the member gives no membership value"): the member, read from
    the source, had no link, cached or not. It stayed out of the target
    until the next full sync.
    """
    directory = Directory()
    store = SqliteSyncStore(tmp_path / "state.db")
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = _provisioner(directory, store, target)
    source = prov.source
    assert isinstance(source, InMemorySource)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.add_member("apps:wiki:editors", "u1")  # u1's link is cached
    cached = prov.incremental_sync(source.events(seen))
    assert cached.status is SyncStatus.SUCCESS, cached.summary()
    assert cached.incremental is not None
    assert cached.incremental.non_recalc == 1  # as the event said
    assert _members(target, "editors") == {"u0@campus.edu", "u1@campus.edu"}
    seen = len(source.changes)
    source.add_subject("u9")
    directory.eppn["u9"] = "u9@campus.edu"
    source.add_member("apps:wiki:editors", "u9")  # no link yet: recalculated
    new = prov.incremental_sync(source.events(seen))
    assert new.status is SyncStatus.SUCCESS, new.summary()
    assert "u9@campus.edu" in _members(target, "editors")
    assert directory.calls["u9"] == 1
    record = store.load(P).records[(ObjectType.ENTITY, "mem-u9")]
    assert record.subject_link == "u9@campus.edu"
    seen = len(source.changes)
    source.add_member("apps:wiki:readers", "u9")
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.SUCCESS
    assert "u9@campus.edu" in _members(target, "readers")
    assert directory.calls["u9"] == 1  # cached: not asked again


def _link_record(store: Any, member: str) -> tuple[bool, str | None]:
    record = store.load(P).records[(ObjectType.ENTITY, member)]
    return record.provisionable, record.subject_link


class _TheirStore(MemorySyncStore):
    """A store of the caller's own: the ``SyncStore`` protocol, none of grouperprov's extras."""

    _provisioned_pairs = None  # type: ignore[assignment]  # grouperprov's stores have it


@pytest.mark.parametrize("store_kind", ["sqlite", "theirs"])
@pytest.mark.parametrize("how", ["memberships", "group_deleted"])
def test_a_member_who_leaves_every_group_keeps_the_link_but_not_provisionable(
    tmp_path: Path, how: str, store_kind: str
) -> None:
    """Incremental runs record the subject-link entity as a full sync does.

    u0 is in both groups. Leaving both (membership deletes applied as they
    are; or the editors group deleted after the readers membership went),
    their record says not provisionable, its link kept for their return;
    coming back says provisionable again. Found by comparing incremental
    runs' records with a full sync's: the record said provisionable until
    the next full sync, as the run read none of the member's other groups.
    """
    directory = Directory()
    store = SqliteSyncStore(tmp_path / "state.db") if store_kind == "sqlite" else _TheirStore()
    prov = _provisioner(directory, store)
    source = prov.source
    assert isinstance(source, InMemorySource)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.remove_member("apps:wiki:readers", "u0")
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.SUCCESS
    assert _link_record(store, "mem-u0") == (True, "u0@campus.edu")  # still an editor
    seen = len(source.changes)
    if how == "memberships":
        source.remove_member("apps:wiki:editors", "u0")
    else:
        source.delete_group("apps:wiki:editors")
    left = prov.incremental_sync(source.events(seen))
    assert left.status is SyncStatus.SUCCESS, left.summary()
    assert left.incremental is not None
    assert (left.incremental.non_recalc, len(left.incremental.recalc_groups)) == (
        (1, 0) if how == "memberships" else (0, 1)
    )
    assert _link_record(store, "mem-u0") == (False, "u0@campus.edu")
    seen = len(source.changes)
    source.add_member("apps:wiki:readers", "u0")
    back = prov.incremental_sync(source.events(seen))
    assert back.status is SyncStatus.SUCCESS, back.summary()
    assert _link_record(store, "mem-u0") == (True, "u0@campus.edu")
    assert directory.calls["u0"] == 1  # the link was kept: not asked again
    facts = {k: (r.provisionable, r.subject_link) for k, r in store.load(P).records.items()}
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert {k: (r.provisionable, r.subject_link) for k, r in store.load(P).records.items()} == (
        facts
    )


def test_a_link_configured_later_makes_no_record_for_members_who_leave_before() -> None:
    """Members recorded before the subject link was configured have no link record to update.

    The incremental run that takes u1 out of the readers leaves their entity
    without a record (the next full sync resolves and records the links).
    """
    directory = Directory()
    store = MemorySyncStore()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    before = _config(directory).to_dict()
    del before["subject_link"]
    before["memberships"]["attribute"]["field"] = "subject_id"
    source = _source()
    first = Provisioner(ProvisionerConfig.from_dict(before), source, target, store)
    assert first.full_sync().status is SyncStatus.SUCCESS
    prov = Provisioner(_config(directory), source, target, store)
    seen = len(source.changes)
    source.remove_member("apps:wiki:readers", "u1")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert "u1" not in _members(target, "readers")
    records = store.load(P).records
    assert not records[(ObjectType.MEMBERSHIP, ("grp-00002", "mem-u1"))].provisionable
    assert (ObjectType.ENTITY, "mem-u1") not in records


class _Down(Directory):
    """A directory that cannot be reached, as LdapTarget.subject_dn says so."""

    def __call__(self, ctx: TranslationContext) -> object:
        super().__call__(ctx)
        msg = "cannot connect to ldaps://dc1.example.edu:636 as cn=sync: timed out"
        raise TargetUnavailable(msg)


def test_a_lookup_whose_directory_is_down_stops_the_run_at_once() -> None:
    """``TargetUnavailable`` from the function: the run's status, after one call.

    Before, it was each subject's ERR: with ``LdapTarget.subject_dn`` and the
    directory down, the run waited out a connect timeout per subject (30 s
    each, by default), and then wrote nothing useful.
    """
    directory = _Down()
    store = MemorySyncStore()
    result = _provisioner(directory, store).full_sync()
    assert result.status is SyncStatus.TARGET_UNAVAILABLE, result.summary()
    assert "cannot connect to ldaps://dc1.example.edu:636" in result.message
    assert sum(directory.calls.values()) == 1
    assert not store.load(P).records


def test_a_link_with_a_lone_surrogate_is_an_error_not_a_link() -> None:
    r"""A link UTF-8 cannot encode is refused, as no store can keep it.

    Found by probing odd links: it was written to the target and cached; the
    store kept it as its escape (``\ud800``), which the next run took for
    the link and wrote to the target in its place.
    """
    directory = Directory()
    directory.eppn["u3"] = "u3\ud800@campus.edu"
    prov = _provisioner(directory)
    result = prov.full_sync()
    assert result.errors[(ObjectType.ENTITY, "mem-u3")].message == (
        "subject link failed: ValueError: the function returned 'u3\\ud800@campus.edu', "
        "which has a lone surrogate (not UTF-8 text)"
    )
    assert prov.store.load(P).records[(ObjectType.ENTITY, "mem-u3")].subject_link is None


def test_operated_entities_keep_their_link_beside_their_target_state() -> None:
    directory = Directory()
    config = ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"operate": False},
            "entities": {
                "attributes": [{"name": "uid", "field": "eppn", "required": True}],
                "matching": ["uid"],
            },
            "memberships": {"operate": False},
            "subject_link": {"function": directory, "attribute": "eppn"},
        }
    )
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    prov = Provisioner(config, _source(), target)
    prov.full_sync()
    assert set(target.entities) == {f"u{i}@campus.edu" for i in range(4)}
    record = prov.store.load(P).records[(ObjectType.ENTITY, "mem-u0")]
    assert record.in_target
    assert record.target_id == "u0@campus.edu"
    assert record.subject_link == "u0@campus.edu"
    prov.full_sync()
    assert sum(directory.calls.values()) == 4


def test_subject_link_settings_are_checked() -> None:
    base: dict[str, Any] = {
        "name": P,
        "groups": {"operate": False},
        "entities": {"operate": False},
        "memberships": {"operate": False},
    }
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.from_dict(
            {
                **base,
                "subject_link": {
                    "function": "nope",
                    "attribute": "subject_id",
                    "refresh_per_run": -1,
                },
            }
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("subject_link.function", "expected 'package.module:function', got 'nope'"),
        (
            "subject_link.attribute",
            "'subject_id' is a field Grouper gives every entity; choose another name",
        ),
        ("subject_link.refresh_per_run", "must be 0 or more, got -1"),
    ]
    with pytest.raises(ConfigError, match=r"subject_link\.attribute: invalid field name"):
        ProvisionerConfig.from_dict(
            {**base, "subject_link": {"function": "os.path:basename", "attribute": "a-b"}}
        )
    config = ProvisionerConfig.from_dict({**base, "subject_link": {"function": "os.path:basename"}})
    assert config.to_dict()["subject_link"] == {"function": "os.path:basename"}


def test_a_subject_without_a_link_is_left_out_and_asked_again() -> None:
    directory = Directory()
    del directory.eppn["u3"]
    prov = _provisioner(directory)
    result = prov.full_sync()
    assert result.status is SyncStatus.WARNING
    assert result.errors[(ObjectType.MEMBERSHIP, ("grp-00002", "mem-u3"))].code is (
        SyncErrorCode.REQ
    )
    assert isinstance(prov.target, InMemoryTarget)
    assert "u3@campus.edu" not in _members(prov.target, "readers")
    prov.full_sync()
    assert directory.calls["u3"] == 2
    assert directory.calls["u2"] == 1


def test_diagnostics_show_the_subject_link_and_where_it_came_from() -> None:
    directory = Directory()
    directory.broken.add("u1")
    prov = _provisioner(directory)
    report = prov.diagnostics(subject="u0")
    source = "\n".join(report.step("source").lines)
    assert "subject link: 'u0@campus.edu' (resolved this run)" in source
    prov.full_sync()
    report = prov.diagnostics(subject="u0")
    assert "subject link: 'u0@campus.edu' (cached)" in "\n".join(report.step("source").lines)
    assert report.step("source").data["subject"]["subject_link"] == "u0@campus.edu"
    report = prov.diagnostics(subject="u1")
    source = "\n".join(report.step("source").lines)
    assert "subject link: None (the lookup failed)" in source
    assert "subject link error: ERR [eppn]: subject link failed: TimeoutError" in source


def test_a_recalc_caches_other_members_links_and_keeps_their_errors() -> None:
    """The subject links a recalc resolves for members it does not cover: the link, nothing more.

    Everyone's ``mail`` (their link) is too long: LEN on each entity. A
    recalc of u2 alone reads everyone (a required group: both sides in
    full) and resolves every link. Found by a fuzzer: it also wrote those
    members' records as if it had looked at them, and their LEN, narrowed
    away from its plan, was cleared.
    """
    directory = Directory()
    config = ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {
                "attributes": [
                    {"name": "uid", "field": "subject_id"},
                    {"name": "mail", "field": "subject_link", "max_length": 5},
                ],
                "matching": ["uid"],
            },
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            },
            "provisionable": {"required_group": "apps:wiki:readers"},
            "subject_link": {"function": directory, "refresh_per_run": 10},
        }
    )
    source = _source()
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    store = MemorySyncStore()
    prov = Provisioner(config, source, target, store)
    for _ in range(2):  # the second: the errors (DNE of their memberships) are not retried
        assert prov.full_sync().status is SyncStatus.WARNING

    def errors() -> dict[object, object]:
        return {
            k[1]: r.error_code
            for k, r in store.load(P).records.items()
            if k[0] is ObjectType.ENTITY
        }

    assert set(errors().values()) == {SyncErrorCode.LEN}
    assert len(errors()) == 4
    seen = len(source.changes)
    source.add_member("apps:wiki:editors", "u2")
    directory.eppn["u0"] = "ada@campus.edu"  # refreshed by the recalc, cached
    result = prov.incremental_sync(source.events(seen))
    assert result.incremental is not None
    assert result.incremental.recalc_entities == ("mem-u2",), str(result.incremental)
    assert errors() == dict.fromkeys(("mem-u0", "mem-u1", "mem-u2", "mem-u3"), SyncErrorCode.LEN)
    assert store.load(P).records[ObjectType.ENTITY, "mem-u0"].subject_link == "ada@campus.edu"
