"""The compact path for membership objects gives exactly what the general path gives.

Membership attributes that each depend on the group alone, the entity alone,
or neither are translated per group and per entity, and unchanged pairs are
settled as tuples (see ``_compare._settle``). These tests run the same inputs
through both paths (the general one forced by a translator that does not know
its attributes are separable) and compare everything a caller can see.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouperprov import (
    Matcher,
    ObjectType,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    SyncRecord,
    Translator,
    compare,
    compute_behavior,
    read_target,
)
from grouperprov._beans import attribute_values
from grouperprov._failsafe import plan_stats
from grouperprov._gc import paused_gc
from grouperprov._lazy import LazyMap, merged
from grouperprov._records import replaced
from grouperprov._translate import _SeparableMemberships
from grouperprov.testing import InMemoryTarget

NAMES = ["a", "b", "B", "c"]
SUBJECTS = ["x", "y", "Y", "zzzzzz", ""]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    groups = [
        ProvisioningGroup.from_grouper(
            f"g{i}", f"top:{name}", description=draw(st.sampled_from(["d", "e", None]))
        )
        for i, name in enumerate(draw(st.lists(st.sampled_from(NAMES), max_size=4)))
    ]
    entities = [
        ProvisioningEntity.from_grouper(
            f"m{i}", subject, email=draw(st.sampled_from(["p@x", "q@x", None]))
        )
        for i, subject in enumerate(draw(st.lists(st.sampled_from(SUBJECTS), max_size=5)))
    ]
    pairs = st.tuples(
        st.sampled_from([g.id for g in groups] or ["none"]),
        st.sampled_from([e.id for e in entities] or ["none"]),
    )
    memberships = [
        ProvisioningMembership(g, e) for g, e in draw(st.lists(pairs, unique=True, max_size=12))
    ]
    target = [
        ProvisioningMembership(
            f"tg{i}",
            f"te{i}",
            {
                "group_name": draw(st.sampled_from(["top:a", "top:b", "top:B", "", None])),
                "subject_id": draw(st.sampled_from([*SUBJECTS, None])),
                "kind": draw(st.sampled_from(["member", "other", None])),
                "note": draw(st.sampled_from(["p@x", "q@x", None])),
            },
        )
        for i in range(draw(st.integers(0, 10)))
    ]
    key = draw(
        st.sampled_from(
            [
                ["group_name", "subject_id"],
                ["subject_id", "group_name"],
                ["kind", "group_name", "subject_id"],
                ["subject_id"],
            ]
        )
    )
    subject: dict[str, Any] = {"name": "subject_id", "field": "entity.subject_id"}
    if draw(st.booleans()):
        subject["max_length"] = 3  # LEN errors on "zzzzzz"
    group_name: dict[str, Any] = {"name": "group_name", "template": "{group.name}"}
    if draw(st.booleans()):
        group_name["case_sensitive"] = False
    if draw(st.booleans()):
        group_name["ignore_values"] = ["top:c"]
    kind: dict[str, Any] = {
        "name": "kind",
        "static": "member",
        # A static value that fails its check: every membership has LEN.
        **({"max_length": 2} if draw(st.integers(0, 9)) == 0 else {}),
    }
    note: dict[str, Any] = {"name": "note", "field": "entity.email"}
    if draw(st.integers(0, 4)) == 0:
        note["create_only"] = True
    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {"operate": False},
            "entities": {"operate": False},
            "memberships": {
                "type": "membership_objects",
                "matching": [key, *([["subject_id"]] if draw(st.booleans()) else [])],
                "update": draw(st.booleans()),
                "delete_policy": "not_in_grouper",
                # In any order: membership translations merge their parts'
                # values when each side's attributes come together.
                "attributes": draw(st.permutations([group_name, subject, kind, note])),
            },
        }
    )
    return {
        "config": config,
        "groups": groups,
        "entities": entities,
        "memberships": memberships,
        "target": target,
    }


def _run(scenario: dict[str, Any], *, compact: bool) -> tuple[Any, Any]:
    config = scenario["config"]
    target = InMemoryTarget()
    target.seed(memberships=scenario["target"])
    translator = Translator(config)
    if not compact:
        translator._membership_sides = None  # the general path
    behavior = compute_behavior(config, target.capabilities())
    translation = translator.translate(
        scenario["groups"], scenario["entities"], scenario["memberships"]
    )
    assert isinstance(translation.memberships, _SeparableMemberships) is compact
    comparison = compare(translator, behavior, translation, read_target(target, behavior))
    return comparison, plan_stats(comparison, translator)


@given(scenarios())
def test_the_compact_path_plans_what_the_general_path_plans(scenario: dict[str, Any]) -> None:
    fast, fast_stats = _run(scenario, compact=True)
    slow, slow_stats = _run(scenario, compact=False)
    assert fast.plan.to_json() == slow.plan.to_json()
    assert fast_stats == slow_stats
    kind = ObjectType.MEMBERSHIP
    assert dict(fast.wrappers[kind]) == dict(slow.wrappers[kind])
    a, b = fast.matches[kind], slow.matches[kind]
    assert dict(a.pairs) == dict(b.pairs)
    assert dict(a.matched_by) == dict(b.matched_by)
    assert set(a.unmatched_translated) == set(b.unmatched_translated)
    assert a.unmatched_target == b.unmatched_target
    assert dict(a.errors) == dict(b.errors)
    assert dict(a.set_aside) == dict(b.set_aside)


def _small_campus(matching: list[list[str]], *, groups: int, entities: int) -> dict[str, Any]:
    """Every entity in every group, group name and subject id as attributes; an empty target."""
    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {"operate": False},
            "entities": {"operate": False},
            "memberships": {
                "type": "membership_objects",
                "matching": matching,
                "attributes": [
                    {"name": "group_name", "field": "group.name"},
                    {"name": "subject_id", "field": "entity.subject_id"},
                ],
            },
        }
    )
    group_beans = [ProvisioningGroup.from_grouper(f"g{i}", f"top:g{i}") for i in range(groups)]
    entity_beans = [ProvisioningEntity.from_grouper(f"m{i}", f"s{i}") for i in range(entities)]
    return {
        "config": config,
        "groups": group_beans,
        "entities": entity_beans,
        "memberships": [
            ProvisioningMembership(g.id, e.id) for g in group_beans for e in entity_beans
        ],
        "target": [],
    }


def test_a_campus_in_step_settles_every_membership_without_building_wrappers() -> None:
    scenario = _small_campus([["group_name", "subject_id"]], groups=3, entities=4)
    target = InMemoryTarget()
    target.seed(
        memberships=[
            ProvisioningMembership(
                f"t-{m.group_id}",
                f"t-{m.entity_id}",
                {"group_name": f"top:{m.group_id}", "subject_id": "s" + m.entity_id[1:]},
            )
            for m in scenario["memberships"]
        ]
    )
    scenario["target"] = list(target.memberships.values())
    comparison = _run(scenario, compact=True)[0]
    assert comparison.plan.changes == ()
    wrappers = comparison.wrappers[ObjectType.MEMBERSHIP]
    assert isinstance(wrappers, LazyMap)
    assert wrappers.explicit == {}
    assert len(wrappers.lazy) == 12
    wrapper = wrappers[("g1", "m2")]
    assert wrapper.native is not None
    assert wrapper.native.id == ("t-g1", "t-m2")
    match = comparison.matches[ObjectType.MEMBERSHIP]
    assert match.pairs[("g1", "m2")] == ("t-g1", "t-m2")
    assert str(match.matched_by[("g1", "m2")]) == "group_name+subject_id=('top:g1', 's2')"


def test_from_empty_with_one_key_every_membership_is_inserted_without_general_matching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = _small_campus([["group_name", "subject_id"]], groups=2, entities=3)
    slow = _run(scenario, compact=False)[0]
    calls: list[int] = []
    general = Matcher.match

    def counted(self: Matcher, *args: Any, **kwargs: Any) -> Any:
        if self.keys == ("group_name+subject_id",):
            calls.append(1)
        return general(self, *args, **kwargs)

    monkeypatch.setattr(Matcher, "match", counted)
    fast = _run(scenario, compact=True)[0]
    assert calls == []  # decided: the six memberships are free
    assert fast.plan.to_json() == slow.plan.to_json()
    assert [c.object_id for c in fast.plan.changes] == [
        (g, e) for g in ("g0", "g1") for e in ("m0", "m1", "m2")
    ]
    match = fast.matches[ObjectType.MEMBERSHIP]
    assert set(match.unmatched_translated) == {m.id for m in scenario["memberships"]}
    assert dict(match.errors) == {}


def test_from_empty_a_second_key_grouper_memberships_share_still_gives_mat() -> None:
    # Each subject is in both groups: its memberships share the second key's value.
    scenario = _small_campus([["group_name", "subject_id"], ["subject_id"]], groups=2, entities=3)
    fast = _run(scenario, compact=True)[0]
    slow = _run(scenario, compact=False)[0]
    assert fast.plan.to_json() == slow.plan.to_json()
    errors = {e.object_id: e.error.code for e in fast.plan.errors}
    assert errors == {m.id: SyncErrorCode.MAT for m in scenario["memberships"]}
    assert fast.plan.changes == ()


def test_lazy_map_builds_on_access_and_merged_reads_two_mappings_as_one() -> None:
    built: list[str] = []

    def build(key: str, seed: int) -> str:
        built.append(key)
        return f"{key}{seed}"

    lazy = LazyMap({"a": "given"}, {"b": 1, "c": 2}, build)
    assert built == []
    assert lazy["b"] == "b1"
    assert lazy["a"] == "given"
    assert list(lazy) == ["a", "b", "c"]
    assert len(lazy) == 3
    assert "c" in lazy
    assert "d" not in lazy
    assert built == ["b"]
    both = merged({"a": 1}, {"b": 2})
    assert both["a"] == 1
    assert both["b"] == 2
    assert list(both) == ["a", "b"]
    assert list(both.values()) == [1, 2]
    assert list(both.items()) == [("a", 1), ("b", 2)]
    assert len(both) == 2
    assert "b" in both
    assert "z" not in both


def test_paused_gc_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_gc_overlapping_in_threads_turns_the_collector_on_after_the_last() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with paused_gc():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with paused_gc():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first left": False}
    assert gc.isenabled()


def test_attribute_values_reads_one_attribute_of_each_bean() -> None:
    beans = [ProvisioningGroup("1", {"cn": "x"}), ProvisioningGroup("2")]
    assert attribute_values(beans, "cn") == ["x", None]


def test_target_compare_forms_follow_from_target() -> None:
    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {
                "matching": ["cn"],
                "attributes": [
                    {"name": "cn", "field": "extension", "case_sensitive": False},
                    {"name": "hidden", "field": "name", "select": False},
                    {"name": "gid", "field": "id_index", "value_type": "int"},
                ],
            },
            "entities": {"operate": False},
            "memberships": {"operate": False},
        }
    )
    t = Translator(config)
    group = ObjectType.GROUP
    for name, raw in [("cn", "MiXed"), ("hidden", "x"), ("gid", "12"), ("other", "Q")]:
        bean = t.from_target(group, ProvisioningGroup("t", {name: raw}))
        assert t.target_compare_form(group, name, raw) == t.compare_form(
            group, name, bean.get(name)
        )
    assert t.target_compare_form(group, "hidden", "x") is None
    assert t.target_compare_form(group, "gid", "12") == 12
    assert not t.plain_compare(group, "cn")  # case folded
    assert not t.plain_compare(group, "hidden")  # not read
    assert not t.plain_compare(group, "gid")  # not a string
    assert not t.plain_compare(group, "other")  # not configured


@given(
    record=st.builds(
        SyncRecord,
        object_type=st.sampled_from(ObjectType),
        grouper_id=st.text(max_size=3),
        provisionable=st.booleans(),
        in_target=st.booleans(),
        error_message=st.none() | st.text(max_size=3),
    ),
    changes=st.dictionaries(
        st.sampled_from(["target_id", "provisionable", "in_target", "error_message", "links"]),
        st.none() | st.booleans() | st.text(max_size=3).map(lambda t: (t,)),
    ),
)
def test_replaced_records_are_what_attrs_evolve_gives(
    record: SyncRecord, changes: dict[str, Any]
) -> None:
    assert replaced(record, **changes) == attrs.evolve(record, **changes)
