from __future__ import annotations

from typing import Any

from grouperprov import (
    LINK_KEY,
    Matcher,
    MatchingId,
    ObjectError,
    ObjectType,
    ProvisionerConfig,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    Translator,
)

MAT = SyncErrorCode.MAT


def _matcher(matching: list[Any], *, search: list[str] | None = None) -> Matcher:
    config = ProvisionerConfig.from_dict(
        {
            "name": "m",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension", "case_sensitive": False},
                    {"name": "ou", "static": "groups"},
                    {"name": "gid", "field": "id_index", "value_type": "int"},
                    {"name": "tags", "field": "tags", "multi_valued": True},
                ],
                "matching": matching,
                "search": search or [],
            },
            "entities": {"operate": False},
            "memberships": {"operate": False},
        }
    )
    return Matcher(Translator(config), ObjectType.GROUP)


def g(object_id: str, /, **attributes: Any) -> ProvisioningGroup:
    return ProvisioningGroup(id=object_id, attributes=attributes)


def test_matching_ids_use_compare_forms_and_composites() -> None:
    m = _matcher(["cn", ["cn", "ou"], "gid"])
    assert m.keys == ("cn", "cn+ou", "gid")
    assert m.matching_ids(g("x", cn="Math", ou="groups", gid=5)) == (
        MatchingId("cn", ("math",)),
        MatchingId("cn+ou", ("math", "groups")),
        MatchingId("gid", (5,)),
    )
    assert m.matching_ids(g("x", cn="Math")) == (MatchingId("cn", ("math",)), None, None)
    assert str(MatchingId("cn", ("math",))) == "cn='math'"
    assert str(MatchingId("cn+ou", ("math", "groups"))) == "cn+ou=('math', 'groups')"


def test_pairs_one_to_one_case_insensitively() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="Math"), "g2": g("g2", cn="new")},
        {"cn=math": g("cn=math", cn="MATH"), "cn=old": g("cn=old", cn="old")},
    )
    assert result.pairs == {"g1": "cn=math"}
    assert result.matched_by == {"g1": MatchingId("cn", ("math",))}
    assert result.unmatched_translated == ("g2",)
    assert result.unmatched_target == ("cn=old",)
    assert result.errors == {}
    assert result.set_aside == {}


def test_later_keys_are_tried_in_order() -> None:
    m = _matcher(["gid", "cn"])
    result = m.match(
        {"g1": g("g1", cn="renamed", gid=7), "g2": g("g2", cn="b")},
        {"t1": g("t1", cn="old", gid=7), "t2": g("t2", cn="b", gid=9)},
    )
    assert result.pairs == {"g1": "t1", "g2": "t2"}
    assert result.matched_by["g2"] == MatchingId("cn", ("b",))


def test_two_translated_objects_with_one_matching_id_both_get_mat() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="Same"), "g2": g("g2", cn="same"), "g3": g("g3", cn="other")},
        {"t1": g("t1", cn="same")},
    )
    assert result.pairs == {}
    assert set(result.errors) == {"g1", "g2"}
    assert result.errors["g1"] == ObjectError(
        MAT, "matching value cn='same' is shared by 2 Grouper objects ('g1', 'g2')"
    )
    assert result.set_aside == {"t1": "matching value cn='same' is shared by 2 Grouper objects"}
    assert result.unmatched_translated == ("g3",)
    assert result.unmatched_target == ()


def test_duplicates_get_mat_even_when_the_target_has_none() -> None:
    m = _matcher(["cn"])
    empty: dict[str, ProvisioningGroup] = {}
    result = m.match({"g1": g("g1", cn="x"), "g2": g("g2", cn="x")}, empty)
    assert set(result.errors) == {"g1", "g2"}
    assert result.unmatched_translated == ()


def test_matching_two_target_objects_gives_mat_and_sets_both_aside() -> None:
    m = _matcher(["cn"])
    result = m.match({"g1": g("g1", cn="x")}, {"t1": g("t1", cn="x"), "t2": g("t2", cn="X")})
    assert result.errors == {
        "g1": ObjectError(MAT, "matching value cn='x' matches 2 target objects ('t1', 't2')")
    }
    assert set(result.set_aside) == {"t1", "t2"}
    assert result.unmatched_target == ()


def test_no_matching_value_gives_mat_and_unmatchable_targets_are_set_aside() -> None:
    m = _matcher(["cn", "gid"])
    result = m.match({"g1": g("g1", ou="x")}, {"t1": g("t1", ou="y")})
    assert result.errors == {"g1": ObjectError(MAT, "no value for any matching key (cn, gid)")}
    assert result.set_aside == {"t1": "no value for any matching key"}
    assert result.unmatched_translated == ()
    assert result.unmatched_target == ()


