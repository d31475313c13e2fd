"""grouperprov: the Internet2 Grouper provisioning framework, in Python.

Read Grouper's groups, subjects and memberships, translate them into a target's
shape, match them with what the target holds, and keep the two in step. See the
documentation's concepts page for how Grouper's terms map to the names here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
from ._codes import ObjectError, SyncErrorCode
from ._config import (
    AttributeConfig,
    CrudOrder,
    DeletePolicy,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ObjectType,
    ProvisionerConfig,
    StaticValue,
    ValueType,
)
from ._match import Matcher, MatchingId, MatchResult
from ._sources import FunctionRef, Template, TranslationContext, ValidatorRef
from ._translate import MembershipId, MembershipValue, Translated, Translation, Translator
from ._values import compare_form, convert_scalar

try:
    __version__ = version("grouperprov")
except PackageNotFoundError:  # pragma: no cover  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ENTITY_FIELDS",
    "GROUP_FIELDS",
    "AttributeConfig",
    "AttributeMap",
    "AttributeValue",
    "CrudOrder",
    "DeletePolicy",
    "FunctionRef",
    "MatchResult",
    "Matcher",
    "MatchingId",
    "MembershipId",
    "MembershipType",
    "MembershipValue",
    "MembershipsConfig",
    "ObjectConfig",
    "ObjectError",
    "ObjectType",
    "ProvisionerConfig",
    "ProvisioningEntity",
    "ProvisioningGroup",
    "ProvisioningMembership",
    "Scalar",
    "StaticValue",
    "SyncErrorCode",
    "Template",
    "Translated",
    "Translation",
    "TranslationContext",
    "Translator",
    "ValidatorRef",
    "ValueType",
    "compare_form",
    "convert_scalar",
]
