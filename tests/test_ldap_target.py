"""LdapTarget against a real OpenLDAP server (slapd) that the fixture starts on 127.0.0.1."""

from __future__ import annotations

import itertools
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import ldap3
import pytest
from hypothesis import HealthCheck, given, settings

from ad_proxy import ActiveDirectoryProxy
from grouperprov import (
    Action,
    AttributeChange,
    AttributeConfig,
    DeletePolicy,
    MembershipType,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    SyncStatus,
    TranslationContext,
    escape_dn_value,
)
from grouperprov.exceptions import ConfigError, TargetUnavailable
from grouperprov.stores import MemorySyncStore
from grouperprov.targets import _ldap
from grouperprov.targets._ldap_wire import LdapProtocolError
from grouperprov.targets.ldap import DnStyle, LdapEntities, LdapGroups, LdapTarget
from grouperprov.testing import (
    FailingTarget,
    InMemorySource,
    ServerUnavailable,
    SlapdServer,
    check_target_dao,
)
from target_steps import (
    DELETE_POLICIES,
    RESIDUES,
    Step,
    apply_step,
    as_a_full_sync_leaves_it,
    converges_then_follows,
    failing,
    recovers_after_failures,
    steps,
)

SUFFIX = SlapdServer.suffix
_branches = itertools.count()


@pytest.fixture
def branch(slapd_server: SlapdServer) -> Iterator[tuple[str, str]]:
    """A fresh, empty pair of branches (groups, people) for one test."""
    yield from _branches_of(slapd_server)


def _branches_of(server: SlapdServer) -> Iterator[tuple[str, str]]:
    n = next(_branches)
    admin = _admin(server)
    groups, people = f"ou=g{n},ou=groups,{SUFFIX}", f"ou=p{n},ou=people,{SUFFIX}"
    for dn in (groups, people):
        assert admin.add(dn, ["top", "organizationalUnit"], {"ou": dn.split(",")[0][3:]})
    yield groups, people
    admin.unbind()


def _admin(server: SlapdServer) -> Any:
    return ldap3.Connection(
        ldap3.Server(server.url), server.bind_dn, server.password, auto_bind=True
    )


_opened: list[LdapTarget] = []


@pytest.fixture(autouse=True)
def _close_targets() -> Iterator[None]:
    """Unbind every target a test made (their sockets would linger)."""
    yield
    while _opened:
        _opened.pop().close()


def _target(
    server: SlapdServer, branch: tuple[str, str], *, url: str | None = None, **kwargs: Any
) -> LdapTarget:
    """A target over *branch* (through *url* when given, else the server's own)."""
    groups, people = branch
    options: dict[str, Any] = {
        "groups": LdapGroups(
            base_dn=groups, attributes=("description",), placeholder=f"cn=nobody,{SUFFIX}"
        ),
        "entities": LdapEntities(
            base_dn=people,
            object_classes=("top", "person", "organizationalPerson", "inetOrgPerson", "eduPerson"),
            attributes=("cn", "sn", "mail", "eduPersonEntitlement"),
            multi_valued=("eduPersonEntitlement",),
        ),
    }
    options.update(kwargs)
    target = LdapTarget(
        url or server.url, bind_dn=server.bind_dn, password=server.password, page_size=3, **options
    )
    _opened.append(target)
    return target


def _bushy(branch: tuple[str, str], **kwargs: Any) -> LdapGroups:
    """Groups under OUs of their folders, the full name in ``name``."""
    return LdapGroups(
        base_dn=branch[0],
        dn_style=DnStyle.BUSHY,
        path_attribute="name",
        placeholder=f"cn=nobody,{SUFFIX}",
        **kwargs,
    )


def _subtree(server: SlapdServer, base: str) -> list[str]:
    admin = _admin(server)
    admin.search(base, "(objectClass=*)", search_scope=ldap3.SUBTREE)
    found = sorted(e.entry_dn for e in admin.entries)
    admin.unbind()
    return found


def test_the_ldap_target_keeps_the_target_dao_contract(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    person = ProvisioningEntity(
        id="check-e1",
        attributes={"uid": "check-e1", "cn": "Check", "sn": "One", "mail": "e1@example.edu"},
    )
    fresh = itertools.count()
    made: list[LdapTarget] = []

    def factory() -> LdapTarget:
        # Each target gets branches of its own, empty.
        n = next(fresh)
        admin = _admin(slapd_server)
        groups, people = f"ou=c{n},{branch[0]}", f"ou=c{n},{branch[1]}"
        for dn in (groups, people):
            admin.add(dn, ["top", "organizationalUnit"], {"ou": f"c{n}"})
        admin.unbind()
        made.append(_target(slapd_server, (groups, people)))
        return made[-1]

    check_target_dao(
        factory,
        # member holds DNs only; description is multi-valued free text
        multi_valued_attribute="description",
        entity=person,
        entity_update_attribute="mail",
    )
    assert len(made) > 2  # a fresh target per check


def test_names_that_look_like_dn_or_filter_syntax_are_one_entry_each(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    target = _target(slapd_server, branch)
    nasty = "a,b+c*)(uid=*"
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="x", attributes={"cn": nasty}),
            ProvisioningGroup(id="y", attributes={"cn": "other"}),
        ]
    )
    assert all(o.ok for o in outcomes), outcomes
    assert outcomes[0].stored is not None
    assert outcomes[0].stored.id == f"cn=a\\,b\\+c*)(uid\\=*,{branch[0]}"
    (found,) = target.search_groups("cn", [nasty])
    assert found.get("cn") == nasty
    assert [g.get("cn") for g in target.search_groups("cn", ["*"])] == []  # no wildcard
    assert len(target.retrieve_all_groups()) == 2


@pytest.mark.parametrize("pipeline", [1, 64])
def test_names_with_control_characters_at_their_ends_name_their_own_entry(
    slapd_server: SlapdServer, branch: tuple[str, str], pipeline: int
) -> None:
    """A tab or newline at either end of a name stays in the DN (as a hex pair).

    OpenLDAP drops such a character sent raw: the entry was named without it
    and got a second ``cn`` value, and a rename moved it.
    """
    target = _target(slapd_server, branch, pipeline=pipeline)
    names = ["\tstaff", "staff\n", "staff\r\n", "st\naff"]
    outcomes = target.insert_groups(
        [ProvisioningGroup(id=str(i), attributes={"cn": n}) for i, n in enumerate(names)]
    )
    assert all(o.ok for o in outcomes), outcomes
    found = {g.id: g.get("cn") for g in target.retrieve_all_groups()}
    assert found == {o.stored.id: n for o, n in zip(outcomes, names, strict=True) if o.stored}
    assert len(found) == len(names)  # one entry each, each with its one cn
    (group,) = [g for g in target.retrieve_all_groups() if g.get("cn") == "staff\n"]
    (renamed,) = target.update_groups([(group, [AttributeChange.replace("cn", "\tstaff\t")])])
    assert renamed.ok, renamed.error
    assert renamed.stored is not None
    assert renamed.stored.id == f"cn=\\09staff\\09,{branch[0]}"
    assert [g.get("cn") for g in target.retrieve_groups([renamed.stored.id])] == ["\tstaff\t"]


def test_a_value_that_changes_only_case_is_kept(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``Alpha`` becomes ``alpha``: the directory takes them as one value (caseIgnoreMatch).

    The plan removes before it adds. Added first, the new value was "there
    already", and the removal of the old one then took it away: the group
    lost the value until the next run.
    """
    groups = LdapGroups(
        base_dn=branch[0],
        attributes=("description",),
        multi_valued=("description",),
        placeholder=f"cn=nobody,{SUFFIX}",
    )
    target = _target(slapd_server, branch, groups=groups)
    source = InMemorySource()
    source.add_group("a:staff")
    source.mark("a", "ldap", scope="sub")

    def config(*values: str) -> ProvisionerConfig:
        return ProvisionerConfig.from_dict(
            {
                "name": "ldap",
                "groups": {
                    "attributes": [
                        {"name": "cn", "field": "extension"},
                        {"name": "description", "static": list(values), "multi_valued": True},
                    ],
                    "matching": ["cn"],
                },
                "entities": {"operate": False},
                "memberships": {
                    "type": "group_attributes",
                    "attribute": {
                        "name": "member",
                        "template": f"uid={{subject_id|dn}},{branch[1]}",
                    },
                },
            }
        )

    store = MemorySyncStore()
    first = Provisioner(config("Alpha", "b"), source, target, store)
    assert first.full_sync().status is SyncStatus.SUCCESS
    changed = Provisioner(config("alpha", "b"), source, target, store)
    result = changed.full_sync()
    assert result.status is SyncStatus.SUCCESS
    (group,) = target.retrieve_all_groups()
    assert group.get("description") == frozenset({"alpha", "b"})
    assert changed.plan_full().plan.changes == ()


def test_members_are_added_and_removed_in_chunks_around_a_placeholder(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    from grouperprov import AttributeChange  # noqa: PLC0415

    target = _target(slapd_server, branch, chunk_size=2)
    members = [f"uid=u{i},{branch[1]}" for i in range(5)]
    (outcome,) = target.insert_groups([ProvisioningGroup(id="g", attributes={"cn": "staff"})])
    assert outcome.ok, outcome.error
    (group,) = target.retrieve_all_groups()
    assert group.get("member") is None  # the placeholder is never shown
    (added,) = target.update_groups([(group, [AttributeChange.add("member", members)])])
    assert added.ok, added.error
    (group,) = target.retrieve_all_groups()
    assert group.values("member") == set(members)
    again = target.update_groups([(group, [AttributeChange.add("member", members[:1])])])
    assert again[0].ok  # adding a member already there is fine
    (removed,) = target.update_groups([(group, [AttributeChange.remove("member", members)])])
    assert removed.ok, removed.error
    (group,) = target.retrieve_all_groups()
    assert group.get("member") is None
    admin = _admin(slapd_server)
    admin.search(group.id, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["member"])
    assert admin.entries[0].member.values == [f"cn=nobody,{SUFFIX}"]
    admin.unbind()


def test_member_values_the_directory_refuses_are_each_a_failed_value(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    target = _target(slapd_server, branch, chunk_size=2)
    good = f"uid=u0,{branch[1]}"
    (outcome,) = target.insert_groups([ProvisioningGroup(id="g", attributes={"cn": "staff"})])
    assert outcome.ok, outcome.error
    (group,) = target.retrieve_all_groups()
    # A chunk whose every value is refused: nothing goes in, the placeholder stays.
    (refused,) = target.update_groups([(group, [AttributeChange.add("member", ["x", "y"])])])
    assert refused.ok
    assert [(a, v) for a, v, _ in refused.failed_values] == [("member", "x"), ("member", "y")]
    assert all("invalidAttributeSyntax" in why for _, _, why in refused.failed_values)
    (mixed,) = target.update_groups([(group, [AttributeChange.add("member", [good, "z"])])])
    assert [(a, v) for a, v, _ in mixed.failed_values] == [("member", "z")]
    (group,) = target.retrieve_all_groups()
    assert group.values("member") == {good}
    admin = _admin(slapd_server)
    admin.search(group.id, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["member"])
    assert admin.entries[0].member.values == [good]  # the placeholder went with the first
    admin.unbind()
    # A new group whose only value is refused goes in, holding the placeholder.
    (lone,) = target.insert_groups(
        [ProvisioningGroup(id="h", attributes={"cn": "lone", "member": frozenset({"nope"})})]
    )
    assert lone.ok
    assert [(a, v) for a, v, _ in lone.failed_values] == [("member", "nope")]
    assert {g.get("cn") for g in target.retrieve_all_groups()} == {"staff", "lone"}


def test_bushy_groups_make_and_remove_folder_ous_and_renames_move_entries(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    from grouperprov import AttributeChange  # noqa: PLC0415

    groups = _bushy(branch)
    target = _target(slapd_server, branch, groups=groups)
    bean = ProvisioningGroup(id="g", attributes={"name": "apps:ldap:staff", "cn": "staff"})
    (outcome,) = target.insert_groups([bean])
    assert outcome.ok, outcome.error
    dn = f"cn=staff,ou=ldap,ou=apps,{branch[0]}"
    assert outcome.stored is not None
    assert outcome.stored.id == dn
    (group,) = target.retrieve_all_groups()
    assert (group.id, group.get("name")) == (dn, "apps:ldap:staff")
    assert [g.id for g in target.search_groups("name", ["apps:ldap:staff", "no:such"])] == [dn]
    (nameless,) = target.insert_groups([ProvisioningGroup(id="n", attributes={"cn": "x"})])
    assert "no single value of 'name'" in (nameless.error or "")
    (moved,) = target.update_groups(
        [
            (
                group,
                [
                    AttributeChange.replace("name", "apps:wiki:editors"),
                    AttributeChange.replace("cn", "editors"),
                ],
            )
        ]
    )
    assert moved.ok, moved.error
    assert moved.stored is not None
    assert moved.stored.id == f"cn=editors,ou=wiki,ou=apps,{branch[0]}"
    assert _subtree(slapd_server, branch[0]) == sorted(
        [branch[0], f"ou=apps,{branch[0]}", f"ou=wiki,ou=apps,{branch[0]}", moved.stored.id]
    )  # the emptied ou=ldap was removed
    (group,) = target.retrieve_all_groups()
    assert target.delete_groups([group])[0].ok
    assert target.delete_groups([group])[0].ok  # again: idempotent
    assert _subtree(slapd_server, branch[0]) == [branch[0]]
    # Found by removing OUs behind the target's back: it remembered them as
    # there, and every add under them failed with noSuchObject.
    (again,) = target.insert_groups([bean])
    assert again.ok, again.error
    admin = _admin(slapd_server)
    for gone in (dn, f"ou=ldap,ou=apps,{branch[0]}", f"ou=apps,{branch[0]}"):
        assert admin.delete(gone)
    admin.unbind()
    (third,) = target.insert_groups([bean])
    assert third.ok, third.error
    assert [g.id for g in target.retrieve_all_groups()] == [dn]


def test_each_failure_is_the_object_s_own_outcome(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """What the directory refuses fails that object, with the server's reason."""
    from grouperprov import AttributeChange  # noqa: PLC0415

    target = _target(slapd_server, branch)
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="a", attributes={"cn": "ok"}),
            ProvisioningGroup(id="b", attributes={"cn": "ok"}),  # already there
            ProvisioningGroup(id="c", attributes={"description": "no cn"}),
            ProvisioningGroup(id="d", attributes={"cn": "x", "colour": "red"}),
            ProvisioningGroup(id="e", attributes={"cn": frozenset({"two", "names"})}),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False, False, False, False]
    assert "entryAlreadyExists" in (outcomes[1].error or "")
    assert "no single value of 'cn'" in (outcomes[2].error or "")
    assert "'colour' is not an attribute" in (outcomes[3].error or "")
    (group,) = target.retrieve_all_groups()
    gone = ProvisioningGroup(id=f"cn=gone,{branch[0]}", attributes={"cn": "gone"})
    updates = target.update_groups(
        [
            (group, [AttributeChange.replace("colour", "red")]),
            (gone, [AttributeChange.replace("description", "x")]),
            (gone, [AttributeChange.add("member", ["cn=x"])]),
            (group, [AttributeChange.remove("member", [f"uid=never,{branch[1]}"])]),
            (group, [AttributeChange.replace("cn", "ok")]),  # the same name: nothing moves
            (gone, [AttributeChange.replace("cn", "elsewhere")]),
        ]
    )
    assert [o.ok for o in updates] == [False, False, False, True, True, False]
    assert "noSuchObject" in (updates[1].error or "")
    assert "rename of" in (updates[5].error or "")
    # Deleting a group that has children is refused (notAllowedOnNonLeaf).
    admin = _admin(slapd_server)
    admin.add(f"cn=child,{group.id}", ["top", "organizationalRole"], {"cn": "child"})
    admin.unbind()
    (refused,) = target.delete_groups([group])
    assert not refused.ok
    assert "notAllowedOnNonLeaf" in (refused.error or "")
    assert target.retrieve_groups([f"cn=nothere,{branch[0]}"]) == []
    assert [g.get("cn") for g in target.search_groups("cn", ["ok", "nope"])] == ["ok"]