def test_historical_values_follow_a_rename() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="new-name"), "g2": g("g2", cn="other")},
        {"t1": g("t1", cn="old-name")},
        historical={"g1": [MatchingId("cn", ("old-name",))], "g2": []},
    )
    assert result.pairs == {"g1": "t1"}
    assert result.matched_by["g1"] == MatchingId("cn", ("old-name",))
    assert result.unmatched_translated == ("g2",)


def test_current_values_win_over_historical_ones() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="a"), "g2": g("g2", cn="b")},
        {"ta": g("ta", cn="a"), "tb": g("tb", cn="b")},
        historical={"g2": [MatchingId("cn", ("a",))]},
    )
    assert result.pairs == {"g1": "ta", "g2": "tb"}


def test_historical_values_claimed_twice_give_mat() -> None:
    m = _matcher(["cn"])
    old = MatchingId("cn", ("old",))
    result = m.match(
        {"g1": g("g1", cn="n1"), "g2": g("g2", cn="n2")},
        {"t1": g("t1", cn="old")},
        historical={"g1": [old], "g2": [old]},
    )
    assert result.pairs == {}
    assert result.matched_by == {}
    assert result.errors["g1"] == ObjectError(
        MAT,
        "historical matching values of 2 objects ('g1', 'g2') lead to the same target object 't1'",
    )
    assert result.set_aside == {"t1": "claimed by the historical values of 2 objects"}


def test_historical_values_leading_to_two_targets_give_mat() -> None:
    m = _matcher(["cn", "gid"])
    result = m.match(
        {"g1": g("g1", cn="n1")},
        {"t1": g("t1", cn="old"), "t2": g("t2", gid=4)},
        historical={"g1": [MatchingId("cn", ("old",)), MatchingId("gid", (4,))]},
    )
    assert result.errors["g1"] == ObjectError(
        MAT, "historical matching values match 2 target objects ('t1', 't2')"
    )
    assert result.unmatched_target == ("t1", "t2")


def test_a_historical_value_shared_by_target_objects_gives_mat() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="n1")},
        {"t1": g("t1", cn="old"), "t2": g("t2", cn="OLD")},
        historical={"g1": [MatchingId("cn", ("old",))]},
    )
    assert result.errors["g1"] == ObjectError(
        MAT, "historical matching value cn='old' matches several target objects"
    )
    # One of them may be g1's: neither is extra.
    assert set(result.set_aside) == {"t1", "t2"}
    assert result.unmatched_target == ()


def test_historical_values_that_lead_nowhere_leave_the_object_unmatched() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="n1")},
        {"t1": g("t1", cn="x")},
        historical={"g1": [MatchingId("cn", ("gone",))]},
    )
    assert result.pairs == {}
    assert result.unmatched_translated == ("g1",)
    assert result.unmatched_target == ("t1",)


def test_membership_ids_are_tuples() -> None:
    config = ProvisionerConfig.from_dict(
        {
            "name": "m",
            "groups": {"operate": False},
            "entities": {"operate": False},
            "memberships": {
                "attributes": [
                    {"name": "group_name", "field": "group.name"},
                    {"name": "subject", "field": "entity.subject_id"},
                ],
                "matching": [["group_name", "subject"]],
            },
        }
    )
    m = Matcher(Translator(config), ObjectType.MEMBERSHIP)
    translated = {
        ("g1", "m1"): ProvisioningMembership(
            group_id="g1", entity_id="m1", attributes={"group_name": "a", "subject": "jo"}
        )
    }
    target = {
        7: ProvisioningMembership(
            group_id="7", entity_id="7", attributes={"group_name": "a", "subject": "jo"}
        )
    }
    assert m.match(translated, target).pairs == {("g1", "m1"): 7}


def test_search_keys_give_single_non_empty_values_as_held() -> None:
    m = _matcher(["cn"], search=["cn", "gid", "tags", "ou"])
    assert m.search_keys(g("x", cn="Math", gid=5, tags=["a", "b"])) == (("cn", "Math"), ("gid", 5))
    assert m.search_keys(g("x", cn="", tags=["a"])) == (("tags", "a"),)


