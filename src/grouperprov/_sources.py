"""Where a translated value comes from: fields, templates and Python functions.

Templates are a deliberately small language: literal text with ``{field}``
placeholders (``{group.name}`` for memberships) and ``{{``/``}}`` for braces. No
format specs, indexing or attribute access: a configuration file can name fields,
never reach into Python objects.

Functions are referenced from configuration files as ``"package.module:function"``
and imported when the configuration is validated; nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeAlias, cast

import attrs

from ._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
)
from ._ldap_escape import canonical_dn, escape_dn_value

if TYPE_CHECKING:
    from ._config import ObjectType

__all__ = [
    "FunctionRef",
    "Template",
    "TranslationContext",
    "ValidatorRef",
    "function_ref_name",
    "resolve_function",
]

_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_REF_RE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
    r":[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z"
)


@attrs.frozen(kw_only=True)
class TranslationContext:
    """What a translation function receives.

    Attributes:
        object_type: Which kind of object is being translated.
        bean: The Grouper bean being translated (for the membership attribute of
            the attribute membership types: the *other* side, the entity whose
            value goes into a group's ``member``, or the group whose value goes
            into an entity's ``eduPersonEntitlement``).
        group: For memberships, the Grouper group; else ``None``.
        entity: For memberships, the Grouper entity; else ``None``.
        metadata: Extra data about the object (for example from its provisioning
            marker); empty when there is none.
    """

    object_type: ObjectType
    bean: ProvisioningGroup | ProvisioningEntity | ProvisioningMembership
    group: ProvisioningGroup | None = None
    entity: ProvisioningEntity | None = None
    metadata: Mapping[str, object] = attrs.field(factory=dict)

    def field(self, name: str) -> AttributeValue:
        """Return the value of a field name as configuration spells it.

        ``group.x`` and ``entity.x`` read the membership's group and entity; a
        plain name reads the bean itself, where ``id`` falls back to the bean's
        id (for a membership: ``group_id`` and ``entity_id`` are available too).
        """
        prefix, _, rest = name.partition(".")
        if rest:
            other = self.group if prefix == "group" else self.entity if prefix == "entity" else None
            return None if other is None else _bean_field(other, rest)
        return _bean_field(self.bean, name)


def _bean_field(
    bean: ProvisioningGroup | ProvisioningEntity | ProvisioningMembership, name: str
) -> AttributeValue:
    value = bean.attributes.get(name)
    if value is not None:
        return value
    if isinstance(bean, ProvisioningMembership):
        if name == "group_id":
            return bean.group_id
        if name == "entity_id":
            return bean.entity_id
        return None
    if name == "id":
        return bean.id
    return None


FunctionRef: TypeAlias = str | Callable[[TranslationContext], object]
"""A translation function: a callable taking a :class:`TranslationContext`, or
``"package.module:function"``."""

ValidatorRef: TypeAlias = str | Callable[[str | int | bool], bool]
"""A valid-value check: a callable taking one value and returning whether it is
valid, or ``"package.module:function"``."""


def function_ref_name(ref: str | Callable[..., object]) -> str:
    """Return the ``"module:qualname"`` spelling of a function reference."""
    if isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    qualname = getattr(ref, "__qualname__", None) or type(ref).__qualname__
    return f"{module}:{qualname}"


def dotted_attribute(root: object, dotted: str) -> object:
    """``root.a.b`` for ``"a.b"``.

    Raises:
        AttributeError: A part of the path is missing.
    """
    found = root
    for part in dotted.split("."):
        found = getattr(found, part)
    return found


def resolve_function(ref: str | Callable[..., object]) -> Callable[..., object]:
    """Import and return the callable a reference names.

    Raises:
        ValueError: The reference is not of the form ``package.module:function``
            or cannot be imported.
        TypeError: It does not name a callable.
    """
    if not isinstance(ref, str):
        if not callable(cast("object", ref)):  # checked at run time for untyped callers
            msg = f"expected a callable or 'package.module:function', got {ref!r}"
            raise TypeError(msg)
        return ref
    if not _REF_RE.match(ref):
        msg = f"expected 'package.module:function', got {ref!r}"
        raise ValueError(msg)
    module_name, _, qualname = ref.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import module {module_name!r} of {ref!r}: {exc}"
        raise ValueError(msg) from exc
    try:
        target = dotted_attribute(target, qualname)
    except AttributeError:
        msg = f"{ref!r}: module {module_name!r} has no attribute {qualname!r}"
        raise ValueError(msg) from None
    if not callable(target):
        msg = f"{ref!r} names a {type(target).__name__}, not a callable"
        raise TypeError(msg)
    return target


@attrs.frozen
class _Field:
    name: str
    escape: str | None = None


# Escapes a template field may ask for: {subject_id|dn} for a value inside a DN.
_ESCAPES = {"dn": escape_dn_value}


@attrs.frozen
class Template:
    """A parsed template: literal text and ``{field}`` placeholders.

    Build one with :meth:`parse`; :meth:`render` fills it from a context.

    A template with a ``{field|dn}`` placeholder makes a DN: what it renders
    is given in the canonical form (:func:`~grouperprov.escape_dn_value`'s
    escaping, no spaces around the separators), the form the LDAP target
    reads DNs in, so ``uid={subject_id|dn},ou=people, dc=example,dc=edu``
    compares equal to the ``uid=ada,ou=people,dc=example,dc=edu`` a
    directory gives back. What does not parse as a DN is given as it is.
    """

    parts: tuple[str | _Field, ...]
    _dn: bool = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda self: any(isinstance(p, _Field) and p.escape == "dn" for p in self.parts),
            takes_self=True,
        ),
    )

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse *text*; :class:`ValueError` says what is wrong and where."""
        parts: list[str | _Field] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            if char == "{" and text.startswith("{{", i):
                literal.append("{")
                i += 2
            elif char == "}" and text.startswith("}}", i):
                literal.append("}")
                i += 2
            elif char == "{":
                end = text.find("}", i + 1)
                if end < 0:
                    msg = f"unclosed '{{' at position {i} in template {text!r}"
                    raise ValueError(msg)
                name, _, escape = text[i + 1 : end].partition("|")
                if escape and escape not in _ESCAPES:
                    msg = (
                        f"unknown escape {escape!r} at position {i} in template {text!r}"
                        f" (known: {', '.join(sorted(_ESCAPES))})"
                    )
                    raise ValueError(msg)
                if not _FIELD_RE.match(name):
                    msg = (
                        f"invalid field name {name!r} at position {i} in template "
                        f"{text!r} (expected a name such as 'extension' or 'group.name')"
                    )
                    raise ValueError(msg)
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(_Field(name, escape or None))
                i = end + 1
            elif char == "}":
                msg = f"single '}}' at position {i} in template {text!r} (write '}}}}')"
                raise ValueError(msg)
            else:
                literal.append(char)
                i += 1
        if literal:
            parts.append("".join(literal))
        return cls(tuple(parts))

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names the template uses, in order."""
        return tuple(p.name for p in self.parts if isinstance(p, _Field))

    def render(self, context: TranslationContext) -> str | None:
        """Fill the template; ``None`` when a field it uses has no value.

        Raises:
            ValueError: A field holds several values.
        """
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = context.field(part.name)
            if value is None or value == "":
                return None
            if isinstance(value, frozenset):
                if len(value) != 1:
                    msg = f"field {part.name!r} has {len(value)} values; a template needs one"
                    raise ValueError(msg)
                (value,) = value
            text = scalar_to_str(value)
            out.append(_ESCAPES[part.escape](text) if part.escape else text)
        rendered = "".join(out)
        if self._dn:
            try:
                return canonical_dn(rendered)
            except ValueError:
                return rendered  # not a DN after all: a value inside one, say
        return rendered


def scalar_to_str(value: str | int | bool) -> str:
    """Render a scalar as text: booleans as ``true``/``false``, as Grouper does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