@pytest.mark.parametrize("pipeline", [1, 2, 64])
def test_pipelined_adds_answer_in_order_each_with_its_own_outcome(
    slapd_server: SlapdServer, branch: tuple[str, str], pipeline: int
) -> None:
    """Adds sent ahead of their answers: the directory takes them in order."""
    target = _target(slapd_server, branch, pipeline=pipeline)
    (first,) = target.insert_groups([ProvisioningGroup(id="x", attributes={"cn": "there"})])
    assert first.ok
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="a", attributes={"cn": "one"}),
            ProvisioningGroup(id="b", attributes={"cn": "there"}),  # already in the directory
            ProvisioningGroup(id="c", attributes={"cn": "x", "colour": "red"}),  # never sent
            ProvisioningGroup(id="d", attributes={"cn": "one"}),  # added just before, same batch
            ProvisioningGroup(id="e", attributes={"cn": "two", "description": "last"}),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert "entryAlreadyExists" in (outcomes[1].error or "")
    assert "entryAlreadyExists" in (outcomes[3].error or "")
    assert [o.stored.id if o.stored else None for o in outcomes] == [
        f"cn=one,{branch[0]}",
        None,
        None,
        None,
        f"cn=two,{branch[0]}",
    ]
    assert sorted(str(g.get("cn")) for g in target.retrieve_all_groups()) == ["one", "there", "two"]
    # Closing stops the pipeline's receiving thread too (ldap3 makes one per connection).
    receivers = [t for t in threading.enumerate() if "ReceiverSocketThread" in type(t).__name__]
    _opened.remove(target)
    target.close()
    for thread in receivers:
        thread.join(5)
    assert not [t for t in receivers if t.is_alive()]
    assert bool(receivers) is (pipeline > 1)


@pytest.mark.parametrize("encoder", ["own", "ldap3"])
def test_large_and_unicode_adds_arrive_whole_whoever_encodes_them(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    encoder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A group of 3,000 members (a 150 kB request) and non-ASCII text, read back as sent.

    ``ldap3``: where ldap3's asynchronous strategy is not the one the target's
    own encoding was written against, ldap3 encodes the adds itself.
    """
    from grouperprov.targets import _ldap  # noqa: PLC0415  # the switch between the two

    if encoder == "ldap3":
        monkeypatch.setattr(_ldap, "_direct_adds", lambda _strategy: False)
    target = _target(slapd_server, branch, pipeline=8)
    members = frozenset(f"uid=s{i:05d},{branch[1]}" for i in range(3_000))
    groups = [
        ProvisioningGroup(id="big", attributes={"cn": "big", "member": members}),
        ProvisioningGroup(id="u", attributes={"cn": "Grüße ✓", "description": '日本語, \\ "'}),
        ProvisioningGroup(id="n", attributes={"cn": "n", "description": frozenset({7, True})}),
    ]
    outcomes = target.insert_groups(groups)
    assert [o.ok for o in outcomes] == [True, True, True]
    found = {str(g.get("cn")): g for g in target.retrieve_all_groups()}
    assert found["big"].get("member") == members
    assert found["Grüße ✓"].get("description") == '日本語, \\ "'
    assert found["n"].get("description") == frozenset({"7", "TRUE"})
    sent = outcomes[1].stored
    assert sent is not None
    assert sent.id == f"cn={escape_dn_value('Grüße ✓')},{branch[0]}"


@pytest.mark.parametrize(("pipeline", "encoder"), [(1, "ldap3"), (8, "ldap3"), (8, "own")])
def test_a_value_the_schema_refuses_fails_its_entry_alone(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    pipeline: int,
    encoder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gidNumber that is not an integer: refused by ldap3's schema check or by slapd."""
    from grouperprov.targets import _ldap  # noqa: PLC0415  # the switch between the two

    if encoder == "ldap3":
        monkeypatch.setattr(_ldap, "_direct_adds", lambda _strategy: False)
    posix = LdapGroups(
        base_dn=branch[0],
        object_classes=("top", "posixGroup"),
        member_attribute="memberUid",
        attributes=("gidNumber",),
    )
    target = _target(slapd_server, branch, groups=posix, pipeline=pipeline)
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="a", attributes={"cn": "a", "gidNumber": "twelve"}),
            ProvisioningGroup(id="b", attributes={"cn": "b", "gidNumber": 12}),
        ]
    )
    assert [o.ok for o in outcomes] == [False, True]
    assert "gidNumber" in (outcomes[0].error or "")
    assert [g.get("gidNumber") for g in target.retrieve_all_groups()] == [12]


