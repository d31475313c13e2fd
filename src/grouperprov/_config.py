"""Provisioner configuration: typed, frozen, validated as a whole.

Build a :class:`ProvisionerConfig` in Python or load one from a dict or a TOML file.
Loading checks everything at once: structure (types, unknown keys, missing keys)
first, then meaning (matching attributes exist, membership settings fit the
membership type, templates parse, functions import). Every problem is reported in
one :class:`~grouperprov.exceptions.ConfigError` with its key path.
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from ._beans import Scalar
from ._codes import SyncErrorCode
from ._convert import matching_keys, member, names, scalars
from ._sources import FunctionRef, ValidatorRef
from .exceptions import ConfigError, ConfigProblem

__all__ = [
    "AttributeConfig",
    "BusyPolicy",
    "CrudOrder",
    "DeletePolicy",
    "FailsafeConfig",
    "IncrementalConfig",
    "MembershipType",
    "MembershipsConfig",
    "ObjectConfig",
    "ObjectType",
    "ProvisionableConfig",
    "ProvisionerConfig",
    "StaticValue",
    "ValueType",
]


class MembershipType(enum.StrEnum):
    """How a target holds memberships (Grouper's "membership sync type")."""

    MEMBERSHIP_OBJECTS = "membership_objects"
    """Each membership is an object of its own (a row of a membership table)."""
    GROUP_ATTRIBUTES = "group_attributes"
    """Members are values of a multi-valued group attribute (LDAP ``member``)."""
    ENTITY_ATTRIBUTES = "entity_attributes"
    """Groups are values of a multi-valued entity attribute (``eduPersonEntitlement``)."""


class ValueType(enum.StrEnum):
    """The type an attribute's values are converted to before comparing."""

    STRING = "string"
    INT = "int"
    """A 32-bit signed integer."""
    LONG = "long"
    """A 64-bit signed integer."""
    BOOLEAN = "boolean"


class DeletePolicy(enum.StrEnum):
    """Which target objects that should not be there may be deleted."""

    NOT_IN_GROUPER = "not_in_grouper"
    """Anything in the target that Grouper does not provision (the target is ours)."""
    REMOVED_FROM_GROUPER = "removed_from_grouper"
    """Only what Grouper provisioned once and no longer does (the sync record says so)."""
    INSERTED_BY_US = "inserted_by_us"
    """Only what grouperprov itself inserted (the safest; the default)."""


class CrudOrder(enum.StrEnum):
    """The order in which a plan's changes are applied."""

    DELETES_FIRST = "deletes_first"
    """Delete memberships, delete groups, insert groups, update groups, delete
    entities, insert entities, update entities, insert memberships, update
    memberships."""
    INSERTS_FIRST = "inserts_first"
    """Insert groups, update groups, insert entities, update entities, insert
    memberships, update memberships, delete memberships, delete entities, delete
    groups."""


class ObjectType(enum.StrEnum):
    """The three kinds of provisioned object."""

    GROUP = "group"
    ENTITY = "entity"
    MEMBERSHIP = "membership"


StaticValue: TypeAlias = str | int | bool | tuple[Scalar, ...]
"""A configured constant: one scalar, or a tuple of scalars for multi-valued attributes."""


def _value_type(value: ValueType | str) -> ValueType:
    return member(ValueType, value)


def _delete_policy(value: DeletePolicy | str) -> DeletePolicy:
    return member(DeletePolicy, value)


def _membership_type(value: MembershipType | str) -> MembershipType:
    return member(MembershipType, value)


def _crud_order(value: CrudOrder | str) -> CrudOrder:
    return member(CrudOrder, value)


@attrs.frozen(kw_only=True)
class AttributeConfig:
    """How one target attribute is computed, checked and compared.

    At most one *source* is set: :attr:`field`, :attr:`static`, :attr:`template` or
    :attr:`function`. An attribute with no source is *select-only*: it is read
    from the target (a generated id, say) but never translated or written.

    Attributes:
        name: The attribute's name in the target (``cn``, ``gidNumber``, a column).
        field: Copy this Grouper field (``extension``, ``subject_id``; for
            membership objects ``group.name`` or ``entity.subject_id``).
        static: A constant value, or a tuple of values for a multi-valued attribute.
        template: Text with ``{field}`` placeholders, e.g. ``"cn={extension},ou=groups"``.
        function: A callable taking a :class:`~grouperprov.TranslationContext` and
            returning the value; in files, ``"package.module:function"``.
        create_only: Set only when the object is inserted, never updated.
        value_type: Convert values to this type (on both sides) before comparing.
        multi_valued: The attribute holds a set of values.
        required: An object without a value gets a REQ error and is not provisioned.
        max_length: A longer value gives LEN (each value of a multi-valued one).
        valid_pattern: A regular expression every value must match in full (INV).
        valid_function: A callable returning whether a value is valid (INV).
        default: Used when the source gives no value; ``""`` is a real default.
        case_sensitive: ``False`` compares values case-folded.
        ignore_values: Values never compared: never added, never removed.
        insert: Send this attribute when inserting.
        update: Update this attribute when it differs.
        select: Read this attribute from the target (``False`` for write-only ones,
            such as passwords, which are then never compared).
    """

    name: str
    field: str | None = None
    static: StaticValue | None = None
    template: str | None = None
    function: FunctionRef | None = None
    create_only: bool = False
    value_type: ValueType = attrs.field(default=ValueType.STRING, converter=_value_type)
    multi_valued: bool = False
    required: bool = False
    max_length: int | None = None
    valid_pattern: str | None = None
    valid_function: ValidatorRef | None = None
    default: StaticValue | None = None
    case_sensitive: bool = True
    ignore_values: tuple[Scalar, ...] = attrs.field(default=(), converter=scalars)
    insert: bool = True
    update: bool = True
    select: bool = True

    @property
    def sources(self) -> tuple[str, ...]:
        """The names of the source settings that are set (at most one is valid)."""
        return tuple(
            name
            for name, value in (
                ("field", self.field),
                ("static", self.static),
                ("template", self.template),
                ("function", self.function),
            )
            if value is not None
        )

    @property
    def select_only(self) -> bool:
        """Whether the attribute has no source (read from the target only)."""
        return not self.sources


def _find(attributes: tuple[AttributeConfig, ...], name: str) -> AttributeConfig | None:
    return next((a for a in attributes if a.name == name), None)


def _configs(value: Iterable[AttributeConfig]) -> tuple[AttributeConfig, ...]:
    return tuple(value)


MatchingKey: TypeAlias = tuple[str, ...]
"""One matching id: the names of the attribute(s) whose values form it."""


@attrs.frozen(kw_only=True)
class ObjectConfig:
    """Configuration of groups or of entities.

    Attributes:
        attributes: The target attributes, in order.
        matching: Ordered matching keys. Each is one attribute name or a tuple of
            names (a composite key); the first is tried first. In files, a key is
            ``"cn"`` or ``["cn", "ou"]``.
        search: Attributes a target can look one object up by.
        operate: Provision this object type at all.
        sync_memberships: Also sync the object's membership attribute (for the
            attribute membership types); ``False`` syncs the object only.
        select: Read these objects from the target.
        insert: Insert missing objects.
        update: Update differing attributes.
        delete: Delete objects that should not be in the target.
        delete_policy: Which of those may be deleted.
        cached_attributes: Up to four single-valued target attributes (a DN, a
            remote id, a generated number) whose values each run keeps in the
            object's sync record (:attr:`~grouperprov.SyncRecord.links`, in
            this order). A later run matches by them when the object's current
            matching values find nothing (a rename that also changed the
            target id), and ``explain`` shows them.
    """

    attributes: tuple[AttributeConfig, ...] = attrs.field(default=(), converter=_configs)
    matching: tuple[MatchingKey, ...] = attrs.field(default=(), converter=matching_keys)
    search: tuple[str, ...] = attrs.field(default=(), converter=names)
    operate: bool = True
    sync_memberships: bool = True
    select: bool = True
    insert: bool = True
    update: bool = True
    delete: bool = True
    delete_policy: DeletePolicy = attrs.field(
        default=DeletePolicy.INSERTED_BY_US, converter=_delete_policy
    )
    cached_attributes: tuple[str, ...] = attrs.field(default=(), converter=names)

    def find_attribute(self, name: str) -> AttributeConfig | None:
        """Return the configuration of the attribute *name*, if configured."""
        return _find(self.attributes, name)


@attrs.frozen(kw_only=True)
class MembershipsConfig:
    """How memberships are represented and provisioned.

    Attributes:
        type: The membership type.
        attribute: For the attribute types: the multi-valued attribute that holds
            memberships (``member`` on groups, ``eduPersonEntitlement`` on entities)
            and how its value is computed from the *other* side: for
            ``group_attributes`` from the Grouper entity (``uid={subject_id},...``),
            for ``entity_attributes`` from the Grouper group. Its compare settings
            (case, length, valid values, ignored values) apply to each value.
        attributes: For ``membership_objects``: the membership object's attributes
            (sources may read ``group.<field>`` and ``entity.<field>``).
        matching: For ``membership_objects``: ordered matching keys.
        search: For ``membership_objects``: search attributes.
        operate: Provision memberships at all.
        select: Read memberships from the target.
        insert: Add missing memberships.
        update: Update membership attributes that differ.
        delete: Remove memberships that should not be in the target.
        delete_policy: Which of those may be removed; in any case only
            memberships of groups that are or were provisioned.
    """

    type: MembershipType = attrs.field(
        default=MembershipType.MEMBERSHIP_OBJECTS, converter=_membership_type
    )
    attribute: AttributeConfig | None = None
    attributes: tuple[AttributeConfig, ...] = attrs.field(default=(), converter=_configs)
    matching: tuple[MatchingKey, ...] = attrs.field(default=(), converter=matching_keys)
    search: tuple[str, ...] = attrs.field(default=(), converter=names)
    operate: bool = True
    select: bool = True
    insert: bool = True
    update: bool = True
    delete: bool = True
    delete_policy: DeletePolicy = attrs.field(
        default=DeletePolicy.INSERTED_BY_US, converter=_delete_policy
    )

    def find_attribute(self, name: str) -> AttributeConfig | None:
        """Return the configuration of the membership object attribute *name*."""
        return _find(self.attributes, name)


@attrs.frozen(kw_only=True)
class ProvisionableConfig:
    """Which Grouper data should be in the target, beyond provisioning markers.

    A group is provisionable when a marker for this provisioner is on the group
    or on an ancestor folder (scope ``one``: direct children; ``sub``: all
    descendants), the nearest marker winning (so an opt-out below wins).

    Attributes:
        group_name_pattern: Only groups whose full name matches this regular
            expression (in full) are provisionable.
        subject_sources: Only entities from these subject sources are
            provisioned (empty: all).
        required_group: Only entities that are members of the group with this
            full name are provisioned.
        groups_require_members: A provisionable group with no provisionable
            member gets MEM and is not provisioned (and is deleted when it
            empties, as the delete policy allows).
    """

    group_name_pattern: str | None = None
    subject_sources: tuple[str, ...] = attrs.field(default=(), converter=names)
    required_group: str | None = None
    groups_require_members: bool = False


@attrs.frozen(kw_only=True)
class SubjectLinkConfig:
    """Resolving each subject to the value the target knows it by, once.

    The target may know people by something other than Grouper's subject id
    (an EPPN, a mail address) that takes a lookup to find. The function is
    called once per subject; the value is kept in the entity's sync record
    (``SyncRecord.subject_link``) and reused by later runs without calling the
    function again, except for up to :attr:`refresh_per_run` subjects per run.
    Translation reads it as the entity field named :attr:`attribute`
    (``field = "subject_link"``, or ``"entity.subject_link"`` for membership
    objects).

    Attributes:
        function: ``"package.module:function"`` or a callable, given a
            :class:`~grouperprov.TranslationContext` of the entity; returns the
            link (a str, or an int taken as its text), or ``None`` when the
            subject has none. An exception gives the entity ERR and keeps its
            cached value, if it has one.
        attribute: The entity field the link is put in.
        refresh_per_run: How many cached links each run resolves again (a
            different set each run); 0 never refreshes them.
    """

    function: FunctionRef
    attribute: str = "subject_link"
    refresh_per_run: int = 0


class BusyPolicy(enum.StrEnum):
    """What an incremental run does when another run holds the job lease."""

    WAIT = "wait"
    """Wait for it (up to the provisioner's ``lease_wait``)."""
    YIELD = "yield"
    """Give up at once (status ``BUSY``); the events are processed next time."""


def _busy_policy(value: BusyPolicy | str) -> BusyPolicy:
    return member(BusyPolicy, value)


@attrs.frozen(kw_only=True)
class IncrementalConfig:
    """How the incremental sync turns events into work.

    Attributes:
        group_sync_threshold: A group with more membership events than this
            in one batch is recalculated as a group sync instead.
        full_sync_score: A batch whose weighted size passes this runs as a
            full sync instead (a membership or subject event weighs 1, a
            group event 10, a provisioning marker change 100).
        retry_recent_seconds: Objects whose error is younger than this are
            retried on every run.
        retry_max_interval_seconds: Older errors are retried after a quarter of
            their age has passed since the last attempt, and at least this
            often.
        when_busy: What to do when a full or group sync holds the job lease.
    """

    group_sync_threshold: int = 500
    full_sync_score: int = 10_000
    retry_recent_seconds: int = 600
    retry_max_interval_seconds: int = 3600
    when_busy: BusyPolicy = attrs.field(default=BusyPolicy.WAIT, converter=_busy_policy)


@attrs.frozen(kw_only=True)
class FailsafeConfig:
    """Thresholds checked on a plan before anything is written.

    A tripped failsafe writes nothing and blocks the provisioner until the run
    is approved (``Provisioner.approve_failsafe``). Every threshold is off
    unless set.

    Attributes:
        max_group_percent_removed: The largest share (in percent) of one
            group's members a run may remove.
        min_group_size: The per-group rule only checks groups with at least this
            many members in the target.
        max_percent_groups_removed: The largest share of managed groups a run
            may delete.
        max_percent_memberships_removed: The largest share of the managed
            groups' memberships a run may remove.
        min_managed_groups: The overall rules only apply when at least this many
            groups are managed (small set-ups change by large shares).
    """

    max_group_percent_removed: float | None = None
    min_group_size: int = 0
    max_percent_groups_removed: float | None = None
    max_percent_memberships_removed: float | None = None
    min_managed_groups: int = 0


def _error_codes(
    value: SyncErrorCode | str | Iterable[SyncErrorCode | str],
) -> tuple[SyncErrorCode, ...]:
    """Codes given in code: a lone code (``"ERR"``) is one, not its letters; text is its member.

    ``failing_error_codes="ERR"`` failed validation with "'str' object has
    no attribute 'value'"; text that names no code is left for
    :meth:`ProvisionerConfig.validate` to report.
    """
    items = (value,) if isinstance(value, str) else value
    return tuple(member(SyncErrorCode, item) for item in items)


@attrs.frozen(kw_only=True)
class ProvisionerConfig:
    """Everything that defines one provisioner.

    Attributes:
        name: The provisioner's id (Grouper's config id): names its sync records.
        groups: Group configuration.
        entities: Entity configuration.
        memberships: Membership configuration.
        provisionable: What is provisionable besides provisioning markers.
        failsafe: Thresholds checked before anything is written.
        failing_error_codes: The error codes that make a run's status ERROR
            (others make it WARNING).
        logged_errors_per_code: How many errors of each code a run logs one by
            one; the rest are counted.
        crud_order: The order in which changes are applied.
        batch_size: The largest batch sent to the target in one call (the
            target may accept less).
        read_only: Compute and log what would be written, write nothing.
        subject_link: How subjects are resolved to the value the target knows
            them by, and cached (off when ``None``).
        incremental: How the incremental sync turns events into work.
    """

    name: str
    groups: ObjectConfig = ObjectConfig()
    entities: ObjectConfig = ObjectConfig()
    memberships: MembershipsConfig = MembershipsConfig()
    provisionable: ProvisionableConfig = ProvisionableConfig()
    failsafe: FailsafeConfig = FailsafeConfig()
    failing_error_codes: tuple[SyncErrorCode, ...] = attrs.field(
        default=(SyncErrorCode.ERR,), converter=_error_codes
    )
    logged_errors_per_code: int = 10
    crud_order: CrudOrder = attrs.field(default=CrudOrder.DELETES_FIRST, converter=_crud_order)
    batch_size: int = 1000
    read_only: bool = False
    subject_link: SubjectLinkConfig | None = None
    incremental: IncrementalConfig = IncrementalConfig()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProvisionerConfig:
        """Build and validate a configuration from plain data (as TOML gives it).

        Raises:
            ConfigError: Listing every problem with its key path.
        """
        from ._config_io import structure_config  # noqa: PLC0415  # import cycle

        config = structure_config(data)
        config.validate()
        return config

    @classmethod
    def from_toml(cls, text: str) -> ProvisionerConfig:
        """Build and validate a configuration from TOML text.

        A byte order mark at the start (as some editors write) is ignored.

        Raises:
            ConfigError: The text is not TOML, or the configuration is invalid.
            TypeError: *text* is not a string (bytes: decode them, or use
                :meth:`load` for a file).
        """
        given: object = text  # what the caller passed, whatever its annotation
        if not isinstance(given, str):
            kind = type(given).__name__
            msg = f"from_toml takes TOML text (a str), not {kind}; for a file, use load(path)"
            raise TypeError(msg)
        try:
            data = tomllib.loads(text.removeprefix("\ufeff"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([ConfigProblem("", f"not valid TOML: {exc}")]) from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProvisionerConfig:
        """Read, build and validate a configuration from a TOML file.

        Raises:
            ConfigError: The file is not UTF-8 TOML or the configuration is
                invalid; the message names the file.
            OSError: The file cannot be read.
        """
        with open(path, "rb") as f:  # noqa: PTH123  # accepts PathLike
            raw = f.read()
        where = os.fspath(path)
        try:
            text = raw.decode("utf-8-sig")  # TOML is UTF-8; a byte order mark is dropped
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            why = (
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} (TOML files are UTF-8)"
            )
            raise ConfigError([ConfigProblem(str(where), why)]) from None
        try:
            return cls.from_toml(text)
        except ConfigError as exc:
            raise ConfigError(
                ConfigProblem(f"{where}: {p.path}" if p.path else where, p.message)
                for p in exc.problems
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain data; settings at their default are left out.

        ``ProvisionerConfig.from_dict(config.to_dict()) == config`` for any valid
        configuration whose functions are given as references or importable callables.
        """
        from ._config_io import unstructure_config  # noqa: PLC0415  # import cycle

        return unstructure_config(self)

    def problems(self) -> tuple[ConfigProblem, ...]:
        """Return every problem with this configuration (empty when valid)."""
        from ._config_check import check_config  # noqa: PLC0415  # import cycle

        return check_config(self)

    def validate(self) -> None:
        """Raise :class:`~grouperprov.exceptions.ConfigError` if there is any problem."""
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
