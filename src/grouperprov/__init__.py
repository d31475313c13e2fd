"""grouperprov: the Internet2 Grouper provisioning framework, in Python.

Read Grouper's groups, subjects and memberships, translate them into a target's
shape, match them with what the target holds, and keep the two in step. See the
documentation's concepts page for how Grouper's terms map to the names here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._apply import ApplyResult, ChangeOutcome, apply, read_target
from ._beans import (
    ENTITY_FIELDS,
    GROUP_FIELDS,
    AttributeMap,
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
)
from ._behavior import (
    Behavior,
    DeleteDecision,
    Mode,
    ObjectBehavior,
    compared_config,
    compute_behavior,
    may_delete,
)
from ._codes import ObjectError, SyncErrorCode
from ._compare import Comparison, ProvisioningWrapper, compare
from ._config import (
    AttributeConfig,
    BusyPolicy,
    CrudOrder,
    DeletePolicy,
    FailsafeConfig,
    IncrementalConfig,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ObjectType,
    ProvisionableConfig,
    ProvisionerConfig,
    StaticValue,
    SubjectLinkConfig,
    ValueType,
)
from ._diagnostics import Diagnostics, DiagnosticStep
from ._events import (
    ChangeEvent,
    CoalescedMembership,
    ControlKind,
    ControlMessage,
    EventKind,
    MembershipAction,
    RejectedEvent,
    coalesce,
    parse_event,
    parse_events,
    parse_grouper_message,
)
from ._failsafe import PlanStats, check_failsafe, plan_stats
from ._ldap_escape import escape_dn_value, escape_filter_value
from ._match import LINK_KEY, Matcher, MatchingId, MatchResult
from ._plan import Action, Change, ObjectId, Plan, PlannedError, Reason, SetAside
from ._provisioner import FullPlan, Provisioner, SyncResult, SyncStatus
from ._records import (
    FailsafeState,
    JobLease,
    LogRecord,
    ProvisionerRecord,
    SyncRecord,
    SyncType,
)
from ._source import (
    GrouperSnapshot,
    GrouperSource,
    MarkerScope,
    PartialGrouperSource,
    ProvisionableGroup,
    ProvisioningMarker,
    Scope,
    provisionable_scope,
    resolve_marker,
)
from ._sources import FunctionRef, Template, TranslationContext, ValidatorRef
from ._target import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    TargetDAO,
    TargetData,
    WriteOutcome,
)
from ._translate import MembershipId, MembershipValue, Translated, Translation, Translator
from ._values import compare_form, convert_scalar

try:
    __version__ = version("grouperprov")
except PackageNotFoundError:  # pragma: no cover  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ENTITY_FIELDS",
    "GROUP_FIELDS",
    "LINK_KEY",
    "Action",
    "ApplyResult",
    "AttributeChange",
    "AttributeConfig",
    "AttributeMap",
    "AttributeValue",
    "Behavior",
    "BusyPolicy",
    "Capabilities",
    "Change",
    "ChangeEvent",
    "ChangeOp",
    "ChangeOutcome",
    "CoalescedMembership",
    "Comparison",
    "ControlKind",
    "ControlMessage",
    "CrudOrder",
    "DeleteDecision",
    "DeletePolicy",
    "DiagnosticStep",
    "Diagnostics",
    "EventKind",
    "FailsafeConfig",
    "FailsafeState",
    "FullPlan",
    "FunctionRef",
    "GrouperSnapshot",
    "GrouperSource",
    "IncrementalConfig",
    "JobLease",
    "LogRecord",
    "MarkerScope",
    "MatchResult",
    "Matcher",
    "MatchingId",
    "MembershipAction",
    "MembershipId",
    "MembershipType",
    "MembershipValue",
    "MembershipsConfig",
    "Mode",
    "ObjectBehavior",
    "ObjectConfig",
    "ObjectError",
    "ObjectId",
    "ObjectType",
    "Operation",
    "PartialGrouperSource",
    "Plan",
    "PlanStats",
    "PlannedError",
    "ProvisionableConfig",
    "ProvisionableGroup",
    "Provisioner",
    "ProvisionerConfig",
    "ProvisionerRecord",
    "ProvisioningEntity",
    "ProvisioningGroup",
    "ProvisioningMarker",
    "ProvisioningMembership",
    "ProvisioningWrapper",
    "Reason",
    "RejectedEvent",
    "Scalar",
    "Scope",
    "SetAside",
    "StaticValue",
    "SubjectLinkConfig",
    "SyncErrorCode",
    "SyncRecord",
    "SyncResult",
    "SyncStatus",
    "SyncType",
    "TargetDAO",
    "TargetData",
    "Template",
    "Translated",
    "Translation",
    "TranslationContext",
    "Translator",
    "ValidatorRef",
    "ValueType",
    "WriteOutcome",
    "apply",
    "check_failsafe",
    "coalesce",
    "compare",
    "compare_form",
    "compared_config",
    "compute_behavior",
    "convert_scalar",
    "escape_dn_value",
    "escape_filter_value",
    "may_delete",
    "parse_event",
    "parse_events",
    "parse_grouper_message",
    "plan_stats",
    "provisionable_scope",
    "read_target",
    "resolve_marker",
]