def test_values_are_read_as_their_syntax_says_and_placeholders_never_show(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """Integers as ints (the schema's INTEGER syntax), the rest as text; the placeholder hidden."""
    posix = LdapGroups(
        base_dn=branch[0],
        object_classes=("top", "posixGroup"),
        member_attribute="memberUid",
        placeholder="nobody",
        attributes=("gidNumber", "description"),
    )
    target = _target(slapd_server, branch, groups=posix)
    admin = _admin(slapd_server)
    dn = f"cn=p,{branch[0]}"
    assert admin.add(
        dn,
        ["top", "posixGroup"],
        # No description: an attribute the entry does not have is not in the bean.
        {"gidNumber": 7, "memberUid": ["nobody", "s1", "s2"]},
    )
    (group,) = target.retrieve_all_groups()
    assert group.attributes == {"cn": "p", "gidNumber": 7, "memberUid": frozenset({"s1", "s2"})}
    assert admin.modify(dn, {"memberUid": [(ldap3.MODIFY_DELETE, ["s1", "s2"])]})
    (alone,) = target.retrieve_groups([dn])
    assert "memberUid" not in alone.attributes  # the placeholder alone: no members
    admin.unbind()


def test_answers_out_of_step_are_a_lost_connection_and_the_read_is_done_again(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An answer to another message, or not a search's, closes the connection; a new one reads.

    The stray answers are sent to arrive during the search: the look at an
    idle connection before it (which would open a new one for a socket with
    something to read) is left out, as when they come after that look.
    """
    from grouperprov.targets import _ldap, _ldap_wire  # noqa: PLC0415  # a stray request

    monkeypatch.setattr(_ldap, "closed_by_peer", lambda _fileno: False)
    target = _target(slapd_server, branch)
    target.insert_groups(
        [ProvisioningGroup(id=str(n), attributes={"cn": f"g{n}"}) for n in range(5)]
    )
    units = _ldap_wire.equal("objectClass", "organizationalUnit")
    stray = _ldap_wire.search_request(2**31 - 2, branch[0], 0, units, [], page_size=1)
    target._conn.socket.sendall(stray)  # its answer comes before the next search's
    with caplog.at_level("WARNING", logger="grouperprov.targets.ldap"):
        assert [g.get("cn") for g in target.retrieve_all_groups()] == [f"g{n}" for n in range(5)]
    assert "message 2147483646 came while waiting for" in caplog.text
    caplog.clear()
    # A Who am I? (an extended operation) sent under the id the next search is given.
    whoami = _ldap_wire._tlv(0x77, _ldap_wire._tlv(0x80, b"1.3.6.1.4.1.4203.1.11.3"))
    target._conn.socket.sendall(_ldap_wire._message(77, whoami))
    ids = iter([77])
    real = target._conn.server.next_message_id
    monkeypatch.setattr(target._conn.server, "next_message_id", lambda: next(ids, None) or real())
    with caplog.at_level("WARNING", logger="grouperprov.targets.ldap"):
        assert len(target.retrieve_all_groups()) == 5
    assert "a search was answered with operation 0x78" in caplog.text


def test_a_referral_under_the_base_is_not_followed_and_the_groups_are_read(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """A subtree search answers a referral object with a reference, which the read passes over."""
    target = _target(slapd_server, branch)
    target.insert_groups([ProvisioningGroup(id="g", attributes={"cn": "g"})])
    admin = _admin(slapd_server)
    assert admin.add(
        f"ou=elsewhere,{branch[0]}",
        ["referral", "extensibleObject"],
        {"ou": "elsewhere", "ref": "ldap://ldap.example.org/ou=groups,dc=example,dc=org"},
    )
    admin.unbind()
    assert [g.get("cn") for g in target.retrieve_all_groups()] == ["g"]


def test_a_search_the_directory_refuses_fails_with_its_reason(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    target = _target(slapd_server, branch)
    assert target.retrieve_groups([f"cn=absent,{branch[0]}"]) == []  # no such object: none
    assert target.retrieve_groups(["not a dn"]) == []  # names no entry: none (it raised)
    with pytest.raises(
        TargetUnavailable,
        match=r"search of 'not a dn' failed after 0 entries: invalidDNSyntax \(34\)",
    ):
        target._search(ProvisioningGroup, b"(objectClass=*)", base="not a dn")  # subtree
    assert target.retrieve_all_groups() == []  # the connection is still good


def test_a_base_dn_the_directory_lacks_stops_the_run_before_it_writes(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """A missing base is a setting to fix, not an empty directory.

    Found with a base DN misspelt: it was read as "no groups", and each
    group's add was refused (noSuchObject), one by one, in every run.
    """
    groups, people = branch
    missing = f"ou=misspelt,{SUFFIX}"
    target = _target(slapd_server, (missing, people))
    config = _config(MembershipType.GROUP_ATTRIBUTES, (missing, people))
    source = InMemorySource()
    source.add_subject("ann")
    source.add_group("campus:staff")
    source.add_member("campus:staff", "ann")
    source.mark("campus", config.name, scope="sub")
    store = MemorySyncStore()
    result = Provisioner(config, source, target, store).full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    assert f"groups.base_dn: the directory has no entry '{missing}'" in result.message
    assert not store.load(config.name).records
    admin = _admin(slapd_server)
    admin.search(SUFFIX, "(cn=campus:staff)")
    assert not admin.entries
    admin.unbind()
    # Found by DN, an absent entry is still none found; and the other side's base is checked.
    assert target.retrieve_groups([f"cn=absent,{groups}"]) == []
    people_missing = _target(slapd_server, (groups, f"ou=gone,{SUFFIX}"))
    with pytest.raises(ConfigError, match=r"entities\.base_dn: the directory has no entry"):
        people_missing.retrieve_all_entities()


def test_people_are_found_by_dn_and_attribute_and_their_entitlements_change(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    from grouperprov import AttributeChange  # noqa: PLC0415

    target = _target(slapd_server, branch, groups=None)
    person = ProvisioningEntity(
        id="p", attributes={"uid": "ada", "cn": "Ada", "sn": "Lovelace", "mail": "ada@x.edu"}
    )
    (outcome,) = target.insert_entities([person])
    assert outcome.ok, outcome.error
    assert outcome.stored is not None
    dn = str(outcome.stored.id)
    (found,) = target.retrieve_entities([dn])
    (updated,) = target.update_entities(
        [(found, [AttributeChange.add("eduPersonEntitlement", ["urn:a", "urn:b"])])]
    )
    assert updated.ok, updated.error
    (found,) = target.search_entities("eduPersonEntitlement", ["urn:a"])
    assert found.values("eduPersonEntitlement") == {"urn:a", "urn:b"}
    (moved,) = target.update_entities([(found, [AttributeChange.replace("uid", "ada2")])])
    assert moved.ok, moved.error
    assert moved.stored is not None
    assert moved.stored.id == f"uid=ada2,{branch[1]}"
    # A DN names an entry: the old one names nothing now, the new one the person.
    assert target.retrieve_entities([dn]) == []
    (again,) = target.retrieve_entities([moved.stored.id])
    assert not target.capabilities().can(Operation.INSERT_GROUPS)
    assert target.delete_entities([again])[0].ok


def _entitlements_config(
    field: str, *also: str, insert: bool = False, delete: bool = False
) -> ProvisionerConfig:
    """``eduPersonEntitlement`` values on people, ``uid`` (and *also*) from *field*.

    By default the people come from the identity system: grouperprov
    neither makes nor deletes them, and only sets entitlements.
    """
    return ProvisionerConfig.from_dict(
        {
            "name": "entitlements",
            "groups": {"operate": False},
            "entities": {
                "attributes": [{"name": a, "field": field} for a in ("uid", *also)],
                "matching": ["uid"],
                "insert": insert,
                "delete": delete,
            },
            "memberships": {
                "type": "entity_attributes",
                "attribute": {"name": "eduPersonEntitlement", "template": "urn:x:{name}"},
            },
        }
    )


@pytest.mark.parametrize("run", ["full", "incremental"])
def test_a_person_given_another_entry_takes_their_entitlements_along(
    slapd_server: SlapdServer, branch: tuple[str, str], run: str
) -> None:
    """A new netid, its entry made by the identity system, the old entry kept.

    The person is paired with the new entry by ``uid``. Before, their
    entitlements stayed on the old entry for good, under every delete
    policy: whoever was given the old netid next had them.
    """
    admin = _admin(slapd_server)
    try:
        _entitlements_follow_the_person(slapd_server, branch, admin, run)
    finally:
        admin.unbind()


def _entitlements_follow_the_person(
    slapd_server: SlapdServer, branch: tuple[str, str], admin: Any, run: str
) -> None:
    people = branch[1]
    for uid in ("ann", "ann2"):
        assert admin.add(
            f"uid={uid},{people}",
            ["inetOrgPerson", "eduPerson"],
            {"cn": uid, "sn": uid, "eduPersonEntitlement": ["urn:other:club"]},
        )
    config = _entitlements_config("name")
    source = InMemorySource()
    source.add_subject("s1", name="ann")
    source.add_group("campus:staff")
    source.add_member("campus:staff", "s1")
    source.mark("campus", "entitlements", scope="sub")
    target = _target(slapd_server, branch, groups=None)
    provisioner = Provisioner(config, source, target, MemorySyncStore())
    assert provisioner.full_sync().status is SyncStatus.SUCCESS

    def entitlements() -> dict[str, set[str]]:
        admin.search(people, "(uid=*)", attributes=["uid", "eduPersonEntitlement"])
        return {str(e.uid): set(e.eduPersonEntitlement.values) for e in admin.entries}

    assert entitlements() == {
        "ann": {"urn:other:club", "urn:x:campus:staff"},
        "ann2": {"urn:other:club"},
    }
    seq = len(source.changes)
    source.update_subject("s1", name="ann2")

    if run == "full":
        result = provisioner.full_sync()
    else:
        result = provisioner.incremental_sync(source.events(seq))

    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert entitlements() == {
        "ann": {"urn:other:club"},  # another system's value stays
        "ann2": {"urn:other:club", "urn:x:campus:staff"},
    }
    assert not provisioner.plan_full().plan.changes


def test_a_group_sync_moves_people_who_swap_names_with_all_their_entitlements(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """Two people whose ``uid`` is their name swap names; one group of one is synced.

    Before, the group sync moved that person's record and that group's
    entitlement to the other's entry, and left their other entitlements on
    their old entry: each entry had both people's groups, for good.
    """
    people = branch[1]
    # grouperprov makes the people too: their cn and sn are their names.
    config = _entitlements_config("name", "cn", "sn", insert=True, delete=True)
    source = InMemorySource()
    source.add_subject("s0", name="ann")
    source.add_subject("s1", name="bob")
    for group, subject in (("campus:x", "s0"), ("campus:y", "s1"), ("campus:z", "s1")):
        source.add_group(group)
        source.add_member(group, subject)
    source.mark("campus", "entitlements", scope="sub")
    target = _target(slapd_server, branch, groups=None)
    provisioner = Provisioner(config, source, target, MemorySyncStore())
    assert provisioner.full_sync().status is SyncStatus.SUCCESS
    source.update_subject("s0", name="bob")
    source.update_subject("s1", name="ann")

    result = provisioner.sync_group("campus:x")

    assert result.status is SyncStatus.SUCCESS, result.summary()
    found = {
        str(e.get("uid")): e.values("eduPersonEntitlement") for e in target.retrieve_all_entities()
    }
    assert found == {"bob": {"urn:x:campus:x"}, "ann": {"urn:x:campus:y", "urn:x:campus:z"}}
    assert sorted(str(e.id) for e in target.retrieve_all_entities()) == [
        f"uid=ann,{people}",
        f"uid=bob,{people}",
    ]
    assert not provisioner.plan_full().plan.changes


def test_people_without_the_class_an_attribute_needs_are_given_it(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """People the identity system made as plain ``inetOrgPerson`` get ``eduPerson`` when needed.

    Found by pointing ``entity_attributes`` at such people: every
    entitlement was refused (``objectClassViolation``) in every run; and
    with ``eduPerson`` among the entry's classes, no one was read at all.
    """
    people = branch[1]
    admin = _admin(slapd_server)
    for uid in ("ann", "bob"):
        assert admin.add(f"uid={uid},{people}", ["inetOrgPerson"], {"cn": uid, "sn": uid})
    config = _entitlements_config("subject_id")
    source = InMemorySource()
    for uid in ("ann", "bob"):
        source.add_subject(uid)
        source.add_group(f"campus:{uid}s")
        source.add_member(f"campus:{uid}s", uid)
    source.mark("campus", "entitlements", scope="sub")

    def entities(**settings: Any) -> LdapEntities:
        return LdapEntities(
            base_dn=people,
            attributes=("cn", "sn", "eduPersonEntitlement"),
            multi_valued=("eduPersonEntitlement",),
            **settings,
        )

    # Without the setting: refused, and the reason says what to set.
    plain = Provisioner(
        config,
        source,
        _target(slapd_server, branch, groups=None, entities=entities()),
        MemorySyncStore(),
    )
    refused = plain.full_sync()
    assert refused.status is SyncStatus.ERROR
    error = refused.errors[(ObjectType.MEMBERSHIP, ("grp-00001", "mem-ann"))].message
    assert "objectClassViolation" in error
    assert error.endswith("see auxiliary_classes")
    # With it: the class is added where it lacks, with the values.
    admin.modify(f"uid=bob,{people}", {"objectClass": [(ldap3.MODIFY_ADD, ["eduPerson"])]})
    target = _target(
        slapd_server, branch, groups=None, entities=entities(auxiliary_classes=("eduPerson",))
    )
    provisioner = Provisioner(config, source, target, MemorySyncStore())
    result = provisioner.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    admin.search(people, "(uid=*)", attributes=["objectClass", "eduPersonEntitlement"])
    found = {
        str(e.entry_dn): (set(e.objectClass.values), set(e.eduPersonEntitlement.values))
        for e in admin.entries
    }
    assert found == {
        f"uid=ann,{people}": ({"inetOrgPerson", "eduPerson"}, {"urn:x:campus:anns"}),
        f"uid=bob,{people}": ({"inetOrgPerson", "eduPerson"}, {"urn:x:campus:bobs"}),
    }
    assert not provisioner.plan_full().plan.changes
    # A new person gets the class with the entry.
    (added,) = target.insert_entities(
        [ProvisioningEntity(id="c", attributes={"uid": "cy", "cn": "c", "sn": "c"})]
    )
    assert added.ok, added.error
    admin.search(f"uid=cy,{people}", "(objectClass=*)", attributes=["objectClass"])
    assert "eduPerson" in admin.entries[0].objectClass.values
    # A class that needs attributes the entry lacks: the entry's reason, nothing changed.
    posix = _target(
        slapd_server, branch, groups=None, entities=entities(auxiliary_classes=("posixAccount",))
    )
    (dan,) = posix.insert_entities(
        [ProvisioningEntity(id="d", attributes={"uid": "dan", "cn": "d", "sn": "d"})]
    )
    assert not dan.ok
    assert admin.add(f"uid=dan,{people}", ["inetOrgPerson"], {"cn": "d", "sn": "d"})
    (person,) = posix.retrieve_entities([f"uid=dan,{people}"])
    (write,) = posix.update_entities(
        [(person, [AttributeChange.add("eduPersonEntitlement", ["urn:x:y"])])]
    )
    assert not write.ok
    assert "objectClassViolation" in (write.error or "")
    admin.search(f"uid=dan,{people}", "(objectClass=*)", attributes=["objectClass"])
    assert set(admin.entries[0].objectClass.values) == {"inetOrgPerson"}
    # posixAccount allows loginShell: it is tried, and refused for what it needs.
    shell = _target(
        slapd_server,
        branch,
        groups=None,
        entities=LdapEntities(
            base_dn=people,
            attributes=("cn", "sn", "loginShell"),
            auxiliary_classes=("posixAccount",),
        ),
    )
    (person,) = shell.retrieve_entities([f"uid=dan,{people}"])
    (write,) = shell.update_entities([(person, [AttributeChange.replace("loginShell", "/bin/sh")])])
    assert not write.ok
    assert "objectClassViolation" in (write.error or "")
    admin.search(f"uid=dan,{people}", "(objectClass=*)", attributes=["objectClass"])
    assert set(admin.entries[0].objectClass.values) == {"inetOrgPerson"}
    admin.unbind()


def test_the_auxiliary_classes_that_allow_an_attribute_are_found_through_superiors() -> None:
    """What :func:`_allowing` reads of a schema: names, aliases, superiors; nothing without one."""
    from types import SimpleNamespace  # noqa: PLC0415

    from grouperprov.targets._ldap import _allowing  # noqa: PLC0415

    def kind(may: tuple[str, ...] = (), superior: tuple[str, ...] = ()) -> SimpleNamespace:
        return SimpleNamespace(may_contain=may, must_contain=(), superior=superior)

    schema = SimpleNamespace(
        attribute_types={"mail": SimpleNamespace(name=["mail", "rfc822Mailbox"])},
        object_classes={
            "top": kind(),
            "mailish": kind(("rfc822Mailbox",), ("top",)),
            "child": kind((), ("mailish", "top")),
            "loop": kind((), ("loop",)),
        },
    )
    assert _allowing(schema, ["child", "loop", "unknown", "top"], ["mail"]) == ["child"]
    assert _allowing(schema, ["child"], ["sn"]) == []
    assert _allowing(None, ["child"], ["mail"]) is None  # a directory that shows no schema


def test_a_violation_no_auxiliary_class_mends_adds_none(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """A person's required ``sn`` emptied is refused; ``eduPerson`` is not given to it for that.

    Before, every ``objectClassViolation`` added the configured auxiliary
    classes and sent the write again: the entry gained a class it was not
    refused for, and the write failed all the same.
    """
    from grouperprov import AttributeChange  # noqa: PLC0415

    people = branch[1]
    admin = _admin(slapd_server)
    assert admin.add(f"uid=ann,{people}", ["inetOrgPerson"], {"cn": "ann", "sn": "ann"})
    target = _target(
        slapd_server,
        branch,
        groups=None,
        entities=LdapEntities(
            base_dn=people,
            attributes=("cn", "sn", "mail", "eduPersonEntitlement"),
            multi_valued=("eduPersonEntitlement",),
            auxiliary_classes=("eduPerson",),
        ),
    )
    (ann,) = target.retrieve_entities([f"uid=ann,{people}"])
    (emptied,) = target.update_entities([(ann, [AttributeChange.replace("sn", None)])])
    assert not emptied.ok
    assert "objectClassViolation" in (emptied.error or "")
    admin.search(f"uid=ann,{people}", "(objectClass=*)", attributes=["objectClass", "sn"])
    (entry,) = admin.entries
    assert (set(entry.objectClass.values), entry.sn.value) == ({"inetOrgPerson"}, "ann")
    # A value the class allows still gets it, with the value.
    (entitled,) = target.update_entities(
        [(ann, [AttributeChange.add("eduPersonEntitlement", ["urn:x:y"])])]
    )
    assert entitled.ok, entitled.error
    admin.search(f"uid=ann,{people}", "(objectClass=*)", attributes=["objectClass"])
    assert set(admin.entries[0].objectClass.values) == {"inetOrgPerson", "eduPerson"}
    admin.unbind()


def test_a_search_the_bind_s_size_limit_ends_says_which_limit_to_raise(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    # Found with a bind that is not the rootdn: OpenLDAP's default limit of
    # 500 entries ends even a paged search, and the error was "result 4: ".
    admin = _admin(slapd_server)
    reader = f"cn=reader,{branch[1]}"
    assert admin.add(reader, ["person"], {"sn": "r", "userPassword": "read-only"})
    for i in range(501):
        assert admin.add(f"cn=g{i},{branch[0]}", ["groupOfNames"], {"member": [reader]})
    admin.unbind()
    target = LdapTarget(
        slapd_server.url,
        bind_dn=reader,
        password="read-only",  # noqa: S106  # the test's own entry
        groups=LdapGroups(base_dn=branch[0], placeholder=reader, attributes=("description",)),
    )
    _opened.append(target)
    with pytest.raises(TargetUnavailable) as caught:
        target.retrieve_all_groups()  # a sync must not go on from part of the entries
    assert str(caught.value).startswith(
        f"search of {branch[0]!r} failed after 500 entries: sizeLimitExceeded (4)"
    )
    assert "raise the bind DN's limits (OpenLDAP: olcLimits with size=unlimited" in str(
        caught.value
    )
    # A run stops there with a status, saving nothing (it raised RuntimeError).
    store = MemorySyncStore()
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES, branch), _staff_source(), target, store
    )
    result = prov.full_sync()
    assert result.status is SyncStatus.TARGET_UNAVAILABLE, result.summary()
    assert "sizeLimitExceeded (4)" in result.message
    assert not store.load("ldap").records


def test_a_configured_attribute_the_target_does_not_write_stops_the_run_before_it_writes(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    # Found with an attribute left out of attributes=: every group failed
    # with ERR in every run ("'businessCategory' is not an attribute this
    # target writes"), and nothing said it was the configuration.
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch)
    extra = AttributeConfig(name="businessCategory", static="staff")
    config = attrs.evolve(
        config, groups=attrs.evolve(config.groups, attributes=(*config.groups.attributes, extra))
    )
    target = _target(slapd_server, branch)
    result = Provisioner(config, _staff_source(), target).full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    assert result.message.splitlines()[1:] == [
        (
            "  groups.attributes[2]: the target keeps no group attribute 'businessCategory'"
            " (it keeps: cn, description, member); add it to the target's settings, or remove"
            " it here"
        )
    ]
    assert target.retrieve_all_groups() == []
    assert "group attributes: cn, description, member" in str(target.capabilities())


def test_settings_are_checked_and_the_password_never_shows(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        LdapTarget(
            "http://example.edu",
            groups=LdapGroups(base_dn="not a dn", dn_style=DnStyle.BUSHY),
            start_tls=False,
        )
    assert {p.path for p in caught.value.problems} == {
        "url",
        "groups.base_dn",
        "groups.path_attribute",
    }
    with pytest.raises(ConfigError, match="StartTLS is for ldap://"):
        LdapTarget("ldaps://x:636", entities=LdapEntities(base_dn=SUFFIX), start_tls=True)
    with pytest.raises(ConfigError, match="needs groups, entities or both"):
        LdapTarget(slapd_server.url)
    with pytest.raises(ConfigError, match="not a DN: it is empty"):
        LdapTarget(slapd_server.url, entities=LdapEntities(base_dn=""))
    with pytest.raises(ConfigError, match="only for a bushy DN") as caught:
        LdapTarget(slapd_server.url, groups=LdapGroups(base_dn=SUFFIX, path_attribute="name"))
    assert [p.path for p in caught.value.problems] == ["groups.path_attribute"]
    target = _target(slapd_server, branch)
    assert slapd_server.password not in repr(target)
    assert repr(target) == f"LdapTarget(url={slapd_server.url!r})"


def test_a_ca_file_that_is_not_one_is_a_setting_to_fix(
    slapd_tls_server: SlapdServer, tmp_path: Path
) -> None:
    """Found with a misspelt path: ldap3 raised its own "invalid CA public key file"."""
    groups = LdapGroups(base_dn=SUFFIX)
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConfigError) as caught:
        LdapTarget(slapd_tls_server.ldaps_url, ca_file=str(missing), groups=groups)
    assert [str(p) for p in caught.value.problems] == [
        f"ca_file: cannot read {str(missing)!r}: No such file or directory"
    ]
    key = tmp_path / "server.key"  # a PEM file, but no certificate in it
    key.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(
        ConfigError, match=r"^.*\n  ca_file: '.*server\.key' holds no PEM certificate"
    ):
        LdapTarget(slapd_tls_server.ldaps_url, ca_file=str(key), groups=groups)
    # Comments around the certificates, as CA bundles have (in UTF-8), are fine.
    bundle = tmp_path / "bundle.pem"
    ca = Path(slapd_tls_server.ca_file).read_text()
    bundle.write_text(f"# Főtanúsítvány, a CA of the bundle\n{ca}", encoding="utf-8")
    target = LdapTarget(
        slapd_tls_server.ldaps_url,
        bind_dn=slapd_tls_server.bind_dn,
        password=slapd_tls_server.password,
        ca_file=str(bundle),
        groups=groups,
    )
    target.close()


def test_names_the_directory_s_schema_lacks_are_refused_when_the_target_is_made(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    # Found with a misspelt attribute: every group was refused by the
    # directory in every run, each with its own copy of the same error.
    groups = _bushy(
        branch,
        object_classes=("top", "groupOfNames", "noSuchClass"),
        attributes=("descriptoin", "DESCRIPTION"),
        member_attribute="membr",
        folder_object_classes=("top", "orgUnit"),
    )
    people = LdapEntities(
        base_dn=branch[1],
        rdn_attribute="UID",
        multi_valued=("entitlement",),
        auxiliary_classes=("eduPersn",),
    )
    with pytest.raises(ConfigError) as caught:
        _target(slapd_server, branch, groups=groups, entities=people)
    assert [str(p) for p in caught.value.problems] == [
        "groups.attributes: 'descriptoin' is not an attribute type of the directory's schema",
        "groups.member_attribute: 'membr' is not an attribute type of the directory's schema",
        "groups.object_classes: 'noSuchClass' is not an object class of the directory's schema",
        (
            "groups.folder_object_classes: 'orgUnit' is not an object class of the"
            " directory's schema"
        ),
        "entities.multi_valued: 'entitlement' is not an attribute type of the directory's schema",
        "entities.auxiliary_classes: 'eduPersn' is not an object class of the directory's schema",
    ]
    from grouperprov.targets import _ldap  # noqa: PLC0415  # the check itself

    # A directory that does not show its schema is not checked: its answers say.
    assert not list(_ldap._schema_problems(None, groups, people))
    schema = _target(slapd_server, branch)._conn.server.schema  # what it read
    memberless = LdapGroups(base_dn=branch[0], member_attribute=None)
    assert not list(_ldap._schema_problems(schema, memberless, None))


@pytest.fixture
def tls_branch(slapd_tls_server: SlapdServer) -> Iterator[tuple[str, str]]:
    """A fresh, empty pair of branches on the TLS server."""
    yield from _branches_of(slapd_tls_server)


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_tls_connections_check_the_server_against_the_ca_file(
    slapd_tls_server: SlapdServer, tls_branch: tuple[str, str], how: str
) -> None:
    """Over ldaps:// or StartTLS, pipelined adds included, every connection is TLS."""
    server = slapd_tls_server
    url = server.ldaps_url if how == "ldaps" else server.url
    target = LdapTarget(
        url,
        bind_dn=server.bind_dn,
        password=server.password,
        start_tls=how == "starttls",
        ca_file=server.ca_file,
        groups=LdapGroups(base_dn=tls_branch[0], attributes=("description",)),
    )
    _opened.append(target)
    source = InMemorySource()
    for subject in ("ann", "bob"):
        source.add_subject(subject)
        source.add_group(f"campus:{subject}s", description=f"{subject}'s group")
        source.add_member(f"campus:{subject}s", subject)
    source.mark("campus", "ldap", scope="sub")
    config = _config(MembershipType.GROUP_ATTRIBUTES, tls_branch)
    result = Provisioner(config, source, target, MemorySyncStore()).full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    members = {str(g.get("cn")): g.get("member") for g in target.retrieve_all_groups()}
    assert members == {
        f"campus:{s}s": frozenset({f"uid={s},{tls_branch[1]}"}) for s in ("ann", "bob")
    }
    connections = [target._conn, target._pipe]  # what went over the wire
    assert all(isinstance(c.socket, ssl.SSLSocket) for c in connections)


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
def test_a_server_the_ca_does_not_vouch_for_is_refused_clearly(
    slapd_tls_server: SlapdServer, how: str
) -> None:
    """Without the throw-away CA (the system's CAs only) the connection is refused."""
    server = slapd_tls_server
    url = server.ldaps_url if how == "ldaps" else server.url
    with pytest.raises(TargetUnavailable) as caught:
        LdapTarget(
            url,
            bind_dn=server.bind_dn,
            password=server.password,
            start_tls=how == "starttls",
            groups=LdapGroups(base_dn=SUFFIX),
        )
    message = str(caught.value)
    assert message.startswith(f"cannot connect to {url}")
    assert "certificate verify failed" in message
    assert server.password not in message
    assert server.password not in repr(caught.value.__cause__)


def test_several_urls_are_tried_in_order_and_the_reads_and_writes_keep_to_one(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``"ldap://dc1 ldap://dc2"``, as Grouper's LDAP settings write a list of servers.

    Before, such a URL failed with ldap3's ``LDAPInvalidServerError`` and no
    message. The first server that answers serves, and the pipelined adds
    go to the server the reads come from.
    """
    dead = "ldap://127.0.0.1:1"
    target = _target(slapd_server, branch, url=f"{dead} {slapd_server.url}", timeout=2)
    assert target.urls == (dead, slapd_server.url)
    groups = [ProvisioningGroup(id=str(n), attributes={"cn": f"g{n}"}) for n in range(3)]
    assert all(o.ok for o in target.insert_groups(groups))  # pipelined, on a second connection
    assert len(target.retrieve_all_groups()) == 3
    assert target._server == slapd_server.url
    with pytest.raises(TargetUnavailable) as caught:
        LdapTarget(f"{dead} ldap://127.0.0.1:2", groups=LdapGroups(base_dn=SUFFIX), timeout=2)
    assert str(caught.value).startswith(
        "cannot connect to any of 2 servers as anonymous: ldap://127.0.0.1:1: "
    )
    assert "; ldap://127.0.0.1:2: " in str(caught.value)


def test_ipv6_hosts_are_in_brackets() -> None:
    assert _ldap._urls("ldaps://[::1]:636/ ldap://[fe80::1]") == (
        ("ldaps://[::1]:636", "ldap://[fe80::1]"),
        [],
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "ldap://h:389/dc=example,dc=edu",
            "the part after the host ('dc=example,dc=edu') is not used",
        ),
        ("ldap://:389", "expected host or host:port after //"),
        ("ldap://h:port", "expected host or host:port after //"),
        ("ldap://::1", "expected host or host:port after //"),
        ("ldap://[::1", "expected host or host:port after //"),
        ("ldap://[::1]636", "expected host or host:port after //"),
        ("ldap://h ftp://h", "expected ldap://host:port or ldaps://host:port, not 'ftp://h'"),
    ],
)
def test_a_url_that_names_no_server_is_a_setting_to_fix(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LdapTarget(url, groups=LdapGroups(base_dn=SUFFIX))
    assert [p.path for p in caught.value.problems] == ["url"]
    assert problem in caught.value.problems[0].message


def test_a_url_with_a_user_part_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        LdapTarget("ldaps://admin:s3cret@dc1:636", groups=LdapGroups(base_dn=SUFFIX))
    assert str(caught.value).endswith(
        "url: a ldaps:// URL with a user part (user@host): give bind_dn and password instead"
    )
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("url", ["{url}/", "LDAP://{host}", "ldap://{host} "])
def test_urls_as_rfc_4516_writes_them_connect(slapd_server: SlapdServer, url: str) -> None:
    """A trailing ``/`` and a scheme in capitals are an LDAP URL too.

    Before, ``ldap://host:389/`` failed with ldap3's "port must be an integer"
    and ``LDAP://`` was refused.
    """
    given = url.format(url=slapd_server.url, host=slapd_server.url.removeprefix("ldap://"))
    target = LdapTarget(
        given,
        bind_dn=slapd_server.bind_dn,
        password=slapd_server.password,
        groups=LdapGroups(base_dn=SUFFIX),
    )
    _opened.append(target)
    assert target.urls == (slapd_server.url,)
    assert target.retrieve_groups([f"cn=absent,{SUFFIX}"]) == []


def test_refused_credentials_and_a_closed_port_are_clear_errors(
    slapd_server: SlapdServer,
) -> None:
    with pytest.raises(TargetUnavailable, match="invalidCredentials") as caught:
        LdapTarget(
            slapd_server.url,
            bind_dn=slapd_server.bind_dn,
            password="not-the-password",  # noqa: S106  # a wrong one, on purpose
            groups=LdapGroups(base_dn=SUFFIX),
        )
    assert "not-the-password" not in str(caught.value)
    with pytest.raises(TargetUnavailable, match=r"cannot connect to ldap://127\.0\.0\.1:1 "):
        LdapTarget("ldap://127.0.0.1:1", groups=LdapGroups(base_dn=SUFFIX), timeout=2)
    # A server without TLS refuses StartTLS: never a bind in the clear.
    with pytest.raises(TargetUnavailable, match=r"with StartTLS as .*startTLS failed") as caught:
        LdapTarget(
            slapd_server.url,
            bind_dn=slapd_server.bind_dn,
            password=slapd_server.password,
            start_tls=True,
            groups=LdapGroups(base_dn=SUFFIX),
        )
    assert slapd_server.password not in str(caught.value)


@pytest.fixture
def own_slapd() -> Iterator[SlapdServer]:
    """A server of this test's own, to restart (the session's serves the others)."""
    try:
        server = SlapdServer()
        server.start()
    except ServerUnavailable as exc:  # pragma: no cover  # the session's server started
        pytest.fail(str(exc))
    yield server
    server.stop()


def test_writes_the_directory_s_access_rules_refuse_fail_their_object_with_the_reason() -> None:
    """A bind that is not the administrator, under ACLs: refusals are the object's own.

    The sync's account may add member values but not delete them, and may
    not add one locked value.
    """
    account, groups = f"cn=svc,{SUFFIX}", f"ou=groups,{SUFFIX}"
    rules = [
        "to attrs=userPassword by anonymous auth by * none",
        (
            f'to dn.subtree="{groups}" attrs=member val.regex="^uid=locked,.*"'
            f' by dn.exact="{account}" read by * read'
        ),
        f'to dn.subtree="{groups}" attrs=member by dn.exact="{account}" =rscxa by * read',
        f'to * by dn.exact="{account}" write by * read',
    ]
    try:
        server = SlapdServer(access=rules)
        server.start()
    except ServerUnavailable as exc:  # pragma: no cover  # the session's server started
        pytest.fail(str(exc))
    try:
        admin = _admin(server)
        assert admin.add(account, ["person"], {"sn": "svc", "userPassword": "svc-only"})
        staff = f"cn=staff,{groups}"
        assert admin.add(staff, ["groupOfNames"], {"member": ["uid=a,o=x"]})
        admin.unbind()
        target = LdapTarget(
            server.url,
            bind_dn=account,
            password="svc-only",  # noqa: S106  # the test's own entry
            groups=LdapGroups(base_dn=groups, placeholder=f"cn=nobody,{SUFFIX}"),
        )
        _opened.append(target)
        (group,) = target.retrieve_all_groups()
        (removed,) = target.update_groups(
            [(group, [AttributeChange.remove("member", ["uid=a,o=x"])])]
        )
        assert not removed.ok
        assert removed.error == f"remove 'member' of {staff!r}: insufficientAccessRights (50)"
        (added,) = target.update_groups([(group, [AttributeChange.add("member", ["uid=b,o=x"])])])
        assert added.ok, added.error
        # One value refused for itself (its syntax), one by the rules: the object fails.
        (mixed,) = target.update_groups(
            [(group, [AttributeChange.add("member", ["not a dn", "uid=locked,o=x"])])]
        )
        assert not mixed.ok
        assert mixed.error == f"add 'member' of {staff!r}: insufficientAccessRights (50)"
        (group,) = target.retrieve_all_groups()
        assert group.values("member") == {"uid=a,o=x", "uid=b,o=x"}
    finally:
        server.stop()


def test_a_write_on_a_connection_the_directory_closed_goes_on_a_new_one(
    own_slapd: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adds on the main connection: its socket says it was closed, so it is opened again first.

    Closed after that look, the write is cut off, fails with the reason, and
    the next one goes through.
    """
    from grouperprov.targets import _ldap  # noqa: PLC0415  # its look at an idle connection

    branch = (f"ou=groups,{SUFFIX}", f"ou=people,{SUFFIX}")
    plain = _target(own_slapd, branch, pipeline=1)
    own_slapd.restart()
    (first,) = plain.insert_groups([ProvisioningGroup(id="w", attributes={"cn": "w"})])
    assert first.ok
    with monkeypatch.context() as patch:
        patch.setattr(_ldap, "closed_by_peer", lambda _fileno: False)
        own_slapd.restart()
        with pytest.raises(
            TargetUnavailable, match=r"add of 1 groups: the connection to .* was lost"
        ):
            plain.insert_groups([ProvisioningGroup(id="x", attributes={"cn": "x"})])
    (done,) = plain.insert_groups([ProvisioningGroup(id="y", attributes={"cn": "y"})])
    assert done.ok
    assert {"w", "y"} <= {str(g.get("cn")) for g in plain.retrieve_all_groups()}
    plain.close()  # a closed target connects again when it is used
    assert {"w", "y"} <= {str(g.get("cn")) for g in plain.retrieve_all_groups()}


def test_a_pipelined_connection_closed_alone_is_opened_again_alone(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    target = _target(slapd_server, branch, pipeline=4)
    target.insert_groups([ProvisioningGroup(id="a", attributes={"cn": "a"})])
    main, pipe = target._conn, target._pipe  # the two connections
    assert pipe is not None
    pipe.unbind()  # as a directory's idle timeout would, on that connection alone
    (done,) = target.insert_groups([ProvisioningGroup(id="b", attributes={"cn": "b"})])
    assert done.ok
    assert target._conn is main  # the main one kept
    assert target._pipe is not pipe  # a new pipelined one


def test_a_restarted_directory_is_connected_to_again(own_slapd: SlapdServer) -> None:
    """Reads connect again and go on; a write that was cut off fails alone, then writes go on."""
    branch = (f"ou=groups,{SUFFIX}", f"ou=people,{SUFFIX}")
    target = _target(own_slapd, branch, pipeline=4)
    source = InMemorySource()
    for n in range(6):
        source.add_subject(f"s{n}")
        source.add_group(f"campus:g{n}")
        source.add_member(f"campus:g{n}", f"s{n}")
    source.mark("campus", "ldap", scope="sub")
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    own_slapd.restart()  # every connection of the target is dropped
    source.add_group("campus:late")
    source.add_member("campus:late", "s0")
    again = prov.full_sync()  # reads first: they connect again
    assert again.status is SyncStatus.SUCCESS, again.summary()
    assert len(target.retrieve_all_groups()) == 7
    # Pipelined adds: ldap3 saw the end of that connection, so a new one is opened first.
    own_slapd.restart()
    (piped,) = target.insert_groups([ProvisioningGroup(id="p", attributes={"cn": "p"})])
    assert piped.ok
    # Down for a while: runs stop before saving anything, and say why.
    seq = len(source.changes)
    source.add_member("campus:g1", "s2")
    events = source.events(seq)
    stored = prov.store.load("ldap").provisioner
    assert stored.last_run  # the full syncs above
    own_slapd.halt()
    with pytest.raises(TargetUnavailable, match="cannot connect to"):
        target.retrieve_all_groups()
    result = prov.full_sync()  # it reads first
    assert result.status is SyncStatus.TARGET_UNAVAILABLE
    assert f"cannot connect to {own_slapd.url}" in result.message
    assert own_slapd.password not in result.message
    assert prov.store.load("ldap").provisioner == stored  # nothing saved
    # A membership add that agrees with the records is written without a read:
    # the write fails, and the membership keeps the error until it is retried.
    written = prov.incremental_sync(events)
    assert written.status is SyncStatus.ERROR
    ((_, error),) = written.errors.items()
    assert "TargetUnavailable: cannot connect to" in error.message
    own_slapd.restart()
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (g1,) = target.search_groups("cn", ["campus:g1"])
    assert g1.get("member") == frozenset({f"uid={s},{branch[1]}" for s in ("s1", "s2")})


def test_membership_objects_are_refused_with_a_clear_message(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    config = _config(MembershipType.MEMBERSHIP_OBJECTS, branch)
    prov = Provisioner(config, InMemorySource(), _target(slapd_server, branch), MemorySyncStore())
    result = prov.full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR
    assert "membership" in result.message


# -- the provisioner against the directory ----------------------------------------


def _config(
    kind: MembershipType,
    branch: tuple[str, str],
    *,
    policy: str = "not_in_grouper",
    **member: Any,
) -> ProvisionerConfig:
    """The test's configuration; *member*: more settings of the membership attribute."""
    people = branch[1]
    data: dict[str, Any] = {
        "name": "ldap",
        "groups": {
            "attributes": [
                {"name": "cn", "field": "name"},
                {"name": "description", "field": "description"},
            ],
            "matching": ["cn"],
            "delete_policy": policy,
        },
        "entities": {
            "attributes": [
                {"name": "uid", "field": "subject_id"},
                {"name": "cn", "field": "subject_id"},
                {"name": "sn", "field": "subject_id"},
            ],
            "matching": ["uid"],
            "delete_policy": policy,
        },
        "memberships": {"type": kind.value, "delete_policy": policy},
    }
    if kind is MembershipType.GROUP_ATTRIBUTES:
        data["memberships"]["attribute"] = {
            "name": "member",
            "template": f"uid={{subject_id|dn}},{people}",
            **member,
        }
        data["entities"]["operate"] = False
    elif kind is MembershipType.ENTITY_ATTRIBUTES:
        data["memberships"]["attribute"] = {
            "name": "eduPersonEntitlement",
            "template": "urn:mace:example.edu:{name}",
        }
        data["groups"]["operate"] = False
        # People come from the identity system: grouperprov only sets entitlements.
        data["entities"].update(insert=False, delete=False)
    else:
        data["memberships"]["attributes"] = [{"name": "g", "field": "group.name"}]
        data["memberships"]["matching"] = ["g"]
    return ProvisionerConfig.from_dict(data)


_SUBJECTS = ("u0", "u1", "o'brien, j")
_steps = steps(_SUBJECTS, groups=4, max_size=10)


def _lists(
    target: LdapTarget, kind: MembershipType, branch: tuple[str, str]
) -> Callable[[], dict[str, set[str]]]:
    """What the directory holds: each group's name, with its members' subject ids.

    Member DNs and entitlements are read back to the subject ids and group
    names they were made from (one that is neither shows as it is).
    """
    subject_of = {f"uid={escape_dn_value(s)},{branch[1]}": s for s in _SUBJECTS}
    prefix = "urn:mace:example.edu:"

    def lists() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        if kind is MembershipType.GROUP_ATTRIBUTES:
            for group in target.retrieve_all_groups():
                members = {str(v) for v in group.values("member")} - {f"cn=nobody,{SUFFIX}"}
                found[str(group.get("cn"))] = {subject_of.get(m, m) for m in members}
            return found
        for person in target.retrieve_all_entities():
            for value in person.values("eduPersonEntitlement"):
                name = str(value).removeprefix(prefix)
                found.setdefault(name, set()).add(str(person.get("cn")))
        return found

    return lists


def _apply(source: InMemorySource, step: Step) -> None:
    # Names with DN syntax, and a tab and a space at their ends (escaped in the DN).
    apply_step(source, step, rename_suffix="+x ", group_suffix=",#\t")


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.ENTITY_ATTRIBUTES]
)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(start=_steps, steps=_steps, policy=DELETE_POLICIES)
def test_full_and_incremental_syncs_converge_on_the_directory(
    slapd_server: SlapdServer,
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    policy: str,
) -> None:
    """Convergence, incremental equals full, and the directory says what Grouper says."""
    branch, source = _directory_campus(slapd_server, kind, start)
    target = _target(slapd_server, branch)
    prov = Provisioner(_config(kind, branch, policy=policy), source, target, MemorySyncStore())
    lists = _lists(target, kind, branch)
    # Entitlements show groups with members only: the groups are not entries.
    empty = kind is MembershipType.GROUP_ATTRIBUTES
    converges_then_follows(prov, source, steps, _apply, lists, empty=empty)


def _directory_campus(
    server: SlapdServer, kind: MembershipType, start: list[Any]
) -> tuple[tuple[str, str], InMemorySource]:
    """Branches of their own (with the people, for entity attributes); Grouper after *start*."""
    n = next(_branches)
    admin = _admin(server)
    branch = (f"ou=g{n},ou=groups,{SUFFIX}", f"ou=p{n},ou=people,{SUFFIX}")
    for dn in branch:
        admin.add(dn, ["top", "organizationalUnit"], {"ou": dn.split(",")[0][3:]})
    source = InMemorySource()
    for subject in ("u0", "u1", "o'brien, j"):
        source.add_subject(subject)
    source.mark("a", "ldap", scope="sub")
    for step in start:
        _apply(source, step)
    if kind is MembershipType.ENTITY_ATTRIBUTES:
        # People come from the identity system; grouperprov adds entitlements.
        for subject in ("u0", "u1", "o'brien, j"):
            admin.add(
                f"uid={escape_dn_value(subject)},{branch[1]}",
                ["top", "person", "organizationalPerson", "inetOrgPerson", "eduPerson"],
                {"cn": subject, "sn": subject},
            )
    admin.unbind()
    return branch, source


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.ENTITY_ATTRIBUTES]
)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    start=_steps,
    steps=_steps,
    residues=RESIDUES,
    policy=DELETE_POLICIES,
)
def test_after_failed_writes_one_incremental_run_recovers_on_the_directory(  # noqa: PLR0917  # what hypothesis varies
    slapd_server: SlapdServer,
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    residues: set[int],
    policy: str,
) -> None:
    """Writes fail in an incremental run (picked by object); the next run retries them all.

    Renames included: a modify DN that fails, a renamed group's old
    ``eduPersonEntitlement`` value whose removal fails.
    """
    branch, source = _directory_campus(slapd_server, kind, start)
    broken = {"on": False}
    pick = failing(residues)
    inner = _target(slapd_server, branch)
    target = FailingTarget(inner, lambda op, bean: broken["on"] and pick(op, bean))
    prov = Provisioner(_config(kind, branch, policy=policy), source, target, MemorySyncStore())
    lists = _lists(inner, kind, branch)
    empty = kind is MembershipType.GROUP_ATTRIBUTES
    recovers_after_failures(prov, source, steps, _apply, broken, lists, empty=empty)


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
def test_a_renamed_groups_old_entry_whose_delete_failed_is_deleted_by_the_retry(
    slapd_server: SlapdServer, policy: str
) -> None:
    """a:g0 becomes a:r2 as a:r2 is deleted; the delete of a:g0's old entry fails.

    The renamed group takes over the entry of the group deleted (they
    match by name). Its record keeps its old entry until a retry deletes
    it: moved to the new DN at once, no record held the old entry, and no
    incremental run deleted it (under ``inserted_by_us``, not even a full
    sync).
    """
    kind = MembershipType.GROUP_ATTRIBUTES
    branch, source = _directory_campus(slapd_server, kind, [])
    for name, subject in (("a:g0", "u0"), ("a:r2", "u1")):
        source.add_group(name)
        source.add_member(name, subject)
    broken = {"on": False}
    inner = _target(slapd_server, branch)
    target = FailingTarget(inner, lambda op, _bean: broken["on"] and op == "delete_groups")
    prov = Provisioner(_config(kind, branch, policy=policy), source, target, MemorySyncStore())
    lists = _lists(inner, kind, branch)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:r2")
    source.rename_group("a:g0", "a:r2")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert target.failures == [("delete_groups", f"cn=a:g0,{branch[0]}")]
    assert lists() == {"a:g0": {"u0"}, "a:r2": {"u0"}}
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert lists() == {"a:r2": {"u0"}}
    as_a_full_sync_leaves_it(prov)


