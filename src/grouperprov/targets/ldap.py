"""The LDAP target: groups and people as directory entries (needs the ``ldap`` extra: ldap3).

See :class:`LdapTarget`, :class:`LdapGroups` and :class:`LdapEntities`; the
"targets" documentation page has the configuration reference and examples.
Importing this module needs ``pip install 'grouperprov[ldap]'``;
``import grouperprov`` and ``grouperprov.targets`` never import ldap3.
"""

from __future__ import annotations

try:
    from grouperprov.targets._ldap import DnStyle, LdapEntities, LdapGroups, LdapTarget
except ModuleNotFoundError as exc:
    if exc.name != "ldap3":  # pragma: no cover  # something else is missing: shown as it is
        raise
    # Left bare, "No module named 'ldap3'" said nothing of the extra to install.
    msg = "grouperprov.targets.ldap needs ldap3: pip install 'grouperprov[ldap]'"
    raise ModuleNotFoundError(msg, name="ldap3") from exc

__all__ = ["DnStyle", "LdapEntities", "LdapGroups", "LdapTarget"]
