from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grouperprov import MembershipType, ProvisionerConfig, ProvisioningMembership
from grouperprov.testing import strategies as gst


@given(gst.memberships([], ["m1"]), gst.memberships(["g1"], []))
def test_memberships_need_both_sides(a: list[ProvisioningMembership], b: list[object]) -> None:
    assert a == []
    assert b == []


@given(gst.memberships(["g1", "g2"], ["m1", "m2"]))
def test_memberships_are_distinct_and_within_the_given_ids(
    memberships: list[ProvisioningMembership],
) -> None:
    assert len({m.id for m in memberships}) == len(memberships)
    assert all(m.group_id in {"g1", "g2"} and m.entity_id in {"m1", "m2"} for m in memberships)


@given(
    st.sampled_from(MembershipType).flatmap(
        lambda t: st.tuples(st.just(t), gst.provisioner_configs(t))
    )
)
def test_drawn_configs_are_valid_and_of_the_requested_type(
    drawn: tuple[MembershipType, ProvisionerConfig],
) -> None:
    kind, config = drawn
    assert config.memberships.type is kind
    assert config.problems() == ()


@given(gst.attribute_configs(default=True))
def test_attribute_configs_can_be_asked_for_a_default(config: object) -> None:
    assert getattr(config, "default") is not None  # noqa: B009


@given(gst.attribute_configs(select_only=False))
def test_attribute_configs_without_select_only_always_have_a_source(config: object) -> None:
    assert not getattr(config, "select_only")  # noqa: B009


@given(gst.target_memberships())
def test_target_memberships_carry_target_ids(membership: ProvisioningMembership) -> None:
    assert membership.group_id.startswith("cn=")
    assert membership.entity_id.startswith("uid=")