@pytest.mark.parametrize(
    ("first", "second"),
    [("a:Staff", "a:staff"), ("a:x  y", "a:x y"), ("a:\u00e9", "a:e\u0301"), ("a:z ", "a:z")],
    ids=["case", "spaces", "unicode-forms", "trailing-space"],
)
def test_names_the_directory_takes_as_one_leave_the_first_entry_alone(
    slapd_server: SlapdServer, branch: tuple[str, str], first: str, second: str
) -> None:
    """Two groups whose cn the directory compares as equal: the second fails, every run.

    The directory's matching rule for ``cn`` ignores case, runs of spaces,
    leading and trailing spaces, and Unicode forms: the second group's add
    is refused (ERR, entryAlreadyExists), and the first group's entry is
    neither matched to it nor changed.
    """
    from grouperprov import ObjectType, SyncErrorCode  # noqa: PLC0415

    source = InMemorySource()
    source.add_subject("u0")
    for name in (first, second):
        source.add_group(name, description=name)
        source.add_member(name, "u0")
    source.mark("a", "ldap", scope="sub")
    target = _target(slapd_server, branch)
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, MemorySyncStore()
    )
    ids = {str(g.get("name")): g.id for g in source.snapshot().groups}
    for _ in range(2):
        result = prov.full_sync()
        assert result.status is SyncStatus.ERROR
        error = result.errors[(ObjectType.GROUP, ids[second])]
        assert error.code is SyncErrorCode.ERR
        assert "entryAlreadyExists" in error.message
        assert [(g.get("cn"), g.get("description")) for g in target.retrieve_all_groups()] == [
            (first, first)
        ]


