"""Invariants of translation, manipulation, matching and configuration, for any input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grouperprov import (
    Matcher,
    MatchingId,
    ObjectType,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Translator,
)
from grouperprov.testing import strategies as gst


@st.composite
def _snapshots(
    draw: st.DrawFn,
) -> tuple[
    ProvisionerConfig,
    list[ProvisioningGroup],
    list[ProvisioningEntity],
    list[ProvisioningMembership],
]:
    config = draw(gst.provisioner_configs(functions=True))
    groups = draw(st.lists(gst.grouper_groups(), max_size=5, unique_by=lambda g: g.id))
    entities = draw(st.lists(gst.grouper_entities(), max_size=5, unique_by=lambda e: e.id))
    memberships = draw(gst.memberships([g.id for g in groups], [e.id for e in entities]))
    return config, groups, entities, memberships


@given(_snapshots())
def test_translation_is_deterministic(
    snapshot: tuple[
        ProvisionerConfig,
        list[ProvisioningGroup],
        list[ProvisioningEntity],
        list[ProvisioningMembership],
    ],
) -> None:
    config, groups, entities, memberships = snapshot
    first = Translator(config).translate(groups, entities, memberships)
    second = Translator(config).translate(groups, entities, memberships)
    assert first == second


@given(_snapshots())
def test_translated_beans_are_already_normal(
    snapshot: tuple[
        ProvisionerConfig,
        list[ProvisioningGroup],
        list[ProvisioningEntity],
        list[ProvisioningMembership],
    ],
) -> None:
    config, groups, entities, memberships = snapshot
    translator = Translator(config)
    translation = translator.translate(groups, entities, memberships)
    for group in translation.groups.values():
        assert translator.normalize(ObjectType.GROUP, group.bean) == group.bean
    for entity in translation.entities.values():
        assert translator.normalize(ObjectType.ENTITY, entity.bean) == entity.bean


@given(gst.provisioner_configs(), st.lists(gst.target_groups(), max_size=5))
def test_manipulation_is_idempotent(
    config: ProvisionerConfig, beans: list[ProvisioningGroup]
) -> None:
    translator = Translator(config)
    for bean in beans:
        once = translator.normalize(ObjectType.GROUP, bean)
        assert translator.normalize(ObjectType.GROUP, once) == once
        read = translator.from_target(ObjectType.GROUP, bean)
        assert translator.from_target(ObjectType.GROUP, read) == read


@given(gst.provisioner_configs(), st.lists(gst.target_entities(), max_size=5))
def test_entity_manipulation_is_idempotent(
    config: ProvisionerConfig, beans: list[ProvisioningEntity]
) -> None:
    translator = Translator(config)
    for bean in beans:
        read = translator.from_target(ObjectType.ENTITY, bean)
        assert translator.from_target(ObjectType.ENTITY, read) == read


@st.composite
def _match_inputs(
    draw: st.DrawFn,
) -> tuple[ProvisionerConfig, dict[str, ProvisioningGroup], dict[str, ProvisioningGroup]]:
    config = draw(gst.provisioner_configs())
    names = [a.name for a in config.groups.attributes]
    # Few distinct values, differing in case, so that ids collide often.
    # A set: a single-valued attribute that holds several values (an alias cn).
    values = st.sampled_from(
        ["a", "A", "b", "", 1, True, frozenset({"a", "b"}), frozenset({"A", "c", 1})]
    )
    attributes = st.dictionaries(st.sampled_from(names), values, max_size=len(names))

    def side(prefix: str) -> st.SearchStrategy[dict[str, ProvisioningGroup]]:
        return st.lists(attributes, max_size=6).map(
            lambda items: {
                f"{prefix}{i}": ProvisioningGroup(id=f"{prefix}{i}", attributes=a)
                for i, a in enumerate(items)
            }
        )

    return config, draw(side("g")), draw(side("t"))


@given(_match_inputs())
def test_matching_is_symmetric_and_never_pairs_an_object_twice(
    inputs: tuple[ProvisionerConfig, dict[str, ProvisioningGroup], dict[str, ProvisioningGroup]],
) -> None:
    config, left, right = inputs
    translator = Translator(config)
    left = {k: translator.normalize(ObjectType.GROUP, v) for k, v in left.items()}
    right = {k: translator.from_target(ObjectType.GROUP, v) for k, v in right.items()}
    matcher = Matcher(translator, ObjectType.GROUP)
    forward = matcher.match(left, right)
    backward = matcher.match(right, left)
    assert {v: k for k, v in forward.pairs.items()} == backward.pairs
    assert len(set(forward.pairs.values())) == len(forward.pairs)
    # Every object lands in exactly one place.
    for tid in left:
        places = [
            tid in forward.pairs,
            tid in forward.errors,
            tid in forward.unmatched_translated,
        ]
        assert places.count(True) == 1, (tid, forward)
    paired_targets = set(forward.pairs.values())
    for gid in right:
        places = [
            gid in paired_targets,
            gid in forward.set_aside,
            gid in forward.unmatched_target,
        ]
        assert places.count(True) == 1, (gid, forward)
    # A pair really shares a matching id (one of the values, where a side holds several).
    for tid, gid in forward.pairs.items():
        assert _answers_to(matcher.matching_ids(right[gid]), forward.matched_by[tid])
        assert _answers_to(matcher.matching_ids(left[tid]), forward.matched_by[tid])


def _answers_to(ids: tuple[MatchingId | None, ...], wanted: MatchingId) -> bool:
    return any(
        mid is not None
        and mid.key == wanted.key
        and all(
            v == w or (isinstance(v, frozenset) and w in v)
            for v, w in zip(mid.values, wanted.values, strict=True)
        )
        for mid in ids
    )


@given(gst.provisioner_configs(functions=True))
def test_config_survives_dict_to_config_to_dict(config: ProvisionerConfig) -> None:
    data = config.to_dict()
    again = ProvisionerConfig.from_dict(data)
    assert again == config
    assert again.to_dict() == data