def test_target_links_follow_a_rename_before_historical_values() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="new-name"), "g2": g("g2", cn="b"), "g3": g("g3", cn="c")},
        {"t1": g("t1", cn="old-name"), "t2": g("t2", cn="x"), "tb": g("tb", cn="b")},
        # g1's link wins over its historical value; g2 matches by its key
        # first, so its stale link is not used; g3's linked object is gone.
        linked={"g1": "t1", "g2": "t2", "g3": "t-gone", "g-gone": "t2"},
        historical={"g1": [MatchingId("cn", ("x",))]},
    )
    assert result.pairs == {"g1": "t1", "g2": "tb"}
    assert result.matched_by["g1"] == MatchingId(LINK_KEY, ("t1",))
    assert str(result.matched_by["g1"]) == "target link='t1'"
    assert result.unmatched_translated == ("g3",)
    assert result.unmatched_target == ("t2",)


def test_a_target_link_leads_to_an_object_whose_matching_values_were_blanked() -> None:
    # Found by corrupting a synced table: a group row whose cn was set to NULL
    # was set aside, so Grouper's group was inserted again on its own key, and
    # failed on it, in every run.
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="staff"), "g2": g("g2", cn="fac")},
        {"t1": g("t1"), "t2": g("t2"), "t3": g("t3")},
        linked={"g1": "t1", "g2": "t2"},
    )
    assert result.pairs == {"g1": "t1", "g2": "t2"}
    assert result.matched_by["g1"] == MatchingId(LINK_KEY, ("t1",))
    # One no link leads to stays set aside, never extra (never deleted).
    assert result.set_aside == {"t3": "no value for any matching key"}
    assert result.unmatched_target == ()


def test_two_links_to_one_object_without_matching_values_give_mat() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="n1"), "g2": g("g2", cn="n2")},
        {"t1": g("t1")},
        linked={"g1": "t1", "g2": "t1"},
    )
    assert result.pairs == {}
    assert set(result.errors) == {"g1", "g2"}
    assert result.set_aside == {"t1": "the target link of 2 objects"}


def test_a_target_link_taken_by_a_current_key_is_not_used() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="renamed"), "g2": g("g2", cn="old")},
        {"t1": g("t1", cn="old")},
        linked={"g1": "t1"},
    )
    assert result.pairs == {"g2": "t1"}
    assert result.unmatched_translated == ("g1",)


def test_one_target_link_shared_by_two_objects_gives_mat() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="n1"), "g2": g("g2", cn="n2")},
        {"t1": g("t1", cn="old")},
        linked={"g1": "t1", "g2": "t1"},
    )
    assert result.pairs == {}
    assert result.errors["g1"] == ObjectError(
        MAT, "the target links of 2 objects ('g1', 'g2') lead to the same target object 't1'"
    )
    assert result.set_aside == {"t1": "the target link of 2 objects"}
    assert result.unmatched_target == ()


def test_target_objects_sharing_a_value_no_translated_object_has_are_set_aside() -> None:
    # Found by the symmetry property: without this, t1 and t2 stayed free after
    # "cn", made g0 ambiguous on "gid", while the swapped sides paired g0 and t0.
    m = _matcher(["cn", "gid"])
    left = {"g0": g("g0", gid=1)}
    right = {"t0": g("t0", gid=1), "t1": g("t1", cn="x", gid=1), "t2": g("t2", cn="x", gid=1)}
    forward = m.match(left, right)
    backward = m.match(right, left)
    assert forward.pairs == {"g0": "t0"}
    assert backward.pairs == {"t0": "g0"}
    reason = "matching value cn='x' is shared by 2 target objects"
    # g0 answers to their "gid": they may be its objects, so never extra.
    assert forward.set_aside == {"t1": reason, "t2": reason}
    assert forward.unmatched_target == ()


def test_target_objects_sharing_a_value_nothing_answers_to_are_extra() -> None:
    # Found by editing a target by hand: two rows of one membership, whose
    # group then left Grouper, were set aside in every run, never deleted.
    m = _matcher(["cn", "gid"])
    right = {
        "t0": g("t0", cn="a", gid=1),
        "t1": g("t1", cn="x", gid=2),
        "t2": g("t2", cn="X", gid=3),
        "t3": g("t3", cn="y", gid=9),
    }
    forward = m.match({"g0": g("g0", cn="a", gid=4), "g1": g("g1", gid=9)}, right)
    assert forward.pairs == {"g0": "t0", "g1": "t3"}
    assert forward.set_aside == {}
    assert forward.unmatched_target == ("t1", "t2")
    # Still out of later keys, so pairing stays symmetric; but one a
    # translated object answers to (g2, by "gid") may be its object.
    left = {"g0": g("g0", cn="a", gid=4), "g2": g("g2", gid=3)}
    forward = m.match(left, right)
    assert forward.pairs == {"g0": "t0"}
    assert m.match(right, left).pairs == {"t0": "g0"}
    assert forward.set_aside == {"t2": "matching value cn='x' is shared by 2 target objects"}
    assert forward.unmatched_target == ("t1", "t3")


