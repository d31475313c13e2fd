"""Functions that test configurations refer to as "translation_functions:NAME"."""

from __future__ import annotations

from grouperprov import ProvisioningGroup, Scalar, TranslationContext


def upper_extension(ctx: TranslationContext) -> object:
    """Return the group's extension in upper case."""
    value = ctx.field("extension")
    return value.upper() if isinstance(value, str) else None


def marker_name(ctx: TranslationContext) -> object:
    """Return the target name from the provisioning marker's metadata, if any."""
    return ctx.metadata.get("target_name")


def explode(ctx: TranslationContext) -> object:
    """Fail for groups named 'bad', as a broken site script would."""
    if isinstance(ctx.bean, ProvisioningGroup) and ctx.field("extension") == "bad":
        msg = "cannot compute for bad"
        raise RuntimeError(msg)
    return "fine"


def returns_object(ctx: TranslationContext) -> object:
    """Return something that is not an attribute value."""
    return ctx


def is_edu_email(value: Scalar) -> bool:
    """Whether a value is an @example.edu address."""
    return isinstance(value, str) and value.endswith("@example.edu")


def validator_fails(value: Scalar) -> bool:
    """A validator that raises."""
    msg = f"cannot validate {value!r}"
    raise ValueError(msg)


NOT_CALLABLE = 42


def member_dn_unless_odd(ctx: TranslationContext) -> object:
    """A member DN, except for the subject 'odd', whose value is no DN at all."""
    subject = ctx.field("subject_id")
    return "not a dn" if subject == "odd" else f"uid={subject},ou=people,dc=example,dc=edu"
