"""Provisioner.diagnostics: one group and/or subject through the pipeline."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from grouperprov import (
    Diagnostics,
    Provisioner,
    ProvisionerConfig,
    ProvisioningGroup,
    SyncStatus,
    SyncType,
)
from grouperprov._diagnostics import MASK, _attributes_text, mask_secrets
from grouperprov.stores import SqliteSyncStore
from grouperprov.targets import SqlLayout, SqlTarget
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "sql"
STEPS = ["config", "capabilities", "behavior", "source", "records", "translation"]
STEPS += ["target", "match", "plan"]


def _config(**overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
        "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {
            "attributes": [
                {"name": "group", "field": "group.extension"},
                {"name": "user", "field": "entity.subject_id"},
            ],
            "matching": [["group", "user"]],
            "delete_policy": "not_in_grouper",
        },
    }
    data.update(overrides)
    return ProvisionerConfig.from_dict(data)


def _source() -> InMemorySource:
    source = InMemorySource()
    source.add_group("apps:sql:team")
    source.add_group("apps:sql:staff")
    source.add_group("other:club")
    for i in range(3):
        source.add_subject(f"u{i}")
        source.add_member("apps:sql:team", f"u{i}")
    source.add_member("apps:sql:staff", "u2")
    source.add_member("other:club", "u1")
    source.mark("apps:sql", P)
    return source


def _lines(report: Diagnostics, step: str) -> str:
    return "\n".join(report.step(step).lines)


def test_a_new_group_is_shown_step_by_step_and_nothing_is_written() -> None:
    target = InMemoryTarget(id_attributes={"group": "cn"})
    store = SqliteSyncStore(":memory:")
    prov = Provisioner(_config(), _source(), target, store)
    report = prov.diagnostics(group="apps:sql:team", subject="u1")
    assert [s.name for s in report.steps] == STEPS
    assert report.result is None
    assert "provisionable (marker on 'apps:sql', scope sub)" in _lines(report, "source")
    assert "members in Grouper: 3" in _lines(report, "source")
    assert "membership of the subject in the group: yes" in _lines(report, "source")
    assert "no group record" in _lines(report, "records")
    assert "group: cn='team'" in _lines(report, "translation")
    assert "membership: group='team', user='u1'" in _lines(report, "translation")
    assert "entity: entities are not operated on" in _lines(report, "translation")
    assert "group: no matching object in the target" in _lines(report, "target")
    assert "group: no target object matches (insert candidate)" in _lines(report, "match")
    plan = _lines(report, "plan")
    assert "insert group 'apps:sql:team'" in plan
    assert "because missing_in_target" in plan
    assert plan.count("insert membership") == 3
    # Nothing written anywhere.
    assert not target.groups
    assert not target.memberships
    assert not store.load(P).records


def test_a_target_that_cannot_be_read_is_shown_after_the_steps_that_need_none(
    tmp_path: Path,
) -> None:
    # Found with a locked database: diagnostics, which an operator runs when
    # a run stopped, raised the same error and showed nothing.
    path = tmp_path / "app.db"
    layout = SqlLayout.from_dict(
        {
            "groups": {"table": "app_groups", "id_column": "cn", "columns": ["cn"]},
            "memberships": {"table": "app_m", "columns": ["group", "user"]},
        }
    )
    connection = sqlite3.connect(path, timeout=0)
    target = SqlTarget(connection, layout)
    store = SqliteSyncStore(":memory:")
    prov = Provisioner(_config(), _source(), target, store)
    report = prov.diagnostics(group="apps:sql:team", subject="u1", write=True)
    assert [s.name for s in report.steps] == STEPS[:-2]  # no match, no plan, no write
    assert report.result is None
    assert "group: cn='team'" in _lines(report, "translation")
    (why, what) = report.step("target").lines
    assert why.startswith("the target could not be read (ConfigError): invalid provisioner")
    assert "groups.table: cannot read table 'app_groups'" in why
    assert what == "the match, the plan and any write need it: none was done"
    assert not store.load(P).records
    target.create_tables()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    locked = prov.diagnostics(group="apps:sql:team")
    assert locked.step("target").data == {
        "error": {
            "type": "TargetUnavailable",
            "message": "cannot read table 'app_groups': OperationalError: database is locked",
        }
    }
    other.execute("ROLLBACK")
    assert [s.name for s in prov.diagnostics(group="apps:sql:team").steps] == STEPS
    kept = locked.step("capabilities")
    assert kept.data["attributes"] == {"group": ["cn"], "membership": ["group", "user"]}
    assert kept.data["case_insensitive"] == {}  # tables compare their values exactly
    assert "membership attributes: group, user" in kept.lines
    other.close()
    connection.close()


def test_a_synced_group_shows_its_record_target_object_and_match() -> None:
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_config(), _source(), target)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    report = prov.diagnostics(group="apps:sql:team", subject="u1")
    assert "in target: yes" in _lines(report, "records")
    assert "origin: inserted by grouperprov" in _lines(report, "records")
    assert "group: 'team': cn='team'" in _lines(report, "target")
    assert "membership: group='team', user='u1'" in _lines(report, "target")
    assert "group: paired with 'team' by cn='team'" in _lines(report, "match")
    assert _lines(report, "plan") == "nothing to do: the target agrees with Grouper"
    data = report.step("match").data
    assert data["group"] == {"target_id": "team", "matched_by": "cn='team'", "error": None}


def test_a_group_outside_the_marked_folder_says_why() -> None:
    prov = Provisioner(_config(), _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="other:club")
    assert "not provisionable: no provisioning marker for this provisioner reaches it" in _lines(
        report, "source"
    )
    assert "group: not translated (not provisionable here)" in _lines(report, "translation")
    assert report.step("source").data["group"]["provisionable"] is False
    assert report.step("plan").data["changes"] == []


def test_errors_are_shown_where_they_arise() -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "code", "field": "description", "required": True},
            ],
            "matching": ["cn"],
        }
    )
    prov = Provisioner(config, _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="apps:sql:team")
    assert "error: REQ [code]: required value is missing" in _lines(report, "translation")
    assert report.step("translation").data["group"]["errors"] == [
        {"code": "REQ", "message": "required value is missing", "attribute": "code"}
    ]
    assert "group 'grp-00001' left alone: REQ" in _lines(report, "plan")


def test_a_subject_alone_writes_only_its_changes_and_the_groups_they_need() -> None:
    source = _source()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    store = SqliteSyncStore(":memory:")
    prov = Provisioner(_config(), source, target, store)
    report = prov.diagnostics(subject="u2", write=True)
    assert report.step("write").data["status"] == "SUCCESS"
    assert report.result is not None
    assert report.result.sync_type is SyncType.GROUP
    # u2's two memberships and the two groups they need; nothing of u0 or u1.
    assert set(target.groups) == {"team", "staff"}
    assert {m.get("user") for m in target.memberships.values()} == {"u2"}
    assert len(target.memberships) == 2
    # No full sync is recorded, and the next full sync completes the rest.
    state = store.load(P)
    assert SyncType.FULL not in state.provisioner.last_run
    prov.full_sync()
    assert len(target.memberships) == 4
    assert not prov.plan_full().plan.changes


def test_a_group_write_is_a_group_sync_of_the_group() -> None:
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_config(), _source(), target)
    report = prov.diagnostics(group="apps:sql:staff", write=True)
    assert report.result is not None
    assert report.result.status is SyncStatus.SUCCESS
    assert "insert membership: 1" in _lines(report, "write")
    assert set(target.groups) == {"staff"}
    assert len(target.memberships) == 1


def test_a_blocked_failsafe_blocks_a_diagnostics_write() -> None:
    source = _source()
    config = _config(failsafe={"max_group_percent_removed": 30})
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(config, source, target)
    prov.full_sync()
    for i in range(2):
        source.remove_member("apps:sql:team", f"u{i}")
    assert prov.full_sync().status is SyncStatus.ERROR_FAILSAFE
    report = prov.diagnostics(subject="mem-u0", write=True)
    assert report.result is not None
    assert report.result.status is SyncStatus.ERROR_FAILSAFE
    assert "failsafe: group 'apps:sql:team'" in _lines(report, "plan")
    assert len(target.memberships) == 4


def test_the_subject_alone_is_checked_against_the_failsafe_of_its_own_changes() -> None:
    source = _source()
    config = _config(failsafe={"max_group_percent_removed": 30})
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(config, source, target)
    prov.full_sync()
    source.remove_member("apps:sql:team", "u0")
    source.remove_member("apps:sql:team", "u1")
    # u1's own change removes 1 of 3 members (33 %): tripped on its own too.
    report = prov.diagnostics(subject="u1", write=True)
    assert report.result is not None
    assert report.result.status is SyncStatus.ERROR_FAILSAFE
    assert "would lose 1 of its 3 members" in report.result.failsafe[0]
    # With a looser failsafe, only u1's removal is written.
    prov.approve_failsafe("alice")
    report = prov.diagnostics(subject="u1", write=True)
    assert report.result is not None
    assert report.result.status is SyncStatus.SUCCESS
    assert {m.get("user") for m in target.memberships.values()} == {"u0", "u2"}


def test_group_attribute_memberships_are_shown_as_values() -> None:
    config = _config(
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
        }
    )
    prov = Provisioner(config, _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="grp-00001", subject="mem-u1")
    assert "membership: the value 'u1' of 'grp-00001''s member" in _lines(report, "translation")
    assert report.step("translation").data["membership"] == {
        "attribute": "member",
        "values": ["u1"],
    }


def test_the_report_is_printable_and_json() -> None:
    prov = Provisioner(_config(), _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="apps:sql:team", subject="u1")
    text = str(report)
    assert text.startswith("diagnostics of provisioner 'sql' (group 'grp-00001', subject 'mem-u1')")
    for name in STEPS:
        assert f"== {name} ==" in text
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert [s["name"] for s in data["steps"]] == STEPS
    changes = report.step("plan").data["changes"]
    assert changes[0]["action"] == "insert"
    assert changes[0]["object_type"] == "group"
    with pytest.raises(KeyError):
        report.step("write")


class _SecretTarget(InMemoryTarget):
    def __init__(self) -> None:
        super().__init__(id_attributes={"group": "cn"})
        self.password = "hunter2-secret"  # noqa: S105  # the secret the test looks for

    def __repr__(self) -> str:
        return f"_SecretTarget(password={self.password!r})"


def test_secrets_never_reach_the_report() -> None:
    prov = Provisioner(_config(), _source(), _SecretTarget())
    report = prov.diagnostics(group="apps:sql:team", write=True)
    assert "hunter2" not in str(report)
    assert "hunter2" not in report.to_json()
    assert "._SecretTarget" in _lines(report, "config")


def test_mask_secrets_masks_every_key_that_names_a_secret() -> None:
    data = {
        "bind_password": "p1",
        "Client_Secret": "p2",
        "nested": [{"api_key": "p3", "token": "p4", "user": "cn=admin"}],
        "private_key_file": "/etc/key.pem",
        "passphrase": None,
        "matching": ["cn"],
    }
    assert mask_secrets(data) == {
        "bind_password": MASK,
        "Client_Secret": MASK,
        "nested": [{"api_key": MASK, "token": MASK, "user": "cn=admin"}],
        "private_key_file": MASK,
        "passphrase": None,
        "matching": ["cn"],
    }


def test_bad_requests_are_refused_with_the_reason() -> None:
    prov = Provisioner(_config(), _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    with pytest.raises(ValueError, match="needs a group, a subject or both"):
        prov.diagnostics()
    with pytest.raises(LookupError, match=r"no group 'apps:nope' in Grouper.*no sync record"):
        prov.diagnostics(group="apps:nope")
    with pytest.raises(LookupError, match="no subject 'nobody' among Grouper's members"):
        prov.diagnostics(subject="nobody")


def test_a_subject_outside_the_subject_sources_says_why() -> None:
    config = _config(provisionable={"subject_sources": ["kerberos"]})
    prov = Provisioner(config, _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(subject="u1")
    assert "its source 'ldap' is not in subject_sources" in _lines(report, "source")


def test_objects_gone_from_grouper_are_found_through_the_sync_records() -> None:
    source = _source()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_config(), source, target)
    prov.full_sync()
    source.remove_member("apps:sql:team", "u0")
    source.delete_group("apps:sql:staff")
    report = prov.diagnostics(subject="mem-u0")
    assert "subject 'mem-u0': not a member of any group in Grouper" in _lines(report, "source")
    assert "delete membership" in _lines(report, "plan")
    report = prov.diagnostics(group="grp-00002", write=True)
    assert "group 'grp-00002': not in Grouper" in _lines(report, "source")
    assert "in target: yes" in _lines(report, "records")
    assert "delete group" in _lines(report, "plan")
    assert set(target.groups) == {"team"}


def test_groups_left_out_with_mem_and_members_of_other_groups_say_why() -> None:
    source = _source()
    source.add_group("apps:sql:empty")
    config = _config(provisionable={"groups_require_members": True})
    prov = Provisioner(config, source, InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="apps:sql:empty")
    assert "not provisionable: MEM: no provisionable members" in _lines(report, "source")
    assert "members in Grouper: 0\n" in _lines(report, "source") + "\n"
    report = prov.diagnostics(group="apps:sql:staff", subject="u0")
    source_text = _lines(report, "source")
    assert "not provisionable here: not a provisionable member of this group" in source_text
    assert "membership of the subject in the group: no" in source_text
    assert "membership:" not in _lines(report, "translation")


def test_create_only_values_and_membership_errors_are_shown() -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {
                    "name": "objectClass",
                    "static": ["top", "group"],
                    "multi_valued": True,
                    "create_only": True,
                },
            ],
            "matching": ["cn"],
        },
        memberships={
            "attributes": [
                {"name": "group", "field": "group.extension"},
                {"name": "mail", "field": "entity.email", "required": True},
            ],
            "matching": [["group", "mail"]],
        },
    )
    prov = Provisioner(config, _source(), InMemoryTarget(id_attributes={"group": "cn"}))
    report = prov.diagnostics(group="apps:sql:team", subject="u1")
    text = _lines(report, "translation")
    assert "create only: objectClass=frozenset(" in text
    assert report.step("translation").data["group"]["create_only"] == {
        "objectClass": ["group", "top"]
    }
    assert "membership error: REQ [mail]: required value is missing" in text


def test_an_ambiguous_match_is_shown_with_its_error() -> None:
    target = InMemoryTarget()
    for target_id in ("t1", "t2"):
        target.groups[target_id] = ProvisioningGroup(id=target_id, attributes={"cn": "team"})
    prov = Provisioner(_config(), _source(), target)
    report = prov.diagnostics(group="apps:sql:team")
    assert "group: MAT: matching value cn='team' matches 2 target objects" in _lines(
        report, "match"
    )


def test_a_subject_alone_with_entities_operated_writes_its_entity_first() -> None:
    config = _config(
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
        },
    )
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov = Provisioner(config, _source(), target)
    report = prov.diagnostics(subject="u2", write=True)
    assert "entity: uid='u2'" in _lines(report, "translation")
    assert "insert entity 'u2'" in _lines(report, "plan")
    assert set(target.entities) == {"u2"}
    assert set(target.groups) == {"team", "staff"}
    # A group is inserted whole: with group attributes, its other members come with it.
    assert target.groups["staff"].get("member") == frozenset({"u2"})
    assert target.groups["team"].get("member") == frozenset({"u0", "u1", "u2"})


def test_a_group_and_subject_both_gone_are_found_in_the_records() -> None:
    source = _source()
    prov = Provisioner(_config(), source, InMemoryTarget(id_attributes={"group": "cn"}))
    prov.full_sync()
    source.delete_group("apps:sql:staff")
    source.remove_member("apps:sql:team", "u2")
    report = prov.diagnostics(group="grp-00002", subject="mem-u2")
    text = _lines(report, "source")
    assert "group 'grp-00002': not in Grouper" in text
    assert "subject 'mem-u2': not a member of any group in Grouper" in text


def test_objects_without_attributes_are_shown_as_such() -> None:
    assert _attributes_text(ProvisioningGroup(id="g")) == "(no attributes)"