def test_a_target_link_pairs_one_of_the_objects_sharing_an_unclaimed_value() -> None:
    # A renamed group whose old name two target objects have: its link says
    # which is its own; the other is extra.
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="new")},
        {"t1": g("t1", cn="old"), "t2": g("t2", cn="old")},
        linked={"g1": "t2"},
    )
    assert result.pairs == {"g1": "t2"}
    assert result.matched_by["g1"] == MatchingId(LINK_KEY, ("t2",))
    assert result.set_aside == {}
    assert result.unmatched_target == ("t1",)
    # Two links to it: MAT, and it stays set aside, with the reason why.
    result = m.match(
        {"g1": g("g1", cn="new"), "g2": g("g2", cn="newer")},
        {"t1": g("t1", cn="old"), "t2": g("t2", cn="old")},
        linked={"g1": "t2", "g2": "t2"},
    )
    assert set(result.errors) == {"g1", "g2"}
    assert result.set_aside == {"t2": "the target link of 2 objects"}
    assert result.unmatched_target == ("t1",)


def test_objects_sharing_a_value_a_translated_object_holds_among_several_stay_aside() -> None:
    # g1's cn holds two values, one of them theirs: they may be its objects.
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn=frozenset({"old", "other"}))},
        {"t1": g("t1", cn="old"), "t2": g("t2", cn="OLD")},
    )
    assert result.pairs == {}
    assert set(result.set_aside) == {"t1", "t2"}
    assert result.unmatched_target == ()


def test_a_single_valued_attribute_holding_several_values_matches_by_any() -> None:
    """An LDAP entry's ``cn`` with an alias is still the group's (rule 5)."""
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="Staff"), "g2": g("g2", cn="deans")},
        {"t1": g("t1", cn=frozenset({"staff", "employees"})), "t2": g("t2", cn="deans")},
    )
    assert result.pairs == {"g1": "t1", "g2": "t2"}
    assert str(result.matched_by["g1"]) == "cn='staff'"  # compared as cn compares
    assert result.unmatched_target == ()
    # Either side may hold the values: swapped, the same pairs.
    backward = m.match(
        {"t1": g("t1", cn=frozenset({"staff", "employees"}))}, {"g1": g("g1", cn="Staff")}
    )
    assert backward.pairs == {"t1": "g1"}


def test_several_values_that_lead_to_several_objects_give_mat() -> None:
    m = _matcher(["cn"])
    both = m.match(  # two groups claim the entry that holds both their names
        {"g1": g("g1", cn="a"), "g2": g("g2", cn="b")},
        {"t1": g("t1", cn=frozenset({"a", "b"}))},
    )
    assert both.pairs == {}
    assert both.errors["g1"] == ObjectError(
        MAT, "the matching values of 2 objects ('g1', 'g2') lead to 't1'"
    )
    assert both.set_aside == {"t1": "matching values of several objects lead to it"}
    assert both.unmatched_target == ()
    two = m.match(  # one group, two entries that hold its name among others
        {"g1": g("g1", cn="a")},
        {"t1": g("t1", cn=frozenset({"a", "x"})), "t2": g("t2", cn=frozenset({"a", "y"}))},
    )
    assert two.pairs == {}
    assert two.errors["g1"] == ObjectError(
        MAT, "its matching values lead to 2 target objects ('t1', 't2')"
    )
    assert set(two.set_aside) == {"t1", "t2"}


def test_a_plain_value_pairs_first_and_composite_keys_try_each_combination() -> None:
    m = _matcher(["cn"])
    result = m.match(
        {"g1": g("g1", cn="a")},
        {"t1": g("t1", cn=frozenset({"a", "x"})), "t2": g("t2", cn="a")},
    )
    assert result.pairs == {"g1": "t2"}  # the one value pairs in the key's own round
    assert result.unmatched_target == ("t1",)
    composite = _matcher([["cn", "gid"]])
    result = composite.match(
        {"g1": g("g1", cn="a", gid=2)},
        {
            "t1": g("t1", cn=frozenset({"a", "b"}), gid=1),
            "t2": g("t2", cn=frozenset({"a", "b"}), gid=2),
        },
    )
    assert result.pairs == {"g1": "t2"}
    assert str(result.matched_by["g1"]) == "cn+gid=('a', 2)"