@pytest.mark.parametrize("written", ["as the directory has it", "in another case"])
def test_a_rename_that_changes_only_case_moves_the_entry(
    slapd_server: SlapdServer, branch: tuple[str, str], written: str
) -> None:
    """``Staff`` to ``staff`` is a modify DN; the links hold with the base DN in any case.

    Before, a rename by case alone was planned again in every run and never
    done (the RDN's value changes by a modify DN only), and a base DN
    written in another case than the directory's (``OU=G1, ou=Groups``)
    broke every target link: the DNs read back did not equal those kept.
    """
    base = branch[0]
    if written == "in another case":
        base = base.upper().replace(",", ", ")  # and spaces after the commas
    groups = LdapGroups(
        base_dn=base, attributes=("description",), placeholder=f"cn=nobody,{SUFFIX}"
    )
    target = _target(slapd_server, branch, groups=groups)
    source = InMemorySource()
    source.add_subject("u0")
    source.add_group("a:Staff")
    source.add_member("a:Staff", "u0")
    source.mark("a", "ldap", scope="sub")
    store = MemorySyncStore()
    prov = Provisioner(_config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert prov.plan_full().plan.changes == ()
    source.rename_group("a:Staff", "a:staff")
    renamed = prov.full_sync()
    assert renamed.status is SyncStatus.SUCCESS
    assert renamed.plan is not None
    assert [c.action.value for c in renamed.plan.changes] == ["update"]  # not a delete and add
    assert prov.plan_full().plan.changes == ()  # done, not planned again
    (group,) = target.retrieve_all_groups()
    assert group.get("cn") == "a:staff"
    assert _subtree(slapd_server, branch[0]) == sorted([branch[0], f"cn=a:staff,{branch[0]}"])
    (gid,) = [g.id for g in source.snapshot().groups]
    record = store.load("ldap").records[(ObjectType.GROUP, gid)]
    assert record.target_id == group.id  # the link is the DN read back
    source.delete_group("a:staff")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert target.retrieve_all_groups() == []


def test_bushy_folders_that_differ_only_in_case_share_an_ou_and_converge(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``a:Dept:g1`` and ``a:dept:g2`` go in one OU; compared without case, nothing churns."""
    groups = _bushy(branch)
    target = _target(slapd_server, branch, groups=groups)
    source = InMemorySource()
    source.add_subject("u0")
    for name in ("a:Dept:g1", "a:dept:g2"):
        source.add_group(name)
        source.add_member(name, "u0")
    source.mark("a", "ldap", scope="sub")
    config = ProvisionerConfig.from_dict(
        {
            "name": "ldap",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension"},
                    {"name": "name", "field": "name", "case_sensitive": False},
                ],
                "matching": ["name"],
            },
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "template": f"uid={{subject_id|dn}},{branch[1]}"},
            },
        }
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert prov.plan_full().plan.changes == ()
    assert sorted(g.id for g in target.retrieve_all_groups()) == [
        f"cn=g1,ou=Dept,ou=a,{branch[0]}",
        f"cn=g2,ou=Dept,ou=a,{branch[0]}",
    ]


def _bushy_config(branch: tuple[str, str], *, cn: str = "extension") -> ProvisionerConfig:
    """Groups by full name (``name``, in the DN) with ``cn`` from *cn*, members as DNs."""
    return ProvisionerConfig.from_dict(
        {
            "name": "ldap",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": cn},
                    {"name": "name", "field": "name"},
                ],
                "matching": ["name"],
            },
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "template": f"uid={{subject_id|dn}},{branch[1]}"},
            },
        }
    )


def test_a_bushy_group_in_a_folder_another_case_made_is_found_again(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``a:y:g0`` goes in the OU ``a:Y:g4`` made: read back as ``a:Y:g0``, it is the same group.

    Found by a bushy fuzzer: the name compared exactly (its default), so the
    next run took the entry for another group and added ``a:y:g0`` again,
    refused (entryAlreadyExists) in every run after.
    """
    source = InMemorySource()
    source.add_subject("u0")
    source.add_group("a:Y:g4")
    source.add_member("a:Y:g4", "u0")
    source.mark("a", "ldap", scope="sub")
    target = _target(slapd_server, branch, groups=_bushy(branch, attributes=("cn",)))
    store = MemorySyncStore()
    prov = Provisioner(_bushy_config(branch), source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.add_group("a:y:g0")
    source.add_member("a:y:g0", "u0")
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    # The link kept is the DN the directory gives the entry (its OU's case):
    # the next run finds it as recorded, and writes no record.
    g0 = next(g.id for g in source.snapshot().groups if g.get("name") == "a:y:g0")
    record = store.load("ldap").records[ObjectType.GROUP, g0]
    assert record.target_id == f"cn=g0,ou=Y,ou=a,{branch[0]}"
    before = store.load("ldap").records
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert store.load("ldap").records == before  # last_sync too: none written
    assert prov.plan_full().plan.changes == ()
    assert sorted(g.id for g in target.retrieve_all_groups()) == [
        f"cn=g0,ou=Y,ou=a,{branch[0]}",
        f"cn=g4,ou=Y,ou=a,{branch[0]}",
    ]
    # A move into the OU by a name in the other case: the same.
    source.rename_group("a:Y:g4", "a:y:g5")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    g5 = next(g.id for g in source.snapshot().groups if g.get("name") == "a:y:g5")
    assert store.load("ldap").records[ObjectType.GROUP, g5].target_id == (
        f"cn=g5,ou=Y,ou=a,{branch[0]}"
    )
    before = store.load("ldap").records
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert store.load("ldap").records == before


def test_a_bushy_group_renamed_in_case_only_is_renamed_once(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``a:staff`` to ``a:Staff``: one modify DN, then nothing to do.

    The name compares ignoring case, as the DN it is read from does, so the
    leaf's case comes from ``cn``: without that, its replace was skipped as
    "moved with the DN" while the DN did not move, and the same update was
    reported done in every run (seen with the bushy fuzzer).
    """
    source = _staff_source()
    target = _target(slapd_server, branch, groups=_bushy(branch, attributes=("cn",)))
    prov = Provisioner(_bushy_config(branch), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.rename_group("a:staff", "a:Staff")
    renamed = prov.full_sync()
    assert renamed.status is SyncStatus.SUCCESS, renamed.summary()
    assert renamed.plan is not None
    assert [c.action.value for c in renamed.plan.changes] == ["update"]
    assert prov.plan_full().plan.changes == ()
    (group,) = target.retrieve_all_groups()
    assert (group.id, group.get("cn"), group.get("name")) == (
        f"cn=Staff,ou=a,{branch[0]}",
        "Staff",
        "a:Staff",
    )


def test_a_bushy_rdn_attribute_other_than_the_name_s_last_part_is_the_object_s_error(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``cn`` from the description, not the extension: an error that says why, not a silent skip."""
    source = _staff_source(description="Staff")
    target = _target(slapd_server, branch, groups=_bushy(branch, attributes=("cn",)))
    prov = Provisioner(_bushy_config(branch), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    prov = Provisioner(_bushy_config(branch, cn="description"), source, target, MemorySyncStore())
    source.update_group("a:staff", description="All staff")
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    (error,) = result.errors.values()
    assert "in a bushy DN it is the last part of 'name' ('staff')" in error.message


def test_a_person_the_directory_takes_for_another_gets_no_member_value(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """Grouper's ``bob`` and ``Bob`` are one entry to the directory (uid ignores case).

    ``bob``'s add is refused (the entry is ``Bob``'s); before, ``bob``'s
    member value ``uid=bob,...`` was written anyway, and the directory
    resolves it to ``Bob``: a group of ``bob``'s gave ``Bob`` its access.
    """
    people = branch[1]
    source = InMemorySource()
    for subject in ("Bob", "bob"):
        source.add_subject(subject)
    source.add_group("a:staff")
    source.add_member("a:staff", "Bob")
    source.add_group("a:admins")
    source.add_member("a:admins", "bob")
    source.mark("a", "ldap", scope="sub")
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch)
    config = attrs.evolve(config, entities=attrs.evolve(config.entities, operate=True))
    target = _target(
        slapd_server,
        branch,
        entities=LdapEntities(
            base_dn=people,
            object_classes=("top", "person", "organizationalPerson", "inetOrgPerson"),
            attributes=("cn", "sn"),
        ),
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    for _ in range(2):
        result = prov.full_sync()
        assert result.status is SyncStatus.ERROR
        refused = [e for e in result.errors.values() if "entryAlreadyExists" in e.message]
        assert refused  # bob's add, and bob's membership for it (DNE)
        members = {str(g.get("cn")): g.values("member") for g in target.retrieve_all_groups()}
        assert members == {"a:staff": {f"uid=Bob,{people}"}, "a:admins": frozenset()}


def _staff_source(**group: Any) -> InMemorySource:
    """Grouper with one group, a:staff, whose member is u0, marked for the provisioner."""
    source = InMemorySource()
    source.add_subject("u0")
    source.add_group("a:staff", **group)
    source.add_member("a:staff", "u0")
    source.mark("a", "ldap", scope="sub")
    return source


def _synced_staff(
    server: SlapdServer, branch: tuple[str, str]
) -> tuple[InMemorySource, LdapTarget, Provisioner]:
    """:func:`_staff_source` (described), synced once as group_attributes."""
    source = _staff_source(description="Staff")
    target = _target(server, branch)
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    return source, target, prov


@pytest.mark.parametrize("policy", [DeletePolicy.INSERTED_BY_US, DeletePolicy.NOT_IN_GROUPER])
def test_member_dns_in_another_case_are_one_value_when_compared_as_the_directory_does(
    slapd_server: SlapdServer, branch: tuple[str, str], policy: DeletePolicy
) -> None:
    source = _staff_source()
    target = _target(slapd_server, branch)
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch, case_sensitive=False)
    config = attrs.evolve(
        config, memberships=attrs.evolve(config.memberships, delete_policy=policy)
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    admin = _admin(slapd_server)
    dn, made = f"cn=a:staff,{branch[0]}", f"uid=u0,{branch[1]}"
    other_case = made.replace("uid=u0,", "uid=U0,").upper()
    assert admin.modify(
        dn, {"member": [(ldap3.MODIFY_DELETE, [made]), (ldap3.MODIFY_ADD, [other_case])]}
    )
    assert not prov.plan_full().plan.changes  # one value, as the directory says
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS
    assert not result.outcomes
    assert admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    (kept,) = admin.entries[0].entry_attributes_as_dict["member"]
    assert kept.lower() == made  # the value the directory has, left as it is
    admin.unbind()


@pytest.mark.parametrize("written", ["in another case", "as the sync writes it"])
@pytest.mark.parametrize("run", ["full", "incremental", "recalc"])
@pytest.mark.parametrize("policy", [DeletePolicy.INSERTED_BY_US, DeletePolicy.REMOVED_FROM_GROUPER])
def test_a_member_dn_another_tool_wrote_in_another_case_is_the_member(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    policy: DeletePolicy,
    run: str,
    written: str,
) -> None:
    """DNs compare ignoring case, as the directory compares them, whatever case_sensitive says.

    Found by adopting a group another tool kept: its member ``UID=U0,OU=...``
    was added again as ``uid=u0,ou=...`` in every run, the directory
    answering that it had it, and the run saying it made a change.
    """
    groups, people = branch
    source = _staff_source()
    source.add_subject("u1")
    source.add_member("a:staff", "u1")
    admin = _admin(slapd_server)
    upper = f"UID=U0,{people.upper()}" if written == "in another case" else f"uid=u0,{people}"
    assert admin.add(f"cn=a:staff,{groups}", ["groupOfNames"], {"member": [upper]})
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch)  # case_sensitive: the default
    assert config.memberships.attribute is not None
    assert config.memberships.attribute.case_sensitive
    config = attrs.evolve(
        config, memberships=attrs.evolve(config.memberships, delete_policy=policy)
    )
    target = _target(slapd_server, branch)
    assert target.capabilities().ignores_case(ObjectType.GROUP, "MEMBER")
    prov = Provisioner(config, source, target, MemorySyncStore())
    shown = prov.diagnostics(group="a:staff").step("capabilities")
    assert shown.data["case_insensitive"] == {
        "group": ["member", "owner", "uniqueMember"],
        "entity": ["manager"],
    }
    assert "group attributes compared ignoring case: member, owner, uniqueMember" in shown.lines
    first = prov.full_sync()
    assert first.status is SyncStatus.SUCCESS, first.summary()
    assert first.plan is not None
    assert [c.value for c in first.plan.changes] == [f"uid=u1,{people}"]  # u0 is there
    assert not prov.plan_full().plan.changes
    # Grouper removes u0: the record of u0 is found for the value as the directory has it.
    seq = len(source.changes)
    source.remove_member("a:staff", "u0")
    (group,) = target.retrieve_all_groups()
    (held,) = group.values("member") - {f"uid=u1,{people}"}  # as the directory has it
    assert str(held).casefold() == upper.casefold()
    changes = prov.plan_full().plan.changes
    staff = next(g.id for g in source.snapshot().groups)
    u0 = (staff, "mem-u0")
    # Held in another case, the delete names u0's membership (its record's target id
    # holds the value as written); as written, the target id finds the record.
    named = (u0,) if written == "in another case" else ()
    assert [(c.action.value, c.value, c.memberships) for c in changes] == (
        [] if policy is DeletePolicy.INSERTED_BY_US else [("delete", held, named)]
    )
    events = source.events(seq)
    if run == "recalc":  # an event that needs a recalc turns the batch into recalcs
        source.update_subject("u1", name="U. One")
        events = source.events(seq)
    result = prov.full_sync() if run == "full" else prov.incremental_sync(events)
    assert result.status is SyncStatus.SUCCESS, result.summary()
    (group,) = target.retrieve_all_groups()
    assert len(group.values("member")) == (
        2 if policy is DeletePolicy.INSERTED_BY_US else 1  # inserted by another, kept
    )
    # Also after a recalc, which covers no group: found with the value as written,
    # a removed member's record still said "in the target".
    record = prov.store.load("ldap").records[(ObjectType.MEMBERSHIP, u0)]
    assert record.in_target is (policy is DeletePolicy.INSERTED_BY_US)
    assert not prov.plan_full().plan.changes  # incremental equals full
    admin.unbind()


def test_an_entry_moved_by_hand_is_found_by_a_recalc_as_by_a_full_sync(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """A record's link that leads nowhere falls back to the matching value.

    Found by moving a synced group to another OU by hand: the retry's
    recalc read the group by its old DN alone, took it for missing, and
    added it again; the two entries then got MAT in every full sync.
    """
    groups, people = branch
    source, target, prov = _synced_staff(slapd_server, branch)
    admin = _admin(slapd_server)
    assert admin.add(f"ou=moved,{groups}", ["organizationalUnit"], {"ou": "moved"})
    assert admin.modify_dn(f"cn=a:staff,{groups}", "cn=a:staff", new_superior=f"ou=moved,{groups}")
    seq = len(source.changes)
    source.add_subject("u1")
    source.add_member("a:staff", "u1")
    failed = prov.incremental_sync(source.events(seq))  # written by its old DN: refused
    assert failed.status is SyncStatus.ERROR, failed.summary()
    retried = prov.incremental_sync([])
    assert retried.status is SyncStatus.SUCCESS, retried.summary()
    assert retried.incremental is not None
    assert retried.incremental.retried == 1
    assert [(g.id, g.values("member")) for g in target.retrieve_all_groups()] == [
        (f"cn=a:staff,ou=moved,{groups}", frozenset({f"uid=u0,{people}", f"uid=u1,{people}"}))
    ]
    full = prov.full_sync()
    assert full.status is SyncStatus.SUCCESS, full.summary()
    assert not full.errors
    assert not prov.plan_full().plan.changes
    admin.unbind()


def test_member_dns_written_with_spaces_in_the_template_are_not_added_again_every_run(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    # Found with "uid={subject_id|dn},ou=people, dc=example, dc=edu": the
    # directory keeps "uid=u0,ou=people,dc=example,dc=edu", and the compare
    # planned the add of every member in every run.
    spaced = f"uid = {{subject_id|dn}} , {branch[1].replace(',', ', ')}"
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch, template=spaced)
    prov = Provisioner(config, _staff_source(), _target(slapd_server, branch))
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (group,) = prov.target.retrieve_all_groups()
    assert group.get("member") == frozenset({f"uid=u0,{branch[1]}"})
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize(
    "placeholder",
    [
        "cn=nobody, dc=example, dc=edu",
        "CN=Nobody,DC=example,DC=edu",
        "cn=no\\2Cbody,dc=example,dc=edu",
    ],
)
def test_a_placeholder_written_another_way_is_still_left_out_of_the_members(
    slapd_server: SlapdServer, branch: tuple[str, str], placeholder: str
) -> None:
    # Found with "cn=nobody, dc=example, dc=edu": the directory gave back
    # "cn=nobody,dc=example,dc=edu", read as a member no Grouper group has,
    # and its removal was refused in every run (the last value of a group).
    groups = LdapGroups(base_dn=branch[0], attributes=("description",), placeholder=placeholder)
    target = _target(slapd_server, branch, groups=groups)
    source = _staff_source()
    source.add_group("a:empty")
    prov = Provisioner(_config(MembershipType.GROUP_ATTRIBUTES, branch), source, target)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.remove_member("a:staff", "u0")
    emptied = prov.full_sync()
    assert emptied.status is SyncStatus.SUCCESS, emptied.summary()
    assert [g.get("member") for g in target.retrieve_all_groups()] == [None, None]
    assert not prov.plan_full().plan.changes
    admin = _admin(slapd_server)
    admin.search(branch[0], "(objectClass=groupOfNames)", attributes=["member"])
    held = {str(v).lower() for e in admin.entries for v in e.entry_attributes_as_dict["member"]}
    admin.unbind()
    assert len(held) == 1  # the placeholder, in the directory's own writing
    assert held <= {"cn=nobody,dc=example,dc=edu", "cn=no\\2cbody,dc=example,dc=edu"}


def test_a_rename_moves_the_entry_and_the_sync_record_follows_it(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    from grouperprov import ObjectType  # noqa: PLC0415

    source = _staff_source()
    target = _target(slapd_server, branch)
    store = MemorySyncStore()
    prov = Provisioner(_config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (record,) = [r for k, r in store.load("ldap").records.items() if k[0] is ObjectType.GROUP]
    assert record.target_id == f"cn=a:staff,{branch[0]}"
    source.rename_group("a:staff", "a:employees")
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.plan is not None
    assert [c.action.value for c in result.plan.changes] == ["update"]  # moved, not re-created
    (record,) = [r for k, r in store.load("ldap").records.items() if k[0] is ObjectType.GROUP]
    assert record.target_id == f"cn=a:employees,{branch[0]}"
    assert [g.id for g in target.retrieve_all_groups()] == [record.target_id]


@pytest.mark.parametrize("renamed", [False, True], ids=["in-place", "renamed"])
def test_a_second_rdn_value_added_by_hand_is_taken_away(
    slapd_server: SlapdServer, branch: tuple[str, str], renamed: bool
) -> None:
    # Found by editing synced entries: the replace of cn was skipped as
    # "moved with the DN", so it was planned in every run and never done.
    source, _, prov = _synced_staff(slapd_server, branch)
    admin = _admin(slapd_server)
    assert admin.modify(f"cn=a:staff,{branch[0]}", {"cn": [(ldap3.MODIFY_ADD, ["extra"])]})
    name = "a:staff"
    if renamed:
        name = "a:employees"
        source.rename_group("a:staff", name)
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert admin.search(f"cn={name},{branch[0]}", "(objectClass=*)", ldap3.BASE, attributes=["cn"])
    assert admin.entries[0].entry_attributes_as_dict["cn"] == [name]
    assert not prov.plan_full().plan.changes
    admin.unbind()


@pytest.mark.parametrize("run", ["full", "group"])
def test_entries_whose_matching_attribute_holds_an_alias_are_adopted_not_replaced(
    slapd_server: SlapdServer, branch: tuple[str, str], run: str
) -> None:
    """A group entry with an alias ``cn`` and a person with two ``uid`` values are matched.

    Found by pointing a first sync at an existing directory: the group did
    not match its ``cn`` (a set), so ``not_in_grouper`` deleted the entry,
    its other attributes with it, and added it again; the person was
    "missing" (DNE) in every run.
    """
    groups, people = branch
    admin = _admin(slapd_server)
    assert admin.add(
        f"uid=u0,{people}",
        ["inetOrgPerson", "eduPerson"],
        {"uid": ["u0", "u0-old"], "cn": "u", "sn": "u"},
    )
    staff = f"cn=a:staff,{groups}"
    member = f"uid=u0,{people}"
    assert admin.add(
        staff,
        ["groupOfNames"],
        {"cn": ["a:staff", "staff-alias"], "member": [member], "businessCategory": "kept"},
    )
    for kind in (MembershipType.GROUP_ATTRIBUTES, MembershipType.ENTITY_ATTRIBUTES):
        config = _config(kind, branch)
        if kind is MembershipType.ENTITY_ATTRIBUTES:  # the person is the identity system's
            config = attrs.evolve(
                config, entities=attrs.evolve(config.entities, insert=False, delete=False)
            )
        prov = Provisioner(
            config, _staff_source(), _target(slapd_server, branch), MemorySyncStore()
        )
        # A group sync takes the part of the target its group matches, by any value.
        result = prov.full_sync() if run == "full" else prov.sync_group("a:staff")
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert not prov.plan_full().plan.changes
    admin.search(staff, "(objectClass=*)", ldap3.BASE, attributes=["cn", "businessCategory"])
    (entry,) = admin.entries
    assert entry.entry_attributes_as_dict == {"cn": ["a:staff"], "businessCategory": ["kept"]}
    admin.search(member, "(objectClass=*)", ldap3.BASE, attributes=["uid", "eduPersonEntitlement"])
    assert admin.entries[0].entry_attributes_as_dict["uid"] == ["u0"]
    admin.unbind()


def test_a_second_uid_added_to_a_person_by_hand_is_taken_away(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    source = _staff_source()
    admin = _admin(slapd_server)
    person = f"uid=u0,{branch[1]}"
    assert admin.add(person, ["inetOrgPerson", "eduPerson"], {"cn": "u0", "sn": "u0"})
    target = _target(slapd_server, branch)
    prov = Provisioner(
        _config(MembershipType.ENTITY_ATTRIBUTES, branch), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert admin.modify(person, {"uid": [(ldap3.MODIFY_ADD, ["u0b"])]})
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert admin.search(person, "(objectClass=*)", ldap3.BASE, attributes=["uid"])
    assert admin.entries[0].entry_attributes_as_dict["uid"] == ["u0"]
    assert not prov.plan_full().plan.changes
    admin.unbind()


@pytest.mark.parametrize("pipeline", [1, 8])
def test_an_empty_value_is_no_value_in_the_directory(
    slapd_server: SlapdServer, branch: tuple[str, str], pipeline: int
) -> None:
    # Found by provisioning a group with description "": the directory
    # refused the add ("invalid per syntax"), so the group never went in.
    source = _staff_source(description="")
    target = _target(slapd_server, branch, pipeline=pipeline)
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES, branch), source, target, MemorySyncStore()
    )
    dn = f"cn=a:staff,{branch[0]}"
    admin = _admin(slapd_server)

    def description() -> list[str]:
        assert admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["description"])
        found: list[str] = admin.entries[0].entry_attributes_as_dict.get("description", [])
        return found

    for value, stored in (("", []), ("Staff", ["Staff"]), ("", [])):
        source.update_group("a:staff", description=value)
        result = prov.full_sync()
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert description() == stored
        assert not prov.plan_full().plan.changes
    admin.unbind()


@pytest.mark.parametrize("pipeline", [1, 8])
def test_a_member_value_the_directory_refuses_fails_its_membership_alone(
    slapd_server: SlapdServer, branch: tuple[str, str], pipeline: int
) -> None:
    # Found by a value the directory refuses (not a DN): the new group's add
    # failed whole, and an existing group's other new members were refused
    # with it, in every run.
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch)
    config = attrs.evolve(
        config,
        memberships=attrs.evolve(
            config.memberships,
            attribute=attrs.evolve(
                config.memberships.attribute,  # type: ignore[misc]  # set for group_attributes
                template=None,
                function="translation_functions:member_dn_unless_odd",
            ),
        ),
    )
    source = InMemorySource()
    for subject in ("u0", "odd", "u1"):
        source.add_subject(subject)
    source.add_group("a:new")
    source.add_member("a:new", "u0")
    source.add_member("a:new", "odd")
    source.mark("a", "ldap", scope="sub")
    target = _target(slapd_server, branch, pipeline=pipeline)
    prov = Provisioner(config, source, target, MemorySyncStore())
    result = prov.full_sync()
    odd = (ObjectType.MEMBERSHIP, ("grp-00001", "mem-odd"))
    assert set(result.errors) == {odd}
    assert "invalidAttributeSyntax" in result.errors[odd].message
    (group,) = target.retrieve_all_groups()
    assert group.values("member") == {"uid=u0,ou=people,dc=example,dc=edu"}
    source.add_member("a:new", "u1")
    result = prov.full_sync()
    assert set(result.errors) == {odd}
    (group,) = target.retrieve_all_groups()
    assert group.values("member") == {
        "uid=u0,ou=people,dc=example,dc=edu",
        "uid=u1,ou=people,dc=example,dc=edu",
    }


def test_a_dn_a_renamed_group_left_is_its_own_when_a_new_group_takes_it(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    # Found by renaming a group and giving its old name to a new one, in one
    # process: the target remembered the old DN as moved, so the new group's
    # updates went to the renamed group's entry, in every run.
    source, target, prov = _synced_staff(slapd_server, branch)
    source.rename_group("a:staff", "a:employees")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.add_subject("u1")
    source.add_group("a:staff", description="New staff")
    source.add_member("a:staff", "u1")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.add_member("a:staff", "u0")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    people = branch[1]
    groups = {str(g.get("cn")): g for g in target.retrieve_all_groups()}
    assert groups["a:staff"].values("member") == {f"uid=u0,{people}", f"uid=u1,{people}"}
    assert groups["a:employees"].values("member") == {f"uid=u0,{people}"}
    assert groups["a:employees"].get("description") == "Staff"
    assert not prov.plan_full().plan.changes
    # A rename and a new member in one run: the member goes to the moved entry.
    source.rename_group("a:employees", "a:people")
    source.add_member("a:people", "u1")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    groups = {str(g.get("cn")): g for g in target.retrieve_all_groups()}
    assert groups["a:people"].values("member") == {f"uid=u0,{people}", f"uid=u1,{people}"}
    assert not prov.plan_full().plan.changes


def test_the_schema_s_syntax_is_followed_through_superiors_and_odd_values_stay_text() -> None:
    """What the schema says an attribute is, with the odd cases a directory may give."""
    from types import SimpleNamespace  # noqa: PLC0415

    from grouperprov.targets import _ldap  # noqa: PLC0415  # the decoders are internal

    def kind(syntax: str | None, *superior: str) -> SimpleNamespace:
        return SimpleNamespace(syntax=syntax, superior=list(superior) or None)

    types = {
        "number": kind("1.3.6.1.4.1.1466.115.121.1.27{32}"),
        "count": kind(None, "number"),
        "flag": kind("1.3.6.1.4.1.1466.115.121.1.7"),
        "orphan": kind(None),
        "loop": kind(None, "loop"),
        "lost": kind(None, "absent"),
    }
    schema = SimpleNamespace(attribute_types=types)
    decode = {name: _ldap._decoder(schema, name) for name in (*types, "absent")}
    assert decode["count"](b"42") == 42
    assert decode["number"](b"forty") == "forty"  # not an integer after all: the text
    assert [decode["flag"](v) for v in (b"TRUE", b"FALSE", b"maybe")] == [True, False, "maybe"]
    for name in ("orphan", "loop", "lost", "absent"):
        assert decode[name](b"42") == "42"
    assert _ldap._decoder(None, "number")(b"42") == "42"  # no schema read: text
    odd = b"caf\xc3\xa9 \xff"  # not UTF-8 at the end
    assert _ldap._text(odd) == "café \udcff"
    assert _ldap._text(odd).encode("utf-8", "surrogateescape") == odd  # kept, not lost
    assert _ldap._canonical("cn=a\\") == "cn=a\\"  # not a DN: as it is
    assert _ldap._canonical("cn=a\\2Cb") == "cn=a\\,b"


def test_attributes_not_asked_for_and_empty_ones_are_not_in_the_bean(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """Other attributes and options are left out; a read attribute in ranges is read whole.

    Active Directory sends a group's members in ranges (``member;range=0-1499``)
    when there are more than its MaxValRange: the entry has no bean until the
    rest is read (see the tests through :class:`ActiveDirectoryProxy`).
    """
    target = _target(slapd_server, branch)
    settings = target.groups
    assert settings is not None
    readers = target._readers(settings)
    entry = [(b"CN", [b"x"]), (b"cn;lang-en", [b"y"]), (b"description", []), (b"member", [b"a=b"])]
    entry += [(b"seeAlso;range=0-*", [b"a=b"]), (b"member;binary", [b"a=b"])]  # not read
    bean = target._bean(ProvisioningGroup, settings, b"cn=x", entry, readers)
    assert bean is not None
    assert bean.attributes == {"cn": "x", "member": frozenset({"a=b"})}
    ranged = [(b"cn", [b"big"]), (b"member;Range=0-1499", [b"uid=a,o=x"])]
    assert target._bean(ProvisioningGroup, settings, b"cn=big,o=x", ranged, readers) is None


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (b"member;range=0-1499", (b"member", 0, 1499)),
        (b"MEMBER;Range=1500-*", (b"member", 1500, None)),
        (b"member;lang-en", None),  # another option: another attribute's values
        (b"member;binary;range=0-5", None),
        (b"seeAlso;range=0-5", None),  # not read
    ],
)
def test_a_range_option_is_read_from_the_attribute_name(
    option: bytes, expected: tuple[bytes, int, int | None] | None
) -> None:
    readers = {b"member": ("member", _ldap._text, True)}
    assert _ldap._ranged(b"cn=x", option, readers) == expected


@pytest.mark.parametrize(
    "option", [b"member;range=", b"member;range=5", b"member;range=a-5", b"member;range=-1-5"]
)
def test_a_range_option_that_is_not_one_is_a_protocol_error(option: bytes) -> None:
    readers = {b"member": ("member", _ldap._text, True)}
    with pytest.raises(LdapProtocolError, match=r"cn=x: .* is not a range of values"):
        _ldap._ranged(b"cn=x", option, readers)


@pytest.fixture
def ranging(slapd_server: SlapdServer) -> Iterator[ActiveDirectoryProxy]:
    """Active Directory's answers in front of the test's slapd: 5 values per range at most."""
    proxy = ActiveDirectoryProxy(slapd_server.url, max_values=5)
    yield proxy
    proxy.close()


def _large_groups(
    branch: tuple[str, str], sizes: dict[str, int]
) -> tuple[ProvisionerConfig, InMemorySource]:
    config = _config(MembershipType.GROUP_ATTRIBUTES, branch)
    source = InMemorySource()
    for n in range(max(sizes.values())):
        source.add_subject(f"s{n:02d}")
    for name, size in sizes.items():
        source.add_group(f"campus:{name}")
        for n in range(size):
            source.add_member(f"campus:{name}", f"s{n:02d}")
    source.mark("campus", config.name, scope="sub")
    return config, source


@pytest.mark.parametrize(("size", "asked"), [(12, ["5-*", "10-*"]), (10, ["5-*"]), (5, [])])
def test_members_sent_in_ranges_are_read_whole(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    ranging: ActiveDirectoryProxy,
    size: int,
    asked: list[str],
) -> None:
    """A group larger than the directory's MaxValRange is read with all its members.

    Before, such a read failed: the target did not ask for the rest of the
    ranges, and read as it came the group would have had none of its
    members. The proxy sends at most five values per range, as Active
    Directory sends 1,500.
    """
    config, source = _large_groups(branch, {"big": size, "small": 2})
    target = _target(slapd_server, branch, url=ranging.url)
    first = Provisioner(config, source, target, MemorySyncStore()).full_sync()
    assert first.status is SyncStatus.SUCCESS, first.summary()
    direct = _target(slapd_server, branch)
    (big,) = [g for g in direct.retrieve_all_groups() if g.get("cn") == "campus:big"]
    assert len(big.attributes["member"]) == size  # type: ignore[arg-type]
    ranging.asked.clear()
    assert target.retrieve_all_groups() == direct.retrieve_all_groups()
    assert ranging.asked == [f"member;range={r}" for r in asked]
    assert target.retrieve_groups([big.id]) == [big]
    assert target.search_groups("cn", ["campus:big"]) == [big]
    # A member gone from Grouper is taken out of the whole list, and no other.
    source.remove_member("campus:big", f"s{size - 1:02d}")
    store = MemorySyncStore()
    again = Provisioner(config, source, target, store).full_sync()
    assert again.status is SyncStatus.SUCCESS, again.summary()
    (after,) = [g for g in direct.retrieve_all_groups() if g.get("cn") == "campus:big"]
    assert after.attributes["member"] == big.attributes["member"] - {  # type: ignore[operator]
        f"uid=s{size - 1:02d},{branch[1]}"
    }
    quiet = Provisioner(config, source, target, store).plan_full()
    assert not quiet.plan.changes, quiet.plan.changes


def test_an_entry_deleted_between_its_ranges_is_not_read(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """Gone before the rest of its members were read: not there, rather than half there."""
    config, source = _large_groups(branch, {"big": 12, "small": 2})
    target = _target(slapd_server, branch, url=ranging.url)
    assert (
        Provisioner(config, source, target, MemorySyncStore()).full_sync().status
        is SyncStatus.SUCCESS
    )
    (big,) = target.search_groups("cn", ["campus:big"])
    admin = _admin(slapd_server)
    ranging.before_range = lambda: admin.delete(big.id)
    assert [g.get("cn") for g in target.retrieve_all_groups()] == ["campus:small"]
    admin.unbind()


def test_members_removed_between_ranges_leave_the_values_read(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """Fewer values when the next range is asked for: those read so far, and no error."""
    config, source = _large_groups(branch, {"big": 7})
    target = _target(slapd_server, branch, url=ranging.url)
    assert (
        Provisioner(config, source, target, MemorySyncStore()).full_sync().status
        is SyncStatus.SUCCESS
    )
    (big,) = target.search_groups("cn", ["campus:big"])
    members = sorted(big.attributes["member"])  # type: ignore[arg-type]
    admin = _admin(slapd_server)
    ranging.before_range = lambda: admin.modify(
        big.id, {"member": [(ldap3.MODIFY_DELETE, members[:3])]}
    )
    (read,) = target.retrieve_all_groups()
    admin.unbind()
    assert len(read.attributes["member"]) == 5  # type: ignore[arg-type]  # the first range


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("skewed", r"'member;range=6-\*' is not the range of 4 values that follows the 5 read"),
        ("plain", r"asked for 'member;range=5-\*', the directory sent 'member'"),
        ("busy", r"search of 'cn=campus:big,.*' failed after 0 entries: busy \(51\)"),
    ],
)
def test_ranges_that_cannot_be_trusted_fail_the_read(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    ranging: ActiveDirectoryProxy,
    mode: str,
    problem: str,
) -> None:
    """A range that does not follow the values read, or a failed one: the read fails.

    The run stops (``TargetUnavailable``) rather than see a group with part
    of its members and take the rest out.
    """
    config, source = _large_groups(branch, {"big": 9})
    target = _target(slapd_server, branch, url=ranging.url)
    assert (
        Provisioner(config, source, target, MemorySyncStore()).full_sync().status
        is SyncStatus.SUCCESS
    )
    ranging.mode = mode
    with pytest.raises(TargetUnavailable, match=problem):
        target.retrieve_all_groups()


def _inserted(target: LdapTarget, **attributes: Any) -> ProvisioningGroup:
    """Insert one group; the group as the directory holds it (its DN as id)."""
    (made,) = target.insert_groups([ProvisioningGroup(id="g", attributes=attributes)])
    assert made.ok, made.error
    assert isinstance(made.stored, ProvisioningGroup)
    return made.stored


def _person(admin: Any, people: str, uid: str) -> str:
    dn = f"uid={uid},{people}"
    assert admin.add(dn, ["top", "person", "inetOrgPerson"], {"cn": uid, "sn": uid})
    return dn


def test_active_directory_answers_for_members_there_or_gone_already_are_fine(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """A member there already (``entryAlreadyExists``) or gone already (``unwillingToPerform``).

    Active Directory answers so where OpenLDAP says ``attributeOrValueExists``
    and ``noSuchAttribute``. Before, they failed the group's change: a
    member added or removed by hand since the read kept the group in error.
    """
    people = branch[1]
    ann, bob, carl, dave = (f"uid={u},{people}" for u in ("ann", "bob", "carl", "dave"))
    target = _target(slapd_server, branch, url=ranging.url)
    group = _inserted(target, cn="staff", member=frozenset({ann, bob}))
    admin = _admin(slapd_server)
    assert admin.modify(group.id, {"member": [(ldap3.MODIFY_ADD, [carl])]})
    assert admin.modify(group.id, {"member": [(ldap3.MODIFY_DELETE, [bob])]})
    admin.unbind()
    (added,) = target.update_groups([(group, [AttributeChange.add("member", [carl, dave])])])
    assert added.ok, added.error
    (removed,) = target.update_groups([(group, [AttributeChange.remove("member", [bob, ann])])])
    assert removed.ok, removed.error
    (read,) = _target(slapd_server, branch).retrieve_groups([group.id])
    assert read.get("member") == frozenset({carl, dave})


def test_a_value_gone_with_the_whole_attribute_is_gone_already_too(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """``unwillingToPerform`` for the last value, gone by hand: the compare finds no attribute."""
    target = _target(slapd_server, branch, url=ranging.url)
    group = _inserted(target, cn="staff", description="old")
    admin = _admin(slapd_server)
    assert admin.modify(group.id, {"description": [(ldap3.MODIFY_DELETE, [])]})
    admin.unbind()
    (removed,) = target.update_groups([(group, [AttributeChange.remove("description", ["old"])])])
    assert removed.ok, removed.error


def test_a_member_delete_active_directory_refuses_fails_with_its_own_answer(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """``unwillingToPerform`` for a member that is there: a failure, not "gone already".

    A compare tells the two apart; the failure shows the delete's answer,
    not the compare's.
    """
    ann, bob = (f"uid={u},{branch[1]}" for u in ("ann", "bob"))
    target = _target(slapd_server, branch, url=ranging.url)
    group = _inserted(target, cn="staff", member=frozenset({ann, bob}))
    ranging.mode = "stubborn"
    (removed,) = target.update_groups([(group, [AttributeChange.remove("member", [ann])])])
    assert not removed.ok
    assert removed.error is not None
    assert "unwillingToPerform (53)" in removed.error, removed.error
    (read,) = _target(slapd_server, branch).retrieve_groups([group.id])
    assert read.get("member") == frozenset({ann, bob})


def test_members_that_name_no_entry_fail_alone(
    slapd_server: SlapdServer, branch: tuple[str, str], ranging: ActiveDirectoryProxy
) -> None:
    """Active Directory refuses a member DN with no entry (``noSuchObject``): that member only.

    Before, the whole add (or chunk of members) failed: one person missing
    from the directory kept a group and all its other members out, run
    after run. Now the group and the others are written, and the missing
    member's membership gets its own error, with the reason.
    """
    people = branch[1]
    admin = _admin(slapd_server)
    for uid in ("ann", "bob"):
        _person(admin, people, uid)
    placeholder = f"cn=nobody,{SUFFIX}"  # for OpenLDAP's groupOfNames; AD groups may be empty
    ranging.exists = lambda dn: (
        dn == placeholder or bool(admin.search(dn, "(objectClass=*)", ldap3.BASE))
    )
    config, source = _large_groups(branch, {"staff": 0})
    for uid in ("ann", "ghost", "bob", "spook"):
        source.add_subject(uid)
    for uid in ("ann", "ghost"):
        source.add_member("campus:staff", uid)
    target = _target(slapd_server, branch, url=ranging.url)
    store = MemorySyncStore()
    first = Provisioner(config, source, target, store).full_sync()
    assert first.status is SyncStatus.ERROR, first.summary()
    (staff,) = target.search_groups("cn", ["campus:staff"])
    assert staff.get("member") == frozenset({f"uid=ann,{people}"})
    assert first.error_counts() == {"ERR": 1}
    (failed,) = [r for r in store.load(config.name).records.values() if r.error_code]
    assert failed.object_type is ObjectType.MEMBERSHIP
    assert f"the directory has no entry 'uid=ghost,{people}' to be a member" in (
        failed.error_message or ""
    )
    # A later add of members: the one with an entry goes in beside the refused one.
    source.add_member("campus:staff", "bob")
    source.add_member("campus:staff", "spook")
    second = Provisioner(config, source, target, store).full_sync()
    assert second.status is SyncStatus.ERROR, second.summary()
    (staff,) = target.search_groups("cn", ["campus:staff"])
    assert staff.get("member") == frozenset({f"uid=ann,{people}", f"uid=bob,{people}"})
    assert second.error_counts() == {"ERR": 2}
    admin.unbind()


def test_members_added_to_a_group_deleted_meanwhile_fail_the_group(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``noSuchObject`` for the entry itself: the group's failure, not its members'."""
    target = _target(slapd_server, branch)
    group = _inserted(target, cn="staff")
    admin = _admin(slapd_server)
    assert admin.delete(group.id)
    admin.unbind()
    change = AttributeChange.add("member", [f"uid=ann,{branch[1]}"])
    (added,) = target.update_groups([(group, [change])])
    assert not added.ok
    assert added.error is not None
    assert "noSuchObject (32)" in added.error, added.error


def test_groups_of_unique_names_keep_their_unique_members(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``groupOfUniqueNames`` with ``uniqueMember`` DNs: added, removed, placeholder when empty."""
    groups, people = branch
    unique = LdapGroups(
        base_dn=groups,
        object_classes=("top", "groupOfUniqueNames"),
        member_attribute="uniqueMember",
        placeholder=f"cn=nobody,{SUFFIX}",  # the class requires a uniqueMember
        attributes=("description",),
    )
    target = _target(slapd_server, branch, groups=unique)
    config = ProvisionerConfig.from_dict(
        {
            "name": "ldap",
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {
                    "name": "uniqueMember",
                    "template": f"uid={{subject_id|dn}},{people}",
                },
            },
        }
    )
    source = InMemorySource()
    for subject in ("u0", "o'brien, j"):
        source.add_subject(subject)
    source.add_group("a:staff")
    source.add_member("a:staff", "u0")
    source.add_member("a:staff", "o'brien, j")
    source.mark("a", "ldap", scope="sub")
    prov = Provisioner(config, source, target, MemorySyncStore())

    def entry() -> dict[str, list[str]]:
        admin = _admin(slapd_server)
        admin.search(
            f"cn=a:staff,{groups}",
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["objectClass", "uniqueMember"],
        )
        (found,) = admin.entries
        admin.unbind()
        return {
            "objectClass": sorted(found.objectClass.values),
            "uniqueMember": sorted(found.uniqueMember.values),
        }

    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert entry() == {
        "objectClass": ["groupOfUniqueNames", "top"],
        "uniqueMember": [f"uid=o'brien\\2C j,{people}", f"uid=u0,{people}"],
    }
    source.remove_member("a:staff", "u0")
    source.remove_member("a:staff", "o'brien, j")
    emptied = prov.full_sync()
    assert emptied.status is SyncStatus.SUCCESS, emptied.summary()
    assert entry()["uniqueMember"] == [f"cn=nobody,{SUFFIX}"]
    (group,) = target.retrieve_all_groups()
    assert "uniqueMember" not in group.attributes  # the placeholder never shows
    source.add_member("a:staff", "u0")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert entry()["uniqueMember"] == [f"uid=u0,{people}"]
    again = prov.full_sync()
    assert again.plan is not None
    assert again.plan.empty


@pytest.mark.parametrize("pipeline", [1, 64])
def test_an_object_class_the_schema_lacks_fails_its_entry_alone(
    slapd_server: SlapdServer,
    branch: tuple[str, str],
    pipeline: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A folder OU or an entry of a class the directory does not know: that group fails.

    ldap3 refuses such a request before sending it, with an exception that
    is not a ValueError; before, it ended the whole batch. (The target
    refuses such settings when the directory shows its schema: here it is
    taken not to, as some directories do for some binds.)
    """
    from grouperprov.targets import _ldap  # noqa: PLC0415  # the check, left out

    monkeypatch.setattr(_ldap, "_schema_problems", lambda *_: iter(()))
    bushy = _bushy(branch, folder_object_classes=("top", "organizationalUnit", "noSuchClass"))
    target = _target(slapd_server, branch, groups=bushy, pipeline=pipeline)
    flat = ProvisioningGroup(id="f", attributes={"name": "staff", "cn": "staff"})  # no folder
    nested = ProvisioningGroup(id="n", attributes={"name": "apps:wiki", "cn": "wiki"})
    outcomes = target.insert_groups([nested, flat])
    assert [o.ok for o in outcomes] == [False, True]
    assert f"could not create the folder 'ou=apps,{branch[0]}'" in (outcomes[0].error or "")
    assert "noSuchClass" in (outcomes[0].error or "")
    assert _subtree(slapd_server, branch[0]) == sorted([branch[0], f"cn=staff,{branch[0]}"])
    odd = LdapGroups(
        base_dn=branch[0],
        object_classes=("top", "groupOfNames", "noSuchClass"),
        placeholder=f"cn=nobody,{SUFFIX}",
    )
    target = _target(slapd_server, branch, groups=odd, pipeline=pipeline)
    (refused,) = target.insert_groups([ProvisioningGroup(id="o", attributes={"cn": "odd"})])
    assert not refused.ok
    # ldap3 names the class (one add at a time); pipelined, the directory refuses it.
    reason = "noSuchClass" if pipeline == 1 else "objectClass: value #2 invalid per syntax"
    assert reason in (refused.error or "")


def test_a_with_block_unbinds(slapd_server: SlapdServer, branch: tuple[str, str]) -> None:
    with _target(slapd_server, branch) as target:
        assert target.retrieve_all_groups() == []
        assert not target._conn.closed
    assert target._conn.closed


def test_settings_of_the_wrong_kind_are_named_not_crashed_on() -> None:
    # Found by passing plain data: "'dict' object has no attribute 'base_dn'",
    # "'list' object has no attribute 'startswith'".
    with pytest.raises(ConfigError) as caught:
        LdapTarget(
            ["ldap://a"],  # type: ignore[arg-type]  # the mistake under test
            groups={"base_dn": "ou=groups"},  # type: ignore[arg-type]
            entities=LdapGroups(base_dn=SUFFIX),  # type: ignore[arg-type]
        )
    url, groups, entities = (str(p) for p in caught.value.problems)
    assert url == "url: expected ldap://host:port or ldaps://host:port, not ['ldap://a']"
    assert groups == "groups: takes LdapGroups(base_dn=...), not dict"  # not shown: a password?
    assert entities == "entities: takes LdapEntities(base_dn=...), not LdapGroups"


def test_a_dn_style_given_as_text_is_that_style() -> None:
    # Given as text ("bushy"), the style was no member: groups went flat,
    # silently, with the folders' path attribute set.
    assert LdapGroups(base_dn=SUFFIX, dn_style="bushy", path_attribute="name").dn_style is (
        DnStyle.BUSHY
    )
    with pytest.raises(ValueError, match="'tree' is not a valid DnStyle"):
        LdapGroups(base_dn=SUFFIX, dn_style="tree")


def test_flags_and_sizes_of_the_wrong_type_are_named() -> None:
    # start_tls="false" (read from an environment variable) is true: it asked
    # for the StartTLS it meant to turn off.
    with pytest.raises(ConfigError) as caught:
        LdapTarget(
            "ldap://127.0.0.1:1",
            groups=LdapGroups(base_dn=SUFFIX),
            start_tls="false",  # type: ignore[arg-type]  # the mistake under test
            page_size="500",  # type: ignore[arg-type]
            timeout=0,
        )
    assert [str(p) for p in caught.value.problems] == [
        "start_tls: expected True or False, not str 'false'",
        "page_size: expected a whole number, not str '500'",
        "timeout: expected a number of seconds above 0, not int 0",
    ]


def test_a_group_named_with_a_lone_surrogate_fails_alone_in_an_incremental_run(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    r"""A name UTF-8 cannot encode (JSON's ``"\ud800"`` makes one) is that group's ``INV``.

    Found by probing odd names: the incremental run's search for the group
    encoded the name into its filter and ended with ``UnicodeEncodeError``,
    so no event of the batch was applied, in every run. Such a value is in
    no entry: a search or a read by it finds nothing.
    """
    config, source = _large_groups(branch, {"staff": 1, "bad\ud800": 1})
    source.add_subject("s99")
    target = _target(slapd_server, branch)
    prov = Provisioner(config, source, target, MemorySyncStore())
    first = prov.full_sync()
    assert first.status is SyncStatus.WARNING, first.summary()
    assert first.error_counts() == {"INV": 1}
    seen = len(source.changes)
    source.add_member("campus:staff", "s99")
    source.add_member("campus:bad\ud800", "s99")
    later = prov.incremental_sync(source.events(seen))
    assert later.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, later.summary()
    (staff,) = target.search_groups("cn", ["campus:staff", "campus:bad\ud800"])
    assert f"uid=s99,{branch[1]}" in staff.attributes["member"]  # type: ignore[operator]
    assert target.retrieve_groups([f"cn=campus:bad\ud800,{branch[0]}"]) == []


def test_subject_dn_links_each_subject_to_its_person_by_an_attribute(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """People named by ``cn``, as Active Directory names them: no template makes their DNs.

    The subject link looks each one up once by ``uid``; a subject with no
    person has no link (its membership waits), two people with its ``uid``
    are its ``ERR``.
    """
    people = branch[1]
    admin = _admin(slapd_server)
    for uid, name in (
        ("ann", "Ann Lee"),
        ("bob", "Bob, Jr."),
        ("dup", "Dup One"),
        ("dup", "Dup Two"),
    ):
        dn = f"cn={escape_dn_value(name)},{people}"
        assert admin.add(
            dn, ["top", "person", "inetOrgPerson"], {"cn": name, "sn": name, "uid": uid}
        )
    admin.unbind()
    by_cn = LdapEntities(
        base_dn=people, object_classes=("top", "person", "inetOrgPerson"), rdn_attribute="cn"
    )
    target = _target(slapd_server, branch, entities=by_cn)
    config = ProvisionerConfig.from_dict(
        {
            "name": "ldap",
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_link"},
            },
            "subject_link": {"function": target.subject_dn("uid")},
        }
    )
    source = InMemorySource()
    source.add_group("campus:staff")
    for uid in ("ann", "bob", "ghost", "dup"):
        source.add_subject(uid)
        source.add_member("campus:staff", uid)
    source.mark("campus", config.name, scope="sub")
    store = MemorySyncStore()
    result = Provisioner(config, source, target, store).full_sync()
    (staff,) = target.retrieve_all_groups()
    assert staff.get("member") == frozenset({f"cn=Ann Lee,{people}", f"cn=Bob\\, Jr.,{people}"})
    error = result.errors[(ObjectType.ENTITY, "mem-dup")]
    assert error.message.startswith("subject link failed: LookupError: 2 people have uid='dup': ")
    records = store.load(config.name).records
    assert records[(ObjectType.ENTITY, "mem-ann")].subject_link == f"cn=Ann Lee,{people}"
    assert records[(ObjectType.ENTITY, "mem-ghost")].subject_link is None
    # An incremental run: the ghost has a person now, and a new subject joins.
    admin = _admin(slapd_server)
    for uid, name in (("ghost", "Casper"), ("cat", "Cat Stevens")):
        dn = f"cn={escape_dn_value(name)},{people}"
        assert admin.add(
            dn, ["top", "person", "inetOrgPerson"], {"cn": name, "sn": name, "uid": uid}
        )
    admin.unbind()
    seen = len(source.changes)
    source.add_subject("cat")
    source.add_member("campus:staff", "cat")
    Provisioner(config, source, target, store).incremental_sync(source.events(seen))
    (staff,) = target.retrieve_all_groups()
    assert f"cn=Cat Stevens,{people}" in staff.attributes["member"]  # type: ignore[operator]
    with pytest.raises(ConfigError, match="subject_dn looks people up under the entities"):
        _target(slapd_server, branch, entities=None).subject_dn("uid")
    with pytest.raises(ConfigError) as caught:
        target.subject_dn("sAMAcountName")  # misspelt: nobody would be found
    assert str(caught.value).endswith(
        "subject_dn.attribute: 'sAMAcountName' is not an attribute type of the directory's schema"
    )
    with pytest.raises(ConfigError) as caught:
        target.subject_dn("", field=None)  # type: ignore[arg-type]  # the misuse under test
    assert [p.path for p in caught.value.problems] == ["subject_dn.attribute", "subject_dn.field"]
    link = target.subject_dn("uid", field="ids")  # a multi-valued field: one value, or none

    def context(ids: frozenset[str] | None) -> TranslationContext:
        given = {} if ids is None else {"ids": ids}
        bean = ProvisioningEntity(id="e", attributes=given)
        return TranslationContext(object_type=ObjectType.ENTITY, bean=bean)

    assert link(context(None)) is None
    assert link(context(frozenset({"ann"}))) == f"cn=Ann Lee,{people}"
    with pytest.raises(ValueError, match="ids has 2 values; one is looked up"):
        link(context(frozenset({"ann", "bob"})))


def test_attributes_the_directory_maintains_are_read_and_never_written(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``entryUUID`` (and ``memberOf``, ``createTimestamp``): NO-USER-MODIFICATION in the schema.

    Configured as written (``memberOf`` as a person's entitlements, say),
    every write was refused, on every object, in every run. It is now a
    configuration error naming the attribute; read only, it is read, and
    can be the object's cached link.
    """
    people = LdapEntities(
        base_dn=branch[1],
        object_classes=("top", "person", "inetOrgPerson"),
        attributes=("cn", "sn", "entryUUID"),
    )
    target = _target(slapd_server, branch, groups=None, entities=people)
    assert "entity attributes only read: entryUUID" in str(target.capabilities())

    def config(uuid: dict[str, Any]) -> ProvisionerConfig:
        return ProvisionerConfig.from_dict(
            {
                "name": "ldap",
                "groups": {"operate": False},
                "entities": {
                    "attributes": [
                        {"name": "uid", "field": "subject_id"},
                        {"name": "cn", "field": "subject_id"},
                        {"name": "sn", "field": "subject_id"},
                        {"name": "entryUUID", **uuid},
                    ],
                    "matching": ["uid"],
                    "cached_attributes": ["entryUUID"],
                },
                "memberships": {"operate": False},
            }
        )

    source = InMemorySource()
    source.add_subject("ann")
    source.add_group("campus:staff")
    source.add_member("campus:staff", "ann")
    source.mark("campus", "ldap", scope="sub")
    written = Provisioner(config({"field": "id"}), source, target).full_sync()
    assert written.status is SyncStatus.CONFIG_ERROR, written.summary()
    assert (
        "entities.attributes[3]: the target maintains the entity attribute 'entryUUID' itself"
        in written.message
    )
    store = MemorySyncStore()
    read = Provisioner(config({}), source, target, store).full_sync()
    assert read.status is SyncStatus.SUCCESS, read.summary()
    again = Provisioner(config({}), source, target, store).full_sync()  # reads it back
    assert again.status is SyncStatus.SUCCESS, again.summary()
    (ann,) = target.retrieve_all_entities()
    (record,) = store.load("ldap").records.values()
    assert record.links == (ann.get("entryUUID"),)
    assert len(str(ann.get("entryUUID"))) == 36  # a UUID, as the directory made it


def test_the_migration_pages_posix_groups_sync_against_a_real_directory(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """docs/migrating.md's worked example: bushy ``posixGroup``s numbered by ``idIndex``.

    Its settings, with this test's base DN: a full sync writes them, a second
    finds nothing to do, and a rename to another folder moves the entry.
    """
    groups = LdapGroups(
        base_dn=branch[0],
        object_classes=("top", "posixGroup"),
        dn_style=DnStyle.BUSHY,
        path_attribute="name",
        attributes=("gidNumber",),
        member_attribute="description",
    )
    target = _target(slapd_server, branch, groups=groups)
    config = ProvisionerConfig.from_dict(
        {
            "name": "ldapPosixGroups",
            "groups": {
                "attributes": [
                    {"name": "name", "field": "name"},
                    {"name": "cn", "field": "extension"},
                    {"name": "gidNumber", "field": "id_index", "value_type": "int"},
                ],
                "matching": ["gidNumber"],
                "search": ["gidNumber"],
                "delete_policy": "not_in_grouper",
            },
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "description", "field": "subject_id"},
                "delete_policy": "not_in_grouper",
            },
        }
    )
    source = InMemorySource()
    for uid in ("ann", "bob"):
        source.add_subject(uid)
    source.add_group("apps:unix:staff")
    source.add_member("apps:unix:staff", "bob")
    source.add_group("apps:unix:empty")
    source.mark("apps", config.name, scope="sub")
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes
    seen = len(source.changes)
    source.rename_group("apps:unix:empty", "apps:other:empty2")
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.SUCCESS
    found = {g.id: g.attributes for g in target.retrieve_all_groups()}
    assert found == {
        f"cn=empty2,ou=other,ou=apps,{branch[0]}": {
            "cn": "empty2",
            "gidNumber": 10002,
            "name": "apps:other:empty2",
        },
        f"cn=staff,ou=unix,ou=apps,{branch[0]}": {
            "cn": "staff",
            "gidNumber": 10001,
            "description": frozenset({"bob"}),
            "name": "apps:unix:staff",
        },
    }


def test_active_directorys_binary_ids_are_read_searched_and_never_written(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """``objectGUID`` and ``objectSid`` read as Windows writes them, found by those forms.

    Before, they were read as the UTF-8 decoding of their bytes (lone
    surrogates where those were not UTF-8), which no store could keep and no
    search could find: a group moved by hand could not be found by its GUID.
    """
    guid = uuid.UUID("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    sid = "S-1-5-21-3623811015-3361044348-30300820-1013"
    raw_sid = bytes((1, 5)) + (5).to_bytes(6, "big")
    raw_sid += b"".join(
        n.to_bytes(4, "little") for n in (21, 3623811015, 3361044348, 30300820, 1013)
    )
    admin = _admin(slapd_server)
    dn = f"uid=ann,{branch[1]}"
    assert admin.add(
        dn,
        ["top", "person", "inetOrgPerson", "extensibleObject"],
        {"cn": "Ann", "sn": "A", "objectGUID": guid.bytes_le, "objectSid": raw_sid},
    )
    admin.unbind()
    people = LdapEntities(
        base_dn=branch[1],
        object_classes=("top", "person", "inetOrgPerson"),
        attributes=("cn", "sn", "objectGUID", "objectSid"),
    )
    target = _target(slapd_server, branch, groups=None, entities=people)
    assert "entity attributes only read: objectGUID, objectSid" in str(target.capabilities())
    (ann,) = target.retrieve_all_entities()
    assert (ann.get("objectGUID"), ann.get("objectSid")) == (str(guid), sid)
    for attribute, value in (
        ("objectGUID", str(guid)),
        ("objectGUID", "{" + str(guid).upper() + "}"),  # as PowerShell shows it
        ("objectSid", sid),
    ):
        assert [p.id for p in target.search_entities(attribute, [value])] == [dn], value
    for attribute, value in (
        ("objectGUID", "not-a-guid"),
        ("objectGUID", str(uuid.uuid4())),
        ("objectSid", "S-1-5-21-x"),
        ("objectSid", "S-1-99999999999999999-1"),
        ("objectSid", "S-256-5-21"),
        ("objectSid", "S-1-281474976710656-21"),
        ("objectSid", "S-1-5-4294967296"),
    ):
        assert target.search_entities(attribute, [value]) == [], value
    # Bytes of no GUID's or SID's size are read as text, as other values.
    admin = _admin(slapd_server)
    assert admin.modify(
        dn,
        {
            "objectGUID": [(ldap3.MODIFY_REPLACE, [b"abc"])],
            "objectSid": [(ldap3.MODIFY_REPLACE, [b"\x01\x05xyz"])],
        },
    )
    admin.unbind()
    (ann,) = target.retrieve_all_entities()
    assert (ann.get("objectGUID"), ann.get("objectSid")) == ("abc", "\x01\x05xyz")


def test_a_group_moved_by_hand_is_found_by_its_cached_object_guid(
    slapd_server: SlapdServer, branch: tuple[str, str]
) -> None:
    """The GUID the directory gave a group is its cached link: it finds the group moved.

    An administrator renamed the group's entry (``cn=staff`` to
    ``cn=staff-old``): neither its DN nor its ``cn`` find it, its cached
    ``objectGUID`` does, and the sync puts the name back instead of making
    a second group.
    """
    groups = LdapGroups(
        base_dn=branch[0],
        object_classes=("top", "groupOfNames", "extensibleObject"),
        attributes=("description", "objectGUID"),
        placeholder=f"cn=nobody,{SUFFIX}",
    )
    target = _target(slapd_server, branch, groups=groups, entities=None)
    config = ProvisionerConfig.from_dict(
        {
            "name": "ad",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension"},
                    {"name": "description", "field": "description"},
                    {"name": "objectGUID"},
                ],
                "matching": [["cn"], ["objectGUID"]],
                "cached_attributes": ["objectGUID"],
                "delete_policy": "not_in_grouper",
            },
            "entities": {"operate": False},
            "memberships": {"operate": False},
        }
    )
    source = InMemorySource()
    source.add_group("campus:staff", description="Staff")
    source.mark("campus", "ad")
    store = MemorySyncStore()
    prov = Provisioner(config, source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    dn = f"cn=staff,{branch[0]}"
    guid = uuid.uuid4()
    admin = _admin(slapd_server)  # the directory gives the new entry its GUID
    assert admin.modify(dn, {"objectGUID": [(ldap3.MODIFY_ADD, [guid.bytes_le])]})
    assert prov.full_sync().status is SyncStatus.SUCCESS  # reads it, and caches it
    (record,) = store.load("ad").records.values()
    assert record.links == (str(guid),)
    assert admin.modify_dn(dn, "cn=staff-old")
    admin.unbind()
    plan = prov.plan_full().plan
    assert [c.action for c in plan.changes] == [Action.UPDATE], plan.summary()
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (group,) = target.retrieve_all_groups()
    assert (group.id, group.get("cn"), group.get("objectGUID")) == (dn, "staff", str(guid))
